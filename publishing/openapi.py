"""The documented response bodies of ``/api/platform/*`` (see docs/ddh-contract.md).

These serializers only describe: the views build their bodies in selectors, and these
shapes are what the OpenAPI document promises and what schemathesis checks every response
against (tests/test_openapi_schemathesis.py). Fields a body always carries are required;
fields the contract adds only in some states are ``required=False``. Extra fields stay
allowed (no ``additionalProperties: false``), so adding a field never breaks a client.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

from .models import ApprovalState, ClearanceState, DataType, ProcessingStatus

_S = serializers.Serializer  # type: ignore[type-arg]


def _str(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(**kwargs)


def _nullable_str(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(allow_null=True, **kwargs)


# --- the error envelope ----------------------------------------------------------------------


class ExistingReleaseSerializer(_S):
    release_id = _str()
    approval_state = serializers.ChoiceField(choices=ApprovalState.choices)
    processing_status = serializers.ChoiceField(choices=ProcessingStatus.choices)
    version_id = _nullable_str()
    version_ordinal = serializers.IntegerField()
    monitor_url = _str()


class DdhErrorSerializer(_S):
    """``{"success": false, "error", "error_type"}`` (+ remediation, details, existing_release)."""

    success = serializers.BooleanField(help_text="Always false on an error.")
    error = _str(help_text="What went wrong, for a person.")
    error_type = _str(help_text="The error's class, e.g. ValidationError, ReleaseExistsError, PermissionDenied.")
    remediation = _str(required=False, help_text="What to change to succeed.")
    details = serializers.JSONField(required=False, help_text="Field errors (ValidationError) or other details.")
    existing_release = ExistingReleaseSerializer(required=False, help_text="On 409 ReleaseExistsError.")


_DDH_ERROR_TEXT = {
    400: "Invalid request: the message names the field or parameter to fix.",
    401: "No or invalid token (send 'Authorization: Token <key>').",
    403: "The token's account lacks the route's permission.",
    404: "No such release, asset or catalogue entry.",
    406: "The Accept header excludes JSON.",
    409: "Conflicts with the release's current state (existing_release tells which).",
    503: "The platform is unavailable.",
}


def ddh_errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Documented DDH error responses; 401 and 406 apply to every platform route."""
    return {
        code: OpenApiResponse(DdhErrorSerializer, description=_DDH_ERROR_TEXT[code])
        for code in sorted({401, 406, *codes})
    }


# --- shared pieces ---------------------------------------------------------------------------


class AssetSummarySerializer(_S):
    asset_id = _str()
    platform = _str()
    dataset_id = _str()
    resource_id = _str()


class ReleaseSummarySerializer(_S):
    release_id = _str()
    version_id = _nullable_str(allow_blank=True)
    suggested_version_id = _nullable_str()
    version_ordinal = serializers.IntegerField()
    revision = serializers.IntegerField()
    processing_status = serializers.ChoiceField(choices=ProcessingStatus.choices)
    approval_state = serializers.ChoiceField(choices=ApprovalState.choices)
    clearance_state = serializers.ChoiceField(choices=ClearanceState.choices)
    data_type = serializers.ChoiceField(choices=DataType.choices)
    job_id = _nullable_str()
    request_id = _str()
    created_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)


class ReleaseRowSerializer(ReleaseSummarySerializer):
    asset = AssetSummarySerializer()
    title = _str(allow_blank=True)


class ServicesSerializer(_S):
    """Where an approved release is served (absolute URLs; null where the kind has none)."""

    service_url = _nullable_str()
    preview = _nullable_str()
    viewer = _nullable_str()
    tiles = _nullable_str()
    stac_collection = _nullable_str()
    stac_item = _nullable_str()


class JobErrorSerializer(_S):
    message = _nullable_str()
    code = _nullable_str()
    category = _nullable_str()
    remediation = _nullable_str()
    user_fixable = serializers.BooleanField(allow_null=True)


# --- manifest --------------------------------------------------------------------------------


class RouteSerializer(_S):
    method = _str()
    path = _str()
    description = _str()


