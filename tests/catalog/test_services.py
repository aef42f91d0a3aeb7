from __future__ import annotations

from typing import Any

import pytest

from catalog import selectors, services
from catalog.errors import CollectionNotFound, InvalidStacDocument, SystemCollectionProtected

from .conftest import make_collection, make_item

pytestmark = pytest.mark.django_db


def test_system_collections_exist_and_ensure_is_idempotent() -> None:
    for cid in ("system-vectors", "system-rasters", "system-zarr"):
        assert selectors.collection_get(collection_id=cid)["stac_version"] == "1.1.0"
    services.system_collections_ensure()
    services.system_collections_ensure()
    assert selectors.collection_get(collection_id="system-rasters")["id"] == "system-rasters"


def test_system_collections_cannot_be_deleted() -> None:
    with pytest.raises(SystemCollectionProtected):
        services.collection_delete(collection_id="system-vectors")


def test_collection_upsert_twice_then_delete_twice() -> None:
    doc = make_collection("c1")
    services.collection_upsert(collection=doc)
    services.collection_upsert(collection={**doc, "title": "Renamed"})
    assert selectors.collection_get(collection_id="c1")["title"] == "Renamed"
    assert services.collection_delete(collection_id="c1") is True
    assert services.collection_delete(collection_id="c1") is False
    assert selectors.collection_get(collection_id="c1") is None


def test_item_upsert_is_idempotent_and_replaces() -> None:
    item = make_item("r1", 1, 2, "2020-05-01T00:00:00Z")
    services.item_upsert(collection_id="system-rasters", item=item)
    services.item_upsert(collection_id="system-rasters", item=item)
    got = selectors.item_get(collection_id="system-rasters", item_id="r1")
    assert got is not None and got["collection"] == "system-rasters" and got["bbox"] == [1, 2, 2, 3]
    services.item_upsert(
        collection_id="system-rasters", item={**item, "properties": {"datetime": "2021-01-01T00:00:00Z"}}
    )
    assert selectors.item_get(collection_id="system-rasters", item_id="r1")["properties"]["datetime"].startswith("2021")


def test_item_delete_is_idempotent() -> None:
    services.item_upsert(collection_id="system-rasters", item=make_item("r2", 1, 2, "2020-05-01T00:00:00Z"))
    assert services.item_delete(collection_id="system-rasters", item_id="r2") is True
    assert services.item_delete(collection_id="system-rasters", item_id="r2") is False
    assert selectors.item_get(collection_id="system-rasters", item_id="r2") is None
    # Approve -> revoke -> approve again (what publishing does) works.
    services.item_upsert(collection_id="system-rasters", item=make_item("r2", 1, 2, "2020-05-01T00:00:00Z"))
    assert selectors.item_get(collection_id="system-rasters", item_id="r2") is not None


def test_delete_collection_removes_its_items() -> None:
    services.collection_upsert(collection=make_collection("c2"))
    services.item_upsert(collection_id="c2", item=make_item("x", 0, 0, "2020-01-01T00:00:00Z"))
    assert services.collection_delete(collection_id="c2") is True
    assert selectors.item_get(collection_id="c2", item_id="x") is None


def test_item_into_unknown_collection_is_refused() -> None:
    with pytest.raises(CollectionNotFound):
        services.item_upsert(collection_id="nope", item=make_item("x", 0, 0, "2020-01-01T00:00:00Z"))


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "", "geometry": None, "properties": {"datetime": "2020-01-01T00:00:00Z"}},
        {"id": "a/b", "geometry": None, "properties": {"datetime": "2020-01-01T00:00:00Z"}},
        {"id": "x", "geometry": None, "properties": {}},
        {"id": "x", "properties": {"datetime": "2020-01-01T00:00:00Z"}},
        {"id": "x", "geometry": None, "collection": "other", "properties": {"datetime": "2020-01-01T00:00:00Z"}},
    ],
)
def test_invalid_items_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidStacDocument):
        services.item_upsert(collection_id="system-rasters", item=bad)


def test_invalid_collection_is_refused() -> None:
    with pytest.raises(InvalidStacDocument):
        services.collection_upsert(collection={"id": "c3", "description": "no extent"})


def test_items_upsert_bulk_is_idempotent() -> None:
    services.collection_upsert(collection=make_collection("bulk"))
    items = [make_item(f"b{i}", i, 0, "2020-01-01T00:00:00Z") for i in range(5)]
    services.items_upsert(collection_id="bulk", items=items)
    services.items_upsert(collection_id="bulk", items=items)
    assert selectors.item_get(collection_id="bulk", item_id="b4")["collection"] == "bulk"
    with pytest.raises(CollectionNotFound):
        services.items_upsert(collection_id="nope", items=items)


def test_stored_items_drop_api_navigation_links() -> None:
    item = make_item("l1", 0, 0, "2020-01-01T00:00:00Z")
    item["links"] = [
        {"rel": "self", "href": "https://old.example/x"},
        {"rel": "license", "href": "https://example.org/licence"},
    ]
    services.item_upsert(collection_id="system-rasters", item=item)
    stored = selectors.item_get(collection_id="system-rasters", item_id="l1")
    assert stored["links"] == [{"rel": "license", "href": "https://example.org/licence"}]
