"""The tile serving fast paths: our PNG encoder gives the pixels GDAL's PNG driver gives, and
open datasets are pooled without ever being shared by two requests at once."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import rasterio

from rasters import gdal, png, selectors, tiles

pytestmark = [pytest.mark.django_db, pytest.mark.reader]  # reader: also run on a reader deployment


def _pixels(body: bytes) -> np.ndarray:
    with rasterio.MemoryFile(body) as mem, mem.open() as ds:
        return ds.read()


@pytest.mark.parametrize(("bands", "height", "width"), [(1, 7, 5), (3, 256, 256), (3, 300, 77), (1, 513, 40)])
def test_png_encoder_round_trips_through_gdal(bands: int, height: int, width: int) -> None:
    rng = np.random.default_rng(height)
    smooth = np.add.outer(np.arange(height), np.arange(width)).astype("uint8")
    data = np.stack([smooth + rng.integers(0, 4, (height, width), dtype="uint8") for _ in range(bands)])
    mask = np.where(rng.random((height, width)) < 0.2, 0, 255).astype("uint8")
    assert png.encodable(data, mask)
    decoded = _pixels(png.encode(data, mask))
    assert decoded.shape == (bands + 1, height, width)
    assert np.array_equal(decoded[:bands], data) and np.array_equal(decoded[bands], mask)


def test_png_encoder_leaves_other_images_to_gdal() -> None:
    u8 = np.zeros((3, 4, 4), "uint8")
    assert not png.encodable(u8.astype("uint16"), np.zeros((4, 4), "uint8"))
    assert not png.encodable(np.zeros((2, 4, 4), "uint8"), np.zeros((4, 4), "uint8"))
    assert not png.encodable(u8, None)


def _tile_urls(item: dict[str, Any], api_client: Any) -> list[str]:
    """The TileJSON's tile template at its min and max zoom, on the raster's centre."""
    import morecantile

    doc = api_client.get(item["tilejson_url"]).json()
    west, south, east, north = doc["bounds"]
    tms = morecantile.tms.get("WebMercatorQuad")
    urls = []
    for z in (doc["minzoom"], doc["maxzoom"]):
        t = tms.tile((west + east) / 2, (south + north) / 2, z)
        urls.append(doc["tiles"][0].replace("{z}", str(t.z)).replace("{x}", str(t.x)).replace("{y}", str(t.y)))
    return urls


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        ("rgb", ""),  # RGB + alpha
        ("rgb", "bidx=2"),  # grey + alpha
        ("dem", ""),  # float DEM, terrain colormap, rescale (default rendering)
        ("lc", ""),  # categorical: the file's own colour table
        ("l7", ""),  # multispectral 3,2,1 + percentile rescale
    ],
)
def test_png_tiles_have_the_pixels_gdal_writes(
    published: dict[str, Any], api_client: Any, monkeypatch: pytest.MonkeyPatch, kind: str, query: str
) -> None:
    for url in _tile_urls(published[kind], api_client):
        if query:
            url = url.split("?")[0] + "?" + query
        ours = api_client.get(url)
        assert ours.status_code == 200 and ours["Content-Type"] == "image/png"
        with monkeypatch.context() as m:
            m.setattr(png, "encodable", lambda data, mask: False)  # rio-tiler's render (GDAL's PNG driver)
            theirs = api_client.get(url)
        assert theirs.status_code == 200
        assert ours["ETag"] == theirs["ETag"] and ours["Cache-Control"] == theirs["Cache-Control"]
        a, b = _pixels(ours.content), _pixels(theirs.content)
        assert a.shape == b.shape and np.array_equal(a, b), url
        assert len(ours.content) < 1.5 * len(theirs.content) + 1024


def test_datasets_are_pooled_but_never_shared(published: dict[str, Any]) -> None:
    item = published["rgb"]
    asset = selectors.raster_asset_get(collection_id=item["collection_id"], item_id=item["item_id"])
    gdal.pool_clear()
    inside = threading.Barrier(2)
    seen: list[int] = []

    def use() -> None:
        with gdal.gdal_env(), gdal.pooled_dataset(asset.container, asset.blob, version="v1") as ds:
            seen.append(id(ds))
            inside.wait(timeout=10)  # both hold a dataset at the same time

    workers = [threading.Thread(target=use) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(set(seen)) == 2
    with gdal.gdal_env(), gdal.pooled_dataset(asset.container, asset.blob, version="v1") as ds:
        assert id(ds) in seen  # reused
        reused = ds
    with gdal.gdal_env(), gdal.pooled_dataset(asset.container, asset.blob, version="v2") as ds:
        assert ds is not reused  # another version of the item: another dataset
    gdal.pool_clear()
    assert reused.closed


def test_a_failed_read_does_not_go_back_to_the_pool(published: dict[str, Any]) -> None:
    item = published["rgb"]
    asset = selectors.raster_asset_get(collection_id=item["collection_id"], item_id=item["item_id"])
    gdal.pool_clear()
    with pytest.raises(RuntimeError), gdal.gdal_env(), gdal.pooled_dataset(asset.container, asset.blob) as ds:
        broken = ds
        raise RuntimeError("I/O failed mid-read")
    assert broken.closed
    with gdal.gdal_env(), gdal.pooled_dataset(asset.container, asset.blob) as ds:
        assert ds is not broken
    # An outside-bounds tile is the caller's mistake: the dataset stays usable and pooled.
    dem = published["dem"]
    dem_asset = selectors.raster_asset_get(collection_id=dem["collection_id"], item_id=dem["item_id"])
    gdal.pool_clear()
    with pytest.raises(tiles.OutsideBounds):
        tiles.tile(dem_asset.container, dem_asset.blob, tms_id="WebMercatorQuad", z=20, x=0, y=0, scale=1,
                   options=tiles.RenderOptions())  # fmt: skip
    assert sum(len(idle) for idle in gdal._pool._idle.values()) == 1
    gdal.pool_clear()


def test_search_mosaic_index_and_per_tile_query_agree(
    published: dict[str, Any], api_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small search is served from the in-process index; a big one queries per tile: same tiles."""
    from catalog.services import search_register
    from rasters import mosaic

    ids = [published["rgb"]["item_id"], published["dem"]["item_id"]]
    sid = search_register(search={"collections": ["system-rasters"], "ids": ids}, metadata={"minzoom": 0, "maxzoom": 3})
    urls = [f"/api/raster/mosaic/{sid}/tiles/WebMercatorQuad/{zxy}.png" for zxy in ("0/0/0", "1/0/1", "3/6/4")]
    mosaic.index_clear()
    indexed = [api_client.get(u) for u in urls]
    mosaic.index_clear()
    with monkeypatch.context() as m:
        m.setattr(mosaic, "MAX_SEARCH_INDEX_ITEMS", 0)  # too many for an index: the per-tile query
        queried = [api_client.get(u) for u in urls]
    mosaic.index_clear()
    for a, b in zip(indexed, queried, strict=True):
        assert a.status_code == b.status_code
        if a.status_code == 200:
            assert a.content == b.content and a["X-Mosaic-Items"] == b["X-Mosaic-Items"]
    assert indexed[0].status_code == 200 and published["rgb"]["item_id"] in indexed[0]["X-Mosaic-Items"]
