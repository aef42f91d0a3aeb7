"""Managed sources (external datasets kept current) and their versions.

A :class:`ManagedSource` says where the data is (``handler`` + ``location`` + ``settings``),
when to look (``schedule``), and under which stable id readers find it (``collection_id``).
Each look that found something new makes a :class:`SourceVersion`; the data of every version
lives in its own table / STAC collection (``target``), and the one ``live`` version is the
one the stable ``collection_id`` serves. The previous good version stays (``previous``) for
rollback.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

DEFAULT_SCHEDULE = "0 2 * * *"


class TargetKind(models.TextChoices):
    VECTOR = "vector", "vector (process_vector -> a PostGIS table)"
    RASTER = "raster", "raster (process_raster -> one COG + STAC item)"
    RASTER_COLLECTION = "raster_collection", "raster collection (process_raster_collection -> a mosaic)"


class ReviewPolicy(models.TextChoices):
    # automatic: a new version goes live unless the semantic gate trips (schema change,
    # row count beyond threshold, bbox change); review: every new version waits for a reviewer.
    AUTOMATIC = "automatic", "automatic (held only when the gate trips)"
    REVIEW = "review", "review (every new version is held for a reviewer)"


class VersionStatus(models.TextChoices):
    CHECKING = "checking"
    DOWNLOADING = "downloading"
    INGESTING = "ingesting"
    HELD = "held"  # ingested, waiting for a reviewer (review policy or the gate tripped)
    LIVE = "live"  # what collection_id serves now (at most one per source)
    PREVIOUS = "previous"  # the good version before live, kept for rollback
    FAILED = "failed"  # error = {"stage", "message"}; its blob/table were removed
    UNCHANGED = "unchanged"  # downloaded but identical (sha256) to the live version
    ROLLED_BACK = "rolled_back"  # was live; a rollback put the previous one back
    REJECTED = "rejected"  # held and refused by a reviewer; its data removed
    RETIRED = "retired"  # an older good version whose data was removed to save space


# Statuses of a version still being worked on: at most one per source at a time.
IN_PROGRESS = (VersionStatus.CHECKING, VersionStatus.DOWNLOADING, VersionStatus.INGESTING)


class ManagedSource(models.Model):
    name = models.SlugField(max_length=63, unique=True, help_text="Slug, the source's id in the API.")
    title = models.CharField(max_length=300, blank=True, default="")
    description = models.TextField(blank=True, default="")
    handler = models.CharField(max_length=63, help_text="Registry name of the handler (managed.handlers).")
    location = models.CharField(max_length=2000, help_text="URL or handler-specific id of the source.")
    settings = models.JSONField(default=dict, blank=True, help_text="Handler settings (its settings_schema).")
    schedule = models.CharField(max_length=120, default=DEFAULT_SCHEDULE, help_text="Cron, UTC.")
    enabled = models.BooleanField(default=True)
    target_kind = models.CharField(max_length=32, choices=TargetKind.choices, default=TargetKind.VECTOR)
    collection_id = models.CharField(
        max_length=63, unique=True, help_text="Stable public id (table / STAC collection) readers use."
    )
    licence = models.CharField(max_length=300, blank=True, default="")
    attribution = models.CharField(max_length=500, blank=True, default="")
    credentials_setting = models.CharField(
        max_length=120,
        blank=True,
        default="",
        help_text="NAME of the env var / Django setting holding the token (never the secret itself).",
    )
    review_policy = models.CharField(max_length=16, choices=ReviewPolicy.choices, default=ReviewPolicy.AUTOMATIC)
    thresholds = models.JSONField(
        default=dict,
        blank=True,
        help_text='Gate thresholds, e.g. {"count_change_pct": 10, "bbox_change_pct": 5, "schema_change": true}.',
    )
    expected_cadence = models.DurationField(
        null=True, blank=True, help_text="Max age of the live version before it counts as stale (default from cron)."
    )
    style = models.JSONField(null=True, blank=True, help_text="Optional style (CartoSym-JSON) for the styles app.")
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True, help_text="When the live data was last confirmed.")
    last_error = models.JSONField(null=True, blank=True, help_text='{"stage", "message", "at"} of the last failure.')
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_source", "Can create, change, trigger and roll back managed sources")]

    def __str__(self) -> str:
        return self.name


class SourceVersion(models.Model):
    source = models.ForeignKey(ManagedSource, on_delete=models.CASCADE, related_name="versions")
    # 1, 2, 3... per source: names the version's own table / collection (<collection_id>__v<number>).
    number = models.PositiveIntegerField()
    label = models.CharField(max_length=200, blank=True, default="", help_text="The source's version label.")
    url = models.CharField(max_length=2000, blank=True, default="")
    etag = models.CharField(max_length=300, blank=True, default="")
    last_modified = models.CharField(max_length=64, blank=True, default="", help_text="HTTP date, as sent.")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    bytes = models.BigIntegerField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text='{"rows": n} or {"pixels": n, "items": n}.')
    bbox = models.JSONField(null=True, blank=True, help_text="[minx, miny, maxx, maxy] in CRS84.")
    schema_fingerprint = models.CharField(max_length=64, blank=True, default="")
    schema = models.JSONField(default=list, blank=True, help_text="Attribute names/types (vector) or bands.")
    candidate = models.JSONField(default=dict, blank=True, help_text="What the handler's check returned.")
    blobs = models.JSONField(default=list, blank=True, help_text="Bronze blob names downloaded for this version.")
    target = models.JSONField(
        default=dict, blank=True, help_text='Where its data is: {"table"} / {"collection"} / {"stac_items"}.'
    )
    job_ids = models.JSONField(default=dict, blank=True, help_text='{"update": job id, "ingest": job id}.')
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.CHECKING)
    stage = models.CharField(max_length=16, blank=True, default="", help_text="Stage reached (check..swap).")
    error = models.JSONField(null=True, blank=True, help_text='{"stage", "message"} when failed.')
    diff = models.JSONField(default=dict, blank=True, help_text="Differences from the live version (the gate).")
    forced = models.BooleanField(default=False)
    fetched_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["source", "number"], name="managed_version_number_unique"),
            # One live version per source: the swap flips live and previous in one transaction.
            models.UniqueConstraint(
                fields=["source"], condition=models.Q(status="live"), name="managed_one_live_version"
            ),
            # One update at a time per source (a second trigger joins the running one).
            models.UniqueConstraint(
                fields=["source"],
                condition=models.Q(status__in=["checking", "downloading", "ingesting"]),
                name="managed_one_update_in_progress",
            ),
        ]
        indexes = [models.Index(fields=["source", "status"])]

    def __str__(self) -> str:
        return f"{self.source.name} v{self.number} ({self.status})"
