"""The DDH contract ``/api/platform/*`` (see docs/ddh-contract.md). Thin views.

Every view derives from :class:`PlatformApi`, which gives the contract's conventions:
token auth (401/403), strict bodies and query strings (unknown field -> 400 naming it),
the DDH error envelope, ``X-Request-Id``, per-route Cache-Control, HEAD on GETs, 406.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.authentication import TokenAuthentication
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from geoplatform import health
from geoplatform.api import FilteredListMixin, StrictFilterSet, StrictSerializer
from geoplatform.debug import details as debug_details
from geoplatform.errors import InvalidInput, NormalisedError, normalise
from geoplatform.permissions import Authenticated, has_perm

from . import openapi as oa
from . import selectors, services
from .errors import ReviewForbidden
from .filters import ApprovalFilter

logger = logging.getLogger(__name__)

ID_REGEX = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"


def ddh_body(error: NormalisedError) -> dict[str, Any]:
    """The DDH envelope ``{"success": false, "error", "error_type"}`` (+remediation, details)."""
    body: dict[str, Any] = {"success": False, "error": error.message, "error_type": error.error_type}
    if error.remediation:
        body["remediation"] = error.remediation
    if isinstance(error.details, dict) and "existing_release" in error.details:
        body["existing_release"] = error.details["existing_release"]
    elif error.details is not None:
        body["details"] = error.details
    return body


def ddh_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    request = context.get("request")
    error = normalise(exc, request)
    body = ddh_body(error)
    debug = debug_details(request, exc)  # GEOPLATFORM_DEBUG_MODE, geoplatform.view_debug holders only
    if debug is not None:
        body["debug"] = debug
    return Response(body, status=error.status, headers=error.headers)


class PlatformApi(APIView):
    """Conventions shared by every ``/api/platform`` route."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [Authenticated]
    renderer_classes = [JSONRenderer]
    cache_control = "private, no-cache"
    allowed_query: frozenset[str] = frozenset()

    def get_exception_handler(self) -> Any:
        return ddh_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        unknown = sorted(set(request.query_params) - self.allowed_query)
        if unknown:
            raise InvalidInput(
                f"Unknown query parameter(s): {', '.join(unknown)}.",
                remediation=f"Allowed: {', '.join(sorted(self.allowed_query)) or 'none'}.",
            )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 or request.method == "POST":
            response["Cache-Control"] = "no-store"
        else:
            response["Cache-Control"] = self.cache_control
        data = getattr(response, "data", None)
        request_id = data.get("request_id") if isinstance(data, dict) else None
        response["X-Request-Id"] = str(
            request_id or getattr(request._request, "request_id", None) or secrets.token_hex(16)
        )
        return response


def absolute(request: Request, value: Any) -> Any:
    """Turn the selectors' ``/api/...`` and ``/admin/...`` paths into absolute URLs."""
    if isinstance(value, dict):
        return {k: absolute(request, v) for k, v in value.items()}
    if isinstance(value, list):
        return [absolute(request, v) for v in value]
    if isinstance(value, str) and value.startswith(("/api/", "/admin/")):
        return request.build_absolute_uri(value)
    return value


class Paging(StrictSerializer):
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=500)
    offset = serializers.IntegerField(required=False, default=0, min_value=0)


def query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:  # type: ignore[type-arg]
    s = serializer_class(data=request.query_params.dict())
    s.is_valid(raise_exception=True)
    return dict(s.validated_data)


def paging(request: Request) -> dict[str, Any]:
    """``limit`` and ``offset`` of a list route whose other parameters its FilterSet reads."""
    s = Paging(data={k: v for k, v in request.query_params.dict().items() if k in StrictFilterSet.extra_params})
    s.is_valid(raise_exception=True)
    return dict(s.validated_data)


# --- manifest ------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/api/platform", "this route manifest"),
    ("POST", "/api/platform/submit", "submit a release (?dry_run=true validates only)"),
    ("GET", "/api/platform/status/{id}", "status by request_id, job_id, release_id or asset_id"),
    ("GET", "/api/platform/status", "one asset (?dataset_id&resource_id) or the list (limit, offset)"),
    ("POST", "/api/platform/approve", "approve a completed release (clearance ouo|public)"),
    ("POST", "/api/platform/reject", "reject a release pending review"),
    ("POST", "/api/platform/revoke", "revoke an approved release"),
    ("GET", "/api/platform/approvals", "releases by approval state (status, limit, offset)"),
    ("GET", "/api/platform/approvals/{id}", "one release's approval"),
    ("GET", "/api/platform/approvals/status", "approval of stac_item_ids / table_names"),
    ("POST", "/api/platform/unpublish", "delete a release's outputs (dry_run defaults to true)"),
    ("GET", "/api/platform/catalog/lookup", "latest approved release of dataset_id+resource_id[+version_id]"),
    ("GET", "/api/platform/catalog/asset/{asset_id}", "an asset and its approved releases"),
    ("GET", "/api/platform/catalog/item/{collection}/{item}", "the release serving a STAC item"),
    ("GET", "/api/platform/catalog/dataset/{dataset_id}", "approved resources of a dataset"),
    ("GET", "/api/platform/health", "platform health and queue backlog"),
    ("GET", "/api/platform/failures", "recent failures (hours, limit) with common patterns"),
]


