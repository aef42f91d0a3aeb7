"""Errors of the read API: each names the parameter and what to fix (4xx, never a 500)."""

from __future__ import annotations

from geoplatform.errors import InvalidInput, NotFound, PayloadTooLarge


class InvalidQuery(InvalidInput):
    code = "invalid_climate_query"


class UnknownParameter(InvalidInput):
    code = "unknown_parameter"


class OutsideExtent(InvalidInput):
    code = "outside_extent"


class DatasetNotFound(NotFound):
    code = "climate_dataset_not_found"


class TooManyValues(PayloadTooLarge):
    code = "too_many_values"
