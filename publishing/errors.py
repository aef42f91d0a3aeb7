"""Publishing's domain errors. ``error_type`` in the DDH envelope is the class name."""

from __future__ import annotations

from geoplatform.errors import ApplicationError, Conflict, Forbidden, InvalidInput, NotFound


class ReleaseNotFound(NotFound):
    code = "release_not_found"


class ReleaseExistsError(Conflict):
    code = "release_exists"


class VersionConflict(Conflict):
    code = "version_conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class ReviewForbidden(Forbidden):
    code = "review_forbidden"


class ProcessingUnavailable(InvalidInput):
    """The job type that would process this data type is not registered here."""

    code = "processing_unavailable"
    user_fixable = False
    error_source = "platform"


class ZarrNotAvailable(ProcessingUnavailable):
    """Like any data type this deployment cannot process: a 4xx (the request cannot be served
    here), never a 5xx, which monitors and clients read as the server failing."""

    code = "zarr_not_available"
    category = "unsupported"
    user_fixable = False
    error_source = "platform"


class PublicationFailed(ApplicationError):
    """Publishing the outputs (e.g. the STAC item) failed; the approval was rolled back."""

    status_code = 502
    code = "publication_failed"
    category = "dependency"
    user_fixable = False
    error_source = "platform"


# An H3 statistics release (kinds/h3_stats.py) refused before anything is written: DDH tells
# them apart by ``error_type``.
class H3DatasetNotFound(InvalidInput):
    code = "h3_dataset_not_found"


class ResolutionNotComputed(InvalidInput):
    code = "resolution_not_computed"


class NothingToExport(InvalidInput):
    code = "nothing_to_export"
