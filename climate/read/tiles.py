"""Map tiles of one variable at one time step through rio-tiler's ``XarrayReader``.

The step is chosen with ``datetime`` (nearest step, in the dataset's calendar) or ``sel``
(``dim=value``, nearest, repeatable, e.g. ``sel=height=2``); the first step by default.
0-360 longitudes are rolled to -180..180 first (rio-tiler refuses bounds past 180, #718);
descending latitudes are fine for rioxarray. Curvilinear (2-D lat/lon) grids have no affine
transform: tiles answer 400 for them and point them at EDR, which serves them by nearest cell.
"""

from __future__ import annotations

import io
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import morecantile
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor XarrayReader needs)
import xarray as xr
from morecantile.errors import InvalidIdentifier
from rio_tiler import errors as rt_errors
from rio_tiler.colormap import cmap as colormaps
from rio_tiler.io import XarrayReader
from rio_tiler.models import ImageData

from . import cube
from .errors import InvalidQuery, OutsideExtent

DEFAULT_COLORMAP = "viridis"


_tms = threading.local()


def get_tms(tms_id: str) -> morecantile.TileMatrixSet:
    # morecantile deep-copies the definition on every get(); each thread keeps its own copies.
    cache: dict[str, morecantile.TileMatrixSet] = _tms.__dict__.setdefault("by_id", {})
    if tms_id in cache:
        return cache[tms_id]
    try:
        cache[tms_id] = morecantile.tms.get(tms_id)
        return cache[tms_id]
    except InvalidIdentifier as exc:
        raise InvalidQuery(
            f"tms: {tms_id!r} is not a tile matrix set; use one of {', '.join(morecantile.tms.list())}."
        ) from exc


def parse_rescale(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InvalidQuery(f"rescale: {text!r} is not min,max (two numbers).") from exc
    if not low < high:
        raise InvalidQuery(f"rescale: {text!r}: min must be less than max.")
    return low, high


def colormap(name: str | None) -> Any:
    name = (name or DEFAULT_COLORMAP).lower()
    if name not in colormaps.list():
        raise InvalidQuery(f"colormap_name: {name!r} is not a colormap (e.g. viridis, magma, rdbu_r).")
    return colormaps.get(name)


def _sel(ds: xr.Dataset, selectors: Sequence[str]) -> xr.Dataset:
    for selector in selectors:
        dim, sep, raw = selector.partition("=")
        raw = raw.split("::")[-1]  # titiler.xarray's dim=method::value
        if not sep or dim not in ds.dims:
            raise InvalidQuery(f"sel: {selector!r} is not dim=value with dim one of {', '.join(map(str, ds.dims))}.")
        if np.issubdtype(ds[dim].dtype, np.number):
            try:
                value: Any = float(raw)
            except ValueError as exc:
                raise InvalidQuery(f"sel: {raw!r} is not a number for {dim}.") from exc
            ds = ds.sel({dim: value}, method="nearest")
        else:
            axes = cube.axes_of(ds)
            if dim == axes.time:
                ds = cube.select_time(ds, axes, cube.parse_datetime(raw, cube.calendar_of(ds, axes))).isel({dim: 0})
            else:
                ds = ds.sel({dim: raw})
    return ds


_layers: OrderedDict[tuple[Any, ...], tuple[weakref.ref[xr.Dataset], xr.DataArray, dict[str, XarrayReader]]] = (
    OrderedDict()
)
_layers_lock = threading.Lock()
LAYER_CACHE_BYTES = 128 * 1024**2  # per process: ~130 steps of a 0.25-degree global grid


def layer(ds: xr.Dataset, params: Mapping[str, Any]) -> xr.DataArray:
    """The 2-D DataArray (y, x) in EPSG:4326, -180..180, of one variable and step; the last
    few are kept (a map view asks for a dozen tiles of the same step at once)."""
    return _entry(ds, params)[1]


def _entry(
    ds: xr.Dataset, params: Mapping[str, Any]
) -> tuple[weakref.ref[xr.Dataset], xr.DataArray, dict[str, XarrayReader]]:
    selectors = tuple(params.getlist("sel")) if hasattr(params, "getlist") else tuple(params.get("sel") or ())
    key = (id(ds), params.get("variable"), params.get("datetime"), selectors)
    with _layers_lock:
        hit = _layers.get(key)
        if hit is not None and hit[0]() is ds:
            _layers.move_to_end(key)
            return hit
    da = _layer(ds, params)
    entry: tuple[weakref.ref[xr.Dataset], xr.DataArray, dict[str, XarrayReader]] = (weakref.ref(ds), da, {})
    with _layers_lock:
        _layers[key] = entry
        used = sum(entry[1].nbytes for entry in _layers.values())
        while used > LAYER_CACHE_BYTES and len(_layers) > 1:
            _, dropped = _layers.popitem(last=False)
            used -= dropped[1].nbytes
    return entry


def _layer(ds: xr.Dataset, params: Mapping[str, Any]) -> xr.DataArray:
    axes = cube.axes_of(ds)
    if axes.curvilinear(ds):
        raise InvalidQuery(
            "This dataset is on a curvilinear (2-D latitude/longitude) grid: tiles need a regular grid; "
            "use the EDR position/area queries (nearest cell) instead."
        )
    names = cube.parameters(ds, axes)
    variable = params.get("variable") or (names[0] if names else None)
    if variable not in names:
        raise InvalidQuery(f"variable: {variable!r} is not one of {', '.join(names)}.")
    sub = ds[[variable]]
    selectors = list(params.getlist("sel")) if hasattr(params, "getlist") else list(params.get("sel") or [])
    if params.get("datetime") and axes.time is not None:
        sub = cube.select_time(sub, axes, cube.parse_datetime(params["datetime"], cube.calendar_of(sub, axes)))
    sub = _sel(sub, selectors)
    da = sub[variable]
    for dim in [d for d in da.dims if d not in (axes.lat, axes.lon)]:
        da = da.isel({dim: 0})
    if cube.lon_is_0_360(ds, axes):
        da = da.assign_coords({axes.lon: cube.lon_to_wgs84(da[axes.lon].values)}).sortby(axes.lon)
    da = da.rename({axes.lon: "x", axes.lat: "y"}).transpose("y", "x")
    da = da.drop_vars([c for c in da.coords if c not in ("x", "y")])
    da = da.astype("float32")
    da.rio.write_crs("epsg:4326", inplace=True)
    da.rio.write_nodata(np.nan, encoded=False, inplace=True)
    return da.load()


def value_range(da: xr.DataArray) -> tuple[float, float]:
    attrs = da.attrs
    if "valid_min" in attrs and "valid_max" in attrs:
        return float(attrs["valid_min"]), float(attrs["valid_max"])
    values = np.asarray(da.values, dtype="float64")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if low < high else (low, low + 1.0)


def _render(image: ImageData, rescale: tuple[float, float], cmap_name: str | None, fmt: str = "PNG") -> bytes:
    image.rescale(in_range=(rescale,))
    return image.render(img_format=fmt, colormap=colormap(cmap_name))


def tile(ds: xr.Dataset, params: Mapping[str, Any], tms_id: str, z: int, x: int, y: int) -> bytes:
    tms = get_tms(tms_id)
    _, da, readers = _entry(ds, params)
    rescale = parse_rescale(params.get("rescale")) or value_range(da)
    cmap_name = params.get("colormap_name")
    colormap(cmap_name)  # a bad name is a 400 before any read
    try:
        # One reader per cached layer and TMS: its set-up (bounds, transform) is ~15% of a tile.
        reader = readers.get(tms_id) or readers.setdefault(tms_id, XarrayReader(da, tms=tms))
        image = reader.tile(x, y, z, tilesize=int(params.get("tilesize") or 256))
    except rt_errors.TileOutsideBounds as exc:
        raise OutsideExtent(f"Tile {z}/{x}/{y} is outside this dataset's extent.") from exc
    return _render(image, rescale, cmap_name)


def tilejson(ds: xr.Dataset, params: Mapping[str, Any], tms_id: str, tiles_url: str) -> dict[str, Any]:
    tms = get_tms(tms_id)
    da = layer(ds, params)
    axes = cube.axes_of(ds)
    west, south, east, north = (float(v) for v in da.rio.bounds())
    low, high = parse_rescale(params.get("rescale")) or value_range(da)
    variable = str(da.name)
    return {
        "tilejson": "3.0.0",
        "name": variable,
        "tiles": [tiles_url],
        "bounds": [max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0)],
        "minzoom": tms.minzoom,
        "maxzoom": min(tms.maxzoom, 8),
        "center": [(west + east) / 2, (south + north) / 2, 2],
        "scheme": "xyz",
        "legend": {
            "variable": variable,
            "units": cube.units(ds, variable),
            "min": low,
            "max": high,
            "colormap_name": (params.get("colormap_name") or DEFAULT_COLORMAP).lower(),
        },
        "times": cube.time_values(ds, axes),
        "calendar": cube.calendar_of(ds, axes),
    }


