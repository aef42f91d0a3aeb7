"""Jobs and uploads over HTTP. Thin: permission, parse, one service/selector, serialise."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from geoplatform.api import FilteredListMixin, StrictSerializer, error_responses
from geoplatform.permissions import Authenticated, has_perm

from . import registry, selectors, services, uploads
from .filters import JobFilter
from .models import Job, JobStatus


class JobSubmitInput(StrictSerializer):
    parameters = serializers.DictField(required=False, default=dict, help_text="Job parameters (see /api/jobs/types).")
    callback_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=2000)
    force = serializers.BooleanField(required=False, default=False, help_text="Re-run even if completed.")
    verbose = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Answer with `preflight`: every check that ran, with ok, level, took_ms, what it saw "
        "(size, format, layers, CRS, bands, dimensions) and its problems. Kept on the job either way.",
    )


class JobSubmitOutput(serializers.Serializer):  # type: ignore[type-arg]
    job_id = serializers.CharField()
    job_type = serializers.CharField()
    status = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["created", "existing", "in_progress", "restarted"])
    joined = serializers.BooleanField(
        help_text="This client joined a job another client had submitted (same type and parameters): it may "
        "read the job from now on, and its own callback_url is called."
    )
    status_url = serializers.CharField()
    result = serializers.JSONField(allow_null=True)
    preflight = serializers.JSONField(required=False, help_text="With verbose=true: every pre-flight check.")


class StageProgress(serializers.Serializer):  # type: ignore[type-arg]
    index = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    tasks_total = serializers.IntegerField()
    tasks = serializers.DictField(child=serializers.IntegerField())
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class Progress(serializers.Serializer):  # type: ignore[type-arg]
    stage = serializers.CharField(allow_null=True)
    stage_index = serializers.IntegerField()
    stage_count = serializers.IntegerField()
    tasks_total = serializers.IntegerField()
    tasks_done = serializers.IntegerField()
    percent_complete = serializers.FloatField()
    stages = StageProgress(many=True)


class JobStatusOutput(serializers.Serializer):  # type: ignore[type-arg]
    job_id = serializers.CharField()
    job_type = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    parameters = serializers.JSONField()
    progress = Progress()
    result = serializers.JSONField(allow_null=True)
    error = serializers.JSONField(allow_null=True)
    error_history = serializers.JSONField()
    warnings = serializers.JSONField()
    runs = serializers.IntegerField()
    request_id = serializers.CharField(help_text="X-Request-Id of the request that (re)started the job.")
    preflight = serializers.JSONField(allow_null=True, help_text="The pre-flight report of that submission.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class JobListItem(serializers.ModelSerializer):  # type: ignore[type-arg]
    job_id = serializers.CharField(source="id")

    class Meta:
        model = Job
        fields = ["job_id", "job_type", "status", "stage_index", "stage_count", "runs", "created_at", "finished_at"]


class JobListOutput(serializers.Serializer):  # type: ignore[type-arg]
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    has_more = serializers.BooleanField()
    results = JobListItem(many=True)


class JobEventOutput(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.CharField()
    message = serializers.CharField()
    task_id = serializers.CharField(allow_null=True)
    data = serializers.JSONField()  # type: ignore[assignment]  # the event's "data" field, not Serializer.data
    created_at = serializers.DateTimeField()


_VISIBILITY = (
    "A client sees the jobs it submitted or joined (404 for another client's, as for a missing one); "
    "accounts with ingest.view_all_jobs (operators) see all."
)


def _status_url(request: Request, job_id: str) -> str:
    return request.build_absolute_uri(f"/api/jobs/status/{job_id}")


class JobTypesApi(APIView):
    permission_classes = [Authenticated]

    @extend_schema(
        operation_id="jobs_types",
        responses={
            200: OpenApiResponse(
                description=(
                    "Job types by name: description, parameter schema (types, defaults, limits), stages, and "
                    "whether POST /api/jobs/submit accepts it (`api_submit`; else `started_by` names the route "
                    "that starts it) with which permission. `publishes` (null for types that never do): some "
                    "parameters of this type make data public at once, without a review; the generic API takes "
                    "those only from accounts holding `permission`, others pass `preview_parameters` (loaded "
                    "hidden, for preview only) or submit through `review_route`. `replaces_existing` (null for "
                    "types that never do): some parameters replace or delete existing data, which only the "
                    "account whose job made it, or an operator holding `override_permission`, may do here."
                )
            ),
            **error_responses(401),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                name: {
                    "description": jt.description,
                    "parameters": jt.params_schema(),
                    "stages": [s.name for s in jt.stages],
                    "api_submit": jt.api_submit,
                    "submit_permission": jt.submit_permission if jt.api_submit else None,
                    "started_by": jt.started_by or None,
                    "publishes": (
                        {
                            "permission": registry.PUBLISH_WITHOUT_REVIEW_PERMISSION,
                            "preview_parameters": dict(jt.preview_params or {}),
                            "review_route": registry.review_route() or None,
                        }
                        if jt.publishes is not None
                        else None
                    ),
                    "replaces_existing": (
                        {
                            "rule": (
                                "An existing output is replaced or deleted only by an account that submitted or "
                                "joined the job that made it; data a release serves only through /api/platform/*."
                            ),
                            "override_permission": registry.OVERRIDE_GUARDS_PERMISSION,
                        }
                        if jt.replaces is not None
                        else None
                    ),
                }
                for name, jt in sorted(registry.all_types().items())
            }
        )


class JobSubmitApi(APIView):
    permission_classes = [has_perm("ingest.submit_job")]

    @extend_schema(
        operation_id="jobs_submit",
        request=JobSubmitInput,
        responses={200: JobSubmitOutput, 202: JobSubmitOutput, **error_responses(400, 401, 403)},
        description=(
            "Submit a job. The job id is SHA-256 of the type and parameters: resubmitting returns the "
            "completed job (200), the running one (202), or re-runs a failed one (202). `force` re-runs a "
            "completed job. Unknown job type -> 400 listing the valid ones; pre-flight failures -> 400 with "
            "each problem. 403 when the job type is not submittable here (`started_by` in /api/jobs/types "
            "names the route that starts it), when the account lacks the type's `submit_permission`, or when "
            "the job would replace or delete protected data (e.g. a release's: use /api/platform/*) or data that "
            "a job of another account made (`replaces_existing` in /api/jobs/types), or when it "
            "would make data public without a review (`publishes` in /api/jobs/types: pass its "
            "`preview_parameters`, e.g. publish=false, or submit through POST /api/platform/submit; operators "
            "hold ingest.publish_without_review). "
            "The same job submitted by a second client is joined (`joined: true`): that client may read it "
            "from then on and its own callback_url is called, signed with its own webhook secret."
        ),
    )
    def post(self, request: Request, job_type: str) -> Response:
        data = JobSubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        options = dict(data.validated_data)
        verbose = options.pop("verbose")
        outcome = services.job_submit(job_type=job_type, user=request.user, gate=True, **options)
        job = outcome.job
        body = {
            "job_id": job.id,
            "job_type": job.job_type,
            "status": job.status,
            "outcome": outcome.outcome,
            "joined": outcome.joined,
            "status_url": _status_url(request, job.id),
            "result": job.result,
        }
        if verbose:  # a returned existing job: the report of the submission that created it
            body["preflight"] = outcome.preflight or job.preflight or []
        return Response(body, status=200 if outcome.outcome == "existing" else 202)


class JobStatusApi(APIView):
    permission_classes = [Authenticated]

    @extend_schema(
        operation_id="jobs_status",
        responses={200: JobStatusOutput, **error_responses(401, 404)},
        description=_VISIBILITY,
    )
    def get(self, request: Request, job_id: str) -> Response:
        return Response(JobStatusOutput(selectors.job_status(job_id=job_id, user=request.user)).data)


class JobListPaging(serializers.Serializer):  # type: ignore[type-arg]
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    offset = serializers.IntegerField(required=False, min_value=0, default=0)


class JobListApi(FilteredListMixin, APIView):
    permission_classes = [Authenticated]
    filterset_class = JobFilter

    @extend_schema(
        operation_id="jobs_list",
        description=_VISIBILITY,
        parameters=[JobListPaging],
        responses={200: JobListOutput, **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        qs = self.filter_queryset(selectors.job_list(user=request.user))
        paging = JobListPaging(data=request.query_params.dict())
        paging.is_valid(raise_exception=True)
        limit, offset = paging.validated_data["limit"], paging.validated_data["offset"]
        total = qs.count()
        return Response(
            {
                "count": total,
                "limit": limit,
                "offset": offset,
                "has_more": offset + limit < total,
                "results": JobListItem(qs[offset : offset + limit], many=True).data,
            }
        )


class JobEventsApi(APIView):
    permission_classes = [Authenticated]

    @extend_schema(
        operation_id="jobs_events",
        responses={200: JobEventOutput(many=True), **error_responses(401, 404)},
        description=_VISIBILITY + " Callback events are shown to the client they were sent to.",
    )
    def get(self, request: Request, job_id: str) -> Response:
        return Response(JobEventOutput(selectors.job_events(job_id=job_id, user=request.user), many=True).data)


class JobRetryApi(APIView):
    permission_classes = [has_perm("ingest.operate_job")]

    @extend_schema(
        operation_id="jobs_retry",
        request=None,
        responses={202: JobSubmitOutput, **error_responses(401, 403, 404, 409)},
        description="Needs ingest.operate_job. A retry that would replace or delete protected data (a "
        "release's, or another account's) or publish without a review is a 403, as its submission would be. "
        + _VISIBILITY,
    )
    def post(self, request: Request, job_id: str) -> Response:
        selectors.job_get(job_id=job_id, user=request.user)  # another client's job: 404
        job = services.job_retry(job_id=job_id, user=request.user, gate=True)
        return Response(
            {
                "job_id": job.id,
                "job_type": job.job_type,
                "status": job.status,
                "outcome": "restarted",
                "joined": False,
                "status_url": _status_url(request, job.id),
                "result": None,
            },
            status=202,
        )


class JobCancelApi(APIView):
    permission_classes = [has_perm("ingest.operate_job")]

    @extend_schema(
        operation_id="jobs_cancel",
        description="Needs ingest.operate_job. " + _VISIBILITY,
        request=None,
        responses={200: JobStatusOutput, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, job_id: str) -> Response:
        selectors.job_get(job_id=job_id, user=request.user)  # another client's job: 404
        job = services.job_cancel(job_id=job_id, user=request.user)
        return Response(JobStatusOutput(selectors.job_status_of(job)).data)


class UploadOutput(serializers.Serializer):  # type: ignore[type-arg]
    container = serializers.CharField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class StorageUploadApi(APIView):
    permission_classes = [has_perm("ingest.upload_file")]
    parser_classes = [MultiPartParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # who asks, and may they upload: first
        uploads.check_upload_length(request._request)

    @extend_schema(
        operation_id="storage_upload",
        parameters=[
            OpenApiParameter(
                "overwrite",
                bool,
                description="Replace an existing file of that name (default false: 409 blob_exists). "
                "Also accepted as a form field.",
            )
        ],
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "name": {"type": "string", "description": "Target name (default: the uploaded file's name)."},
                    "overwrite": {"type": "boolean", "default": False, "description": "Replace an existing file."},
                },
                "required": ["file"],
            }
        },
        responses={201: UploadOutput, **error_responses(400, 401, 403, 404, 409, 411, 413)},
        description=f"Store a raw file in a bronze container. Size limit: GEOPLATFORM_UPLOAD_MAX_BYTES "
        f"(default {settings.GEOPLATFORM_UPLOAD_MAX_BYTES} bytes). An existing file is replaced only with "
        "overwrite=true (else 409 blob_exists), and never while a queued/running job or a release (approved, "
        "or awaiting review) reads it (409 blob_in_use naming them).",
    )
    def post(self, request: Request, container: str) -> Response:
        stored = uploads.upload_store(
            container=container,
            upload=request.FILES.get("file"),
            name=request.POST.get("name") or None,
            overwrite=uploads.overwrite_asked(request.query_params.get("overwrite"), request.POST.get("overwrite")),
        )
        return Response(UploadOutput(stored).data, status=201)