class PlatformManifestApi(PlatformApi):
    cache_control = "private, no-cache"

    @extend_schema(operation_id="platform_manifest", responses={200: oa.ManifestSerializer, **oa.ddh_errors(400)})
    def get(self, request: Request) -> Response:
        routes = [{"method": m, "path": p, "description": d} for m, p, d in ROUTES]
        return Response({"success": True, "name": "GeoPlatform DDH platform API", "routes": routes})


class PlatformNotFoundApi(PlatformApi):
    """Unknown ``/api/platform/...`` paths: a 404 in the DDH envelope."""

    permission_classes: list[Any] = []
    schema = None  # not part of the documented API

    def _missing(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise drf_exceptions.NotFound(f"No platform route {request.path!r}; see GET /api/platform for the list.")

    get = post = put = patch = delete = _missing


# --- submit --------------------------------------------------------------------------------


class SubmitInput(StrictSerializer):
    dataset_id = serializers.RegexField(ID_REGEX, max_length=255)
    resource_id = serializers.RegexField(ID_REGEX, max_length=255)
    version_id = serializers.CharField(required=False, allow_blank=True, max_length=50, default="")
    previous_version_id = serializers.CharField(required=False, allow_blank=True, max_length=50, default="")
    container_name = serializers.CharField(required=False, max_length=63)
    file_name = serializers.JSONField(required=False)
    source_url = serializers.CharField(required=False, max_length=2000)
    h3_dataset = serializers.CharField(
        required=False,
        max_length=63,
        help_text="An H3 statistics dataset (slug or id, GET /api/h3/registry) to release as GeoParquet, "
        "instead of a file: data type h3_stats.",
    )
    title = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    access_level = serializers.CharField(required=False, default="OUO")
    operation = serializers.CharField(required=False, default="CREATE")
    processing_options = serializers.DictField(required=False, default=dict)
    callback_url = serializers.URLField(required=False, allow_blank=True, max_length=2000, default="")

    def validate_file_name(self, value: Any) -> Any:
        ok = (isinstance(value, str) and value) or (
            isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
        )
        if not ok:
            raise serializers.ValidationError("Must be a file name or a non-empty list of file names.")
        return value

    def validate_access_level(self, value: str) -> str:
        normalised = {"public": "public", "ouo": "OUO"}.get(value.lower())
        if normalised is None:
            raise serializers.ValidationError("Must be 'public' or 'OUO'.")
        return normalised

    def validate_operation(self, value: str) -> str:
        if value.upper() != "CREATE":
            raise serializers.ValidationError("Only 'CREATE' is supported (use /unpublish to delete).")
        return "CREATE"


class DryRunQuery(StrictSerializer):
    dry_run = serializers.BooleanField(required=False, default=False)
    verbose = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Add `preflight`: every check that ran, its result, timing and what it saw.",
    )


