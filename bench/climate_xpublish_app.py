"""ASGI app for bench/climate_read.py, run from the peers' venv: xpublish + xpublish-edr on the
bench Zarr (times left undecoded: xpublish-edr cannot serialise 360_day cftime dates)."""

import os

import xarray as xr
import xpublish

_ds = xr.open_dataset(os.environ["CLIMATE_BENCH_ZARR"], engine="zarr", chunks=None, decode_times=False)
app = xpublish.Rest({"a1b": _ds}).app
