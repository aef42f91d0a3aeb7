"""Domain errors, the one exception normaliser and the renderers of its result.

Domain code raises :class:`ApplicationError` subclasses, which know nothing of HTTP beyond a
default status declared beside their code. :func:`normalise` turns ANY exception (ours, DRF's,
Django's, a lost database, a bug) into one :class:`NormalisedError` (status, code, message,
details, remediation, headers); :data:`STATUS_CODES` is the one table of what is not ours
(the model is tipg's ``errors.py``: exception class -> status, looked up along the MRO).
Unknown exceptions become a logged 500.

Renderers only choose the body's shape, never the status or the code:

- :func:`json_body`, the platform's ``{"code", "message", "details", "remediation", "request_id"}``
  (DRF's EXCEPTION_HANDLER, :func:`api_exception_handler`, and the non-DRF middleware);
- :func:`ogc_body`, the OGC API exception ``{"code", "description"}`` shared by OGC API Features,
  STAC and the OGC APIs to come (:func:`ogc_exception_handler`, :func:`ogc_error_response`);
- the DDH envelope, ``publishing.api.ddh_body`` (the contract belongs to publishing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from .debug import details as debug_details

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """Base of every error the platform raises on purpose."""

    status_code = 400
    code = "invalid_request"
    category = "validation"
    user_fixable = True
    error_source = "user"
    retryable = False
    remediation = ""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        remediation: str | None = None,
        category: str | None = None,
        user_fixable: bool | None = None,
        error_source: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if remediation is not None:
            self.remediation = remediation
        if category is not None:
            self.category = category
        if user_fixable is not None:
            self.user_fixable = user_fixable
        if error_source is not None:
            self.error_source = error_source
        if status_code is not None:
            self.status_code = status_code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        """The structured error stored on tasks and jobs."""
        body: dict[str, Any] = {
            "message": self.message,
            "code": self.code,
            "category": self.category,
            "remediation": self.remediation,
            "user_fixable": self.user_fixable,
            "error_source": self.error_source,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(ApplicationError):
    code = "invalid_input"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"
    category = "state"


class Forbidden(ApplicationError):
    status_code = 403
    code = "forbidden"
    category = "permission"


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "payload_too_large"


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "service_unavailable"
    category = "infrastructure"
    user_fixable = False
    error_source = "platform"
    retryable = True


RETRY_AFTER_SECONDS = 5
_AUTH_REMEDIATION = "Send 'Authorization: Token <key>' with your account's API token."


@dataclass(frozen=True)
class NormalisedError:
    """An exception as every renderer sees it.

    ``code`` is the platform's snake_case code (the generic body's ``code``); ``error_type``
    names the kind of error in CamelCase (the DDH envelope's ``error_type``: the class name
    of our own errors); the OGC body derives its code from ``status``.
    """

    status: int
    code: str
    error_type: str
    message: str
    details: Any = None
    remediation: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """How one exception class that is not an :class:`ApplicationError` is answered.

    ``status`` None keeps the exception's own ``status_code`` (DRF's base APIException);
    ``message`` None uses ``str(exc)`` (DRF: its ``detail``), else the text or ``message(exc)``.
    """

    status: int | None
    code: str
    error_type: str
    message: str | Callable[[Exception], str] | None = None
    remediation: str = ""


def _too_big(exc: Exception) -> str:
    return f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


# The one table: exception class -> answer, found along the exception's MRO (first match wins,
# so a subclass row beats its base's). Our own errors carry their status and code on the class
# (an app adds one without editing this module; apps import geoplatform, never the reverse).
STATUS_CODES: dict[type[BaseException], Rule] = {
    # A lost database connection (PostgreSQL restarting, a failover, the network) is a 503 the
    # client may retry, not a 500: the next request reconnects by itself (CONN_HEALTH_CHECKS).
    OperationalError: Rule(
        503,
        "database_unavailable",
        "ServiceUnavailable",
        "The database is unavailable.",
        f"Try again in {RETRY_AFTER_SECONDS} seconds; nothing was changed by this request.",
    ),
    InterfaceError: Rule(
        503,
        "database_unavailable",
        "ServiceUnavailable",
        "The database is unavailable.",
        f"Try again in {RETRY_AFTER_SECONDS} seconds; nothing was changed by this request.",
    ),
    # Django's refusals of a request body (raised while DRF reads it).
    RequestDataTooBig: Rule(
        413,
        "payload_too_large",
        "PayloadTooLarge",
        _too_big,
        "Send files through POST /api/storage/{container}/upload and name them in the request.",
    ),
    TooManyFieldsSent: Rule(400, "invalid_input", "InvalidInput", "Too many fields in the request."),
    TooManyFilesSent: Rule(400, "invalid_input", "InvalidInput", "Too many files in the request."),
    Http404: Rule(404, "not_found", "NotFound", "Not found."),
    DjangoPermissionDenied: Rule(
        403, "permission_denied", "PermissionDenied", "You do not have permission to perform this action."
    ),
    # DRF's exceptions keep their status and detail.
    drf_exceptions.NotAuthenticated: Rule(401, "not_authenticated", "AuthenticationRequired", None, _AUTH_REMEDIATION),
    drf_exceptions.AuthenticationFailed: Rule(
        401, "authentication_failed", "AuthenticationFailed", None, _AUTH_REMEDIATION
    ),
    drf_exceptions.PermissionDenied: Rule(403, "permission_denied", "PermissionDenied"),
    drf_exceptions.NotFound: Rule(404, "not_found", "NotFound"),
    drf_exceptions.MethodNotAllowed: Rule(405, "method_not_allowed", "MethodNotAllowed"),
    drf_exceptions.NotAcceptable: Rule(406, "not_acceptable", "NotAcceptable"),
    drf_exceptions.UnsupportedMediaType: Rule(415, "unsupported_media_type", "UnsupportedMediaType"),
    drf_exceptions.Throttled: Rule(429, "throttled", "Throttled"),
    drf_exceptions.ParseError: Rule(400, "parse_error", "ParseError"),
    drf_exceptions.ValidationError: Rule(400, "invalid_request", "ValidationError"),
    drf_exceptions.APIException: Rule(None, "error", "Error"),
}

_SERVER_ERROR = "Internal error; it has been logged. Quote the request_id."


def _rule_of(exc: Exception) -> Rule | None:
    for cls in type(exc).__mro__:
        rule = STATUS_CODES.get(cls)
        if rule is not None:
            return rule
    return None


def _validation_messages(detail: Any, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_validation_messages(value, "" if key == "non_field_errors" else name))
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _validation_messages(item, prefix)]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def _log_context(request: Any) -> dict[str, Any]:
    """Path, method and request id of the request that failed (the id only when known, so
    that the one in the log context is not hidden)."""
    fields = {name: getattr(request, name, None) for name in ("path", "method", "request_id")}
    return {"error_source": "platform", **{k: v for k, v in fields.items() if v is not None}}


def normalise(exc: Exception, request: Any = None) -> NormalisedError:
    """Any exception as status, code, message, details, remediation and headers.

    ``request`` (Django's or DRF's) only gives the log of an unexpected error its context."""
    if isinstance(exc, ApplicationError):
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, ServiceUnavailable) else {}
        return NormalisedError(
            exc.status_code, exc.code, type(exc).__name__, exc.message, exc.details, exc.remediation, retry
        )
    rule = _rule_of(exc)
    if rule is None:
        logger.exception(
            "Unhandled error in an API view: %s %s",
            getattr(request, "method", "?"),
            getattr(request, "path", "?"),
            exc_info=exc,
            extra=_log_context(request),
        )
        return NormalisedError(500, "server_error", "InternalError", _SERVER_ERROR)
    headers: dict[str, str] = {}
    details: Any = None
    if rule.status == 503:
        logger.warning("database unavailable: %s", exc, extra={"error_source": "platform"})
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(exc, drf_exceptions.APIException):
        status = exc.status_code
        if isinstance(exc, drf_exceptions.ValidationError):
            details = exc.detail
            message = "Invalid request: " + "; ".join(_validation_messages(exc.detail))
        else:
            message = str(exc.detail)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    else:
        status = rule.status or 500
        if callable(rule.message):
            message = rule.message(exc)
        else:
            message = str(exc) or rule.message or rule.error_type
    return NormalisedError(status, rule.code, rule.error_type, message, details, rule.remediation, headers)


# Renderers ------------------------------------------------------------------------------------


def json_body(error: NormalisedError, request: Any = None) -> dict[str, Any]:
    """The platform's body: ``{"code", "message", "details"?, "remediation"?, "request_id"?}``."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    if error.remediation:
        body["remediation"] = error.remediation
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return body


