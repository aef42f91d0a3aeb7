"""Pure functions over an opened ``xarray.Dataset``: axes, parameters, subsetting, times.

The real data this must answer correctly: 0-360 longitudes (a query at lon -75 finds 285),
cftime calendars (360_day, noleap) answered in ISO 8601, descending latitudes, CF scale/offset/fill
(decoded by xarray on open), 2-D (curvilinear) lat/lon grids (nearest cell for points), a Z axis.
Nothing here knows of HTTP or Django: errors are the domain errors of :mod:`.errors`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cftime
import numpy as np
import pandas as pd
import xarray as xr
from shapely import contains_xy
from shapely.geometry.base import BaseGeometry

from .errors import InvalidQuery, OutsideExtent, TooManyValues, UnknownParameter

LON_NAMES = ("longitude", "lon", "x", "nav_lon", "rlon")
LAT_NAMES = ("latitude", "lat", "y", "nav_lat", "rlat")
Z_NAMES = ("height", "level", "lev", "plev", "depth", "z", "altitude", "pressure")


@dataclass(frozen=True)
class Axes:
    """The names of the dataset's coordinate variables (None when it has no such axis)."""

    lon: str
    lat: str
    time: str | None
    z: str | None

    def curvilinear(self, ds: xr.Dataset) -> bool:
        return bool(ds[self.lon].ndim == 2)


def _by_attrs(ds: xr.Dataset, *, axis: str, standard_names: tuple[str, ...], names: tuple[str, ...]) -> str | None:
    for name in list(ds.coords) + list(ds.data_vars):
        attrs = ds[name].attrs
        if attrs.get("axis") == axis or attrs.get("standard_name") in standard_names:
            return str(name)
    for name in names:
        if name in ds.coords or name in ds.data_vars:
            return name
    return None


def axes_of(ds: xr.Dataset) -> Axes:
    lon = _by_attrs(ds, axis="X", standard_names=("longitude",), names=LON_NAMES)
    lat = _by_attrs(ds, axis="Y", standard_names=("latitude",), names=LAT_NAMES)
    if lon is None or lat is None:
        raise InvalidQuery("This dataset has no longitude/latitude coordinates: it cannot be queried by location.")
    time = _by_attrs(ds, axis="T", standard_names=("time",), names=("time", "t"))
    z = None
    for name in ds.dims:
        if name in (lon, lat, time) or name not in ds.coords:
            continue
        attrs = ds[name].attrs
        if attrs.get("axis") == "Z" or attrs.get("positive") in ("up", "down") or name in Z_NAMES:
            z = str(name)
            break
    return Axes(lon=lon, lat=lat, time=time, z=z)


def spatial_dims(ds: xr.Dataset, axes: Axes) -> tuple[str, ...]:
    return tuple(str(d) for d in ds[axes.lat].dims) + tuple(
        str(d) for d in ds[axes.lon].dims if d not in ds[axes.lat].dims
    )


def parameters(ds: xr.Dataset, axes: Axes | None = None) -> list[str]:
    """The data variables that lie on the horizontal grid (not bounds, not grid mappings)."""
    axes = axes or axes_of(ds)
    dims = set(spatial_dims(ds, axes))
    names = []
    for name, var in ds.data_vars.items():
        if dims <= set(var.dims) and np.issubdtype(var.dtype, np.number):
            names.append(str(name))
    return names


def select_parameters(ds: xr.Dataset, requested: str | None) -> list[str]:
    available = parameters(ds)
    if not requested:
        return available
    wanted = [p.strip() for p in requested.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in available]
    if unknown:
        raise UnknownParameter(
            f"parameter-name: unknown parameter(s) {', '.join(unknown)}; this collection has {', '.join(available)}."
        )
    return wanted


# --- longitudes ---------------------------------------------------------------------------------


def lon_is_0_360(ds: xr.Dataset, axes: Axes) -> bool:
    values = ds[axes.lon].values
    return bool(np.nanmax(values) > 180.0)


def lon_to_dataset(lon: float, wraps_0_360: bool) -> float:
    """A query longitude (-180..180 or 0..360) in the dataset's convention."""
    if wraps_0_360:
        return lon % 360.0
    return ((lon + 180.0) % 360.0) - 180.0 if lon > 180.0 else lon


