"""Errors of the styles app."""

from __future__ import annotations

from geoplatform.errors import ApplicationError, Conflict, InvalidInput, NotFound


class InvalidStyle(InvalidInput):
    """Not CartoSym-JSON, or not valid against its schema."""

    code = "invalid_style"


class Untranslatable(InvalidInput):
    """A rule an encoding cannot express (never silently dropped)."""

    code = "untranslatable_style"


class StyleNotFound(NotFound):
    code = "style_not_found"


class StyleExists(Conflict):
    code = "style_exists"


class NotAcceptable(ApplicationError):
    status_code = 406
    code = "not_acceptable"
