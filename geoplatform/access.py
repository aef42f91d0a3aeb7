"""DRF's access checks for the plain-Django read views (features, styles, climate read API).

Its own module: ``geoplatform.permissions`` is loaded by DRF's settings while
``rest_framework.views`` is still importing, so it cannot import APIView itself.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from .errors import ogc_error_response
from .permissions import ReadPublicWriteAuthenticated


class _Access(APIView):
    """DRF's own authentication, permission and throttle checks for plain-Django views (never
    routed): the same authentication classes (token, session), ``ReadPublicWriteAuthenticated``,
    the 401/403 choice and ``WWW-Authenticate`` as every DRF view, and DRF's throttles when
    REST_FRAMEWORK configures any. Only the request wrapping and the checks run: no content
    negotiation, no DRF Response (what makes the plain views cheaper, docs/architecture.md)."""

    permission_classes = [ReadPublicWriteAuthenticated]

    def get_throttles(self) -> list[BaseThrottle]:
        # From the settings at each request, like the STAC and platform views' class attribute
        # read at import, but also when a deployment's (or a test's) settings change later.
        classes: list[type[BaseThrottle]] = list(api_settings.DEFAULT_THROTTLE_CLASSES)  # type: ignore[arg-type]
        return [throttle() for throttle in classes]


def plain_view_access(request: HttpRequest) -> None:
    """Who the caller of a plain-Django view is and whether it may read, decided by DRF (sets
    ``request.user``; raises DRF's NotAuthenticated/PermissionDenied/Throttled). DRF's test
    client's ``force_authenticate`` works too (DRF's Request reads it)."""
    access = _Access()
    drf_request = access.initialize_request(request)
    try:
        access.perform_authentication(drf_request)
        access.check_permissions(drf_request)
        access.check_throttles(drf_request)
    except (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed) as exc:
        # As APIView.handle_exception: a 401 names the scheme, or becomes a 403 without one.
        auth_header = access.get_authenticate_header(drf_request)
        if auth_header:
            exc.auth_header = auth_header  # type: ignore[union-attr]
        else:
            exc.status_code = 403
        raise


class OgcReadView(View):
    """Base of the plain-Django OGC read views: GET/HEAD/OPTIONS only (no CSRF: nothing writes),
    :func:`plain_view_access` first, errors as OGC exception bodies ``{"code", "description"}``,
    CORS for browser clients. ``check(request)`` runs after the access check (e.g. an ``f``
    parameter). Added for h3grid's DGGS views; features' OgcApi and climate's ReadView do the same."""

    http_method_names = ["get", "head", "options"]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return csrf_exempt(super().as_view(**initkwargs))

    def check(self, request: HttpRequest) -> None:
        """Checks of the whole API (after access); raise ApplicationErrors."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            plain_view_access(request)
            self.check(request)
            response = super().dispatch(request, *args, **kwargs)
        except Exception as exc:
            response = ogc_error_response(exc, request)
        response["Access-Control-Allow-Origin"] = "*"
        return response

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise drf_exceptions.MethodNotAllowed(request.method or "")

    @staticmethod
    def json(body: Any, content_type: str = "application/json") -> HttpResponse:
        return HttpResponse(json.dumps(body, allow_nan=False), content_type=content_type)
