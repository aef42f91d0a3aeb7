"""Registered pgSTAC searches: stable ids, items of a tile, bounds."""

from __future__ import annotations

import pytest

from catalog import selectors, services

from .conftest import make_collection, make_item

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment


@pytest.fixture
def three_items() -> None:
    services.collection_upsert(collection=make_collection("srch"))
    services.items_upsert(
        collection_id="srch",
        items=[
            make_item("a", 0, 0, "2020-01-01T00:00:00Z"),
            make_item("b", 10, 10, "2020-02-01T00:00:00Z"),
            make_item("c", 0.5, 0.5, "2020-03-01T00:00:00Z"),
        ],
    )


def test_register_twice_gives_the_same_id() -> None:
    meta = {"name": "m", "minzoom": 2, "maxzoom": 9}
    first = services.search_register(search={"collections": ["srch"]}, metadata=meta)
    again = services.search_register(search={"collections": ["srch"], "limit": 5}, metadata=dict(meta))
    assert first == again and len(first) == 32
    other = services.search_register(search={"collections": ["other"]}, metadata=meta)
    assert other != first
    got = selectors.search_get(search_id=first)
    assert got == {"id": first, "search": {"collections": ["srch"]}, "metadata": meta}
    assert selectors.search_get(search_id="0" * 32) is None


def test_items_for_tile_only_intersecting(three_items: None) -> None:
    sid = services.search_register(search={"collections": ["srch"]})
    near_origin = selectors.search_items_for_tile(search_id=sid, bbox=(0.2, 0.2, 0.8, 0.8))
    assert [i["id"] for i in near_origin] == ["c", "a"]  # the search's order: newest first
    assert near_origin[0]["assets"]["data"]["href"].endswith("/c.tif") and near_origin[0]["collection"] == "srch"
    assert [i["id"] for i in selectors.search_items_for_tile(search_id=sid, bbox=(9, 9, 12, 12))] == ["b"]
    assert selectors.search_items_for_tile(search_id=sid, bbox=(50, 50, 60, 60)) == []
    assert len(selectors.search_items_for_tile(search_id=sid, bbox=(-1, -1, 20, 20), limit=2)) == 2
    # The stored search's own filters still apply.
    only_a = services.search_register(search={"collections": ["srch"], "ids": ["a"]})
    assert [i["id"] for i in selectors.search_items_for_tile(search_id=only_a, bbox=(0, 0, 20, 20))] == ["a"]
    assert selectors.search_bounds_get(search_id=sid) == pytest.approx((0, 0, 11, 11))
    assert selectors.search_items_for_tile(search_id="0" * 32, bbox=(0, 0, 1, 1)) == []
