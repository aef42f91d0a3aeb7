"""The FATHOM handler: tiled GeoTIFFs behind a bearer token, the version in the layer id,
loaded by process_raster_collection and swapped into one stable STAC collection whose
mosaic URL stays the same across versions."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest

from catalog import selectors as catalog_selectors
from managed import services
from managed.errors import CheckFailed
from managed.handlers.fathom import COLLECTION_ID, layer_versions
from managed.models import SourceVersion, VersionStatus
from rasters.models import PendingItem

from .conftest import run_update

pytestmark = pytest.mark.django_db

TOKEN = "fathom-test-token"
LAYER = "FLOOD_MAP-1ARCSEC-1in100-FLUVIAL-DEPTH"
TILES = {"n00e000.tif": 0.0, "n00e001.tif": 1.0}  # tile -> west edge (1 x 1 degree each)


def tile(west: float, depth: float) -> bytes:
    """A 32 x 32 float32 GeoTIFF of ``depth`` metres over [west, west + 1] x [0, 1]."""
    import rasterio
    from rasterio.transform import from_bounds

    data = np.full((1, 32, 32), depth, dtype="float32")
    buf = io.BytesIO()
    profile = {"driver": "GTiff", "width": 32, "height": 32, "count": 1, "dtype": "float32", "crs": "EPSG:4326",
               "transform": from_bounds(west, 0, west + 1, 1, 32, 32), "nodata": -9999.0}  # fmt: skip
    with rasterio.MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
        buf.write(mem.read())
    return buf.getvalue()


def publish(server: Any, version: str, depth: float, *, also: list[str] | None = None) -> None:
    """Serve layer ``version`` (its index entry and tiles of ``depth``)."""
    layer_id = f"{LAYER}-v{version}"
    index = {"layers": [{"id": f"{LAYER}-v{v}", "tiles": sorted(TILES)} for v in [*(also or []), version]]}
    index["layers"].append({"id": "OTHER_LAYER-v9.0", "tiles": ["x.tif"]})
    server.put("/fathom/layers.json", json.dumps(index).encode(), content_type="application/json")
    for name, west in TILES.items():
        server.put(f"/fathom/{layer_id}/{name}", tile(west, depth), content_type="image/tiff")


@pytest.fixture
def fathom(make_source: Any, source_server: Any, settings: Any) -> Any:
    settings.FATHOM_TEST_TOKEN = TOKEN
    source_server.require_token("/fathom/", TOKEN)
    return make_source(
        source_server.url("/fathom"),
        name="fathom",
        handler="fathom_flood",
        target_kind="raster_collection",
        collection_id=COLLECTION_ID,
        credentials_setting="FATHOM_TEST_TOKEN",
        settings={"layer": LAYER},
    )


def _depth(api_client: Any, item: str, lon: float) -> float:
    response = api_client.get(f"/api/raster/{COLLECTION_ID}/{item}/point?lon={lon}&lat=0.5")
    assert response.status_code == 200, response.content
    return float(response.json()["values"][0])


def test_versions_of_a_layer_from_the_index() -> None:
    index = {"layers": [{"id": "A-v3.0"}, {"id": "A-v3.10"}, {"id": "AB-v4.0"}, "A-v2.1", {"id": "A"}]}
    assert sorted(layer_versions(index, "A")) == ["2.1", "3.0", "3.10"]


def test_new_layer_version_swaps_the_collection_and_keeps_the_mosaic_url(
    fathom: Any, source_server: Any, api_client: Any
) -> None:
    publish(source_server, "3.0", 1.5)
    first = run_update(fathom)
    assert first.version.status == VersionStatus.LIVE, first.version.error
    assert first.version.label == "3.0" and first.version.counts["items"] == 2
    assert sorted(catalog_selectors.collection_item_ids_list(collection_id=COLLECTION_ID)) == ["n00e000", "n00e001"]
    (search_id,) = catalog_selectors.collection_searches_list(collection_id=COLLECTION_ID)
    assert _depth(api_client, "n00e001", 1.5) == pytest.approx(1.5)
    assert not PendingItem.objects.filter(collection_id=f"{COLLECTION_ID}__v1").exists()
    # every tile request carried the token
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h in source_server.log)

    # unchanged: the index alone (1 request)
    source_server.reset_counts()
    assert services.update_trigger(source=fathom).outcome == "unchanged"
    assert source_server.count() == 1

    publish(source_server, "3.1", 2.5, also=["3.0"])
    second = run_update(fathom)
    assert second.version.status == VersionStatus.LIVE, second.version.error
    assert second.version.label == "3.1"
    assert _depth(api_client, "n00e001", 1.5) == pytest.approx(2.5)
    assert catalog_selectors.collection_searches_list(collection_id=COLLECTION_ID) == [search_id]  # same mosaic URL
    tilejson = api_client.get(f"/api/raster/mosaic/{search_id}/tilejson.json")
    assert tilejson.status_code == 200, tilejson.content
    # the old version waits, hidden, for a rollback
    assert PendingItem.objects.filter(collection_id=f"{COLLECTION_ID}__v1").count() == 2
    assert SourceVersion.objects.get(source=fathom, number=1).status == VersionStatus.PREVIOUS

    services.version_rollback(source=fathom)
    assert _depth(api_client, "n00e001", 1.5) == pytest.approx(1.5)
    assert catalog_selectors.collection_searches_list(collection_id=COLLECTION_ID) == [search_id]


def test_without_the_token_the_check_fails_and_says_so(fathom: Any, source_server: Any, settings: Any) -> None:
    publish(source_server, "3.0", 1.5)
    settings.FATHOM_TEST_TOKEN = "wrong"
    with pytest.raises(CheckFailed, match="refused access"):
        services.update_trigger(source=fathom)
    assert not SourceVersion.objects.filter(source=fathom).exists()


def test_a_source_without_credentials_setting_is_refused(make_source: Any, source_server: Any) -> None:
    from geoplatform.errors import InvalidInput

    with pytest.raises(InvalidInput, match="credentials_setting"):
        make_source(source_server.url("/fathom"), name="fathom-x", handler="fathom_flood",
                    target_kind="raster_collection", collection_id="fathom_x", settings={"layer": LAYER})  # fmt: skip
