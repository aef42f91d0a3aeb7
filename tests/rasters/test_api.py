"""The raster read API through HTTP: tiles, TileJSON, info, statistics, point, extract, clip,
preview, viewer, including the 4xx cases (never a 500 for a bad request)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import rasterio

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment

OLINDA_LONLAT = (-34.87, -7.995)  # inside the DEM
L7_LONLAT = (-34.87, -7.995)


@pytest.fixture
def dem(published: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return published["dem"]


@pytest.fixture
def rgb(published: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return published["rgb"]


class _Img:
    def __init__(self, size: tuple[int, int], count: int) -> None:
        self.size, self.count = size, count
        self.mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[count]


def _image(resp: Any) -> _Img:
    """Decode PNG/JPEG/WEBP with GDAL (no Pillow in the stack): size and band count."""
    with rasterio.MemoryFile(resp.content) as mem, mem.open() as ds:
        return _Img((ds.width, ds.height), ds.count)


def test_job_result_names_every_url(dem: dict[str, Any], api_client: Any) -> None:
    base = f"/api/raster/system-rasters/{dem['item_id']}"
    assert dem["tilejson_url"] == base + "/tilejson.json"
    assert dem["tile_url_template"].startswith(base + "/tiles/WebMercatorQuad/{z}/{x}/{y}.png?")
    assert "colormap_name=terrain" in dem["tile_url_template"] and "rescale=" in dem["tile_url_template"]
    assert dem["preview_url"] == base + "/preview.png"
    assert dem["viewer_url"] == base + "/viewer"
    assert dem["stac_item_url"] == f"/api/stac/collections/system-rasters/items/{dem['item_id']}"
    assert dem["raster_type"] == "dem"


def test_stac_item_has_proj_raster_fields_assets_and_metadata(rgb: dict[str, Any]) -> None:
    from catalog.selectors import item_get

    item = item_get(collection_id="system-rasters", item_id=rgb["item_id"])
    assert item is not None
    assert item["stac_version"] == "1.1.0"
    props = item["properties"]
    assert props["proj:code"] == "EPSG:4326" and props["proj:shape"] == [360, 720]
    assert props["ddh:dataset_id"] == "DS-1"
    assert props["geoplatform:raster_type"] == "rgb"
    assert set(item["assets"]) == {"visualization", "analysis", "archive", "thumbnail"}
    assert item["assets"]["thumbnail"]["roles"] == ["thumbnail"]
    analysis = item["assets"]["analysis"]
    assert analysis["type"].startswith("image/tiff; application=geotiff; profile=cloud-optimized")
    assert len(analysis["bands"]) == 3 and analysis["bands"][0]["data_type"] == "uint8"
    assert {"minimum", "maximum", "mean"} <= set(analysis["bands"][0]["statistics"])
    assert item["bbox"] == pytest.approx([-180, -90, 180, 90])


def test_tile_png_jpg_webp_tif_npy(rgb: dict[str, Any], api_client: Any) -> None:
    base = f"/api/raster/system-rasters/{rgb['item_id']}/tiles/WebMercatorQuad/1/1/0"
    png = api_client.get(base + ".png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert _image(png).size == (256, 256)
    assert png["ETag"] and "max-age=" in png["Cache-Control"]
    assert _image(api_client.get(base + "@2x.png")).size == (512, 512)
    assert api_client.get(base + ".jpg")["Content-Type"] == "image/jpeg"
    assert api_client.get(base + ".webp")["Content-Type"] == "image/webp"
    tif = api_client.get(base + ".tif")
    assert tif.status_code == 200
    with rasterio.MemoryFile(tif.content) as mem, mem.open() as ds:
        assert ds.count >= 3
    npy = api_client.get(base + ".npy")
    assert npy.status_code == 200 and np.load(io.BytesIO(npy.content)).shape[1:] == (256, 256)
    # Conditional request: same ETag -> 304 without a body.
    again = api_client.get(base + ".png", HTTP_IF_NONE_MATCH=png["ETag"])
    assert again.status_code == 304


def test_tile_render_options(dem: dict[str, Any], api_client: Any) -> None:
    tj = api_client.get(dem["tilejson_url"]).json()
    z = tj["maxzoom"]
    import morecantile

    tile = morecantile.tms.get("WebMercatorQuad").tile(*OLINDA_LONLAT, z)
    base = f"/api/raster/system-rasters/{dem['item_id']}/tiles/WebMercatorQuad/{z}/{tile.x}/{tile.y}.png"
    for query in ("", "?colormap_name=viridis&rescale=0,80", "?expression=b1*2&rescale=0,160", "?resampling=bilinear"):
        resp = api_client.get(base + query)
        assert resp.status_code == 200, (query, resp.content)
    # The DEM default (terrain colormap) gives a colour image.
    assert _image(api_client.get(base)).mode == "RGBA"
    for query, status in (
        ("?colormap_name=nope", 400),
        ("?expression=b9", 400),
        ("?bidx=7", 400),
        ("?rescale=5", 400),
        ("?resampling=sideways", 400),
    ):
        resp = api_client.get(base + query)
        assert resp.status_code == status, (query, resp.content)
        assert resp.json()["message"]


def test_tile_outside_bounds_and_unknown_tms_are_4xx(dem: dict[str, Any], api_client: Any) -> None:
    base = f"/api/raster/system-rasters/{dem['item_id']}/tiles"
    resp = api_client.get(base + "/WebMercatorQuad/12/0/0.png")
    assert resp.status_code == 404 and "outside" in resp.json()["message"].lower()
    assert api_client.get(base + "/NoSuchTMS/1/0/0.png").status_code == 400
    assert api_client.get(base + "/WebMercatorQuad/2/9/9.png").status_code == 404
    missing = api_client.get("/api/raster/system-rasters/no-such-item/tiles/WebMercatorQuad/1/0/0.png")
    assert missing.status_code == 404 and missing.json()["code"] == "raster_not_found"


def test_tilejson_and_other_tms(rgb: dict[str, Any], api_client: Any) -> None:
    tj = api_client.get(rgb["tilejson_url"]).json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["bounds"] == pytest.approx([-180, -90, 180, 90], abs=1e-6)
    assert "/tiles/WebMercatorQuad/{z}/{x}/{y}.png" in tj["tiles"][0]
    tj84 = api_client.get(rgb["tilejson_url"] + "?tms=WorldCRS84Quad&tile_format=webp").json()
    assert "/tiles/WorldCRS84Quad/{z}/{x}/{y}.webp" in tj84["tiles"][0]
    assert (
        api_client.get(f"/api/raster/system-rasters/{rgb['item_id']}/tiles/WorldCRS84Quad/0/0/0.png").status_code == 200
    )


def test_info_and_statistics(dem: dict[str, Any], api_client: Any) -> None:
    base = f"/api/raster/system-rasters/{dem['item_id']}"
    info = api_client.get(base + "/info").json()
    assert info["dtype"] == "float32" and info["raster_type"] == "dem" and info["count"] == 1
    stats = api_client.get(base + "/statistics").json()
    assert stats["b1"]["min"] == pytest.approx(-1.0) and stats["b1"]["max"] == pytest.approx(88.0)


def test_point_values_and_errors(dem: dict[str, Any], rgb: dict[str, Any], api_client: Any) -> None:
    base = f"/api/raster/system-rasters/{dem['item_id']}/point"
    resp = api_client.get(base, {"lon": OLINDA_LONLAT[0], "lat": OLINDA_LONLAT[1]})
    assert resp.status_code == 200, resp.content
    assert len(resp.json()["values"]) == 1 and isinstance(resp.json()["values"][0], float)
    rgb_point = api_client.get(f"/api/raster/system-rasters/{rgb['item_id']}/point", {"lon": 2.35, "lat": 48.85}).json()
    assert len(rgb_point["values"]) == 3
    outside = api_client.get(base, {"lon": 10, "lat": 10})
    assert outside.status_code == 404 and outside.json()["message"]
    assert api_client.get(base, {"lon": 200, "lat": 0}).status_code == 400
    assert api_client.get(base, {"lon": "x", "lat": 0}).status_code == 400
    assert api_client.get(base).status_code == 400


def test_point_is_nodata_aware(dem: dict[str, Any], api_client: Any) -> None:
    base = f"/api/raster/system-rasters/{dem['item_id']}/point"
    value = api_client.get(base, {"lon": OLINDA_LONLAT[0], "lat": OLINDA_LONLAT[1]}).json()["values"][0]
    masked = api_client.get(base, {"lon": OLINDA_LONLAT[0], "lat": OLINDA_LONLAT[1], "nodata": value}).json()
    assert masked["values"] == [None]


def test_extract_bbox(rgb: dict[str, Any], api_client: Any, settings: Any) -> None:
    base = f"/api/raster/system-rasters/{rgb['item_id']}"
    tif = api_client.get(base + "/extract", {"bbox": "0,40,20,50"})
    assert tif.status_code == 200, tif.content
    with rasterio.MemoryFile(tif.content) as mem, mem.open() as ds:
        assert ds.crs.to_epsg() == 4326 and (ds.width, ds.height) == (40, 20)
    png = api_client.get(base + "/extract.png", {"bbox": "0,40,20,50", "width": 100, "height": 50})
    assert png.status_code == 200 and _image(png).size == (100, 50)
    for bbox in ("0,40,20", "20,40,0,50", "a,b,c,d", "0,40,200,50"):
        resp = api_client.get(base + "/extract", {"bbox": bbox})
        assert resp.status_code == 400, (bbox, resp.content)
    assert api_client.get(base + "/extract").status_code == 400
    assert api_client.get(base + "/extract.bmp", {"bbox": "0,40,20,50"}).status_code == 400
    settings.GEOPLATFORM_RASTER_EXTRACT_MAX_PIXELS = 1000
    too_big = api_client.get(base + "/extract", {"bbox": "-180,-90,180,90"})
    assert too_big.status_code == 413 and "limit" in too_big.json()["message"]


def test_extract_outside_the_raster(dem: dict[str, Any], api_client: Any) -> None:
    resp = api_client.get(f"/api/raster/system-rasters/{dem['item_id']}/extract", {"bbox": "0,0,1,1"})
    assert resp.status_code == 404 and "intersect" in resp.json()["message"]


def test_clip_geometry(rgb: dict[str, Any], api_client: Any) -> None:
    base = f"/api/raster/system-rasters/{rgb['item_id']}"
    polygon = {"type": "Polygon", "coordinates": [[[0, 40], [20, 40], [10, 50], [0, 40]]]}
    tif = api_client.post(base + "/clip", polygon, format="json")
    assert tif.status_code == 200, tif.content
    with rasterio.MemoryFile(tif.content) as mem, mem.open() as ds:
        mask = ds.dataset_mask()
        assert mask.min() == 0 and mask.max() == 255  # outside the triangle is masked
    feature = {"type": "Feature", "properties": {}, "geometry": polygon}
    png = api_client.post(base + "/clip.png?max_size=64", feature, format="json")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    bad = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 1], [1, 0], [0, 0]]]}
    assert api_client.post(base + "/clip", bad, format="json").status_code == 400
    assert api_client.post(base + "/clip", {"type": "Point", "coordinates": [0, 0]}, format="json").status_code == 400
    assert api_client.post(base + "/clip", [1, 2], format="json").status_code == 400


def test_preview_and_viewer(rgb: dict[str, Any], dem: dict[str, Any], api_client: Any) -> None:
    resp = api_client.get(rgb["preview_url"], {"max_size": 128})
    assert resp.status_code == 200 and _image(resp).size == (128, 64)
    assert api_client.get(rgb["preview_url"], {"max_size": 999999}).status_code == 400
    assert _image(api_client.get(dem["preview_url"])).mode == "RGBA"
    html = api_client.get(rgb["viewer_url"])
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    body = html.content.decode()
    assert "vendor/leaflet/leaflet.js" in body and "tilejson.json" in body and "unpkg" not in body


def test_categorical_tiles_use_the_internal_colormap(published: dict[str, Any], api_client: Any) -> None:
    lc = published["lc"]
    assert lc["raster_type"] == "categorical"
    resp = api_client.get(lc["preview_url"])
    assert resp.status_code == 200 and _image(resp).mode == "RGBA"


def test_multispectral_default_is_a_false_colour_composite(published: dict[str, Any], api_client: Any) -> None:
    l7 = published["l7"]
    assert "bidx=3,2,1" in l7["tile_url_template"]
    assert api_client.get(l7["preview_url"]).status_code == 200
    six = api_client.get(l7["preview_url"] + "?bidx=1,2,3,4,5,6")
    assert six.status_code == 400 and "bidx" in six.json()["message"]


def test_reads_through_a_sas_url_too(dem: dict[str, Any], api_client: Any, settings: Any) -> None:
    """/vsicurl/ to a short-lived SAS URL instead of /vsiaz/ with the connection string."""
    if settings.GEOPLATFORM_STORAGE_BACKEND != "azure":
        pytest.skip("SAS URLs are an Azure feature")
    from rasters import gdal

    settings.GEOPLATFORM_RASTER_AZURE_READ = "sas"
    from geoplatform.storage import zone_container

    assert gdal.gdal_path(zone_container("silver"), "a.tif").startswith("/vsicurl/http")
    resp = api_client.get(
        f"/api/raster/system-rasters/{dem['item_id']}/point", {"lon": OLINDA_LONLAT[0], "lat": OLINDA_LONLAT[1]}
    )
    assert resp.status_code == 200, resp.content
    assert api_client.get(dem["preview_url"]).status_code == 200


def test_items_validate_against_the_stac_1_1_schema(published: dict[str, dict[str, Any]], api_client: Any) -> None:
    """The items as the STAC API serves them, against the core STAC 1.1.0 item schema (bundled
    with pystac: offline). The projection v2 / raster v2 schemas are not available offline,
    so ``stac_extensions`` is emptied in the copy that is validated."""
    from pystac.validation import validate_dict

    for result in published.values():
        resp = api_client.get(result["stac_item_url"])
        assert resp.status_code == 200, resp.content
        core = {**resp.json(), "stac_extensions": []}
        assert validate_dict(core) == ["https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"]


ODD_QUERIES = [
    "?rescale=0,1&rescale=0,2",
    "?bidx=0",
    "?bidx=a",
    "?nodata=nan",
    "?nodata=abc",
    "?rescale=a,b",
    "?asset=nope",
    "?expression=b1*",
    "?expression=import os",
    "?max_size=abc",
    "?width=-1",
]
ODD_PATHS = [
    "tiles/WebMercatorQuad/3/3/3.png",
    "point?lon=0&lat=0",
    "preview.png?max_size=64",
    "extract?bbox=0,0,10,10",
]


@pytest.mark.parametrize("key", ["rgb", "dem"])
def test_odd_parameters_never_give_a_500(published: dict[str, Any], api_client: Any, key: str) -> None:
    base = f"/api/raster/system-rasters/{published[key]['item_id']}/"
    bad = []
    for path in ODD_PATHS:
        for query in ODD_QUERIES:
            url = base + path + ("&" + query[1:] if "?" in path else query)
            resp = api_client.get(url)
            if resp.status_code >= 500:
                bad.append((url, resp.status_code))
            elif resp.status_code >= 400:
                assert resp.json()["message"], url
    assert not bad, bad
