from django.contrib import admin

from .models import VectorDataset


@admin.register(VectorDataset)
class VectorDatasetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["collection_id", "title", "geometry_type", "feature_count", "stac_item", "updated_at"]
    search_fields = ["collection_id", "title"]
    readonly_fields = [f.name for f in VectorDataset._meta.fields]

    def has_add_permission(self, request: object) -> bool:  # datasets come from process_vector only
        return False
