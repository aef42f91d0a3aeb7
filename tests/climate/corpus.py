"""The bad corpus, written at test time (tiny NetCDF files; a few KB each).

``make(kind, **changes)`` returns the bytes of a 3-step 4x5 ``tas`` file, with one property
changed: scale_factor/add_offset, chunking, compression, calendar, units, fill value, grid, a
variable renamed, no coordinates, NetCDF3 format.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


def dataset(
    *, start: int = 0, steps: int = 3, ny: int = 4, nx: int = 5, calendar: str = "360_day", units: str = "K"
) -> xr.Dataset:
    time = np.arange(start, start + steps, dtype="float64") * 30.0
    data = (280 + np.arange(steps * ny * nx, dtype="float32").reshape(steps, ny, nx) / 10).astype("float32")
    ds = xr.Dataset(
        {"tas": (("time", "lat", "lon"), data, {"units": units, "standard_name": "air_temperature"})},
        coords={
            "time": ("time", time, {"units": "days since 2000-01-01", "calendar": calendar, "axis": "T"}),
            "lat": ("lat", np.linspace(10, 10 + ny - 1, ny), {"units": "degrees_north", "axis": "Y"}),
            "lon": ("lon", np.linspace(280, 280 + nx - 1, nx), {"units": "degrees_east", "axis": "X"}),
        },
    )
    return ds


def to_bytes(ds: xr.Dataset, *, fmt: str = "NETCDF4", encoding: dict[str, Any] | None = None) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.nc"
        enc: dict[str, Any] = {"time": {"dtype": "float64"}}
        if fmt == "NETCDF4":
            for var in ds.data_vars:
                enc[str(var)] = {"chunksizes": (1, ds.sizes["lat"], ds.sizes["lon"]), "zlib": False}
            enc["time"]["chunksizes"] = (1,)
            enc["time"]["zlib"] = False
        for key, value in (encoding or {}).items():
            enc.setdefault(key, {}).update(value)
        enc = {k: v for k, v in enc.items() if k in ds.variables}
        ds.to_netcdf(path, format=fmt, engine="netcdf4" if fmt.startswith("NETCDF4") else "scipy", encoding=enc)
        return path.read_bytes()


def good(start: int = 0, **kwargs: Any) -> bytes:
    return to_bytes(dataset(start=start), **kwargs)
