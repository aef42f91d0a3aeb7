"""The offline basemap: shaded relief with country outlines, drawn from files in this folder.

``relief.tif`` (a small Web Mercator COG) and ``countries.geojson`` (Natural Earth 1:110m,
simplified) are built by ``manage.py basemap_build`` from data the project ships (README.md
here says where from). Tiles are deterministic, so rendered ones are kept in a bounded
in-process LRU (GEOPLATFORM_BASEMAP_CACHE_TILES); the ETag is the data's digest plus the tile.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from django.conf import settings
from rasterio.features import rasterize
from rasterio.shutil import copy as rio_copy
from rasterio.transform import from_bounds
from rio_tiler.io import Reader
from rio_tiler.utils import render as rt_render
from shapely import STRtree
from shapely.geometry import mapping, shape
from shapely.ops import transform as shp_transform

from .. import png
from ..errors import InvalidRasterRequest, OutsideBounds
from ..gdal import gdal_env
from ..tiles import get_tms

DATA_DIR = Path(__file__).resolve().parent
RELIEF = DATA_DIR / "relief.tif"
COUNTRIES = DATA_DIR / "countries.geojson"
FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
OUTLINE_RGB = (90, 90, 90)
_MAX_LAT = 85.0511287798066
_EARTH = 6378137.0


def build(*, relief_src: Path, countries_src: Path, out: Path) -> dict[str, int]:
    """Write relief.tif (JPEG COG on the GoogleMapsCompatible grid, so tiles need no warping)
    and countries.geojson (simplified, 3 decimals); returns their sizes."""
    import pyogrio
    import shapely

    out.mkdir(parents=True, exist_ok=True)
    with gdal_env(), rasterio.open(relief_src) as src:
        rio_copy(
            src, str(out / RELIEF.name), driver="COG", TILING_SCHEME="GoogleMapsCompatible", ZOOM_LEVEL=2,
            COMPRESS="JPEG", QUALITY=80, RESAMPLING="BILINEAR", OVERVIEWS="IGNORE_EXISTING",
        )  # fmt: skip
    _meta, _fids, wkb, fields = pyogrio.raw.read(str(countries_src), columns=["name", "iso_a3"])
    features = []
    for geom, name, iso in zip(shapely.from_wkb(wkb), fields[0], fields[1], strict=True):
        simple = shapely.set_precision(shapely.simplify(geom, 0.02, preserve_topology=True), 0.001)
        features.append({"type": "Feature", "properties": {"name": name, "iso_a3": iso}, "geometry": mapping(simple)})
    doc = {"type": "FeatureCollection", "features": features}
    (out / COUNTRIES.name).write_text(json.dumps(doc, separators=(",", ":")))
    return {RELIEF.name: (out / RELIEF.name).stat().st_size, COUNTRIES.name: (out / COUNTRIES.name).stat().st_size}


@functools.cache
def version() -> str:
    """A digest of the data files: the tiles' ETag changes when basemap_build is rerun."""
    digest = hashlib.sha256()
    for path in (RELIEF, COUNTRIES):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _to_mercator(x: Any, y: Any, z: Any = None) -> tuple[Any, Any]:
    lat = np.clip(np.asarray(y, dtype=float), -_MAX_LAT, _MAX_LAT)
    mx = np.radians(np.asarray(x, dtype=float)) * _EARTH
    my = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _EARTH
    return mx, my


@functools.cache
def _outlines() -> tuple[STRtree, list[Any]]:
    """Country boundaries (lines) in EPSG:3857 and a spatial index over them."""
    doc = json.loads(COUNTRIES.read_text())
    lines = [shp_transform(_to_mercator, shape(f["geometry"]).boundary) for f in doc["features"]]
    return STRtree(lines), lines


_local = threading.local()


def _relief_dataset() -> Any:
    # One open handle per thread: the file is tiny and local, opening it is the main cost.
    dataset = getattr(_local, "relief", None)
    if dataset is None or dataset.closed:
        with gdal_env():
            dataset = _local.relief = rasterio.open(RELIEF)
    return dataset


class _Lru:
    def __init__(self) -> None:
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: bytes, limit: int) -> None:
        if limit <= 0:
            return
        with self._lock:
            self._items[key] = value
            while len(self._items) > limit:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = _Lru()


def check_tile(z: int, x: int, y: int) -> None:
    maxzoom = int(settings.GEOPLATFORM_BASEMAP_MAXZOOM)
    if not 0 <= z <= maxzoom:
        raise InvalidRasterRequest(f"Basemap zoom must be within 0..{maxzoom}, not {z}.")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise OutsideBounds(f"Tile {z}/{x}/{y} does not exist in WebMercatorQuad.")


def tile(z: int, x: int, y: int, *, scale: int = 1, fmt: str = "png") -> tuple[bytes, str]:
    """The basemap tile z/x/y (WebMercatorQuad) at 256*scale pixels, encoded as ``fmt``."""
    if fmt not in FORMATS:
        raise InvalidRasterRequest(f"Basemap tiles are {', '.join(FORMATS)}, not {fmt!r}.")
    check_tile(z, x, y)
    driver, media_type = FORMATS[fmt]
    key = (z, x, y, scale, fmt)
    found = cache.get(key)
    if found is not None:
        return found, media_type
    content = _render(z, x, y, scale, driver)
    cache.put(key, content, int(settings.GEOPLATFORM_BASEMAP_CACHE_TILES))
    return content, media_type


def _render(z: int, x: int, y: int, scale: int, driver: str) -> bytes:
    size = 256 * scale
    tms = get_tms("WebMercatorQuad")
    with gdal_env():
        dataset = _relief_dataset()
        with Reader(dataset.name, dataset=dataset, tms=tms, options={"resampling_method": "bilinear"}) as reader:
            image = reader.tile(x, y, z, tilesize=size)
    data = np.ascontiguousarray(image.data[:3].astype(np.uint8))
    bounds = tms.xy_bounds(x, y, z)
    tree, lines = _outlines()
    hits = tree.query(_box(bounds))
    if len(hits):
        drawn = rasterize(
            [(lines[i], 1) for i in hits],
            out_shape=(size, size),
            transform=from_bounds(bounds.left, bounds.bottom, bounds.right, bounds.top, size, size),
            dtype="uint8",
        )
        for band, value in enumerate(OUTLINE_RGB):
            data[band][drawn == 1] = value
    mask = np.full((size, size), 255, dtype=np.uint8)
    if driver == "PNG":
        return png.encode(data, mask)
    return bytes(rt_render(data, img_format=driver, **({"quality": 85} if driver != "PNG" else {})))


def _box(bounds: Any) -> Any:
    from shapely.geometry import box

    return box(bounds.left, bounds.bottom, bounds.right, bounds.top)


def tile_template(prefix: str, fmt: str = "png") -> str:
    """The platform's own tile URL template under ``prefix`` (e.g. /api/raster)."""
    return f"{prefix}/basemap/tiles/{{z}}/{{x}}/{{y}}.{fmt}"


def tilejson(tiles_url: str) -> dict[str, Any]:
    return {
        "tilejson": "3.0.0",
        "name": "GeoPlatform basemap",
        "tiles": [tiles_url],
        "minzoom": 0,
        "maxzoom": int(settings.GEOPLATFORM_BASEMAP_MAXZOOM),
        "bounds": [-180.0, -_MAX_LAT, 180.0, _MAX_LAT],
        "center": [0.0, 20.0, 1],
        "attribution": settings.GEOPLATFORM_BASEMAP_ATTRIBUTION,
        "scheme": "xyz",
    }