class ManifestSerializer(_S):
    success = serializers.BooleanField()
    name = _str()
    routes = RouteSerializer(many=True)


# --- submit ----------------------------------------------------------------------------------


class SubmitAcceptedSerializer(_S):
    success = serializers.BooleanField()
    request_id = _str()
    job_id = _str()
    job_type = _str()
    release_id = _str()
    asset_id = _str()
    monitor_url = _str(help_text="GET it to follow the release: /api/platform/status/{request_id}.")
    message = _str()
    warnings = serializers.ListField(child=serializers.JSONField(), required=False)


class SubmitDryRunSerializer(_S):
    success = serializers.BooleanField()
    valid = serializers.BooleanField()
    dry_run = serializers.BooleanField()
    request_id = _str()
    would_create_job_type = _str()
    asset_id = _str()
    data_type = serializers.ChoiceField(choices=DataType.choices)
    warnings = serializers.ListField(child=serializers.JSONField(), required=False)


# --- status ----------------------------------------------------------------------------------


class StatusAssetSerializer(AssetSummarySerializer):
    title = _str(allow_blank=True)
    data_type = serializers.ChoiceField(choices=DataType.choices)


class ReleaseProgressSerializer(_S):
    started_at = serializers.DateTimeField(allow_null=True)
    tasks_total = serializers.IntegerField(allow_null=True)
    tasks_done = serializers.IntegerField(allow_null=True)
    percent_complete = serializers.FloatField(allow_null=True)
    stage = serializers.JSONField(allow_null=True)


class ApprovalLinksSerializer(_S):
    approve_url = _str()
    viewer_url = _str()


class StatusSerializer(_S):
    """One release's status: 202 (with Retry-After) while processing, 200 otherwise."""

    success = serializers.BooleanField()
    request_id = _str()
    asset = StatusAssetSerializer()
    release = ReleaseSummarySerializer()
    job_id = _nullable_str()
    job_type = _str(allow_blank=True)
    job_status = _nullable_str()
    warnings = serializers.ListField(child=serializers.JSONField())
    progress = ReleaseProgressSerializer(required=False, help_text="While processing.")
    error = JobErrorSerializer(required=False, help_text="When the job failed.")
    outputs = serializers.DictField(required=False, help_text="When completed: tables, blobs, STAC ids, URLs.")
    services = ServicesSerializer(required=False, help_text="Only once approved.")
    external = serializers.DictField(required=False, help_text="The copy in the external zone, if any.")
    approval = ApprovalLinksSerializer(required=False, help_text="Completed and pending review.")
    unpublish_job_id = _str(required=False)
    versions = ReleaseSummarySerializer(many=True, help_text="Every release of the asset, newest first.")


class StatusListSerializer(_S):
    success = serializers.BooleanField()
    releases = ReleaseRowSerializer(many=True)
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    has_more = serializers.BooleanField()


# --- review ----------------------------------------------------------------------------------


class ReviewResultSerializer(_S):
    success = serializers.BooleanField()
    message = _str()
    release_id = _str()
    asset_id = _str()
    request_id = _str()
    approval_state = serializers.ChoiceField(choices=ApprovalState.choices)
    clearance_state = serializers.ChoiceField(choices=ClearanceState.choices)
    version_id = _nullable_str(allow_blank=True)
    reviewer = _str(allow_blank=True)
    dry_run = serializers.BooleanField(required=False, help_text="Approve with dry_run=true.")
    services = ServicesSerializer(required=False, allow_null=True, help_text="Approve: where it is now served.")
    reason = _str(required=False, help_text="Reject and revoke.")


