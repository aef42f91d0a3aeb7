"""The generic STAC collection handler against a static catalog served by the local server:
only new items are read and downloaded; each version is the whole collection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog import selectors as catalog_selectors
from managed import services
from managed.models import VersionStatus

from .conftest import run_update
from .test_handlers_fathom import tile

pytestmark = pytest.mark.django_db

CID = "remote_dem"


def item(item_id: str, west: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, 0], [west + 1, 0], [west + 1, 1], [west, 1], [west, 0]]],
        },
        "bbox": [west, 0, west + 1, 1],
        "properties": {"datetime": "2026-01-01T00:00:00Z"},
        "links": [],
        "assets": {
            "thumbnail": {"href": f"./{item_id}.png", "type": "image/png", "roles": ["thumbnail"]},
            "data": {"href": f"./{item_id}.tif", "type": "image/tiff; application=geotiff", "roles": ["data"]},
        },
    }


def catalog(server: Any, items: dict[str, float]) -> None:
    """A static STAC collection at /stac/collection.json with ``items`` {id: west edge}."""
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": "dem",
        "description": "test",
        "license": "CC-BY-4.0",
        "extent": {"spatial": {"bbox": [[0, 0, 5, 1]]}, "temporal": {"interval": [[None, None]]}},
        "links": [{"rel": "item", "href": f"./items/{i}.json", "type": "application/geo+json"} for i in sorted(items)],
    }
    server.put("/stac/collection.json", json.dumps(collection).encode(), content_type="application/json")
    for item_id, west in items.items():
        if f"/stac/items/{item_id}.json" not in server.files:
            server.put(f"/stac/items/{item_id}.json", json.dumps(item(item_id, west)).encode())
            server.put(f"/stac/items/{item_id}.tif", tile(west, west + 1))


@pytest.fixture
def stac_source(make_source: Any, source_server: Any) -> Any:
    return make_source(
        source_server.url("/stac/collection.json"),
        name="remote-dem",
        handler="stac_collection",
        target_kind="raster_collection",
        collection_id=CID,
        thresholds={"count_change_pct": 1000, "bbox_change_pct": 1000},  # items come and go by design
    )


def test_new_items_only_are_read_and_downloaded(stac_source: Any, source_server: Any) -> None:
    catalog(source_server, {"a": 0.0, "b": 1.0})
    first = run_update(stac_source)
    assert first.version.status == VersionStatus.LIVE, first.version.error
    assert sorted(catalog_selectors.collection_item_ids_list(collection_id=CID)) == ["a", "b"]

    # unchanged: a conditional GET of the collection answers 304
    source_server.reset_counts()
    assert services.update_trigger(source=stac_source).outcome == "unchanged"
    assert source_server.count() == 1

    catalog(source_server, {"a": 0.0, "b": 1.0, "c": 2.0})
    source_server.reset_counts()
    second = run_update(stac_source)
    assert second.version.status == VersionStatus.LIVE, second.version.error
    assert second.version.candidate["extra"]["new"] == ["c"]
    # a, b: neither their documents nor their files were fetched again
    assert source_server.count("/stac/items/a.json") == source_server.count("/stac/items/a.tif") == 0
    assert source_server.count("/stac/items/c.json") == 1 and source_server.count("/stac/items/c.tif") == 1
    assert sorted(catalog_selectors.collection_item_ids_list(collection_id=CID)) == ["a", "b", "c"]
    # each version owns its files (the carried ones were copied into its folder)
    assert sorted(b.rsplit("/", 1)[-1] for b in second.version.blobs) == ["a.tif", "b.tif", "c.tif"]

    catalog(source_server, {"b": 1.0, "c": 2.0})  # an item left the remote collection
    third = run_update(stac_source)
    assert third.version.status == VersionStatus.LIVE, third.version.error
    assert sorted(catalog_selectors.collection_item_ids_list(collection_id=CID)) == ["b", "c"]


def test_an_item_without_a_geotiff_asset_fails_the_check(stac_source: Any, source_server: Any) -> None:
    from managed.errors import CheckFailed

    catalog(source_server, {"a": 0.0})
    bad = item("a", 0.0)
    del bad["assets"]["data"]
    source_server.put("/stac/items/a.json", json.dumps(bad).encode())
    with pytest.raises(CheckFailed, match="no GeoTIFF asset"):
        services.update_trigger(source=stac_source)