# OGC API exception codes (OGC API - Common/Features, as pygeoapi answers them), by status. The
# OGC body names the KIND of error, not our fine-grained code: Features and STAC answer alike.
OGC_CODES = {
    400: "InvalidParameterValue",
    401: "NotAuthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
}


def ogc_body(error: NormalisedError) -> dict[str, Any]:
    """The OGC API exception body ``{"code", "description"}`` (Features, STAC, the OGC APIs to come)."""
    code = OGC_CODES.get(error.status, "ServerError" if error.status >= 500 else "Error")
    return {"code": code, "description": error.message}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every API error gets the platform's JSON body."""
    request = context.get("request")
    error = normalise(exc, request)
    body = json_body(error, request)
    debug = debug_details(request, exc)
    if debug is not None:
        body["debug"] = debug
    return Response(body, status=error.status, headers=error.headers)


def ogc_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The exception handler of DRF views that speak an OGC API (STAC)."""
    error = normalise(exc, context.get("request"))
    return Response(ogc_body(error), status=error.status, headers=error.headers)


def ogc_error_response(exc: Exception, request: HttpRequest) -> JsonResponse:
    """The same for the plain-Django OGC views (no DRF Response to render)."""
    error = normalise(exc, request)
    return JsonResponse(ogc_body(error), status=error.status, headers=error.headers)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_error_view(status: int, code: str, message: str) -> Any:
    """Django-level handlers (handler404/500): JSON on /api/, the default page elsewhere."""
    fallbacks: dict[int, Any] = {
        400: defaults.bad_request,
        403: defaults.permission_denied,
        404: defaults.page_not_found,
        500: defaults.server_error,
    }
    fallback = fallbacks[status]

    def view(request: HttpRequest, exception: Exception | None = None) -> Any:
        if _wants_json(request):
            error = NormalisedError(status, code, "", message)
            return JsonResponse(json_body(error, request), status=status)
        if status == 500:
            return fallback(request)
        return fallback(request, exception)

    return view