class SubmitApi(PlatformApi):
    permission_classes = [has_perm("publishing.submit_release")]
    allowed_query = frozenset({"dry_run", "verbose"})

    @extend_schema(
        operation_id="platform_submit",
        request=SubmitInput,
        responses={
            202: oa.SubmitAcceptedSerializer,
            200: OpenApiResponse(oa.SubmitDryRunSerializer, description="dry_run=true: valid, nothing written."),
            **oa.ddh_errors(400, 403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        flags = query(DryRunQuery, request)
        s = SubmitInput(data=request.data)
        s.is_valid(raise_exception=True)
        result = services.release_submit(data=dict(s.validated_data), user=request.user, dry_run=flags["dry_run"])
        verbose = {"preflight": result.preflight} if flags["verbose"] else {}
        if result.dry_run:
            return Response(
                {
                    "success": True,
                    "valid": True,
                    "dry_run": True,
                    "request_id": result.request_id,
                    "would_create_job_type": result.job_type,
                    "asset_id": result.asset_id,
                    "data_type": result.data_type,
                    "warnings": result.warnings,
                    **verbose,
                }
            )
        assert result.job is not None and result.release is not None
        body = {
            "success": True,
            "request_id": result.request_id,
            "job_id": result.job.id,
            "job_type": result.job_type,
            "release_id": result.release.id,
            "asset_id": result.asset_id,
            "monitor_url": f"/api/platform/status/{result.request_id}",
            "message": f"{result.data_type} release {result.release.version_ordinal} "
            f"(revision {result.release.revision}) accepted; processing.",
        }
        if result.warnings:
            body["warnings"] = result.warnings
        body.update(verbose)
        return Response(absolute(request, body), status=202)


# --- status --------------------------------------------------------------------------------


def _status_response(request: Request, release: Any) -> Response:
    body = absolute(request, selectors.release_status(release=release))
    if selectors.is_processing(release):
        return Response(body, status=202, headers={"Retry-After": "5"})
    return Response(body)


class StatusApi(PlatformApi):
    @extend_schema(operation_id="platform_status", responses=oa.STATUS_RESPONSES)
    def get(self, request: Request, ident: str) -> Response:
        return _status_response(request, selectors.release_find(ident=ident))


class StatusListQuery(Paging):
    dataset_id = serializers.CharField(required=False)
    resource_id = serializers.CharField(required=False)


class StatusListApi(PlatformApi):
    allowed_query = frozenset({"dataset_id", "resource_id", "limit", "offset"})

    @extend_schema(
        operation_id="platform_status_list",
        responses={
            200: OpenApiResponse(
                oa.STATUS_OR_LIST, description="The list; or, given dataset_id+resource_id, its status."
            ),
            202: oa.STATUS_RESPONSES[202],
            **oa.ddh_errors(400, 404),
        },
    )
    def get(self, request: Request) -> Response:
        q = query(StatusListQuery, request)
        if q.get("dataset_id") or q.get("resource_id"):
            if not (q.get("dataset_id") and q.get("resource_id")):
                raise InvalidInput("Give both dataset_id and resource_id, or neither.")
            return _status_response(
                request, selectors.release_identify(dataset_id=q["dataset_id"], resource_id=q["resource_id"])
            )
        rows, has_more = selectors.page(selectors.release_list(), limit=q["limit"], offset=q["offset"])
        return Response(
            {
                "success": True,
                "releases": [selectors.release_row(r) for r in rows],
                "limit": q["limit"],
                "offset": q["offset"],
                "has_more": has_more,
            }
        )


# --- review --------------------------------------------------------------------------------


class IdentifyInput(StrictSerializer):
    release_id = serializers.CharField(required=False, allow_blank=True, default="")
    asset_id = serializers.CharField(required=False, allow_blank=True, default="")
    job_id = serializers.CharField(required=False, allow_blank=True, default="")
    request_id = serializers.CharField(required=False, allow_blank=True, default="")
    dataset_id = serializers.CharField(required=False, allow_blank=True, default="")
    resource_id = serializers.CharField(required=False, allow_blank=True, default="")


def _identify(data: dict[str, Any], version_id: str = "") -> Any:
    keys = ("release_id", "asset_id", "job_id", "request_id", "dataset_id", "resource_id")
    return selectors.release_identify(**{k: data.get(k, "") for k in keys}, version_id=version_id)


class ApproveInput(IdentifyInput):
    reviewer = serializers.CharField(max_length=200)
    clearance_state = serializers.CharField()
    version_id = serializers.CharField(required=False, allow_blank=True, max_length=50, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    dry_run = serializers.BooleanField(required=False, default=False)

    def validate_clearance_state(self, value: str) -> str:
        if value.lower() not in {"ouo", "public"}:
            raise serializers.ValidationError("Must be 'ouo' or 'public'.")
        return value.lower()


class RejectInput(IdentifyInput):
    reviewer = serializers.CharField(max_length=200)
    reason = serializers.CharField()


def _review_body(release: Any, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "success": True,
        "message": message,
        "release_id": release.id,
        "asset_id": release.asset_id,
        "request_id": release.request_id,
        "approval_state": release.approval_state,
        "clearance_state": release.clearance_state,
        "version_id": release.version_id,
        "reviewer": release.reviewer,
        **extra,
    }


class ReviewApi(PlatformApi):
    permission_classes = [has_perm("publishing.review_release")]

    def target(self, data: dict[str, Any]) -> Any:
        release = _identify(data)
        if not services.review_allowed(user=self.request.user, release=release):
            raise ReviewForbidden(f"You may not review releases of platform {release.asset.platform.code!r}.")
        return release


class ApproveApi(ReviewApi):
    @extend_schema(operation_id="platform_approve", request=ApproveInput, responses=oa.REVIEW_RESPONSES)
    def post(self, request: Request) -> Response:
        s = ApproveInput(data=request.data)
        s.is_valid(raise_exception=True)
        d = s.validated_data
        release = services.release_approve(
            release_id=self.target(d).id,
            user=request.user,
            reviewer=d["reviewer"],
            clearance_state=d["clearance_state"],
            version_id=d["version_id"],
            notes=d["notes"],
            dry_run=d["dry_run"],
        )
        if d["dry_run"]:
            return Response(_review_body(release, "Approval would succeed (dry run).", dry_run=True))
        body = _review_body(release, "Release approved.", services=selectors.services_of(release))
        return Response(absolute(request, body))


class _ReasonedDecisionApi(ReviewApi):
    """Reject and revoke: a reviewer, a required reason, one service call."""

    decide: Any = None  # the service (a staticmethod on each subclass)
    done = ""

    def post(self, request: Request) -> Response:
        s = RejectInput(data=request.data)
        s.is_valid(raise_exception=True)
        d = s.validated_data
        release = self.decide(
            release_id=self.target(d).id, user=request.user, reviewer=d["reviewer"], reason=d["reason"]
        )
        return Response(_review_body(release, self.done, reason=d["reason"]))


@extend_schema_view(
    post=extend_schema(operation_id="platform_reject", request=RejectInput, responses=oa.REVIEW_RESPONSES)
)
class RejectApi(_ReasonedDecisionApi):
    decide = staticmethod(services.release_reject)
    done = "Release rejected."


@extend_schema_view(
    post=extend_schema(operation_id="platform_revoke", request=RejectInput, responses=oa.REVIEW_RESPONSES)
)
class RevokeApi(_ReasonedDecisionApi):
    decide = staticmethod(services.release_revoke)
    done = "Release revoked."


class ApprovalsListApi(FilteredListMixin, PlatformApi):
    filterset_class = ApprovalFilter
    allowed_query = ApprovalFilter.params()

    @extend_schema(
        operation_id="platform_approvals",
        parameters=[Paging],
        responses={200: oa.ApprovalsListSerializer, **oa.ddh_errors(400)},
    )
    def get(self, request: Request) -> Response:
        qs = self.filter_queryset(selectors.release_list())
        q = paging(request)
        rows, has_more = selectors.page(qs, limit=q["limit"], offset=q["offset"])
        return Response(
            {
                "success": True,
                "approvals": [selectors.release_row(r) for r in rows],
                "status": request.query_params.get("status") or None,
                "limit": q["limit"],
                "offset": q["offset"],
                "has_more": has_more,
            }
        )


class ApprovalDetailApi(PlatformApi):
    @extend_schema(
        operation_id="platform_approval", responses={200: oa.ApprovalDetailSerializer, **oa.ddh_errors(400, 404)}
    )
    def get(self, request: Request, ident: str) -> Response:
        release = selectors.release_find(ident=ident)
        body = {
            **selectors.release_row(release),
            "success": True,
            "reviewer": release.reviewer,
            "review_notes": release.review_notes,
            "services": selectors.services_of(release),
        }
        return Response(absolute(request, body))


class ApprovalsStatusQuery(StrictSerializer):
    stac_item_ids = serializers.CharField(required=False, allow_blank=True, default="")
    table_names = serializers.CharField(required=False, allow_blank=True, default="")


class ApprovalsStatusApi(PlatformApi):
    allowed_query = frozenset({"stac_item_ids", "table_names"})

    @extend_schema(
        operation_id="platform_approvals_status", responses={200: oa.ApprovalsStatusSerializer, **oa.ddh_errors(400)}
    )
    def get(self, request: Request) -> Response:
        q = query(ApprovalsStatusQuery, request)
        items = [i for i in q["stac_item_ids"].split(",") if i][:500]
        tables = [t for t in q["table_names"].split(",") if t][:500]
        if not items and not tables:
            raise InvalidInput("Give stac_item_ids and/or table_names (comma-separated).")
        return Response({"success": True, **selectors.approvals_status(stac_item_ids=items, table_names=tables)})


# --- unpublish -----------------------------------------------------------------------------


class UnpublishInput(IdentifyInput):
    version_id = serializers.CharField(required=False, allow_blank=True, max_length=50, default="")
    dry_run = serializers.BooleanField(required=False, default=True)
    force_approved = serializers.BooleanField(required=False, default=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class UnpublishApi(PlatformApi):
    permission_classes = [has_perm("publishing.submit_release")]

    @extend_schema(
        operation_id="platform_unpublish",
        request=UnpublishInput,
        responses={
            200: OpenApiResponse(oa.UnpublishResultSerializer, description="Dry run, or already unpublished."),
            202: OpenApiResponse(oa.UnpublishResultSerializer, description="The unpublish job started."),
            **oa.ddh_errors(400, 403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        s = UnpublishInput(data=request.data)
        s.is_valid(raise_exception=True)
        d = s.validated_data
        result = services.release_unpublish(
            release_id=_identify(d, d["version_id"]).id,
            user=request.user,
            dry_run=d["dry_run"],
            force_approved=d["force_approved"],
            reason=d["reason"],
        )
        body: dict[str, Any] = {
            "success": True,
            "dry_run": result.dry_run and result.job is None,
            "release_id": result.release.id,
            "request_id": result.release.request_id,
            "would_delete": result.would_delete,
        }
        if result.job is not None:
            body.update(
                job_id=result.job.id,
                job_type=result.job.job_type,
                job_status=result.job.status,
                monitor_url=f"/api/jobs/status/{result.job.id}",
                message="Unpublish started." if result.created else "Already unpublished (idempotent).",
            )
        return Response(absolute(request, body), status=202 if result.created else 200)


# --- catalogue -----------------------------------------------------------------------------


class CatalogApi(PlatformApi):
    cache_control = "private, max-age=60"


class LookupQuery(StrictSerializer):
    dataset_id = serializers.CharField()
    resource_id = serializers.CharField()
    version_id = serializers.CharField(required=False, allow_blank=True, default="")


class CatalogLookupApi(CatalogApi):
    allowed_query = frozenset({"dataset_id", "resource_id", "version_id"})

    @extend_schema(operation_id="platform_catalog_lookup", responses=oa.CATALOG_ENTRY_RESPONSES)
    def get(self, request: Request) -> Response:
        q = query(LookupQuery, request)
        entry = selectors.catalog_lookup(**q)
        return Response(absolute(request, {"success": True, **entry}))


class CatalogAssetApi(CatalogApi):
    @extend_schema(
        operation_id="platform_catalog_asset", responses={200: oa.CatalogAssetSerializer, **oa.ddh_errors(400, 404)}
    )
    def get(self, request: Request, asset_id: str) -> Response:
        return Response(absolute(request, {"success": True, **selectors.catalog_asset(asset_id=asset_id)}))


class CatalogItemApi(CatalogApi):
    @extend_schema(operation_id="platform_catalog_item", responses=oa.CATALOG_ENTRY_RESPONSES)
    def get(self, request: Request, collection_id: str, item_id: str) -> Response:
        entry = selectors.catalog_item(collection_id=collection_id, item_id=item_id)
        return Response(absolute(request, {"success": True, **entry}))


class CatalogDatasetApi(CatalogApi):
    @extend_schema(
        operation_id="platform_catalog_dataset", responses={200: oa.CatalogDatasetSerializer, **oa.ddh_errors(400, 404)}
    )
    def get(self, request: Request, dataset_id: str) -> Response:
        return Response(absolute(request, {"success": True, **selectors.catalog_dataset(dataset_id=dataset_id)}))


# --- operations ----------------------------------------------------------------------------


class PlatformHealthApi(PlatformApi):
    @extend_schema(
        operation_id="platform_health",
        responses={
            200: oa.PlatformHealthSerializer,
            503: OpenApiResponse(oa.PlatformHealthSerializer, description="The database is unavailable."),
            **oa.ddh_errors(400),
        },
    )
    def get(self, request: Request) -> Response:
        # Versions and error text only for operators; a client sees each component's status.
        healthy, components = health.run_checks(detail=request.user.has_perm("geoplatform.view_health"))
        failing = [name for name, info in components.items() if info["status"] != "ok"]
        status = "healthy" if healthy else ("unavailable" if "database" in failing else "degraded")
        body = {
            "success": status != "unavailable",
            "status": status,
            "failing": failing,
            "components": components,
            "queue_backlog": selectors.queue_backlog() if "database" not in failing else None,
        }
        return Response(body, status=503 if status == "unavailable" else 200)


class FailuresQuery(StrictSerializer):
    hours = serializers.IntegerField(required=False, default=24, min_value=1, max_value=24 * 30)
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=500)


class FailuresApi(PlatformApi):
    allowed_query = frozenset({"hours", "limit"})

    @extend_schema(operation_id="platform_failures", responses={200: oa.FailuresSerializer, **oa.ddh_errors(400)})
    def get(self, request: Request) -> Response:
        q = query(FailuresQuery, request)
        return Response({"success": True, **selectors.failures(hours=q["hours"], limit=q["limit"])})
