"""WSGI app for bench/climate_read.py: the platform's app plus the bench Zarr as a read source."""

import os

import xarray as xr

from climate.read import sources
from geoplatform.wsgi import application

_ds = xr.open_dataset(
    os.environ["CLIMATE_BENCH_ZARR"],
    engine="zarr",
    chunks=None,
    decode_times=xr.coders.CFDatetimeCoder(use_cftime=True),
)
sources.register("bench", "a1b", lambda: _ds, title="A1B (bench)")

__all__ = ["application"]
