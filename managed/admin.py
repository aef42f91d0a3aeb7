"""Admin pages for managed sources and their versions; every change and action calls
:mod:`managed.services` (the same services as the API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from geoplatform.errors import ApplicationError

from . import selectors, services
from .models import ManagedSource, SourceVersion, VersionStatus

MANAGE = "managed.manage_source"


_INLINE_FIELDS = ["number", "label", "status", "stage", "counts", "error", "fetched_at", "published_at"]


class SourceVersionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = SourceVersion
    fields = _INLINE_FIELDS  # type: ignore[assignment]
    readonly_fields = _INLINE_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-number"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _each(
    model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    items: QuerySet[Any],
    action: Callable[[Any], str],
) -> None:
    """Run ``action`` per selected row; each outcome (or error) becomes a message."""
    for item in items:
        try:
            model_admin.message_user(request, f"{item}: {action(item)}", messages.SUCCESS)
        except ApplicationError as exc:
            model_admin.message_user(request, f"{item}: {exc.message}", messages.ERROR)


class ManagedSourceForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ManagedSource
        fields = ["name", *services.EDITABLE]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        editing = self.instance if self.instance.pk else None
        try:
            services.source_validate(
                data={k: v for k, v in data.items() if k != "name" or editing is None}, source=editing
            )
        except ApplicationError as exc:
            field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
            field = field if field in self.fields else None
            self.add_error(field, exc.message)
        return data


@admin.register(ManagedSource)
class ManagedSourceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ManagedSourceForm
    list_display = [
        "name",
        "handler",
        "collection_id",
        "enabled",
        "schedule",
        "review_policy",
        "last_checked_at",
        "last_success_at",
        "next_run_at",
        "stale",
    ]
    list_filter = ["enabled", "handler", "target_kind", "review_policy"]
    search_fields = ["name", "title", "collection_id", "location"]
    readonly_fields = ["next_run_at", "last_checked_at", "last_success_at", "last_error", "created_by", "created_at"]
    inlines = [SourceVersionInline]
    actions = ["update_now", "update_force", "enable", "disable", "rollback"]

    @admin.display(boolean=True, description="stale")
    def stale(self, obj: ManagedSource) -> bool:
        return bool(selectors.freshness(obj)["stale"])

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(MANAGE))

    def save_model(self, request: HttpRequest, obj: ManagedSource, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        data = {name: form.cleaned_data[name] for name in services.EDITABLE if name in form.cleaned_data}
        try:
            if change:
                services.source_update(source=selectors.source_get(name=obj.name), data=data, user=request.user)
            else:
                created = services.source_create(data={**data, "name": obj.name}, user=request.user)
                obj.pk = created.pk
        except ApplicationError as exc:
            # The admin form has no way back after save_model: say why and keep what was there.
            self.message_user(request, exc.message, messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: ManagedSource) -> None:
        try:
            services.source_delete(source=obj, user=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ManagedSource]) -> None:
        _each(self, request, queryset, lambda s: str(services.source_delete(source=s, user=request.user)))

    @admin.action(description="Check for an update now", permissions=["manage"])
    def update_now(self, request: HttpRequest, queryset: QuerySet[ManagedSource]) -> None:
        _each(self, request, queryset, lambda s: _trigger(s, False, request))

    @admin.action(description="Update now, even if unchanged (force)", permissions=["manage"])
    def update_force(self, request: HttpRequest, queryset: QuerySet[ManagedSource]) -> None:
        _each(self, request, queryset, lambda s: _trigger(s, True, request))

    @admin.action(description="Enable", permissions=["manage"])
    def enable(self, request: HttpRequest, queryset: QuerySet[ManagedSource]) -> None:
        _each(self, request, queryset, lambda s: (services.source_enable(source=s, user=request.user), "enabled")[1])

    @admin.action(description="Disable", permissions=["manage"])
    def disable(self, request: HttpRequest, queryset: QuerySet[ManagedSource]) -> None:
        _each(self, request, queryset, lambda s: (services.source_disable(source=s, user=request.user), "disabled")[1])

    @admin.action(description="Roll back to the previous good version", permissions=["manage"])
    def rollback(self, request: HttpRequest, queryset: QuerySet[ManagedSource]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda s: f"version {services.version_rollback(source=s, user=request.user).number} is live again",
        )


def _trigger(source: ManagedSource, force: bool, request: HttpRequest) -> str:
    outcome = services.update_trigger(source=source, force=force, user=request.user)
    if outcome.outcome == "submitted" and outcome.version is not None:
        return f"version {outcome.version.number} submitted (job {outcome.job_id[:12]}…)"
    return f"{outcome.outcome}: {outcome.reason}"


@admin.register(SourceVersion)
class SourceVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["source", "number", "label", "status", "stage", "fetched_at", "published_at"]
    list_filter = ["status", "source"]
    search_fields = ["source__name", "label", "sha256"]
    readonly_fields = [f.name for f in SourceVersion._meta.fields]
    actions = ["approve", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:  # versions come from updates only
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("managed.view_sourceversion") or request.user.has_perm(MANAGE))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(MANAGE))

    @admin.action(description="Approve held versions (swap them live)", permissions=["manage"])
    def approve(self, request: HttpRequest, queryset: QuerySet[SourceVersion]) -> None:
        held = queryset.filter(status=VersionStatus.HELD).order_by("number")
        _each(self, request, held, lambda v: f"now {services.version_approve(version=v, user=request.user).status}")

    @admin.action(description="Reject held versions (remove their data)", permissions=["manage"])
    def reject(self, request: HttpRequest, queryset: QuerySet[SourceVersion]) -> None:
        held = queryset.filter(status=VersionStatus.HELD)
        _each(self, request, held, lambda v: f"now {services.version_reject(version=v, user=request.user).status}")