def lon_to_wgs84(values: np.ndarray) -> np.ndarray:
    """Longitudes in -180..180, for answers (CoverageJSON and GeoJSON use CRS84)."""
    out = np.asarray(values, dtype="float64")
    return np.where(out > 180.0, out - 360.0, out)


def extent(ds: xr.Dataset, axes: Axes) -> tuple[float, float, float, float]:
    lon = lon_to_wgs84(ds[axes.lon].values)
    lat = np.asarray(ds[axes.lat].values, dtype="float64")
    return (float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)), float(np.nanmax(lat)))


# --- times --------------------------------------------------------------------------------------

_ISO = re.compile(
    r"^(?P<y>[+-]?\d{4,})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[T ](?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?)?)?)?(?:Z|[+-]00:?00)?$"
)


def calendar_of(ds: xr.Dataset, axes: Axes) -> str:
    if axes.time is None:
        return "standard"
    var = ds[axes.time]
    cal = var.encoding.get("calendar") or var.attrs.get("calendar")
    if cal:
        return str(cal)
    values = var.values
    if values.size and isinstance(values.flat[0], cftime.datetime):
        return str(values.flat[0].calendar)
    return "standard"


def parse_instant(text: str, calendar: str, *, end: bool = False) -> Any:
    """An ISO 8601 instant as a cftime date in ``calendar`` (or a pandas Timestamp for standard
    datetime64 axes). A date given to the day only (``2000-05``) means its whole span when ``end``."""
    match = _ISO.match(text.strip())
    if not match:
        raise InvalidQuery(f"datetime: {text!r} is not an ISO 8601 date (e.g. 2000-01-01T00:00:00Z).")
    parts = match.groupdict()
    y = int(parts["y"])
    m = int(parts["m"] or (12 if end else 1))
    d_given = parts["d"]
    h = int(parts["H"] or (23 if end and not parts["H"] else 0))
    mi = int(parts["M"] or (59 if end and not parts["M"] else 0))
    s = int(parts["S"] or (59 if end and not parts["S"] else 0))
    try:
        if d_given is None:
            d = 1
            if end:
                first_next = cftime.datetime(y + (m == 12), m % 12 + 1, 1, calendar=calendar)
                last = first_next - pd.Timedelta(days=1).to_pytimedelta()
                d = last.day
        else:
            d = int(d_given)
        return cftime.datetime(y, m, d, h, mi, s, calendar=calendar)
    except ValueError as exc:
        raise InvalidQuery(f"datetime: {text!r} is not a valid date in the {calendar} calendar ({exc}).") from exc


def parse_datetime(text: str | None, calendar: str) -> tuple[Any, Any] | None:
    """EDR ``datetime``: an instant, or an interval ``a/b`` with ``..`` for an open end."""
    if not text:
        return None
    if "/" in text:
        start_text, _, end_text = text.partition("/")
        start = None if start_text in ("", "..") else parse_instant(start_text, calendar)
        stop = None if end_text in ("", "..") else parse_instant(end_text, calendar, end=True)
        if start is not None and stop is not None and start > stop:
            raise InvalidQuery(f"datetime: the interval {text!r} ends before it starts.")
        return (start, stop)
    instant = parse_instant(text, calendar)
    return (instant, instant)


def _comparable(value: Any, sample: Any) -> Any:
    """A cftime query bound comparable with the time axis' values (cftime or datetime64)."""
    if value is None or isinstance(sample, cftime.datetime):
        return value
    return np.datetime64(pd.Timestamp(value.year, value.month, value.day, value.hour, value.minute, value.second))


