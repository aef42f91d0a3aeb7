"""The climate read API: OGC API EDR, the seed's /api/xarray routes, xarray tiles and the viewer.

Everything here reads an ``xarray.Dataset`` handed over by :mod:`climate.read.sources` (which asks
``climate.datasets.dataset_open``) and never writes.
"""
