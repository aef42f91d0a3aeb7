"""Mosaic tiles over a STAC collection of COGs (rio-tiler ``mosaic_reader``).

The items of a collection are read through catalog (a paged STAC search by collection) into
a small in-process index (id, bbox, datetime, data COG), refreshed every
``RASTER_ITEM_CACHE_SECONDS``; a tile then picks the items whose bbox meets it, newest
first, and mosaics them with the chosen pixel-selection method. Per-tile searches would
write one ``pgstac.searches`` row per tile.

Mosaics of a registered pgSTAC search (``/mosaic/{search_id}``, see
``catalog.services.search_register``) enforce the search metadata's minzoom/maxzoom. A search
matching at most ``MAX_SEARCH_INDEX_ITEMS`` items gets the same kind of in-process index (its
items in the search's order, refreshed every ``RASTER_ITEM_CACHE_SECONDS``); a bigger one asks
catalog for the items meeting each tile. Both kinds of mosaic render through :func:`_render`,
which reads through the pool of open datasets (``gdal.pooled_dataset``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import morecantile
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.mosaic.methods import defaults as methods

from catalog import selectors as catalog_selectors

from . import conf, stac, tiles
from .errors import InvalidRasterRequest, OutsideBounds, RasterNotFound, RequestTooLarge
from .gdal import gdal_env, gdal_path, pooled_dataset, vsi_cache_clear

MAX_INDEX_ITEMS = 10_000
MAX_ITEMS_PER_TILE = 50
# A search's whole item list is read once (hydrated items) per refresh: worth it for the
# collection-sized searches the collection jobs register, not for an open-ended search.
MAX_SEARCH_INDEX_ITEMS = 500
_WORLD = (-180.0, -90.0, 180.0, 90.0)
PIXEL_SELECTION: dict[str, type[methods.MosaicMethodBase]] = {
    "first": methods.FirstMethod,
    "highest": methods.HighestMethod,
    "lowest": methods.LowestMethod,
    "mean": methods.MeanMethod,
    "median": methods.MedianMethod,
    "count": methods.CountMethod,
}


@dataclass(frozen=True)
class MosaicItem:
    item_id: str
    bbox: tuple[float, float, float, float]
    datetime: str
    container: str
    blob: str
    updated: str = ""  # the item's update stamp: keys the pooled dataset


_index: dict[str, tuple[float, list[MosaicItem]]] = {}
# search id -> (when read, the search, its items in order or None when too many for an index)
_searches: dict[str, tuple[float, dict[str, Any], list[MosaicItem] | None]] = {}
_lock = threading.Lock()


def _data_asset(item: dict[str, Any]) -> tuple[str, str] | None:
    assets = item.get("assets") or {}
    for key in (*stac.TILE_ASSET_ORDER, *sorted(assets)):
        asset = assets.get(key) or {}
        if "geoplatform:container" in asset and "geoplatform:blob" in asset:
            return asset["geoplatform:container"], asset["geoplatform:blob"]
    return None


def collection_index(collection_id: str) -> list[MosaicItem]:
    """The collection's COG items (cached a few seconds per process)."""
    now = time.monotonic()
    with _lock:
        hit = _index.get(collection_id)
    if hit and now - hit[0] < float(conf.get("ITEM_CACHE_SECONDS")):
        return hit[1]
    if catalog_selectors.collection_get(collection_id=collection_id) is None:
        raise RasterNotFound(f"No STAC collection {collection_id!r}.")
    found: list[MosaicItem] = []
    search: dict[str, Any] = {"collections": [collection_id], "limit": 1000}
    while True:
        body, next_token, _ = catalog_selectors.search_page(search=search, base="/")
        found += [m for m in map(_mosaic_item, json.loads(body).get("features", [])) if m is not None]
        if len(found) > MAX_INDEX_ITEMS:
            raise RequestTooLarge(
                f"Collection {collection_id!r} has more than {MAX_INDEX_ITEMS} rasters: too many for a collection mosaic.",
                remediation="Use the mosaic of a registered search (/api/raster/mosaic/{search_id}) or split the collection.",
            )
        if not next_token:
            break
        search = {**search, "token": next_token}
    found.sort(key=lambda i: (i.datetime, i.item_id), reverse=True)  # newest first
    with _lock:
        _index[collection_id] = (now, found)
    return found


def index_clear() -> None:
    with _lock:
        _index.clear()
        _searches.clear()