def legend_png(cmap_name: str | None, width: int = 256, height: int = 16) -> bytes:
    """A horizontal colour bar of the colormap (the viewer writes min/max/units beside it)."""
    cmap = colormap(cmap_name)
    ramp = np.array([cmap[int(i)] for i in np.linspace(0, 255, width)], dtype=np.uint8)  # (width, 4)
    rgba = np.repeat(ramp[np.newaxis, :, :], height, axis=0).transpose(2, 0, 1)
    image = ImageData(rgba[:3], rgba[3])
    return image.render(img_format="PNG", add_mask=True)


def grid_image(da: xr.DataArray, fmt: str, rescale: tuple[float, float] | None, cmap_name: str | None) -> bytes:
    """An aggregate grid as GeoTIFF (float32 values) or PNG (colormapped)."""
    axes = cube.axes_of(da.to_dataset(name=str(da.name or "value")))
    if cube.lon_is_0_360(da.to_dataset(name="v"), axes):
        da = da.assign_coords({axes.lon: cube.lon_to_wgs84(da[axes.lon].values)}).sortby(axes.lon)
    da = da.rename({axes.lon: "x", axes.lat: "y"}).transpose("y", "x").astype("float32")
    da = da.drop_vars([c for c in da.coords if c not in ("x", "y")])
    da.rio.write_crs("epsg:4326", inplace=True)
    if fmt == "tif":
        da.rio.write_nodata(np.nan, encoded=False, inplace=True)
        out = io.BytesIO()
        da.rio.to_raster(out, driver="GTiff")
        return out.getvalue()
    values = np.asarray(da.values, dtype="float64")
    if values.shape[0] > 1 and float(da.y[0]) < float(da.y[-1]):
        values = values[::-1]  # north up
    mask = np.where(np.isfinite(values), 255, 0).astype("uint8")
    image = ImageData(np.ma.masked_invalid(values[np.newaxis]).astype("float32"))
    image = ImageData(np.ma.MaskedArray(image.array.data, mask=np.broadcast_to(mask == 0, image.array.shape)))
    return _render(image, rescale or value_range(da), cmap_name)
