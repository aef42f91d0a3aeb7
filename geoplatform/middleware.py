"""Request id on every request and response, carried into logs; the trailing-slash redirect."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import django.middleware.common
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import json_body, normalise
from .logging import log_context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _SAFE_ID.match(incoming) else secrets.token_hex(16)
        request.request_id = request_id  # type: ignore[attr-defined]
        with log_context(request_id=request_id):
            response = self.get_response(request)
        if not response.has_header("X-Request-Id"):
            response["X-Request-Id"] = request_id
        return response


class CommonMiddleware(django.middleware.common.CommonMiddleware):
    """Django's, with an absolute ``Location`` on the trailing-slash redirect.

    A relative ``Location`` is valid HTTP (RFC 9110 10.2.2), but QGIS 3.22's OGC API client
    does not resolve it: ``.../api/features`` typed without the slash gave an invalid layer.
    """

    def get_full_path_with_slash(self, request: HttpRequest) -> str:
        return request.build_absolute_uri(super().get_full_path_with_slash(request))


class DatabaseUnavailableMiddleware:
    """503 instead of a 500 page for views outside DRF (its views use the exception
    handlers, which do the same) when the database connection is lost."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # Only the database's loss is answered here; anything else keeps Django's handling
        # (handler404/handler500, the debug page).
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        error = normalise(exception, request)
        if request.path.startswith("/api/"):
            return JsonResponse(json_body(error, request), status=error.status, headers=error.headers)
        return HttpResponse(
            f"{error.message} {error.remediation}\n",
            status=error.status,
            content_type="text/plain",
            headers=error.headers,
        )
