"""Domain errors and the one JSON error body of the API.

Domain code raises :class:`ApplicationError` subclasses, which know nothing of HTTP
beyond a default status. :func:`api_exception_handler` turns them, DRF's own
exceptions and anything unexpected into one body::

    {"code": "...", "message": "...", "details": ..., "remediation": ..., "request_id": "..."}

OGC and DDH routes translate the same exceptions into their own standard bodies.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

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


def unavailable_or_same(exc: Exception) -> Exception:
    """A lost database connection (PostgreSQL restarting, a failover, the network) becomes a
    503 the client may retry, instead of a 500: the next request reconnects by itself
    (CONN_HEALTH_CHECKS), so the outage ends without restarting the web. Every error
    handler (platform, DDH, OGC) calls this first."""
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc, extra={"error_source": "platform"})
        return ServiceUnavailable(
            "The database is unavailable.",
            code="database_unavailable",
            remediation=f"Try again in {RETRY_AFTER_SECONDS} seconds; nothing was changed by this request.",
        )
    return exc


def error_body(
    request: HttpRequest | None, code: str, message: str, details: Any = None, remediation: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    if remediation:
        body["remediation"] = remediation
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return body


_DRF_CODES: dict[type[drf_exceptions.APIException], str] = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ParseError: "parse_error",
    drf_exceptions.ValidationError: "invalid_request",
}


def from_django(exc: Exception) -> Exception:
    """Django's refusals of an oversized request body (raised while DRF reads it) as our errors."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

    if isinstance(exc, RequestDataTooBig):
        from django.conf import settings

        return PayloadTooLarge(
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            remediation="Send files through POST /api/storage/{container}/upload and name them in the request.",
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return InvalidInput(str(exc) or "Too many fields in the request.")
    return exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every API error gets the same JSON body."""
    request = context.get("request")
    exc = unavailable_or_same(from_django(exc))
    if isinstance(exc, ApplicationError):
        body = error_body(request, exc.code, exc.message, exc.details, exc.remediation)
        return Response(body, status=exc.status_code, headers=retry_after(exc))
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, drf_exceptions.APIException):
        code = _DRF_CODES.get(type(exc), "error")
        if isinstance(exc, drf_exceptions.ValidationError):
            body = error_body(request, code, "The request is not valid: see details.", exc.detail)
        else:
            body = error_body(request, code, str(exc.detail))
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        return Response(body, status=exc.status_code, headers=headers)
    logger.exception("Unhandled error in API view", extra={"error_source": "platform"})
    return Response(
        error_body(request, "server_error", "Internal error; it has been logged. Quote the request_id."),
        status=500,
    )


def retry_after(exc: Exception) -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, ServiceUnavailable) else {}


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_error_view(status: int, code: str, message: str) -> Any:
    """Django-level handlers (handler404/500): JSON on /api/, the default page elsewhere."""
    from django.views import defaults

    fallbacks: dict[int, Any] = {
        400: defaults.bad_request,
        403: defaults.permission_denied,
        404: defaults.page_not_found,
        500: defaults.server_error,
    }
    fallback = fallbacks[status]

    def view(request: HttpRequest, exception: Exception | None = None) -> Any:
        if _wants_json(request):
            return JsonResponse(error_body(request, code, message), status=status)
        if status == 500:
            return fallback(request)
        return fallback(request, exception)

    return view
