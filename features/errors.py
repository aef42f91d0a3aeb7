"""Errors of the features app (domain errors; no HTTP beyond the default status)."""

from __future__ import annotations

from geoplatform.errors import Conflict, InvalidInput, NotFound


class UnsupportedFormat(InvalidInput):
    code = "unsupported_format"
    category = "data"


class InvalidSource(InvalidInput):
    """The file cannot be read as the format it claims (corrupt, truncated, empty...)."""

    code = "invalid_source"
    category = "data"


class TableExists(Conflict):
    code = "table_exists"


class CollectionNotFound(NotFound):
    code = "collection_not_found"


class FeatureNotFound(NotFound):
    code = "feature_not_found"


class InvalidQuery(InvalidInput):
    """A bad OGC query parameter (answered as ``InvalidParameterValue``)."""

    code = "invalid_parameter_value"
