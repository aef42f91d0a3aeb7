"""The OpenAPI document declares the media type of every image format a raster route sends."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment


@pytest.fixture(scope="module")
def operations(django_db_setup: Any, django_db_blocker: Any) -> dict[str, Any]:
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        doc = APIClient().get("/api/schema/", {"format": "json"}).json()
    return {op["operationId"]: op for item in doc["paths"].values() for op in item.values() if "operationId" in op}


# Found by schemathesis: the tile routes documented only image/png and sent image/jpeg for .jpg.
@pytest.mark.parametrize("fmt", ["png", "jpg", "jpeg", "webp", "tif", "npy"])
def test_tiles_send_a_declared_media_type(
    published: dict[str, Any], api_client: Any, operations: dict, fmt: str
) -> None:
    item = published["rgb"]
    r = api_client.get(f"/api/raster/{item['collection_id']}/{item['item_id']}/tiles/WebMercatorQuad/0/0/0.{fmt}")
    assert r.status_code == 200, r.content
    assert r["Content-Type"] in operations["raster_tile"]["responses"]["200"]["content"]


@pytest.mark.parametrize(
    "operation_id, formats",
    [
        ("raster_preview", ["png", "jpg", "webp", "tif", "npy"]),
        ("raster_extract", ["tif", "png", "jpg", "webp", "npy"]),
        ("raster_clip", ["tif", "png", "npy"]),
        ("raster_mosaic_tile", ["png", "jpg", "webp", "tif", "npy"]),
        ("raster_search_mosaic_tile", ["png", "jpg", "webp", "tif", "npy"]),
    ],
)
def test_image_routes_declare_every_format(operations: dict, operation_id: str, formats: list[str]) -> None:
    from rasters.tiles import FORMATS

    declared = operations[operation_id]["responses"]["200"]["content"]
    assert {FORMATS[f][1] for f in formats} <= set(declared), sorted(declared)
