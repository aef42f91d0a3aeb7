"""Jobs in the Django admin: filters, search by id, progress, errors, retry/cancel actions.

Actions call the same services as the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from geoplatform.errors import ApplicationError

from . import selectors, services
from .models import CallbackDelivery, Job, JobEvent, JobSubscriber, Task, WorkerHeartbeat


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class JobEventInline(ReadOnlyInline):
    model = JobEvent
    fields = ["created_at", "kind", "message"]
    readonly_fields = ["created_at", "kind", "message"]


class SubscriberInline(ReadOnlyInline):
    model = JobSubscriber
    verbose_name = "client (submitter or joined)"
    verbose_name_plural = "clients (the submitter and those that joined)"
    fields = ["user", "joined", "callback_url", "created_at"]
    readonly_fields = ["user", "joined", "callback_url", "created_at"]


class CallbackInline(ReadOnlyInline):
    model = CallbackDelivery
    fields = ["created_at", "event", "url", "attempt", "status_code", "ok", "error"]
    readonly_fields = ["created_at", "event", "url", "attempt", "status_code", "ok", "error"]


def _run_action(request: HttpRequest, queryset: QuerySet[Job], action: Any, verb: str, modeladmin: Any) -> None:
    done = 0
    for job in queryset:
        try:
            action(job_id=job.id, user=request.user)
            done += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{job.id[:12]}: {exc.message}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["short_id", "job_type", "status", "progress", "submitted_by", "runs", "created_at", "finished_at"]
    list_filter = ["status", "job_type", "created_at"]
    list_select_related = ["submitted_by"]
    search_fields = ["id", "job_type", "submitted_by__username"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "job_type",
        "status",
        "parameters",
        "progress_detail",
        "result",
        "error",
        "error_history",
        "warnings",
        "runs",
        "callback_url",
        "submitted_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    exclude = ["stage_index", "stage_count"]
    inlines = [SubscriberInline, JobEventInline, CallbackInline]
    actions = ["retry_jobs", "cancel_jobs"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="job id")
    def short_id(self, obj: Job) -> str:
        return obj.id[:12]

    @admin.display(description="progress")
    def progress(self, obj: Job) -> str:
        return f"{obj.stage_index + 1}/{obj.stage_count} stages" if obj.stage_count else "-"

    @admin.display(description="progress")
    def progress_detail(self, obj: Job) -> str:
        p = selectors.job_progress(job=obj)
        return format_html(
            "{}% — stage {} ({}/{} tasks done)", p["percent_complete"], p["stage"], p["tasks_done"], p["tasks_total"]
        )

    def _operate(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("ingest.operate_job"))

    @admin.action(description="Retry selected failed/cancelled jobs")
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        if not self._operate(request):
            self.message_user(request, "You lack the permission to retry jobs.", messages.ERROR)
            return
        _run_action(request, queryset, services.job_retry, "Restarted", self)

    @admin.action(description="Cancel selected queued/running jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        if not self._operate(request):
            self.message_user(request, "You lack the permission to cancel jobs.", messages.ERROR)
            return
        _run_action(request, queryset, services.job_cancel, "Cancelled", self)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["short_id", "job_id", "stage", "unit", "status", "attempts", "worker", "heartbeat_at"]
    list_filter = ["status", "queue", "job__job_type"]
    search_fields = ["id", "job__id"]
    readonly_fields = [f.name for f in Task._meta.fields]
    list_select_related = ["stage"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="task id")
    def short_id(self, obj: Task) -> str:
        return obj.id[:12]


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "job_id", "event", "url", "attempt", "status_code", "ok"]
    list_filter = ["ok", "event"]
    search_fields = ["job__id", "delivery_id", "url"]
    readonly_fields = [f.name for f in CallbackDelivery._meta.fields]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["worker_id", "queues", "started_at", "last_seen"]
    readonly_fields = [f.name for f in WorkerHeartbeat._meta.fields]
