"""The other EDR outputs: CSV (one row per cell and step), GeoJSON (position only) and NetCDF."""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import cube

MEDIA_TYPES = {
    "CoverageJSON": "application/prs.coverage+json",
    "CSV": "text/csv",
    "GeoJSON": "application/geo+json",
    "NetCDF": "application/x-netcdf",
    "HTML": "text/html",
    "JSON": "application/json",
}


def table(ds: xr.Dataset, names: Sequence[str], mask: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One record per cell, level and step; cells outside an area's polygon are left out."""
    axes = cube.axes_of(ds)
    if mask is not None:
        ds = ds.copy()
        for name in names:
            dims = [d for d in ds[name].dims]
            grid = xr.DataArray(
                mask, dims=[d for d in ds[axes.lat].dims] + [d for d in ds[axes.lon].dims if d not in ds[axes.lat].dims]
            )
            ds[name] = ds[name].where(grid).transpose(*dims)
    frame = ds[list(names)].to_dataframe().reset_index()
    if mask is not None:
        frame = frame.dropna(subset=list(names), how="all")
    lons = cube.lon_to_wgs84(frame[axes.lon].to_numpy())
    lats = frame[axes.lat].to_numpy()
    records = []
    for i in range(len(frame)):
        row: dict[str, Any] = {"longitude": round(float(lons[i]), 6), "latitude": round(float(lats[i]), 6)}
        if axes.time is not None and axes.time in frame:
            row["datetime"] = cube.iso(frame[axes.time].iat[i])
        if axes.z is not None and axes.z in frame:
            row["z"] = float(frame[axes.z].iat[i])
        for name in names:
            value = float(frame[name].iat[i])
            row[name] = None if math.isnan(value) else value
        records.append(row)
    return records


def to_csv(ds: xr.Dataset, names: Sequence[str], mask: np.ndarray | None = None) -> str:
    records = table(ds, names, mask)
    out = io.StringIO()
    header = ["longitude", "latitude"]
    if records and "datetime" in records[0]:
        header.append("datetime")
    if records and "z" in records[0]:
        header.append("z")
    header += [f"{n} [{cube.units(ds, n)}]" if cube.units(ds, n) else n for n in names]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in records:
        writer.writerow([row.get(k) if k in row else row.get(k.split(" [")[0]) for k in header])
    return out.getvalue()


def to_geojson(ds: xr.Dataset, names: Sequence[str]) -> dict[str, Any]:
    """A FeatureCollection of one Point feature per step (EDR's GeoJSON for position queries)."""
    features = []
    for i, row in enumerate(table(ds, names)):
        properties = {k: v for k, v in row.items() if k not in ("longitude", "latitude")}
        properties["units"] = {n: cube.units(ds, n) for n in names}
        features.append(
            {
                "type": "Feature",
                "id": i,
                "geometry": {"type": "Point", "coordinates": [row["longitude"], row["latitude"]]},
                "properties": properties,
            }
        )
    return {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}


def to_netcdf(ds: xr.Dataset, names: Sequence[str], mask: np.ndarray | None = None) -> bytes:
    """The subset as a NetCDF4 file (same variables, attributes, calendar and units)."""
    axes = cube.axes_of(ds)
    out = ds[list(names)].load()
    if mask is not None:
        grid = xr.DataArray(
            mask, dims=list(ds[axes.lat].dims) + [d for d in ds[axes.lon].dims if d not in ds[axes.lat].dims]
        )
        for name in names:
            out[name] = out[name].where(grid).transpose(*ds[name].dims)
    for var in out.variables.values():
        # Encodings of the source (chunk sizes, compression, source path) do not fit the subset.
        for key in ("chunksizes", "source", "original_shape", "preferred_chunks", "contiguous"):
            var.encoding.pop(key, None)
    handle, path = tempfile.mkstemp(suffix=".nc")
    os.close(handle)
    try:
        out.to_netcdf(path, engine="h5netcdf")
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)
