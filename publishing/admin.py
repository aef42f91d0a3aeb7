"""Review in the Django admin: the pending queue, release pages, approve / reject / revoke.

Every decision goes through :mod:`publishing.services` (the same functions as the API),
behind a confirmation form. Reviewers see only platforms they may review (guardian
object permission ``review_platform`` on a Platform, or the global permission).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from guardian.shortcuts import get_objects_for_user

from geoplatform.admin import ReadOnlyAdmin
from geoplatform.errors import ApplicationError

from . import kinds, selectors, services
from .forms import ApproveForm, ReasonForm
from .models import ApprovalState, Asset, PendingRelease, Platform, ProcessingStatus, Release, ReleaseAudit


def _pretty(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, default=str))


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1d", "Less than a day"), ("7d", "1 to 7 days"), ("old", "Older than 7 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "1d":
            return queryset.filter(created_at__gte=now - dt.timedelta(days=1))
        if self.value() == "7d":
            return queryset.filter(
                created_at__lt=now - dt.timedelta(days=1), created_at__gte=now - dt.timedelta(days=7)
            )
        if self.value() == "old":
            return queryset.filter(created_at__lt=now - dt.timedelta(days=7))
        return queryset


class AuditInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ReleaseAudit
    verbose_name_plural = "Audit history"
    extra = 0
    can_delete = False
    fields = ["created_at", "event", "actor", "reason"]
    readonly_fields = ["created_at", "event", "actor", "reason"]
    ordering = ["created_at", "id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "dataset",
        "version_ordinal",
        "revision",
        "data_type",
        "processing",
        "approval_state",
        "clearance_state",
        "version_id",
        "created_at",
    ]
    list_filter = ["approval_state", "data_type", "asset__platform", "clearance_state", AgeFilter]
    search_fields = ["id", "asset__dataset_id", "asset__resource_id", "request_id", "job__id", "title"]
    actions = ["approve_selected", "reject_selected", "revoke_selected"]
    inlines = [AuditInline]
    fieldsets = [
        (
            "Release",
            {
                "fields": [
                    "id",
                    "dataset",
                    "version_ordinal",
                    "revision",
                    "suggested_version_id",
                    "version_id",
                    "data_type",
                    "processing",
                    "approval_state",
                    "clearance_state",
                    "submitted_by",
                ]
            },
        ),
        ("Metadata", {"fields": ["title", "description", "tags", "access_level", "request_pretty"]}),
        ("Outputs", {"fields": ["preview", "outputs_pretty", "job_link", "job_warnings", "job_error"]}),
        ("Review", {"fields": ["reviewer", "reviewed_by", "reviewed_at", "review_notes", "external"]}),
    ]
    readonly_fields = [
        "id", "dataset", "version_ordinal", "revision", "suggested_version_id", "version_id", "data_type",
        "processing", "approval_state", "clearance_state", "submitted_by", "title", "description", "tags",
        "access_level", "request_pretty", "preview", "outputs_pretty", "job_link", "job_warnings", "job_error",
        "reviewer", "reviewed_by", "reviewed_at", "review_notes", "external",
    ]  # fmt: skip
    change_form_template = "admin/publishing/release/change_form.html"

    # -- visibility and rights ------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Release]:
        qs = super().get_queryset(request).select_related("asset__platform", "job")
        user = request.user
        if user.is_superuser:
            return qs
        platforms = get_objects_for_user(user, "publishing.review_platform", klass=Platform, accept_global_perms=True)
        return qs.filter(asset__platform__in=platforms)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # fields are never edited; decisions go through the review views

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("publishing.review_release"))

    # -- columns --------------------------------------------------------------------------

    @admin.display(description="dataset / resource")
    def dataset(self, obj: Release) -> str:
        return f"{obj.asset.dataset_id} / {obj.asset.resource_id} ({obj.asset.platform.code})"

    @admin.display(description="processing")
    def processing(self, obj: Release) -> str:
        return obj.processing_status

    @admin.display(description="submitted request")
    def request_pretty(self, obj: Release) -> str:
        return _pretty(obj.request)

    @admin.display(description="outputs (job result)")
    def outputs_pretty(self, obj: Release) -> str:
        return _pretty(obj.outputs)

    @admin.display(description="preview")
    def preview(self, obj: Release) -> str:
        # Where the kind serves it (its ``services``, as DDH sees them once approved): reviewers
        # open it before approving (the preview of unapproved data is theirs).
        if obj.processing_status != ProcessingStatus.COMPLETED:
            return "-"
        url = (kinds.kind_of(obj).services(obj) or {}).get("preview")
        if not url:
            return "-"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description="job")
    def job_link(self, obj: Release) -> str:
        if obj.job_id is None:
            return "-"
        url = reverse("admin:ingest_job_change", args=[obj.job_id])
        return format_html('<a href="{}">{}</a> ({})', url, obj.job_id[:12], obj.job.status if obj.job else "?")

    @admin.display(description="warnings")
    def job_warnings(self, obj: Release) -> str:
        return _pretty(obj.job.warnings if obj.job else [])

    @admin.display(description="error")
    def job_error(self, obj: Release) -> str:
        return _pretty(obj.job.error) if obj.job and obj.job.error else "-"

    # -- review views -----------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        extra = [
            path(
                "review/<str:transition>/",
                self.admin_site.admin_view(self.review_view),
                name="%s_%s_review" % info,  # noqa: UP031
            ),
        ]
        return extra + super().get_urls()

    def _review_url(self, transition: str, ids: list[str]) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse("admin:%s_%s_review" % info, args=[transition]) + "?ids=" + ",".join(ids)  # noqa: UP031

    def review_view(self, request: HttpRequest, transition: str) -> HttpResponse:
        """Confirmation page (GET) and decision (POST) for one or more releases."""
        if transition not in {"approve", "reject", "revoke"} or not self.has_review_permission(request):
            messages.error(request, "You may not review releases.")
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        ids = [i for i in (request.GET.get("ids") or request.POST.get("ids") or "").split(",") if i]
        releases = list(self.get_queryset(request).filter(pk__in=ids))
        form_class = ApproveForm if transition == "approve" else ReasonForm
        initial = {}
        if transition == "approve" and len(releases) == 1:  # the submitter's access_level as a hint
            initial["clearance_state"] = "public" if releases[0].access_level == "public" else "ouo"
        form = form_class(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid() and releases:
            self._apply(request, transition, releases, form.cleaned_data)
            if len(releases) == 1:  # the release page (it may have left the pending queue)
                return HttpResponseRedirect(reverse("admin:publishing_release_change", args=[releases[0].pk]))
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{transition.capitalize()} {len(releases)} release(s)",
            "transition": transition,
            "releases": releases,
            "ids": ",".join(r.pk for r in releases),
            "form": form,
            "single": len(releases) == 1,
        }
        return render(request, "admin/publishing/release/review.html", context)

    def _apply(self, request: HttpRequest, transition: str, releases: list[Release], data: dict[str, Any]) -> None:
        done = 0
        for release in releases:
            try:
                if transition == "approve":
                    services.release_approve(
                        release_id=release.pk,
                        user=request.user,
                        clearance_state=data["clearance_state"],
                        version_id=data.get("version_id", "") if len(releases) == 1 else "",
                        notes=data.get("notes", ""),
                    )
                elif transition == "reject":
                    services.release_reject(release_id=release.pk, user=request.user, reason=data["reason"])
                else:
                    services.release_revoke(release_id=release.pk, user=request.user, reason=data["reason"])
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{release}: {exc.message}", messages.ERROR)
        if done:
            past = {"approve": "Approved", "reject": "Rejected", "revoke": "Revoked"}[transition]
            self.message_user(request, f"{past} {done} release(s).", messages.SUCCESS)

    def _redirect_action(self, transition: str, queryset: QuerySet[Release]) -> HttpResponseRedirect:
        return HttpResponseRedirect(self._review_url(transition, [r.pk for r in queryset]))

    @admin.action(description="Approve selected releases…", permissions=["review"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Release]) -> HttpResponseRedirect:
        return self._redirect_action("approve", queryset)

    @admin.action(description="Reject selected releases…", permissions=["review"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Release]) -> HttpResponseRedirect:
        return self._redirect_action("reject", queryset)

    @admin.action(description="Revoke selected releases…", permissions=["review"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Release]) -> HttpResponseRedirect:
        return self._redirect_action("revoke", queryset)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        can_review = obj is not None and services.review_allowed(user=request.user, release=obj)
        extra = {
            **(extra_context or {}),
            "can_approve": can_review
            and obj is not None
            and obj.approval_state == ApprovalState.PENDING_REVIEW
            and obj.processing_status == "completed",
            "can_reject": can_review and obj is not None and obj.approval_state == ApprovalState.PENDING_REVIEW,
            "can_revoke": can_review and obj is not None and obj.approval_state == ApprovalState.APPROVED,
            "approve_url": self._review_url("approve", [object_id]),
            "reject_url": self._review_url("reject", [object_id]),
            "revoke_url": self._review_url("revoke", [object_id]),
        }
        return super().change_view(request, object_id, form_url, extra)


@admin.register(PendingRelease)
class PendingReleaseAdmin(ReleaseAdmin):
    list_filter = ["data_type", "asset__platform", AgeFilter]
    actions = ["approve_selected", "reject_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Release]:
        pending = selectors.pending_review().filter(job__status="completed").values("pk")
        return super().get_queryset(request).filter(pk__in=pending)


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "dataset_id", "resource_id", "platform", "created_at"]
    list_filter = ["platform"]
    search_fields = ["id", "dataset_id", "resource_id"]
    readonly_fields = ["id", "platform", "dataset_id", "resource_id", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["code", "name", "active", "created_at"]


@admin.register(ReleaseAudit)
class ReleaseAuditAdmin(ReadOnlyAdmin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the audit log is append-only (the database refuses UPDATE/DELETE too)."""

    list_display = ["created_at", "release", "event", "actor", "reason"]
    list_filter = ["event"]
    search_fields = ["release__id", "actor", "reason"]
    readonly_fields = ["release", "event", "actor", "actor_user", "reason", "snapshot", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReleaseAudit]:
        qs = super().get_queryset(request).select_related("release")
        if request.user.is_superuser:
            return qs
        platforms = get_objects_for_user(
            request.user, "publishing.review_platform", klass=Platform, accept_global_perms=True
        )
        return qs.filter(release__asset__platform__in=platforms)
