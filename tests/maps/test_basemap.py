"""The offline basemap: tiles from the data in rasters/basemap, TileJSON, the template tag."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.template import Context, Template
from django.test import override_settings
from rasterio.io import MemoryFile

from rasters import basemap


def _pixels(content: bytes) -> np.ndarray:
    with MemoryFile(content) as mem, mem.open() as ds:
        return ds.read()


@pytest.mark.parametrize(("fmt", "media"), [("png", "image/png"), ("jpg", "image/jpeg"), ("webp", "image/webp")])
def test_tile_formats(api_client: Any, fmt: str, media: str) -> None:
    response = api_client.get(f"/api/raster/basemap/tiles/2/2/1.{fmt}")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == media and response["ETag"].startswith('"bm-')
    data = _pixels(response.content)
    assert data.shape[1:] == (256, 256)
    assert data[:3].std() > 10  # relief and outlines, not a flat colour
    again = api_client.get(f"/api/raster/basemap/tiles/2/2/1.{fmt}", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_retina_tile_and_outlines(api_client: Any) -> None:
    response = api_client.get("/api/raster/basemap/tiles/4/8/5@2x.png")
    data = _pixels(response.content)
    assert data.shape[1:] == (512, 512)
    # Europe at z4: country borders are drawn in the outline colour.
    outline = np.all(data[:3] == np.array(basemap.OUTLINE_RGB, dtype=np.uint8)[:, None, None], axis=0)
    assert outline.sum() > 500


def test_bad_tiles(api_client: Any) -> None:
    too_deep = api_client.get("/api/raster/basemap/tiles/30/0/0.png")
    assert too_deep.status_code == 400 and "zoom" in too_deep.json()["message"]
    outside = api_client.get("/api/raster/basemap/tiles/2/9/0.png")
    assert outside.status_code == 404
    assert api_client.get("/api/raster/basemap/tiles/2/1/1.gif").status_code == 404


def test_tilejson(api_client: Any) -> None:
    doc = api_client.get("/api/raster/basemap/tilejson.json").json()
    assert doc["tiles"][0].endswith("/api/raster/basemap/tiles/{z}/{x}/{y}.jpg")
    assert doc["maxzoom"] == 8 and "Natural Earth" in doc["attribution"]
    with override_settings(GEOPLATFORM_BASEMAP_URL="https://tiles.example.org/{z}/{x}/{y}.png"):
        doc = api_client.get("/api/raster/basemap/tilejson.json").json()
    assert doc["tiles"] == ["https://tiles.example.org/{z}/{x}/{y}.png"]


def _tag_config() -> dict[str, Any]:
    html = Template("{% load geoplatform_maps %}{% basemap %}").render(Context({}))
    assert "geoplatform/basemap.js" in html
    start = html.index(">", html.index('id="geoplatform-basemap"')) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_template_tag() -> None:
    config = _tag_config()
    assert config["tiles"] == "/api/raster/basemap/tiles/{z}/{x}/{y}.jpg" and not config["external"]
    with override_settings(GEOPLATFORM_BASEMAP_URL="https://tiles.example.org/{z}/{x}/{y}.png"):
        config = _tag_config()
    assert config["tiles"].startswith("https://tiles.example.org/") and config["external"]


def test_cache_is_bounded() -> None:
    basemap.cache.clear()
    with override_settings(GEOPLATFORM_BASEMAP_CACHE_TILES=2):
        for x in range(4):
            basemap.tile(2, x, 1, fmt="jpg")
    assert len(basemap.cache._items) == 2
    basemap.cache.clear()
