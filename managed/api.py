"""/api/managed/: managed sources for operators (reads: staff or operators holding
managed.view_managedsource or managed.manage_source; writes: managed.manage_source)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from geoplatform.api import StrictSerializer, error_responses
from geoplatform.permissions import has_perm

from . import selectors, services
from .models import DEFAULT_SCHEDULE, ManagedSource, ReviewPolicy, SourceVersion, TargetKind

MANAGE = "managed.manage_source"
VIEW = "managed.view_managedsource"


class CanView(BasePermission):
    message = f"Your account lacks the permission {VIEW!r} (or {MANAGE!r})."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.has_perm(VIEW) or user.has_perm(MANAGE)))


CanManage = has_perm(MANAGE)


class ReadOrManage(BasePermission):
    """GET for viewers, anything else for managers."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return CanView().has_permission(request, view)
        return CanManage().has_permission(request, view)


# --- serializers ---------------------------------------------------------------------------------


class SourceInput(StrictSerializer):
    name = serializers.CharField(max_length=63)
    title = serializers.CharField(max_length=300, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    handler = serializers.CharField(max_length=63)
    location = serializers.CharField(max_length=2000)
    settings = serializers.JSONField(required=False)
    schedule = serializers.CharField(max_length=120, required=False, default=DEFAULT_SCHEDULE)
    enabled = serializers.BooleanField(required=False, default=True)
    target_kind = serializers.ChoiceField(choices=TargetKind.values, required=False, default=TargetKind.VECTOR)
    collection_id = serializers.CharField(max_length=63)
    licence = serializers.CharField(max_length=300, required=False, allow_blank=True)
    attribution = serializers.CharField(max_length=500, required=False, allow_blank=True)
    credentials_setting = serializers.CharField(max_length=120, required=False, allow_blank=True)
    review_policy = serializers.ChoiceField(choices=ReviewPolicy.values, required=False, default=ReviewPolicy.AUTOMATIC)
    thresholds = serializers.JSONField(required=False)
    expected_cadence = serializers.DurationField(
        required=False, allow_null=True, help_text="ISO 8601 duration, e.g. P2D."
    )
    style = serializers.JSONField(required=False, allow_null=True)  # type: ignore[assignment]


class UpdateInput(StrictSerializer):
    force = serializers.BooleanField(required=False, default=False, help_text="Re-ingest even if unchanged.")


class ReviewInput(StrictSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class VersionOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    status = serializers.CharField(
        read_only=True,
        help_text="checking, downloading, ingesting, held, live, previous, failed, unchanged, rolled_back, rejected, retired",
    )

    class Meta:
        model = SourceVersion
        fields = [
            "number",
            "label",
            "status",
            "stage",
            "url",
            "etag",
            "last_modified",
            "sha256",
            "bytes",
            "counts",
            "bbox",
            "schema_fingerprint",
            "target",
            "job_ids",
            "error",
            "diff",
            "forced",
            "fetched_at",
            "published_at",
            "reviewed_at",
            "review_note",
            "created_at",
        ]


class SourceOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    freshness = serializers.SerializerMethodField()
    live_version = serializers.SerializerMethodField()
    expected_cadence = serializers.DurationField(read_only=True)
    target_kind = serializers.CharField(read_only=True)
    review_policy = serializers.CharField(read_only=True)

    class Meta:
        model = ManagedSource
        fields = [
            "name",
            *services.EDITABLE,
            "next_run_at",
            "last_checked_at",
            "last_success_at",
            "last_error",
            "created_at",
            "updated_at",
            "freshness",
            "live_version",
        ]

    def get_freshness(self, obj: ManagedSource) -> dict[str, Any]:
        return selectors.freshness(obj)

    def get_live_version(self, obj: ManagedSource) -> dict[str, Any] | None:
        live = selectors.version_live(source=obj)
        return VersionOutput(live).data if live is not None else None


class SourceDetailOutput(SourceOutput):
    versions = serializers.SerializerMethodField()

    class Meta(SourceOutput.Meta):
        fields = [*SourceOutput.Meta.fields, "versions"]

    def get_versions(self, obj: ManagedSource) -> list[dict[str, Any]]:
        return list(VersionOutput(selectors.version_list(source=obj)[:20], many=True).data)


class TriggerOutput(serializers.Serializer):  # type: ignore[type-arg]
    outcome = serializers.CharField(help_text="unchanged, submitted or running")
    reason = serializers.CharField()
    requests = serializers.IntegerField()
    seconds = serializers.FloatField()
    version = VersionOutput(allow_null=True)
    job_id = serializers.CharField()


# --- views ---------------------------------------------------------------------------------------


class SourceListApi(APIView):
    permission_classes = [ReadOrManage]

    @extend_schema(
        operation_id="managed_sources_list", responses={200: SourceOutput(many=True), **error_responses(401, 403)}
    )
    def get(self, request: Request) -> Response:
        return Response(SourceOutput(selectors.source_list(), many=True).data)

    @extend_schema(
        operation_id="managed_sources_create",
        request=SourceInput,
        responses={201: SourceDetailOutput, **error_responses(400, 401, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        data = SourceInput(data=request.data)
        data.is_valid(raise_exception=True)
        source = services.source_create(data=dict(data.validated_data), user=request.user)
        return Response(SourceDetailOutput(source).data, status=status.HTTP_201_CREATED)


class SourceDetailApi(APIView):
    permission_classes = [ReadOrManage]

    @extend_schema(
        operation_id="managed_sources_get", responses={200: SourceDetailOutput, **error_responses(401, 403, 404)}
    )
    def get(self, request: Request, name: str) -> Response:
        return Response(SourceDetailOutput(selectors.source_get(name=name)).data)

    @extend_schema(
        operation_id="managed_sources_update",
        request=SourceInput(partial=True),
        description="Change the fields given (name stays; collection_id and target_kind are fixed once it has data).",
        responses={200: SourceDetailOutput, **error_responses(400, 401, 403, 404, 409)},
    )
    def put(self, request: Request, name: str) -> Response:
        source = selectors.source_get(name=name)
        data = SourceInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        source = services.source_update(source=source, data=dict(data.validated_data), user=request.user)
        return Response(SourceDetailOutput(source).data)

    @extend_schema(
        operation_id="managed_sources_delete",
        description="Removes the source, its versions' data (the live collection too) and downloaded files.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403, 404, 409)},
    )
    def delete(self, request: Request, name: str) -> Response:
        return Response(services.source_delete(source=selectors.source_get(name=name), user=request.user))


class SourceHistoryApi(APIView):
    permission_classes = [CanView]

    @extend_schema(
        operation_id="managed_sources_history",
        responses={200: VersionOutput(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, name: str) -> Response:
        source = selectors.source_get(name=name)
        return Response(VersionOutput(selectors.version_list(source=source), many=True).data)


class SourceUpdateApi(APIView):
    permission_classes = [CanManage]

    @extend_schema(
        operation_id="managed_sources_trigger",
        request=UpdateInput,
        description="Check the source now. Unchanged: 200 (no version, no job). Changed or force: 202 with the version and job.",
        responses={200: TriggerOutput, 202: TriggerOutput, **error_responses(400, 401, 403, 404, 502)},
    )
    def post(self, request: Request, name: str) -> Response:
        source = selectors.source_get(name=name)
        data = UpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.update_trigger(source=source, force=data.validated_data["force"], user=request.user)
        body = TriggerOutput(outcome).data
        return Response(body, status=status.HTTP_202_ACCEPTED if outcome.outcome == "submitted" else status.HTTP_200_OK)


class SourceEnableApi(APIView):
    permission_classes = [CanManage]

    @extend_schema(
        operation_id="managed_sources_enable",
        request=None,
        responses={200: SourceOutput, **error_responses(401, 403, 404)},
    )
    def post(self, request: Request, name: str) -> Response:
        return Response(
            SourceOutput(services.source_enable(source=selectors.source_get(name=name), user=request.user)).data
        )


class SourceDisableApi(APIView):
    permission_classes = [CanManage]

    @extend_schema(
        operation_id="managed_sources_disable",
        request=None,
        responses={200: SourceOutput, **error_responses(401, 403, 404)},
    )
    def post(self, request: Request, name: str) -> Response:
        return Response(
            SourceOutput(services.source_disable(source=selectors.source_get(name=name), user=request.user)).data
        )


class SourceRollbackApi(APIView):
    permission_classes = [CanManage]

    @extend_schema(
        operation_id="managed_sources_rollback",
        request=None,
        description="Put the previous good version back live; the live one becomes rolled_back.",
        responses={200: VersionOutput, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, name: str) -> Response:
        version = services.version_rollback(source=selectors.source_get(name=name), user=request.user)
        return Response(VersionOutput(version).data)


class VersionReviewApi(APIView):
    """A reviewer's decision on a held version (approve: the swap; reject: its data goes)."""

    permission_classes = [CanManage]

    def review(self, request: Request, name: str, number: int, decide: Any) -> Response:
        version = selectors.version_get(source=selectors.source_get(name=name), number=number)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = decide(version=version, user=request.user, note=data.validated_data["note"])
        return Response(VersionOutput(version).data)


_REVIEW_RESPONSES = {200: VersionOutput, **error_responses(400, 401, 403, 404, 409)}


class VersionApproveApi(VersionReviewApi):
    @extend_schema(operation_id="managed_versions_approve", request=ReviewInput, responses=_REVIEW_RESPONSES)
    def post(self, request: Request, name: str, number: int) -> Response:
        return self.review(request, name, number, services.version_approve)


class VersionRejectApi(VersionReviewApi):
    @extend_schema(operation_id="managed_versions_reject", request=ReviewInput, responses=_REVIEW_RESPONSES)
    def post(self, request: Request, name: str, number: int) -> Response:
        return self.review(request, name, number, services.version_reject)
