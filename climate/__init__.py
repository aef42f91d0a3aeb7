"""Climate data as an API: NetCDF series and Zarr stores served without copying.

Ingest side: ``inventory_climate`` reads metadata only, ``virtualize_climate`` writes kerchunk
references (one JSON per series, in the silver zone) and a datacube STAC item,
``rechunk_climate`` makes an optional time-series-chunked Zarr v3 copy, ``unpublish_zarr``
removes what they made. :mod:`climate.datasets` opens a published (or pending) item as a lazy
``xarray.Dataset`` for the read API (``climate/read/``).
"""
