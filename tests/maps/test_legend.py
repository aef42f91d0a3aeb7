"""Legends: a colour bar with the rescale values, categories of a paletted raster, mosaic legends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from rasterio.io import MemoryFile

pytestmark = pytest.mark.django_db


def _url(item: dict[str, Any], tail: str) -> str:
    return f"/api/raster/{item['collection_id']}/{item['item_id']}/{tail}"


def test_dem_legend_is_a_colour_bar_with_its_rescale(api_client: Any, published: dict[str, Any]) -> None:
    doc = api_client.get(_url(published["dem"], "legend")).json()
    assert doc["type"] == "continuous" and doc["colormap_name"] == "terrain" and doc["raster_type"] == "dem"
    assert doc["min"] < doc["max"] and len(doc["stops"]) == 11
    assert doc["stops"][0]["value"] == doc["min"] and doc["stops"][-1]["value"] == doc["max"]
    given = api_client.get(_url(published["dem"], "legend?colormap_name=viridis&rescale=0,10")).json()
    assert (given["min"], given["max"], given["stops"][0]["color"]) == (0, 10, "#440154")


def test_legend_png(api_client: Any, published: dict[str, Any]) -> None:
    for path, accept in (("legend.png", ""), ("legend", "image/png"), ("legend?f=png", "")):
        response = api_client.get(_url(published["dem"], path), HTTP_ACCEPT=accept)
        assert response.status_code == 200 and response["Content-Type"] == "image/png", path
    with MemoryFile(response.content) as mem, mem.open() as ds:
        assert (ds.width, ds.height) == (256, 16)
        data = ds.read()
    assert np.any(data[:3, 0, 0] != data[:3, 0, -1])  # a gradient, not one colour
    assert api_client.get(_url(published["dem"], "legend?f=gif")).status_code == 400


def test_categorical_legend_lists_the_classes_present(api_client: Any, published: dict[str, Any]) -> None:
    doc = api_client.get(_url(published["lc"], "legend")).json()
    assert doc["type"] == "categorical"
    by_value = {c["value"]: c for c in doc["classes"]}
    assert by_value[11]["color"] == "#476ba1"  # palette entry 11: 71,107,161 (open water)
    assert 0 < len(by_value) < 30
    png = api_client.get(_url(published["lc"], "legend.png"))
    with MemoryFile(png.content) as mem, mem.open() as ds:
        assert ds.height == 16 * len(doc["classes"])


def test_mosaic_legend_and_viewer(api_client: Any, published: dict[str, Any]) -> None:
    collection = published["dem"]["collection_id"]
    base = f"/api/raster/mosaic/collections/{collection}"
    doc = api_client.get(f"{base}/legend?colormap_name=terrain&rescale=0,100").json()
    assert doc["type"] == "continuous" and (doc["min"], doc["max"]) == (0, 100)
    assert api_client.get(f"{base}/legend?bidx=3,2,1").json()["type"] == "rgb"
    page = api_client.get(f"{base}/viewer?colormap_name=terrain&rescale=0,100")
    html = page.content.decode()
    assert (
        page.status_code == 200
        and "geoplatform-basemap" in html
        and "geoplatform/legend.js" in html
        and "/legend?" in html.replace("\\u003F", "?")
    )


def test_viewer_page_has_basemap_and_legend(api_client: Any, published: dict[str, Any]) -> None:
    html = api_client.get(_url(published["dem"], "viewer")).content.decode()
    assert "geoplatform/basemap.js" in html and "GeoplatformBasemap.leaflet(map)" in html
    assert "/legend" in html and "geoplatform/legend.js" in html


def test_unknown_mosaic_is_a_404(api_client: Any) -> None:
    assert api_client.get("/api/raster/mosaic/collections/no-such-thing/legend").status_code == 404
    assert api_client.get("/api/raster/mosaic/collections/no-such-thing/viewer").status_code == 404
