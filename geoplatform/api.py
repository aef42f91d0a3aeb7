"""Shared API pieces: the strict serializer, the documented error body, health."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import health


class StrictSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Rejects fields it does not declare, naming them (clients learn of typos at once)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        initial = getattr(self, "initial_data", None)
        if isinstance(initial, dict):
            unknown = sorted(set(initial) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    code = serializers.CharField(help_text="Stable machine-readable error code.")
    message = serializers.CharField(help_text="What went wrong, for a person.")
    details = serializers.JSONField(required=False, help_text="Field errors or the list of problems.")
    remediation = serializers.CharField(required=False, help_text="What to change to succeed.")
    request_id = serializers.CharField(required=False)


_ERROR_TEXT = {
    400: "Invalid request (see details).",
    401: "No or invalid credentials.",
    403: "Authenticated but lacking permission.",
    404: "Not found.",
    409: "Conflicts with the current state.",
    411: "Length required: send a Content-Length.",
    413: "Payload too large.",
    503: "A dependency is unavailable.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT[code]) for code in codes}


class HealthApi(APIView):
    """Database, PostGIS, pgSTAC, broker, live workers and storage; 503 names what fails."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="health",
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.CharField(),
                    "components": serializers.DictField(),
                    "failing": serializers.ListField(),
                },
            ),
            503: OpenApiResponse(description="One or more components failing (named in `failing`)."),
        },
    )
    def get(self, request: Request) -> Response:
        healthy, components = health.run_checks()
        failing = [name for name, info in components.items() if info["status"] != "ok"]
        body = {"status": "healthy" if healthy else "unhealthy", "failing": failing, "components": components}
        return Response(body, status=200 if healthy else 503, headers={"Cache-Control": "no-store"})
