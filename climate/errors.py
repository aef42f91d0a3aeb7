"""Errors of the climate app (domain errors; no HTTP beyond the default status)."""

from __future__ import annotations

from geoplatform.errors import Conflict, InvalidInput, NotFound


class InvalidClimateSource(InvalidInput):
    """A file that cannot be read as NetCDF/HDF5/Zarr, or a series that cannot be combined."""

    code = "invalid_climate_source"
    category = "data"


class UnsupportedOption(InvalidInput):
    code = "unsupported_option"


class DatasetNotFound(NotFound):
    code = "climate_dataset_not_found"


class DatasetExists(Conflict):
    code = "climate_dataset_exists"
