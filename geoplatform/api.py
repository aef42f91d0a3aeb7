"""Shared API pieces: the strict serializer, list filters, the documented error body, health."""

from __future__ import annotations

import platform
from typing import Any, ClassVar

import django
import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.forms.utils import ErrorDict, ErrorList
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import health
from .permissions import has_perm

# Operators' detailed health report (versions, errors); see geoplatform/models.py.
VIEW_HEALTH = "geoplatform.view_health"


class StrictSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Rejects fields it does not declare, naming them (clients learn of typos at once)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        initial = getattr(self, "initial_data", None)
        if isinstance(initial, dict):
            unknown = sorted(set(initial) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class StrictFilterSet(django_filters.FilterSet):
    """A django-filter FilterSet that, like :class:`StrictSerializer`, answers 400 for a query
    parameter it does not know (naming it) instead of ignoring a typo. ``extra_params`` are the
    ones the view reads itself (paging)."""

    extra_params: ClassVar[frozenset[str]] = frozenset({"limit", "offset"})

    @classmethod
    def params(cls) -> frozenset[str]:
        """Every query parameter a list route with this filter set accepts."""
        return frozenset(cls.base_filters) | cls.extra_params

    def _problems(self) -> dict[str, str]:
        """Unknown parameters, and filters given empty (a 400 as with the serializers before:
        django-filter would read ``?status=`` as no filter at all)."""
        problems = {name: "Unknown field." for name in set(self.data) - self.params()}
        for name in set(self.data) & set(self.base_filters):
            if self.data.get(name) == "":
                problems[name] = "This field may not be blank."
        return problems

    def is_valid(self) -> bool:
        return not self._problems() and bool(super().is_valid())

    @property
    def errors(self) -> ErrorDict:
        errors = ErrorDict(self.form.errors)
        for name, message in sorted(self._problems().items()):
            errors[name] = ErrorList([DjangoValidationError(message, code="invalid")])
        return errors


class FilteredListMixin:
    """For list routes on a plain APIView: the view's ``filterset_class`` filters the queryset
    its selector returns (``self.filter_queryset(qs)``; bad values are a 400 naming the
    parameter), and :class:`AutoSchema` documents the filters in the OpenAPI."""

    filter_backends: ClassVar[list[type[DjangoFilterBackend]]] = [DjangoFilterBackend]
    filterset_class: ClassVar[type[django_filters.FilterSet]]

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        for backend in self.filter_backends:
            queryset = backend().filter_queryset(self.request, queryset, self)  # type: ignore[attr-defined]
        return queryset

    def get_queryset(self) -> QuerySet[Any]:
        """The filtered model, for the schema generator only (views read through selectors)."""
        model: type[Model] = self.filterset_class._meta.model
        return model._default_manager.none()


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the filters of :class:`FilteredListMixin` views: their GET
    answers an envelope (``{"results": [...], "count", ...}``) rather than a bare list, which
    spectacular's list heuristic would not document filters for."""

    def get_filter_backends(self) -> list[Any]:
        if self.method == "GET" and isinstance(self.view, FilteredListMixin):
            return list(self.view.filter_backends)
        return list(super().get_filter_backends())


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
    502: "An external source answered badly or not at all.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT[code]) for code in codes}


class HealthApi(APIView):
    """Readiness for load balancers and orchestrators: anonymous, status only, reads only."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="health",
        summary="Readiness (anonymous)",
        description=(
            "200 when the database, the broker and every storage zone answer (checked by reads;"
            " the answer is cached about a second per process, so polling every second is cheap),"
            " 503 otherwise. Status only: versions and errors are in `/api/health/details`."
        ),
        responses={
            200: inline_serializer("Readiness", {"status": serializers.CharField(help_text="`ok` or `unavailable`")}),
            503: OpenApiResponse(description='A dependency is unavailable: `{"status": "unavailable"}`.'),
        },
    )
    def get(self, request: Request) -> Response:
        ok = health.ready()
        return Response({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503, headers=_NO_STORE)


class HealthLiveApi(APIView):
    """Liveness: the process answers HTTP. Touches nothing (no database, broker or storage)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="health_live",
        summary="Liveness (anonymous)",
        description="Always 200 while the web process serves requests; checks no dependency.",
        responses={200: inline_serializer("Liveness", {"status": serializers.CharField(help_text="`ok`")})},
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"}, headers=_NO_STORE)


class HealthDetailsApi(APIView):
    """Every component with versions and errors, for operators (``geoplatform.view_health``)."""

    permission_classes = [has_perm(VIEW_HEALTH)]

    @extend_schema(
        operation_id="health_details",
        summary="Detailed health (operators)",
        description=(
            "Database (version, role), PostGIS, pgSTAC, broker, live workers and storage zones, with"
            " each failure's error. Needs a token with the permission `geoplatform.view_health`."
            " Storage is checked by reads only: nothing is written to any zone."
        ),
        responses={
            200: inline_serializer(
                "HealthDetails",
                {
                    "status": serializers.CharField(help_text="`healthy` or `unhealthy`"),
                    "failing": serializers.ListField(child=serializers.CharField()),
                    "components": serializers.DictField(),
                    "versions": serializers.DictField(child=serializers.CharField()),
                },
            ),
            503: OpenApiResponse(description="One or more components failing (named in `failing`)."),
            **error_responses(401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        healthy, components = health.run_checks(detail=True)
        body = {
            "status": "healthy" if healthy else "unhealthy",
            "failing": [name for name, info in components.items() if info["status"] != "ok"],
            "components": components,
            "versions": _versions(),
        }
        return Response(body, status=200 if healthy else 503, headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}


def _versions() -> dict[str, str]:
    return {
        "geoplatform": str(settings.SPECTACULAR_SETTINGS["VERSION"]),
        "python": platform.python_version(),
        "django": django.get_version(),
    }
