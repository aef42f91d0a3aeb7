"""One row per virtual dataset (a STAC item of a climate collection). The data stays where it
was uploaded; the silver zone holds the references (kerchunk JSON) and, for hot datasets, a
rechunked Zarr copy. Until a reviewer approves it, the item lives here (``item``) and not in
pgSTAC: previewable by accounts with ``climate.preview_unpublished``."""

from __future__ import annotations

from django.db import models


class ClimateDataset(models.Model):
    collection_id = models.CharField(max_length=255)
    item_id = models.CharField(max_length=255)
    # The STAC item; published ones are also in pgSTAC (the copy here is what a reviewer saw).
    item = models.JSONField()
    published = models.BooleanField(default=False)
    refs_blob = models.CharField(max_length=1024)  # silver zone
    refs_etag = models.CharField(max_length=64)  # sha256 of the references: the open-dataset cache key
    source_container = models.CharField(max_length=255)
    source_files = models.JSONField(default=list)
    rechunked_prefix = models.CharField(max_length=1024, blank=True, default="")
    job_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection_id", "item_id"], name="climate_dataset_unique")]
        permissions = [("preview_unpublished", "Can preview climate datasets awaiting review")]

    def __str__(self) -> str:
        return f"{self.collection_id}/{self.item_id}{'' if self.published else ' (pending)'}"
