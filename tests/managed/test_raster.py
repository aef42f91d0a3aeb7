"""A single raster kept current: each version loads as a pending item ``system-rasters/<id>__v<n>``
(its own COG), the swap moves the item documents (the stable item now names the new COG, the
old one waits hidden for rollback), rollback moves them back, delete removes every COG."""

from __future__ import annotations

from typing import Any

import pytest

from catalog import selectors as catalog_selectors
from geoplatform import storage
from managed import services
from managed.errors import SourceExists
from managed.models import SourceVersion, VersionStatus
from rasters.models import PendingItem
from tests.conftest import FIXTURES

from .conftest import run_update

PATH = "/rasters/landcover.tif"
SYSTEM = "system-rasters"
ITEM = "managed_lc"
BASE = f"/api/raster/{SYSTEM}/{ITEM}"


def _shifted(body: bytes, by: int) -> bytes:
    """The same raster (grid, CRS, band type) with every value moved by ``by``: a new release."""
    import rasterio

    with rasterio.MemoryFile(body) as src_file, src_file.open() as src:
        profile = src.profile
        data = src.read()
    with rasterio.MemoryFile() as out_file:
        with out_file.open(**profile) as out:
            out.write((data + by).astype(data.dtype))
        return bytes(out_file.read())


def _centre() -> tuple[float, float]:
    import rasterio
    from rasterio.warp import transform

    with rasterio.open(FIXTURES / "lc.tif") as src:
        x = (src.bounds.left + src.bounds.right) / 2
        y = (src.bounds.bottom + src.bounds.top) / 2
        lons, lats = transform(src.crs, "EPSG:4326", [x], [y])
    return lons[0], lats[0]


def _value(api_client: Any) -> float:
    lon, lat = _centre()
    response = api_client.get(f"{BASE}/point?lon={lon}&lat={lat}")
    assert response.status_code == 200, response.content
    return float(response.json()["values"][0])


def _tile_etag(api_client: Any) -> str:
    response = api_client.get(f"{BASE}/tiles/WebMercatorQuad/0/0/0.png")
    assert response.status_code == 200, response.content
    return str(response["ETag"])


def _cog_blobs(item: dict[str, Any]) -> list[str]:
    return sorted(a["geoplatform:blob"] for a in item["assets"].values() if "geoplatform:blob" in a)


def _live_item(item_id: str = ITEM) -> dict[str, Any]:
    item = catalog_selectors.item_get(collection_id=SYSTEM, item_id=item_id)
    assert item is not None
    return item


