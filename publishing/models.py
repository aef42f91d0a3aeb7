"""Asset -> Release lifecycle and its append-only audit log; only :mod:`publishing.services` changes state.

A release's processing status is not stored: it is derived from its ingest Job whenever it
is read (see :attr:`Release.processing_status`), so it can never drift from the engine.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import models

from geoplatform.errors import Conflict


class AuditImmutable(Conflict):
    code = "audit_immutable"


def asset_id_for(dataset_id: str, resource_id: str) -> str:
    return hashlib.sha256(f"ddh|{dataset_id}|{resource_id}".encode()).hexdigest()[:32]


def request_id_for(dataset_id: str, resource_id: str, version_id: str | None) -> str:
    raw = f"{dataset_id}|{resource_id}|{version_id}" if version_id else f"{dataset_id}|{resource_id}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class ProcessingStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ApprovalState(models.TextChoices):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


class ClearanceState(models.TextChoices):
    UNCLEARED = "uncleared"
    OUO = "ouo"
    PUBLIC = "public"


class DataType(models.TextChoices):
    VECTOR = "vector"
    RASTER = "raster"
    RASTER_COLLECTION = "raster_collection"
    ZARR = "zarr"
    H3_STATS = "h3_stats"


# ingest.Job.status -> processing_status
_JOB_TO_PROCESSING = {
    "queued": ProcessingStatus.PENDING,
    "running": ProcessingStatus.PROCESSING,
    "completed": ProcessingStatus.COMPLETED,
    "failed": ProcessingStatus.FAILED,
    "cancelled": ProcessingStatus.FAILED,
}


class Platform(models.Model):
    """A registered B2B client (``ddh`` is seeded by a data migration)."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        permissions = [("review_platform", "Can review releases of this platform")]

    def __str__(self) -> str:
        return self.code


class Asset(models.Model):
    """The stable identity of one dataset resource of a platform."""

    id = models.CharField(primary_key=True, max_length=32, help_text='sha256("ddh|{dataset_id}|{resource_id}")[:32]')
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="assets")
    dataset_id = models.CharField(max_length=255, db_index=True)
    resource_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset_id", "resource_id"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "dataset_id", "resource_id"], name="asset_unique_identity")
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id}/{self.resource_id}"


class Release(models.Model):
    """One versioned submission of an asset."""

    id = models.CharField(primary_key=True, max_length=32)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="releases")
    version_ordinal = models.PositiveIntegerField()
    revision = models.PositiveIntegerField(default=1)
    suggested_version_id = models.CharField(max_length=50, blank=True, default="")
    # NULL until approved: the partial unique index must not see "" as a taken version.
    version_id = models.CharField(  # noqa: DJ001
        max_length=50, null=True, blank=True, help_text="Assigned by the approver."
    )
    request_id = models.CharField(max_length=32, db_index=True)
    data_type = models.CharField(max_length=20, choices=DataType.choices)
    job_type = models.CharField(max_length=100)
    job = models.ForeignKey("ingest.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job_parameters = models.JSONField(default=dict, blank=True)
    request = models.JSONField(default=dict, blank=True, help_text="The submitted request (metadata).")
    title = models.CharField(max_length=500, blank=True, default="")
    description = models.TextField(blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    access_level = models.CharField(max_length=10, default="OUO")
    # Where the outputs are served once approved (known at submit time).
    table_name = models.CharField(max_length=63, blank=True, default="", db_index=True)
    stac_collection_id = models.CharField(max_length=255, blank=True, default="")
    stac_item_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    approval_state = models.CharField(
        max_length=20, choices=ApprovalState.choices, default=ApprovalState.PENDING_REVIEW, db_index=True
    )
    clearance_state = models.CharField(max_length=20, choices=ClearanceState.choices, default=ClearanceState.UNCLEARED)
    reviewer = models.CharField(max_length=200, blank=True, default="")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_notes = models.TextField(blank=True, default="")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unpublish_job = models.ForeignKey("ingest.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    external = models.JSONField(default=dict, blank=True, help_text="Copies in the external zone.")
    callback_url = models.URLField(max_length=2000, blank=True, default="", help_text="Review events are POSTed here.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "version_ordinal"], name="release_unique_ordinal"),
            # The database itself guarantees an approved version_id is unique per asset.
            models.UniqueConstraint(
                fields=["asset", "version_id"],
                condition=models.Q(approval_state="approved"),
                name="release_unique_approved_version",
            ),
        ]
        permissions = [
            ("submit_release", "Can submit releases (platform API)"),
            ("review_release", "Can approve, reject and revoke releases"),
        ]

    def __str__(self) -> str:
        return f"{self.asset} #{self.version_ordinal}.{self.revision} ({self.approval_state})"

    @property
    def processing_status(self) -> str:
        if self.job_id is None or self.job is None:
            return str(ProcessingStatus.FAILED)  # its job was deleted by an operator
        return str(_JOB_TO_PROCESSING.get(self.job.status, ProcessingStatus.PENDING))

    @property
    def outputs(self) -> dict[str, Any]:
        if self.job is not None and self.job.status == "completed":
            return dict(self.job.result or {})
        return {}

    def snapshot(self) -> dict[str, Any]:
        """The audited view of the release at one moment."""
        return {
            "release_id": self.id,
            "asset_id": self.asset_id,
            "version_ordinal": self.version_ordinal,
            "revision": self.revision,
            "version_id": self.version_id,
            "suggested_version_id": self.suggested_version_id,
            "approval_state": self.approval_state,
            "clearance_state": self.clearance_state,
            "processing_status": self.processing_status,
            "job_id": self.job_id,
            "data_type": self.data_type,
            "table_name": self.table_name,
            "stac_collection_id": self.stac_collection_id,
            "stac_item_id": self.stac_item_id,
            "external": self.external,
        }


class AuditQuerySet(models.QuerySet["ReleaseAudit"]):
    """Append-only: bulk updates and deletes are refused before they reach the database."""

    def update(self, **kwargs: Any) -> int:
        raise AuditImmutable("The release audit log is append-only: rows cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditImmutable("The release audit log is append-only: rows cannot be deleted.")


AuditManager = models.Manager.from_queryset(AuditQuerySet)


class ReleaseAudit(models.Model):
    """One event in a release's life. The database refuses UPDATE and DELETE (trigger)."""

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="audit")
    event = models.CharField(max_length=50)
    actor = models.CharField(max_length=200, blank=True, default="")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    reason = models.TextField(blank=True, default="")
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditManager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.event} by {self.actor or 'system'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AuditImmutable("The release audit log is append-only: rows cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditImmutable("The release audit log is append-only: rows cannot be deleted.")


class PendingRelease(Release):
    """The reviewers' queue in the admin: completed releases waiting for a decision."""

    class Meta:
        proxy = True
        verbose_name = "release pending review"
        verbose_name_plural = "Pending review"
