"""The diagnostics API: ``/api/diagnostics/`` for operators (token + named permission).

Reads (``GET``) need ``geoplatform.view_diagnostics``; maintenance actions (``POST``,
dry run by default, audited) need ``geoplatform.run_maintenance``. 401 without
credentials, 403 without the permission.
"""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import diagnostics
from .api import error_responses
from .permissions import has_perm

VIEW_DIAGNOSTICS = "geoplatform.view_diagnostics"
RUN_MAINTENANCE = "geoplatform.run_maintenance"
_NO_STORE = {"Cache-Control": "no-store"}


class _Renderer(JSONRenderer):
    """Dates, decimals and intervals from the catalog views serialise as text."""

    encoder_class = DjangoJSONEncoder


class DiagnosticsIndexApi(APIView):
    permission_classes = [has_perm(VIEW_DIAGNOSTICS)]
    renderer_classes = [_Renderer]

    @extend_schema(
        operation_id="diagnostics_index",
        summary="Diagnostics: sections and actions (operators)",
        description="Every diagnostics section and maintenance action with its parameters.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(diagnostics.index(), headers=_NO_STORE)


class DiagnosticsSectionApi(APIView):
    permission_classes = [has_perm(VIEW_DIAGNOSTICS)]
    renderer_classes = [_Renderer]

    @extend_schema(
        operation_id="diagnostics_section",
        summary="One diagnostics section (operators)",
        description=(
            "Runs every contributor of the section (read-only). Each contributor answers under"
            " `sources.<app>` with `status` ok or error: one failing contributor never fails the page."
            " Unknown or malformed parameters are a 400 naming them; see the index for each section's."
        ),
        parameters=[OpenApiParameter("section", str, OpenApiParameter.PATH)],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, section: str) -> Response:
        body = diagnostics.section_run(section, request.query_params.dict())
        return Response(body, headers=_NO_STORE)


class DiagnosticsActionApi(APIView):
    permission_classes = [has_perm(RUN_MAINTENANCE)]
    renderer_classes = [_Renderer]

    @extend_schema(
        operation_id="diagnostics_action",
        summary="Run a maintenance action (operators)",
        description=(
            "Changes state (re-queue stuck tasks, purge finished jobs, re-send a delivery). The body"
            " holds the action's parameters and `dry_run` (default **true**: report what would change)."
            " Every call is audited (who, when, parameters, result)."
        ),
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH)],
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, name: str) -> Response:
        data: Any = request.data
        raw = data.dict() if hasattr(data, "dict") else data if isinstance(data, dict) else {}
        body = diagnostics.action_run(
            name=name, raw=raw, user=request.user, request_id=getattr(request._request, "request_id", "")
        )
        return Response(body, headers=_NO_STORE)