def _tile_bounds(tms: morecantile.TileMatrixSet, z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile's bounds in EPSG:4326 (after checking it exists in the TMS)."""
    if z < tms.minzoom or z > tms.maxzoom:
        raise InvalidRasterRequest(f"Zoom {z} is outside {tms.id} ({tms.minzoom}..{tms.maxzoom}).")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise OutsideBounds(f"Tile {z}/{x}/{y} does not exist in {tms.id}.")
    bounds = tms.xy_bounds(morecantile.Tile(x, y, z))
    west, south, east, north = transform_bounds(tms.rasterio_crs, CRS.from_epsg(4326), *bounds, densify_pts=21)
    return west, south, east, north


def _check_pixel_selection(pixel_selection: str) -> None:
    if pixel_selection not in PIXEL_SELECTION:
        raise InvalidRasterRequest(f"pixel_selection must be one of {', '.join(PIXEL_SELECTION)}.")


def _render(
    candidates: list[MosaicItem],
    *,
    label: str,
    tms: morecantile.TileMatrixSet,
    z: int,
    x: int,
    y: int,
    scale: int,
    options: tiles.RenderOptions,
    pixel_selection: str,
) -> tuple[ImageData, list[str]]:
    """Mosaic ``candidates`` (in priority order) into one tile; the ids of the items used."""
    if not candidates:
        raise OutsideBounds(f"No raster of {label} covers tile {z}/{x}/{y}.")
    reader_options: dict[str, Any] = {"resampling_method": options.resampling}
    if options.nodata is not None:
        reader_options["nodata"] = options.nodata

    band_counts: dict[int, str] = {}

    def read(item: MosaicItem, *args: Any, **kwargs: Any) -> ImageData:
        with (
            pooled_dataset(item.container, item.blob, version=item.updated) as dataset,
            Reader(dataset.name, dataset=dataset, tms=tms, options=reader_options) as reader,  # type: ignore[arg-type]
        ):
            image = reader.tile(x, y, z, tilesize=256 * scale, **options.read_kwargs())
        # rio-tiler only asserts that the images stack (a 500): say which items differ instead.
        band_counts.setdefault(image.count, item.item_id)
        if len(band_counts) > 1:
            found = ", ".join(f"{item_id!r} has {n}" for n, item_id in sorted(band_counts.items()))
            raise InvalidRasterRequest(
                f"The rasters of {label} in tile {z}/{x}/{y} have different band counts ({found}): "
                "choose the same bands of each with bidx (e.g. bidx=1) or an expression."
            )
        return image

    try:
        with gdal_env(), tiles._mapped_errors():
            method = PIXEL_SELECTION[pixel_selection]()  # type: ignore[abstract]
            # threads=0: rasterio's Env (the /vsiaz/ credentials) is per thread.
            image, used = mosaic_reader(
                candidates, read, pixel_selection=method, threads=0, allowed_exceptions=(TileOutsideBounds,)
            )
    except EmptyMosaicError as exc:
        raise OutsideBounds(f"No raster of {label} has data in tile {z}/{x}/{y}.") from exc
    return image, [i.item_id for i in used]


def tile(
    collection_id: str,
    *,
    tms_id: str,
    z: int,
    x: int,
    y: int,
    scale: int,
    options: tiles.RenderOptions,
    pixel_selection: str,
) -> tuple[ImageData, list[str]]:
    """One mosaic tile of a collection and the ids of the items that filled it."""
    tms = tiles.get_tms(tms_id)
    west, south, east, north = _tile_bounds(tms, z, x, y)
    _check_pixel_selection(pixel_selection)
    candidates = [
        i
        for i in collection_index(collection_id)
        if i.bbox[0] < east and i.bbox[2] > west and i.bbox[1] < north and i.bbox[3] > south
    ][:MAX_ITEMS_PER_TILE]
    return _render(
        candidates, label=repr(collection_id), tms=tms, z=z, x=x, y=y, scale=scale, options=options,
        pixel_selection=pixel_selection,
    )  # fmt: skip


def _mosaic_item(item: dict[str, Any]) -> MosaicItem | None:
    where = _data_asset(item)
    if where is None or not item.get("bbox"):
        return None
    bbox = item["bbox"]
    # A 3D bbox is [w, s, zmin, e, n, zmax].
    west, south, east, north = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox[:4]
    props = item["properties"]
    return MosaicItem(
        item["id"],
        (west, south, east, north),
        props.get("datetime") or "",
        *where,
        updated=str(props.get("updated", "")),
    )


def search_get(search_id: str) -> dict[str, Any]:
    """The registered search (404 if unknown)."""
    return _search_entry(search_id)[0]


def _search_entry(search_id: str) -> tuple[dict[str, Any], list[MosaicItem] | None]:
    """The search and, if it matches at most MAX_SEARCH_INDEX_ITEMS items, all of them in its
    order (cached ``RASTER_ITEM_CACHE_SECONDS`` per process, like the collection index)."""
    now = time.monotonic()
    with _lock:
        hit = _searches.get(search_id)
    if hit and now - hit[0] < float(conf.get("ITEM_CACHE_SECONDS")):
        return hit[1], hit[2]
    found = catalog_selectors.search_get(search_id=search_id)
    if found is None:
        with _lock:
            _searches.pop(search_id, None)
        raise RasterNotFound(f"No registered search {search_id!r}.")
    every = catalog_selectors.search_items_for_tile(search_id=search_id, bbox=_WORLD, limit=MAX_SEARCH_INDEX_ITEMS + 1)
    items = [m for m in map(_mosaic_item, every) if m is not None] if len(every) <= MAX_SEARCH_INDEX_ITEMS else None
    with _lock:
        if len(_searches) > 256:
            _searches.clear()
        _searches[search_id] = (now, found, items)
    return found, items


def search_zooms(found: dict[str, Any], tms: morecantile.TileMatrixSet) -> tuple[int, int]:
    """(minzoom, maxzoom) of a registered search: its metadata, else the TMS's."""
    meta = found.get("metadata") or {}
    lo, hi = meta.get("minzoom"), meta.get("maxzoom")
    return (
        int(lo) if isinstance(lo, int) else int(tms.minzoom),
        int(hi) if isinstance(hi, int) else int(tms.maxzoom),
    )


def search_tile(
    search_id: str,
    *,
    tms_id: str,
    z: int,
    x: int,
    y: int,
    scale: int,
    options: tiles.RenderOptions,
    pixel_selection: str,
) -> tuple[ImageData, list[str]]:
    """One mosaic tile of a registered search; zooms outside its minzoom..maxzoom are refused."""
    found, index = _search_entry(search_id)
    tms = tiles.get_tms(tms_id)
    lo, hi = search_zooms(found, tms)
    if not lo <= z <= hi:
        # A low zoom would open every COG of the search for one tile.
        raise InvalidRasterRequest(
            f"Zoom {z} is outside this mosaic's zoom range {lo}..{hi}.",
            details={"z": z, "minzoom": lo, "maxzoom": hi},
            remediation=f"Request tiles with {lo} <= z <= {hi} (see the mosaic's tilejson.json).",
        )
    west, south, east, north = bbox = _tile_bounds(tms, z, x, y)
    _check_pixel_selection(pixel_selection)
    if index is not None:
        # As the SQL below (items whose footprint meets the tile, boundary included), on bboxes.
        candidates = [
            i for i in index if i.bbox[0] <= east and i.bbox[2] >= west and i.bbox[1] <= north and i.bbox[3] >= south
        ][:MAX_ITEMS_PER_TILE]
    else:
        items = catalog_selectors.search_items_for_tile(search_id=search_id, bbox=bbox, limit=MAX_ITEMS_PER_TILE)
        candidates = [m for m in map(_mosaic_item, items) if m is not None]
    return _render(
        candidates, label=f"search {search_id}", tms=tms, z=z, x=x, y=y, scale=scale, options=options,
        pixel_selection=pixel_selection,
    )  # fmt: skip


def search_tilejson(search_id: str, *, tms_id: str, tiles_url: str) -> dict[str, Any]:
    found = search_get(search_id)
    lo, hi = search_zooms(found, tiles.get_tms(tms_id))
    bounds = catalog_selectors.search_bounds_get(search_id=search_id)
    if bounds is None:
        raise RasterNotFound(f"Registered search {search_id!r} matches no items.")
    west, south, east, north = bounds
    return {
        "tilejson": "3.0.0",
        "name": str((found.get("metadata") or {}).get("name") or search_id),
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": lo,
        "maxzoom": hi,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, lo],
    }


def tilejson(collection_id: str, *, tiles_url: str, minzoom: int | None, maxzoom: int | None) -> dict[str, Any]:
    items = collection_index(collection_id)
    if not items:
        raise RasterNotFound(f"Collection {collection_id!r} has no COG items.")
    west = min(i.bbox[0] for i in items)
    south = min(i.bbox[1] for i in items)
    east = max(i.bbox[2] for i in items)
    north = max(i.bbox[3] for i in items)
    path = gdal_path(items[0].container, items[0].blob)
    if path.startswith("/vsi"):
        vsi_cache_clear(path)  # as open_blob: not what the tile pool kept of an earlier version
    with gdal_env(), Reader(path) as reader:
        lo = max(0, reader.minzoom - 2) if minzoom is None else minzoom  # a little further out: several items
        hi = reader.maxzoom if maxzoom is None else maxzoom
    return {
        "tilejson": "3.0.0",
        "name": collection_id,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": lo,
        "maxzoom": hi,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, lo],
    }
