"""The metadata row of each published vector dataset (its data lives in ``geo.<table_name>``)."""

from __future__ import annotations

from django.db import models


class VectorDataset(models.Model):
    # The collection id is the table name: one namespace, no mapping table to keep in step.
    collection_id = models.CharField(max_length=63, primary_key=True)
    title = models.CharField(max_length=300, blank=True, default="")
    description = models.TextField(blank=True, default="")
    geometry_type = models.CharField(max_length=32)
    # MultiPoint data whose every geometry is one point (bbox filters can use the index alone).
    single_points = models.BooleanField(default=False)
    # ids are exactly 1..feature_count (tables are never edited in place, only replaced).
    dense_ids = models.BooleanField(default=False)
    # Rows stored in spatial (Hilbert) order: a small bbox is cheapest as a GiST bitmap scan.
    spatially_ordered = models.BooleanField(default=False)
    feature_count = models.BigIntegerField(default=0)
    bbox = models.JSONField(null=True, blank=True, help_text="[minx, miny, maxx, maxy] in CRS84.")
    temporal_property = models.CharField(max_length=63, blank=True, default="")
    temporal_extent = models.JSONField(null=True, blank=True, help_text="[start, end] ISO 8601 or null.")
    attributes = models.JSONField(default=list, help_text="[{name, type, source_name}] in table order.")
    source = models.JSONField(default=dict, help_text="Where the data came from (container, file, layer, crs).")
    stac_item = models.BooleanField(default=False)
    # False while a release awaits review: hidden from the OGC and STAC APIs except for
    # accounts with `preview_unpublished` (reviewers). Direct loads are served at once.
    published = models.BooleanField(default=True)
    job_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collection_id"]
        permissions = [("preview_unpublished", "Can see vector datasets awaiting review")]

    def __str__(self) -> str:
        return self.collection_id
