"""The core's admin: the diagnostics operator page and the maintenance log (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import diagnostics
from .models import MaintenanceRecord

# What the operator page shows, in order (each runs with its default parameters).
PAGE_SECTIONS = ("versions", "jobs", "queues", "workers", "database", "storage", "catalog", "deliveries")


class ReadOnlyAdmin:
    """For audit logs and histories that only the platform writes: the admin shows them and
    nobody adds, changes or deletes a row there (put it before ``admin.ModelAdmin``)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MaintenanceRecord)
class MaintenanceRecordAdmin(ReadOnlyAdmin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The audit log of maintenance actions: written by the diagnostics API only."""

    list_display = ("created_at", "action", "dry_run", "ok", "username")
    list_filter = ("action", "dry_run", "ok")
    readonly_fields = ("action", "params", "dry_run", "ok", "result", "user", "username", "request_id", "created_at")


def diagnostics_page(request: HttpRequest) -> HttpResponse:
    """``/admin/diagnostics/``: every section with small charts (staff with
    ``geoplatform.view_diagnostics``). The page reads the sections once, server side."""
    if not request.user.has_perm("geoplatform.view_diagnostics"):
        raise PermissionDenied("Your account lacks the permission 'geoplatform.view_diagnostics'.")
    data: dict[str, Any] = {}
    for section in PAGE_SECTIONS:
        try:
            data[section] = diagnostics.section_run(section, {})
        except Exception as exc:  # a section the apps did not register: shown as missing
            data[section] = {"error": str(exc)}
    context = {
        **admin.site.each_context(request),
        "title": "Diagnostics",
        "sections": PAGE_SECTIONS,
        "data": data,
    }
    return render(request, "admin/geoplatform/diagnostics.html", context)
