"""CoverageJSON 1.0 documents (the EDR default output) built from a subset ``xarray.Dataset``.

A position query becomes a ``PointSeries`` coverage (or ``VerticalProfile`` axes when a Z axis is
kept), an area or cube query a ``Grid`` (cells outside an area's polygon are null). Times are ISO
8601 strings in the dataset's own calendar; a non-standard calendar is named on the temporal
reference system, as the spec asks, with the CF calendar's URI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import cube

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
STANDARD_CALENDARS = ("standard", "gregorian", "proleptic_gregorian")


def _temporal_rs(calendar: str) -> dict[str, Any]:
    if calendar in STANDARD_CALENDARS:
        return {"type": "TemporalRS", "calendar": "Gregorian"}
    return {"type": "TemporalRS", "calendar": f"http://cfconventions.org/calendars/{calendar}"}


def _values(array: np.ndarray) -> list[float | None]:
    flat = np.asarray(array, dtype="float64").ravel()
    return [None if math.isnan(v) else float(v) for v in flat.tolist()]


def parameter(ds: xr.Dataset, name: str) -> dict[str, Any]:
    unit = cube.units(ds, name)
    body: dict[str, Any] = {
        "type": "Parameter",
        "description": {"en": cube.label(ds, name)},
        "observedProperty": {"label": {"en": cube.label(ds, name)}},
        "unit": {"symbol": unit} if unit else {"label": {"en": "unitless"}},
    }
    standard = ds[name].attrs.get("standard_name")
    if standard:
        body["observedProperty"]["id"] = f"http://vocab.nerc.ac.uk/standard_name/{standard}/"
    return body


def _referencing(calendar: str, has_time: bool, has_z: bool) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = [
        {"coordinates": ["x", "y"], "system": {"type": "GeographicCRS", "id": CRS84}},
    ]
    if has_time:
        refs.append({"coordinates": ["t"], "system": _temporal_rs(calendar)})
    if has_z:
        refs.append(
            {
                "coordinates": ["z"],
                "system": {"type": "VerticalCRS", "cs": {"csAxes": [{"name": {"en": "z"}, "direction": "up"}]}},
            }
        )
    return refs


def _ordered(ds: xr.Dataset, name: str, dims: Sequence[str]) -> xr.DataArray:
    """The variable with its dims in CoverageJSON's axis order (extra dims squeezed)."""
    var = ds[name]
    extra = [d for d in var.dims if d not in dims]
    for d in extra:
        var = var.isel({d: 0})
    return var.transpose(*dims)


def coverage(ds: xr.Dataset, names: Sequence[str], *, mask: np.ndarray | None = None, point: bool) -> dict[str, Any]:
    """One Coverage: a PointSeries for a position query, a Grid for area and cube queries."""
    axes = cube.axes_of(ds)
    calendar = cube.calendar_of(ds, axes)
    times = cube.time_values(ds, axes)
    has_z = axes.z is not None and axes.z in ds.dims
    dims: list[str] = []
    axis_names: list[str] = []
    doc_axes: dict[str, Any] = {}
    if times:
        doc_axes["t"] = {"values": times}
        if axes.time in ds.dims:
            dims.append(str(axes.time))
            axis_names.append("t")
    if has_z:
        assert axes.z is not None
        doc_axes["z"] = {"values": [float(v) for v in ds[axes.z].values]}
        dims.append(axes.z)
        axis_names.append("z")
    lons = cube.lon_to_wgs84(ds[axes.lon].values)
    lats = np.asarray(ds[axes.lat].values, dtype="float64")
    ydim, xdim = (ds[axes.lat].dims[0], ds[axes.lon].dims[-1]) if axes.curvilinear(ds) else (axes.lat, axes.lon)
    if axes.curvilinear(ds):
        # A curvilinear grid has no x/y axes in CRS84: its cells are listed as a point per cell.
        lons, lats = lons[:, 0], lats[:, 0]
    if point:
        doc_axes["x"] = {"values": [float(lons.ravel()[0])]}
        doc_axes["y"] = {"values": [float(lats.ravel()[0])]}
        domain_type = "VerticalProfile" if has_z and not times else "PointSeries"
        for d in (ydim, xdim):
            dims.append(str(d))
    else:
        doc_axes["x"] = {"values": [float(v) for v in lons.ravel()]}
        doc_axes["y"] = {"values": [float(v) for v in lats.ravel()]}
        domain_type = "Grid"
        dims += [str(ydim), str(xdim)]
        axis_names += ["y", "x"]
    ranges: dict[str, Any] = {}
    for name in names:
        var = _ordered(ds, name, dims)
        data = np.asarray(var.values, dtype="float64")
        if mask is not None:
            data = np.where(mask, data, np.nan)
        shape = [int(n) for n in data.shape[: len(axis_names)]]
        ranges[name] = {
            "type": "NdArray",
            "dataType": "float",
            "axisNames": axis_names,
            "shape": shape,
            "values": _values(data),
        }
    return {
        "type": "Coverage",
        "domain": {
            "type": "Domain",
            "domainType": domain_type,
            "axes": doc_axes,
            "referencing": _referencing(calendar, bool(times), has_z),
        },
        "parameters": {name: parameter(ds, name) for name in names},
        "ranges": ranges,
    }