class ApprovalsListSerializer(_S):
    success = serializers.BooleanField()
    approvals = ReleaseRowSerializer(many=True)
    status = _nullable_str(help_text="The approval_state filtered on, or null.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    has_more = serializers.BooleanField()


class ApprovalDetailSerializer(ReleaseRowSerializer):
    success = serializers.BooleanField()
    reviewer = _str(allow_blank=True)
    review_notes = _str(allow_blank=True)
    services = ServicesSerializer(allow_null=True)


class ApprovalBriefSerializer(_S):
    release_id = _str()
    asset_id = _str()
    approval_state = serializers.ChoiceField(choices=ApprovalState.choices)
    clearance_state = serializers.ChoiceField(choices=ClearanceState.choices)
    version_id = _nullable_str(allow_blank=True)
    is_public = serializers.BooleanField()


class ApprovalsStatusSerializer(_S):
    success = serializers.BooleanField()
    stac_items = serializers.DictField(
        child=ApprovalBriefSerializer(allow_null=True), help_text="STAC item id -> its latest release, or null."
    )
    tables = serializers.DictField(
        child=ApprovalBriefSerializer(allow_null=True), help_text="Table name -> its latest release, or null."
    )


# --- unpublish -------------------------------------------------------------------------------


class UnpublishResultSerializer(_S):
    success = serializers.BooleanField()
    dry_run = serializers.BooleanField()
    release_id = _str()
    request_id = _str()
    would_delete = serializers.DictField(help_text="The tables, blobs and STAC entries the run deletes.")
    job_id = _str(required=False)
    job_type = _str(required=False)
    job_status = _str(required=False)
    monitor_url = _str(required=False)
    message = _str(required=False)


# --- catalogue -------------------------------------------------------------------------------


class CatalogEntrySerializer(_S):
    asset = AssetSummarySerializer()
    release = ReleaseSummarySerializer()
    title = _str(allow_blank=True)
    description = _str(allow_blank=True)
    tags = serializers.ListField(child=_str())
    services = ServicesSerializer(allow_null=True)


class CatalogEntryResponseSerializer(CatalogEntrySerializer):
    success = serializers.BooleanField()


class CatalogAssetSerializer(_S):
    success = serializers.BooleanField()
    asset = AssetSummarySerializer()
    approved_releases = ReleaseSummarySerializer(many=True)
    latest = CatalogEntrySerializer(allow_null=True)


class CatalogDatasetSerializer(_S):
    success = serializers.BooleanField()
    dataset_id = _str()
    resources = CatalogEntrySerializer(many=True)


# --- operations ------------------------------------------------------------------------------


class PlatformHealthSerializer(_S):
    success = serializers.BooleanField()
    status = _str(help_text="healthy | degraded | unavailable (the database is down).")
    failing = serializers.ListField(child=_str())
    components = serializers.DictField(child=serializers.DictField(), help_text="Component name -> its check.")
    queue_backlog = serializers.DictField(
        child=serializers.IntegerField(), allow_null=True, help_text="Queue -> queued tasks; null without a database."
    )


class FailureSerializer(_S):
    release_id = _str()
    asset_id = _str()
    dataset_id = _str()
    resource_id = _str()
    job_id = _nullable_str()
    job_type = _str(allow_blank=True)
    failed_at = serializers.DateTimeField(allow_null=True)
    error = JobErrorSerializer()


class FailurePatternSerializer(_S):
    code = _str()
    count = serializers.IntegerField()


class FailuresSerializer(_S):
    success = serializers.BooleanField()
    hours = serializers.IntegerField()
    total = serializers.IntegerField()
    failures = FailureSerializer(many=True)
    patterns = FailurePatternSerializer(many=True)


# --- the responses of routes that share them -------------------------------------------------

STATUS_RESPONSES: dict[int, Any] = {
    200: OpenApiResponse(StatusSerializer, description="Completed, failed (see error) or never started."),
    202: OpenApiResponse(StatusSerializer, description="Still processing; poll again after Retry-After seconds."),
    **ddh_errors(400, 404),
}
# GET /api/platform/status answers the list, or one asset's status given dataset_id+resource_id.
STATUS_OR_LIST = PolymorphicProxySerializer(
    component_name="PlatformStatusOrList",
    serializers=[StatusListSerializer, StatusSerializer],
    resource_type_field_name=None,
)
REVIEW_RESPONSES: dict[int, Any] = {200: ReviewResultSerializer, **ddh_errors(400, 403, 404, 409)}
CATALOG_ENTRY_RESPONSES: dict[int, Any] = {200: CatalogEntryResponseSerializer, **ddh_errors(400, 404)}