def select_time(ds: xr.Dataset, axes: Axes, interval: tuple[Any, Any] | None) -> xr.Dataset:
    if interval is None or axes.time is None:
        return ds
    times = ds[axes.time].values
    if times.size == 0:
        return ds
    sample = times.flat[0]
    start, stop = (_comparable(v, sample) for v in interval)
    if start is not None and stop is not None and start == stop:
        # One instant: the nearest step (datasets stamp steps mid-period, users ask for a date).
        distances = [abs(_seconds(t, start)) for t in times]
        index = int(np.argmin(distances))
        gaps = [abs(_seconds(b, a)) for a, b in itertools.pairwise(times)]
        if distances[index] > max(gaps, default=86400.0):
            first, last = iso(times[0]), iso(times[-1])
            raise OutsideExtent(f"datetime: {iso(start)} is outside this collection's time extent {first}/{last}.")
        return ds.isel({axes.time: [index]})
    mask = np.ones(times.shape, dtype=bool)
    if start is not None:
        mask &= np.array([t >= start for t in times])
    if stop is not None:
        mask &= np.array([t <= stop for t in times])
    if not mask.any():
        first, last = iso(times[0]), iso(times[-1])
        raise OutsideExtent(f"datetime: no time step in the requested interval; this collection covers {first}/{last}.")
    return ds.isel({axes.time: np.flatnonzero(mask)})


def _seconds(a: Any, b: Any) -> float:
    delta = a - b
    if isinstance(delta, np.timedelta64):
        return float(delta / np.timedelta64(1, "s"))
    return float(delta.total_seconds())


def iso(value: Any) -> str:
    """ISO 8601 for cftime dates (any calendar) and datetime64, always with a Z."""
    if isinstance(value, cftime.datetime):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_values(ds: xr.Dataset, axes: Axes) -> list[str]:
    if axes.time is None or axes.time not in ds.coords:
        return []
    return [iso(t) for t in np.atleast_1d(ds[axes.time].values)]


# --- space --------------------------------------------------------------------------------------


