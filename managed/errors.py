"""Domain errors of managed datasets (rendered by the project's error handlers)."""

from __future__ import annotations

from geoplatform.errors import ApplicationError, Conflict, InvalidInput, NotFound


class SourceNotFound(NotFound):
    code = "managed_source_not_found"


class VersionNotFound(NotFound):
    code = "managed_version_not_found"


class InvalidSource(InvalidInput):
    code = "invalid_managed_source"


class SourceExists(Conflict):
    code = "managed_source_exists"


class UpdateRunning(Conflict):
    code = "managed_update_running"


class NothingToRollBack(Conflict):
    code = "managed_no_previous_version"


class VersionNotHeld(Conflict):
    code = "managed_version_not_held"


class CheckFailed(ApplicationError):
    """The source could not be checked (it answered badly, or not at all)."""

    status_code = 502
    code = "managed_check_failed"
    category = "upstream"
    user_fixable = False
    error_source = "source"
