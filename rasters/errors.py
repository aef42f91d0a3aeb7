"""Raster errors (HTTP-agnostic; ApplicationError carries the default status)."""

from __future__ import annotations

from geoplatform.errors import InvalidInput, NotFound, PayloadTooLarge
from ingest.errors import PermanentError


class RasterNotFound(NotFound):
    code = "raster_not_found"


class InvalidRaster(PermanentError):
    """The file is not a usable raster (not a GeoTIFF, corrupt, no CRS, absurd size)."""

    code = "invalid_raster"


class CogCreationFailed(PermanentError):
    code = "cog_creation_failed"
    category = "processing"


class InvalidRasterRequest(InvalidInput):
    code = "invalid_raster_request"


class OutsideBounds(NotFound):
    code = "outside_bounds"


class RequestTooLarge(PayloadTooLarge):
    """An extract/clip/preview bigger than the configured limit (413)."""

    code = "request_too_large"
