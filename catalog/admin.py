"""The STAC transactions log in the admin: read-only (the database refuses changes anyway)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from geoplatform.admin import ReadOnlyAdmin

from .models import StacTransaction


@admin.register(StacTransaction)
class StacTransactionAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "kind", "collection_id", "item_id")
    list_filter = ("action", "kind")
    search_fields = ("collection_id", "item_id", "actor")
    date_hierarchy = "created_at"
    fields = ("created_at", "actor", "action", "kind", "collection_id", "item_id", "before_json", "after_json")
    readonly_fields = fields

    @admin.display(description="before")
    def before_json(self, obj: StacTransaction) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(obj.before, indent=2))

    @admin.display(description="after")
    def after_json(self, obj: StacTransaction) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(obj.after, indent=2))
