"""``GET /metrics``: Prometheus text, for a scraper holding the metrics token or an operator.

Not public: the route and job type counts tell an outsider what runs here. A plain Django
view (not DRF): Prometheus wants its own text format, not content negotiation.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import metrics
from .errors import NormalisedError, json_body

VIEW_METRICS = "geoplatform.view_metrics"


def _refuse(request: HttpRequest, status: int, code: str, message: str) -> JsonResponse:
    error = NormalisedError(status, code, "", message)
    headers = {"WWW-Authenticate": 'Bearer realm="metrics"'} if status == 401 else {}
    return JsonResponse(json_body(error, request), status=status, headers=headers)


def _token_ok(request: HttpRequest) -> bool:
    token = getattr(settings, "GEOPLATFORM_METRICS_TOKEN", "") or ""
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics.enabled():
        return _refuse(request, 404, "not_found", "Metrics are off (GEOPLATFORM_METRICS_ENABLED=false).")
    if not _token_ok(request):
        user = request.user if request.user.is_authenticated else None
        try:
            found = TokenAuthentication().authenticate(request)  # type: ignore[arg-type]
        except AuthenticationFailed as exc:
            return _refuse(request, 401, "authentication_failed", str(exc.detail))
        user = found[0] if found else user
        if user is None:
            return _refuse(
                request,
                401,
                "not_authenticated",
                "Send 'Authorization: Bearer <GEOPLATFORM_METRICS_TOKEN>' or an operator's API token.",
            )
        if not user.has_perm(VIEW_METRICS):
            return _refuse(request, 403, "permission_denied", f"Your account lacks the permission {VIEW_METRICS!r}.")
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
