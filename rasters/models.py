"""COGs live in storage and their metadata in STAC (catalog). The one table here holds the
STAC items of raster releases awaiting review: not in the public catalogue yet, but
previewable (tiles, viewer) by accounts with ``rasters.preview_unpublished``."""

from __future__ import annotations

from django.db import models


class PendingItem(models.Model):
    collection_id = models.CharField(max_length=255)
    item_id = models.CharField(max_length=255)
    item = models.JSONField()
    job_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection_id", "item_id"], name="pending_item_unique")]
        permissions = [("preview_unpublished", "Can preview raster items awaiting review")]

    def __str__(self) -> str:
        return f"{self.collection_id}/{self.item_id} (pending)"
