"""Output formats of extract, clip and preview: the path's extension decides; otherwise
?format=, then Accept; an unknown format is a 400 listing the supported ones."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment

POLYGON = {"type": "Polygon", "coordinates": [[[0, 40], [20, 40], [10, 50], [0, 40]]]}
BBOX = {"bbox": "0,40,20,50", "max_size": "64"}


@pytest.fixture
def base(published: dict[str, dict[str, Any]]) -> str:
    return f"/api/raster/system-rasters/{published['rgb']['item_id']}"


def _is(resp: Any, media: str) -> None:
    assert resp.status_code == 200, resp.content[:300]
    assert resp["Content-Type"].startswith(media), resp["Content-Type"]


def _unsupported(resp: Any, *formats: str) -> None:
    assert resp.status_code == 400, resp.content[:300]
    message = resp.json()["message"]
    assert "not supported" in message and all(f in message for f in formats), message


def test_extract_format_query_accept_and_extension(base: str, api_client: Any) -> None:
    _is(api_client.get(base + "/extract", {**BBOX, "format": "tif"}), "image/tiff")
    _is(api_client.get(base + "/extract", {**BBOX, "format": "png"}), "image/png")
    _is(api_client.get(base + "/extract.png", {**BBOX, "format": "tif"}), "image/png")  # the path decides
    resp = api_client.get(base + "/extract", BBOX, HTTP_ACCEPT="image/webp, image/png;q=0.5")
    _is(resp, "image/webp")
    assert "Accept" in resp["Vary"]
    _is(api_client.get(base + "/extract", BBOX, HTTP_ACCEPT="image/png;q=0.2, image/tiff"), "image/tiff")
    _is(api_client.get(base + "/extract", BBOX, HTTP_ACCEPT="text/html"), "image/tiff")  # default
    _unsupported(api_client.get(base + "/extract", {**BBOX, "format": "gif"}), "tif", "png", "jpg", "webp", "npy")
    _unsupported(api_client.get(base + "/extract.gif", BBOX), "tif", "png")


def test_clip_tif_with_any_accept_and_format_choices(base: str, api_client: Any) -> None:
    post = api_client.post
    _is(post(base + "/clip.tif?max_size=64", POLYGON, format="json", HTTP_ACCEPT="image/tiff"), "image/tiff")
    _is(post(base + "/clip.tif?max_size=64", POLYGON, format="json", HTTP_ACCEPT="application/json"), "image/tiff")
    _is(post(base + "/clip?max_size=64", POLYGON, format="json", HTTP_ACCEPT="image/png"), "image/png")
    _is(post(base + "/clip?max_size=64&format=png", POLYGON, format="json"), "image/png")
    _unsupported(post(base + "/clip?format=jpg", POLYGON, format="json"), "tif, png, npy")
    resp = post(base + "/clip.webp", POLYGON, format="json", HTTP_ACCEPT="image/webp")
    _unsupported(resp, "tif, png, npy")
    assert resp["Content-Type"].startswith("application/json")  # the error body, whatever Accept said


def test_preview_format_query_accept_and_extension(base: str, api_client: Any) -> None:
    _is(api_client.get(base + "/preview", {"max_size": "64", "format": "tif"}), "image/tiff")
    _is(api_client.get(base + "/preview", {"max_size": "64"}, HTTP_ACCEPT="image/jpeg"), "image/jpeg")
    _is(api_client.get(base + "/preview.png", {"max_size": "64"}, HTTP_ACCEPT="image/tiff"), "image/png")
    png = api_client.get(base + "/preview", {"max_size": "64"})
    tif = api_client.get(base + "/preview", {"max_size": "64"}, HTTP_ACCEPT="image/tiff")
    _is(png, "image/png")
    _is(tif, "image/tiff")
    assert png["ETag"] != tif["ETag"]  # same URL, other bytes: other validators
    _unsupported(api_client.get(base + "/preview", {"format": "bmp"}), "png, jpg, webp, tif, npy")