def select_z(ds: xr.Dataset, axes: Axes, z: str | None) -> xr.Dataset:
    if not z:
        return ds
    if axes.z is None:
        raise InvalidQuery("z: this collection has no vertical axis.")
    try:
        values = [float(v) for v in z.replace("/", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidQuery(f"z: {z!r} is not a number or a list of numbers.") from exc
    if "/" in z and len(values) == 2:
        levels = ds[axes.z].values
        keep = np.flatnonzero((levels >= min(values)) & (levels <= max(values)))
        if keep.size == 0:
            raise OutsideExtent(f"z: no level between {values[0]} and {values[1]}.")
        return ds.isel({axes.z: keep})
    return ds.sel({axes.z: values}, method="nearest")


def select_point(ds: xr.Dataset, axes: Axes, lon: float, lat: float) -> xr.Dataset:
    """The grid cell nearest to (lon, lat); outside the grid's extent is a 400 naming it."""
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 360.0:
        raise InvalidQuery(f"coords: POINT({lon} {lat}) is not a longitude/latitude position.")
    west, south, east, north = extent(ds, axes)
    qlon = lon_to_dataset(lon, lon_is_0_360(ds, axes))
    if axes.curvilinear(ds):
        lons = np.asarray(ds[axes.lon].values, dtype="float64")
        lats = np.asarray(ds[axes.lat].values, dtype="float64")
        dlon = (lons - qlon + 180.0) % 360.0 - 180.0
        dist = (dlon * np.cos(np.radians(lat))) ** 2 + (lats - lat) ** 2
        iy, ix = np.unravel_index(int(np.nanargmin(dist)), dist.shape)
        cell_lon, cell_lat = lons[iy, ix], lats[iy, ix]
        step = _cell_size_2d(lons, lats)
        if abs(((cell_lon - qlon + 180.0) % 360.0) - 180.0) > step or abs(cell_lat - lat) > step:
            raise OutsideExtent(_outside_message(lon, lat, (west, south, east, north)))
        ydim, xdim = ds[axes.lat].dims
        return ds.isel({ydim: [iy], xdim: [ix]})
    lons = np.asarray(ds[axes.lon].values, dtype="float64")
    lats = np.asarray(ds[axes.lat].values, dtype="float64")
    if not (_within(qlon, lons) and _within(lat, lats)):
        raise OutsideExtent(_outside_message(lon, lat, (west, south, east, north)))
    col = int(np.argmin(np.abs(lons - qlon)))
    row = int(np.argmin(np.abs(lats - lat)))
    return ds.isel({axes.lon: [col], axes.lat: [row]})


def _half_step(values: np.ndarray) -> float:
    return float(np.nanmax(np.abs(np.diff(values)))) / 2.0 if values.size > 1 else 0.5


def _within(value: float, values: np.ndarray) -> bool:
    half = _half_step(values)
    return bool(np.nanmin(values) - half <= value <= np.nanmax(values) + half)


def _cell_size_2d(lons: np.ndarray, lats: np.ndarray) -> float:
    steps = [np.nanmax(np.abs(np.diff(a, axis=k))) for a in (lons, lats) for k in (0, 1) if a.shape[k] > 1]
    return float(max(steps)) if steps else 1.0


def _outside_message(lon: float, lat: float, bounds: tuple[float, float, float, float]) -> str:
    west, south, east, north = bounds
    return (
        f"coords: POINT({lon} {lat}) is outside this collection's extent "
        f"(longitude {west:g}..{east:g}, latitude {south:g}..{north:g})."
    )


def select_bbox(ds: xr.Dataset, axes: Axes, bbox: Sequence[float]) -> xr.Dataset:
    """Cells whose centres fall in (west, south, east, north); either latitude order."""
    west, south, east, north = bbox
    if south > north:
        raise InvalidQuery("bbox: south is greater than north.")
    wraps = lon_is_0_360(ds, axes)
    lons = lon_to_wgs84(ds[axes.lon].values)
    lats = np.asarray(ds[axes.lat].values, dtype="float64")
    if wraps:
        lons = lon_to_wgs84(np.asarray(ds[axes.lon].values))
    if west <= east:
        lon_ok = (lons >= west) & (lons <= east)
    else:  # across the antimeridian
        lon_ok = (lons >= west) | (lons <= east)
    if axes.curvilinear(ds):
        mask = lon_ok & (lats >= south) & (lats <= north)
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        ydim, xdim = ds[axes.lat].dims
        picked = ds.isel({ydim: rows, xdim: cols}) if rows.size and cols.size else None
    else:
        ix = np.flatnonzero(lon_ok)
        iy = np.flatnonzero((lats >= south) & (lats <= north))
        picked = ds.isel({axes.lon: ix, axes.lat: iy}) if ix.size and iy.size else None
    if picked is None:
        raise OutsideExtent(
            f"bbox: no grid cell centre in {','.join(f'{v:g}' for v in bbox)}; "
            f"this collection covers {','.join(f'{v:g}' for v in extent(ds, axes))}."
        )
    return picked


def polygon_mask(ds: xr.Dataset, axes: Axes, geom: BaseGeometry) -> np.ndarray:
    """True for the cells (lat, lon order of the data) whose centres are inside ``geom``."""
    lons = lon_to_wgs84(ds[axes.lon].values)
    lats = np.asarray(ds[axes.lat].values, dtype="float64")
    if lons.ndim == 1:
        lons, lats = np.meshgrid(lons, lats)
    return np.asarray(contains_xy(geom, lons, lats))


def select_polygon(ds: xr.Dataset, axes: Axes, geom: BaseGeometry) -> tuple[xr.Dataset, np.ndarray]:
    """The bbox of ``geom`` and the mask of the cells inside it (cells outside become null)."""
    west, south, east, north = geom.bounds
    sub = select_bbox(ds, axes, (west, south, east, north))
    mask = polygon_mask(sub, axes, geom)
    if not mask.any():
        raise OutsideExtent("coords: the polygon contains no grid cell centre; draw it larger or use a position query.")
    return sub, mask


def check_size(ds: xr.Dataset, names: Sequence[str], limit: int) -> None:
    count = sum(int(np.prod(ds[name].shape)) for name in names)
    if count > limit:
        raise TooManyValues(
            f"The query asks for {count:,} values, more than the limit of {limit:,}: "
            "narrow the datetime interval, the area or the parameter-name list."
        )


def units(ds: xr.Dataset, name: str) -> str:
    return str(ds[name].attrs.get("units", ""))


def label(ds: xr.Dataset, name: str) -> str:
    attrs = ds[name].attrs
    return str(attrs.get("long_name") or attrs.get("standard_name") or name)