@pytest.mark.django_db
def test_a_raster_source_is_created_through_the_api(manager_client: Any) -> None:
    body = {
        "name": "lc",
        "handler": "http_file",
        "location": "http://127.0.0.1:9/lc.tif",
        "target_kind": "raster",
        "collection_id": ITEM,
    }
    response = manager_client.post("/api/managed/sources", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["target_kind"] == "raster"


@pytest.mark.django_db
def test_raster_versions_swap_and_roll_back(source_server: Any, make_source: Any, api_client: Any) -> None:
    body = (FIXTURES / "lc.tif").read_bytes()
    source = make_source(source_server.put(PATH, body), target_kind="raster", collection_id=ITEM)
    first = run_update(source).version
    assert first.status == VersionStatus.LIVE, first.error
    assert first.counts == {"pixels": 46 * 84} and first.bbox
    assert first.schema == [{"name": "analysis.b1", "type": "uint8"}]
    assert first.target == {"kind": "raster", "name": f"{ITEM}__v1"}
    v1_item = _live_item()
    v1_blobs = _cog_blobs(v1_item)
    assert v1_blobs and all(f"/{ITEM}__v1/" in b for b in v1_blobs)
    # The item's own links follow the stable id; nothing hidden is left pending.
    assert v1_item["id"] == ITEM and v1_item["assets"]["thumbnail"]["href"].startswith(f"{BASE}/preview.png")
    assert {link["href"] for link in v1_item["links"] if link["rel"] in ("tilejson", "viewer")} == {
        f"{BASE}/tilejson.json",
        f"{BASE}/viewer",
    }
    assert not PendingItem.objects.filter(collection_id=SYSTEM, item_id__startswith=ITEM).exists()
    v1_value, v1_etag = _value(api_client), _tile_etag(api_client)

    source_server.put(PATH, _shifted(body, 100))  # same grid and band type: the gate lets it through
    second = run_update(source).version
    assert second.status == VersionStatus.LIVE, (second.error, second.diff)
    assert second.diff["trips"] == [] and second.diff["counts"]["pixels"]["change_pct"] == 0.0
    v2_blobs = _cog_blobs(_live_item())
    assert v2_blobs and all(f"/{ITEM}__v2/" in b for b in v2_blobs)
    # Readers get the new COG at once (this process's item cache was cleared), and new tile ETags.
    assert _value(api_client) == v1_value + 100
    assert _tile_etag(api_client) != v1_etag
    # v1 waits hidden for rollback, with its COG.
    pending = PendingItem.objects.get(collection_id=SYSTEM, item_id=f"{ITEM}__v1")
    assert _cog_blobs(pending.item) == v1_blobs and pending.item["id"] == f"{ITEM}__v1"
    silver = storage.zone_container("silver")
    assert all(storage.blob_exists(silver, b) for b in v1_blobs)
    assert SourceVersion.objects.get(source=source, number=1).status == VersionStatus.PREVIOUS

    back = services.version_rollback(source=source)
    assert back.number == 1 and _cog_blobs(_live_item()) == v1_blobs
    assert _value(api_client) == v1_value and _tile_etag(api_client) == v1_etag
    assert SourceVersion.objects.get(source=source, number=2).status == VersionStatus.ROLLED_BACK
    assert storage.blob_list(silver, f"rasters/{SYSTEM}/{ITEM}__v2") == []  # the rolled-back COG went
    assert not PendingItem.objects.filter(collection_id=SYSTEM, item_id__startswith=ITEM).exists()

    services.source_delete(source=source)
    assert catalog_selectors.item_get(collection_id=SYSTEM, item_id=ITEM) is None
    assert api_client.get(f"{BASE}/info").status_code == 404
    assert storage.blob_list(silver, f"rasters/{SYSTEM}/{ITEM}__v1") == []


@pytest.mark.django_db
def test_a_raster_item_loaded_by_hand_is_not_taken(make_source: Any) -> None:
    PendingItem.objects.create(collection_id=SYSTEM, item_id="by_hand", item={"id": "by_hand", "assets": {}})
    with pytest.raises(SourceExists):
        make_source("http://127.0.0.1:9/x.tif", target_kind="raster", collection_id="by_hand")


@pytest.mark.django_db
def test_a_different_raster_is_held_then_rejected_or_approved(source_server: Any, make_source: Any) -> None:
    # Its own id: a COG path (the job id's hash) that no other test wrote in this process, as
    # GDAL's /vsiaz/ caches keep what they read of a path.
    item = "managed_grid"
    source = make_source(source_server.put_fixture(PATH, "lc.tif"), target_kind="raster", collection_id=item)
    assert run_update(source).version.status == VersionStatus.LIVE
    v1_blobs = _cog_blobs(_live_item(item))

    # Another grid, three bands, the whole world: the gate holds it; readers keep v1.
    source_server.put_fixture(PATH, "natural_earth_1_downsampled_cog.tif")
    held = run_update(source).version
    assert held.status == VersionStatus.HELD, held.error
    assert {"schema", "count.pixels", "bbox"} <= set(held.diff["trips"])
    assert held.diff["schema"]["added"] == ["analysis.b2", "analysis.b3"]
    assert _cog_blobs(_live_item(item)) == v1_blobs
    assert PendingItem.objects.filter(collection_id=SYSTEM, item_id=f"{item}__v2").exists()

    services.version_reject(version=held, note="not this one")
    silver = storage.zone_container("silver")
    assert not PendingItem.objects.filter(collection_id=SYSTEM, item_id=f"{item}__v2").exists()
    assert storage.blob_list(silver, f"rasters/{SYSTEM}/{item}__v2") == []
    assert _cog_blobs(_live_item(item)) == v1_blobs

    again = run_update(source, force=True).version
    assert again.status == VersionStatus.HELD
    live = services.version_approve(version=again, note="the new grid is right")
    assert live.status == VersionStatus.LIVE and _live_item(item)["bbox"] == [-180.0, -90.0, 180.0, 90.0]
    assert all(f"/{item}__v3/" in b for b in _cog_blobs(_live_item(item)))


@pytest.mark.django_db
def test_an_item_loaded_by_hand_under_the_stable_id_fails_the_swap(source_server: Any, make_source: Any) -> None:
    """Like a vector swap meeting a table loaded by hand: the version fails (stage swap), the
    other item is not replaced, the version's COG goes."""
    from catalog import services as catalog_services

    item = "managed_clash"
    source = make_source(source_server.put_fixture(PATH, "lc.tif"), target_kind="raster", collection_id=item)
    theirs = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item,
        "collection": SYSTEM,
        "geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
        "bbox": [0.0, 0.0, 0.0, 0.0],
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "assets": {},
        "links": [],
    }
    catalog_services.item_upsert(collection_id=SYSTEM, item=theirs)
    version = run_update(source).version
    assert version.status == VersionStatus.FAILED and version.error["stage"] == "swap"
    assert "exists already" in version.error["message"]
    assert _live_item(item)["bbox"] == [0.0, 0.0, 0.0, 0.0]  # theirs, untouched
    assert not PendingItem.objects.filter(collection_id=SYSTEM, item_id=f"{item}__v1").exists()
    assert storage.blob_list(storage.zone_container("silver"), f"rasters/{SYSTEM}/{item}__v1") == []
