"""The seed's /api/xarray answers: point series, per-step area statistics, aggregates, and the
climate users' extension no anchor gives in one place: climatology over a baseline and anomaly.

Area statistics are weighted by cos(latitude) on regular lat/lon grids (a cell's area);
percentiles are of the cells' values, unweighted. Times keep the dataset's calendar (cftime).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from . import cube, edr
from .errors import InvalidQuery

AGGREGATIONS = {"none": None, "daily": "D", "monthly": "MS", "yearly": "YS"}
REDUCERS = ("mean", "max", "min", "sum")
PERCENTILES = (10, 25, 50, 75, 90)


def _number(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def parse_location(text: str | None) -> tuple[float, float]:
    if not text:
        raise InvalidQuery("location: required, as lon,lat in degrees (e.g. -75,35).")
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InvalidQuery(f"location: {text!r} is not lon,lat (two numbers).") from exc
    return lon, lat


def variable_of(ds: xr.Dataset, requested: str | None) -> str:
    names = cube.select_parameters(ds, requested)
    if requested and len(names) != 1:
        raise InvalidQuery("variable: give one variable.")
    if not names:
        raise InvalidQuery("This dataset has no variable on a longitude/latitude grid.")
    return names[0]


def time_interval(ds: xr.Dataset, axes: cube.Axes, params: Mapping[str, str]) -> tuple[Any, Any] | None:
    start, end = params.get("start_time"), params.get("end_time")
    if not start and not end:
        return None
    return cube.parse_datetime(f"{start or '..'}/{end or '..'}", cube.calendar_of(ds, axes))


def _resample(da: xr.DataArray, axes: cube.Axes, aggregation: str | None, how: str = "mean") -> xr.DataArray:
    if aggregation not in AGGREGATIONS:
        raise InvalidQuery(f"aggregation: {aggregation!r} is not one of {', '.join(AGGREGATIONS)}.")
    freq = AGGREGATIONS[aggregation]
    if freq is None or axes.time is None:
        return da
    resampled = da.resample({axes.time: freq})
    return getattr(resampled, how)()


def summary(values: np.ndarray) -> dict[str, float | int | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"count": 0, "min": None, "max": None, "mean": None, "std": None}
    return {
        "count": int(finite.size),
        "min": _number(finite.min()),
        "max": _number(finite.max()),
        "mean": _number(finite.mean()),
        "std": _number(finite.std()),
    }


def _subset(ds: xr.Dataset, params: Mapping[str, str]) -> tuple[xr.Dataset, cube.Axes, str]:
    axes = cube.axes_of(ds)
    name = variable_of(ds, params.get("variable"))
    ds = cube.select_time(ds[[name]], axes, time_interval(ds, axes, params))
    return ds, axes, name


def point(ds: xr.Dataset, params: Mapping[str, str]) -> dict[str, Any]:
    lon, lat = parse_location(params.get("location"))
    ds, axes, name = _subset(ds, params)
    cell = cube.select_point(ds, axes, lon, lat)
    da = cell[name].squeeze(drop=False)
    for dim in [d for d in da.dims if d != axes.time]:
        da = da.isel({dim: 0})
    aggregation = params.get("aggregation", "none") or "none"
    da = _resample(da, axes, aggregation)
    times = cube.time_values(da.to_dataset(name=name), axes) if axes.time in da.coords else []
    values = np.atleast_1d(np.asarray(da.values, dtype="float64"))
    return {
        "variable": name,
        "units": cube.units(ds, name),
        "location": {
            "requested": [lon, lat],
            "cell": [
                float(cube.lon_to_wgs84(cell[axes.lon].values).ravel()[0]),
                float(cell[axes.lat].values.ravel()[0]),
            ],
        },
        "calendar": cube.calendar_of(ds, axes),
        "aggregation": aggregation,
        "series": [{"datetime": t, "value": _number(v)} for t, v in zip(times, values.tolist(), strict=False)],
        "statistics": summary(values),
    }


def _area(ds: xr.Dataset, params: Mapping[str, str]) -> tuple[xr.Dataset, cube.Axes, str]:
    ds, axes, name = _subset(ds, params)
    sub = cube.select_bbox(ds, axes, edr.parse_bbox(params.get("bbox")))
    cube.check_size(sub, [name], edr.max_values())
    return sub, axes, name


def _weights(sub: xr.Dataset, axes: cube.Axes) -> xr.DataArray:
    lat = sub[axes.lat]
    return xr.DataArray(np.cos(np.deg2rad(lat.values)).clip(min=0), dims=lat.dims, coords=lat.coords)


def _spatial(sub: xr.Dataset, axes: cube.Axes) -> list[str]:
    return list(cube.spatial_dims(sub, axes))


def statistics(ds: xr.Dataset, params: Mapping[str, str]) -> dict[str, Any]:
    sub, axes, name = _area(ds, params)
    da = _resample(sub[name], axes, params.get("temporal_resolution", "none") or "none")
    dims = _spatial(sub, axes)
    weighted = da.weighted(_weights(sub, axes).fillna(0))
    mean = weighted.mean(dims)
    std = weighted.std(dims)
    quantiles = da.quantile([p / 100 for p in PERCENTILES], dim=dims, skipna=True)
    count = da.count(dims)
    steps = []
    times = cube.time_values(da.to_dataset(name=name), axes) if axes.time in da.dims else [None]
    for i, t in enumerate(times):
        pick = {axes.time: i} if axes.time in da.dims else {}
        step = da.isel(pick)
        steps.append(
            {
                "datetime": t,
                "count": int(count.isel(pick)),
                "mean": _number(mean.isel(pick)),
                "std": _number(std.isel(pick)),
                "min": _number(step.min()),
                "max": _number(step.max()),
                **{f"p{p}": _number(quantiles.isel(pick).isel(quantile=k)) for k, p in enumerate(PERCENTILES)},
            }
        )
    return {
        "variable": name,
        "units": cube.units(ds, name),
        "bbox": list(edr.parse_bbox(params.get("bbox"))),
        "calendar": cube.calendar_of(ds, axes),
        "area_weighted": not axes.curvilinear(sub),
        "steps": steps,
    }


def aggregate(ds: xr.Dataset, params: Mapping[str, str]) -> tuple[xr.DataArray, dict[str, Any]]:
    """One 2-D grid: the reduction over the time steps of the bbox; rendered by the view."""
    how = params.get("aggregation", "mean") or "mean"
    if how not in REDUCERS:
        raise InvalidQuery(f"aggregation: {how!r} is not one of {', '.join(REDUCERS)}.")
    sub, axes, name = _area(ds, params)
    da = sub[name]
    if axes.time in da.dims:
        da = getattr(da, how)(axes.time, skipna=True)
    for dim in [d for d in da.dims if d not in _spatial(sub, axes)]:
        da = da.isel({dim: 0})
    da = da.transpose(*_spatial(sub, axes))
    meta = {
        "variable": name,
        "units": cube.units(ds, name),
        "aggregation": how,
        "steps": int(sub.sizes.get(axes.time, 1)) if axes.time else 1,
        "bbox": list(cube.extent(sub, axes)),
    }
    return da, meta


def grid_json(da: xr.DataArray, meta: dict[str, Any]) -> dict[str, Any]:
    axes = cube.axes_of(da.to_dataset(name="v"))
    values = np.asarray(da.values, dtype="float64")
    return {
        **meta,
        "shape": list(values.shape),
        "longitude": [float(v) for v in cube.lon_to_wgs84(da[axes.lon].values).ravel()],
        "latitude": [float(v) for v in np.asarray(da[axes.lat].values).ravel()],
        "values": [[_number(v) for v in row] for row in values.tolist()],
        "statistics": summary(values),
    }


# --- climatology and anomaly ---------------------------------------------------------------------


def parse_baseline(text: str | None) -> tuple[int, int]:
    if not text:
        raise InvalidQuery("baseline: required, as two years start/end (e.g. 1961/1990).")
    try:
        start, end = (int(v) for v in text.replace(",", "/").split("/"))
    except ValueError as exc:
        raise InvalidQuery(f"baseline: {text!r} is not two years start/end (e.g. 1961/1990).") from exc
    if start > end:
        raise InvalidQuery(f"baseline: {text!r} ends before it starts.")
    return start, end


def _reduced_series(ds: xr.Dataset, params: Mapping[str, str]) -> tuple[xr.DataArray, cube.Axes, str, dict[str, Any]]:
    """The variable at a location (``location``) or area-weighted over a ``bbox``, all steps."""
    axes = cube.axes_of(ds)
    name = variable_of(ds, params.get("variable"))
    if axes.time is None:
        raise InvalidQuery("This dataset has no time axis: climatology and anomaly need one.")
    ds = ds[[name]]
    if params.get("location"):
        lon, lat = parse_location(params.get("location"))
        cell = cube.select_point(ds, axes, lon, lat)
        da = cell[name]
        where: dict[str, Any] = {"location": [lon, lat]}
        for dim in [d for d in da.dims if d != axes.time]:
            da = da.isel({dim: 0})
    elif params.get("bbox"):
        sub = cube.select_bbox(ds, axes, edr.parse_bbox(params.get("bbox")))
        da = sub[name].weighted(_weights(sub, axes).fillna(0)).mean(_spatial(sub, axes))
        where = {"bbox": list(edr.parse_bbox(params.get("bbox")))}
        for dim in [d for d in da.dims if d != axes.time]:
            da = da.isel({dim: 0})
    else:
        raise InvalidQuery("Give location=lon,lat or bbox=west,south,east,north.")
    return da, axes, name, where


def _baseline(da: xr.DataArray, axes: cube.Axes, years: tuple[int, int]) -> xr.DataArray:
    assert axes.time is not None
    year = da[axes.time].dt.year
    base = da.where((year >= years[0]) & (year <= years[1]), drop=True)
    if base.sizes.get(axes.time, 0) == 0:
        first, last = cube.iso(da[axes.time].values[0]), cube.iso(da[axes.time].values[-1])
        raise InvalidQuery(f"baseline: no time step in {years[0]}-{years[1]}; this dataset covers {first}/{last}.")
    return base


def climatology(ds: xr.Dataset, params: Mapping[str, str]) -> dict[str, Any]:
    """Mean, std and count per calendar month over the baseline years."""
    da, axes, name, where = _reduced_series(ds, params)
    years = parse_baseline(params.get("baseline"))
    base = _baseline(da, axes, years)
    grouped = base.groupby(f"{axes.time}.month")
    mean, std, count = grouped.mean(), grouped.std(), grouped.count()
    months = [int(m) for m in mean["month"].values]
    return {
        "variable": name,
        "units": cube.units(ds, name),
        **where,
        "baseline": list(years),
        "calendar": cube.calendar_of(ds, axes),
        "climatology": [
            {
                "month": m,
                "mean": _number(mean.sel(month=m)),
                "std": _number(std.sel(month=m)),
                "count": int(count.sel(month=m)),
            }
            for m in months
        ],
    }


def anomaly(ds: xr.Dataset, params: Mapping[str, str]) -> dict[str, Any]:
    """Each step's value minus the baseline mean of its calendar month."""
    da, axes, name, where = _reduced_series(ds, params)
    assert axes.time is not None
    years = parse_baseline(params.get("baseline"))
    clim = _baseline(da, axes, years).groupby(f"{axes.time}.month").mean()
    series = cube.select_time(da.to_dataset(name=name), axes, time_interval(ds, axes, params))[name]
    months = series[axes.time].dt.month.values
    missing = sorted({int(m) for m in months} - {int(m) for m in clim["month"].values})
    if missing:
        raise InvalidQuery(f"baseline: months {missing} have no step in {years[0]}-{years[1]}.")
    anomalies = series.values - clim.sel(month=months).values
    times = cube.time_values(series.to_dataset(name=name), axes)
    return {
        "variable": name,
        "units": cube.units(ds, name),
        **where,
        "baseline": list(years),
        "calendar": cube.calendar_of(ds, axes),
        "series": [
            {"datetime": t, "value": _number(v), "anomaly": _number(a)}
            for t, v, a in zip(times, series.values.tolist(), anomalies.tolist(), strict=False)
        ],
        "statistics": summary(np.asarray(anomalies, dtype="float64")),
    }
