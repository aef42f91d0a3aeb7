"""Read-only admin of the rows climate jobs make (changes go through the job types)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ClimateDataset


@admin.register(ClimateDataset)
class ClimateDatasetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("collection_id", "item_id", "published", "source_container", "job_id", "updated_at")
    list_filter = ("published", "collection_id")
    search_fields = ("collection_id", "item_id", "job_id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
