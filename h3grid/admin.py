"""The statistics registry in the admin: what each dataset holds and where it came from;
deleting one drops its table too (through the service)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import stats
from .models import StatDataset


@admin.register(StatDataset)
class StatDatasetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("slug", "title", "source_kind", "source_ref", "resolutions", "units", "computed_at")
    list_filter = ("source_kind",)
    search_fields = ("slug", "title", "source_ref")
    # Rows are written by the aggregation jobs: the admin may retitle, not change the data's description.
    readonly_fields = (
        "source_kind",
        "source_ref",
        "resolutions",
        "columns",
        "storage",
        "provenance",
        "job_id",
        "computed_at",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: StatDataset) -> None:
        stats.stat_dataset_delete(dataset=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in list(queryset):
            stats.stat_dataset_delete(dataset=obj)
