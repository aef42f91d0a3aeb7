"""Catalog fixtures: small synthetic STAC collections and items in the test database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from catalog import services
from tests.conftest import as_owner


def make_item(item_id: str, x: float, y: float, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item_id,
        "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]]},
        "bbox": [x, y, x + 1, y + 1],
        "properties": {"datetime": when, **extra},
        "assets": {"data": {"href": f"https://example.org/{item_id}.tif", "type": "image/tiff; application=geotiff"}},
        "links": [],
    }


def make_collection(collection_id: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": collection_id,
        "description": f"Test collection {collection_id}",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [[0.0, 0.0, 30.0, 30.0]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", "2020-12-31T00:00:00Z"]]},
        },
        "links": [],
    }


@pytest.fixture
def stac_collection(db: Any) -> Callable[..., str]:
    """Create a collection with ``n`` items at (i, i), one a day from 2020-01-01."""

    def create(collection_id: str = "test-grid", n: int = 12) -> str:
        with as_owner():  # the reader pass reads what the suite's role wrote
            services.collection_upsert(collection=make_collection(collection_id))
            for i in range(n):
                item = make_item(f"item-{i:03d}", float(i), float(i), f"2020-01-{i + 1:02d}T12:00:00Z")
                services.item_upsert(collection_id=collection_id, item=item)
        return collection_id

    return create
