"""Writes of managed datasets: sources (create, change, delete, enable, disable), the update
trigger (check, then a job only when something may have changed), the gate, the swap,
rollback and the review of held versions. The API, the admin and the scheduler all call these.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from geoplatform import storage
from h3grid import services as h3_services

from . import cron, handlers, scheduler, targets
from .errors import (
    CheckFailed,
    InvalidSource,
    NothingToRollBack,
    SourceExists,
    UpdateRunning,
    VersionNotHeld,
)
from .fetch import SourceHttp, credentials_token
from .handlers.base import Candidate, HandlerError
from .models import IN_PROGRESS, ManagedSource, ReviewPolicy, SourceVersion, TargetKind, VersionStatus

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Room for "__v<number>" after it: a version's hidden table is <collection_id>__v<n>.
COLLECTION_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
SETTING_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,119}$")
THRESHOLD_KEYS = {"count_change_pct": (int, float), "bbox_change_pct": (int, float), "schema_change": (bool,)}
EDITABLE = (
    "title",
    "description",
    "handler",
    "location",
    "settings",
    "schedule",
    "enabled",
    "target_kind",
    "collection_id",
    "licence",
    "attribution",
    "credentials_setting",
    "review_policy",
    "thresholds",
    "expected_cadence",
    "style",
)


def _bad(field: str, message: str) -> InvalidSource:
    return InvalidSource(f"{field}: {message}", details={"field": field})


# --- sources ----------------------------------------------------------------------------------


def _clean(source: ManagedSource, data: dict[str, Any]) -> None:
    """Apply and validate ``data`` on ``source`` (not saved); 400 naming the field."""
    for key, value in data.items():
        if key in EDITABLE:
            setattr(source, key, value)
    if not NAME_RE.match(source.name or ""):
        raise _bad("name", "1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit.")
    handler = handlers.get(source.handler)  # 400 listing the valid handlers
    kinds = {handler.target_kind, *handler.other_target_kinds}
    if source.target_kind not in TargetKind.values:
        raise _bad("target_kind", f"one of {', '.join(TargetKind.values)}.")
    if source.target_kind not in kinds:
        raise _bad("target_kind", f"handler {handler.name!r} loads {' or '.join(sorted(kinds))}.")
    targets.adapter_for(source.target_kind)
    if not isinstance(source.location, str) or not source.location.strip():
        raise _bad("location", "the URL or id of the source is required.")
    source.location = handler.location_clean(source.location.strip())
    source.settings = handler.settings_clean(source.settings)
    source.schedule = cron.cron_check(source.schedule)
    if not COLLECTION_RE.match(source.collection_id or ""):
        raise _bad("collection_id", "1-50 characters: lowercase letters, digits and '_', starting with a letter.")
    if "__v" in source.collection_id:
        raise _bad("collection_id", "'__v' is reserved for the ids of versions.")
    if source.credentials_setting and not SETTING_NAME_RE.match(source.credentials_setting):
        raise _bad(
            "credentials_setting",
            "the NAME of a setting / environment variable (e.g. FATHOM_TOKEN), never the secret itself.",
        )
    allowed = settings.GEOPLATFORM_MANAGED_CREDENTIALS
    if source.credentials_setting and source.credentials_setting not in allowed:
        raise _bad(
            "credentials_setting",
            f"{source.credentials_setting!r} is not a token name managed sources may use; the deployment lists them "
            f"in GEOPLATFORM_MANAGED_CREDENTIALS (now: {', '.join(allowed) or 'none'}).",
        )
    if handler.needs_credentials and not source.credentials_setting:
        raise _bad("credentials_setting", f"handler {handler.name!r} needs a token: name the setting that holds it.")
    if source.review_policy not in ReviewPolicy.values:
        raise _bad("review_policy", f"one of {', '.join(ReviewPolicy.values)}.")
    thresholds = source.thresholds if source.thresholds is not None else {}
    if not isinstance(thresholds, dict):
        raise _bad("thresholds", 'an object such as {"count_change_pct": 10}.')
    for key, value in thresholds.items():
        if key not in THRESHOLD_KEYS:
            raise _bad(f"thresholds.{key}", f"unknown; known: {', '.join(sorted(THRESHOLD_KEYS))}.")
        kinds_ok = THRESHOLD_KEYS[key]
        if not isinstance(value, kinds_ok) or (bool not in kinds_ok and isinstance(value, bool)):
            raise _bad(f"thresholds.{key}", "must be a boolean" if bool in kinds_ok else "must be a number.")
        if bool not in kinds_ok and value < 0:
            raise _bad(f"thresholds.{key}", "must be 0 or more.")
    source.thresholds = thresholds
    if source.expected_cadence is not None and source.expected_cadence <= dt.timedelta(0):
        raise _bad("expected_cadence", "a positive duration, e.g. 'P1D'.")
    if source.style is not None and not isinstance(source.style, dict):
        raise _bad("style", "a CartoSym-JSON object.")


def _collection_free(source: ManagedSource) -> None:
    other = ManagedSource.objects.filter(collection_id=source.collection_id).exclude(pk=source.pk).first()
    if other is not None:
        raise SourceExists(f"collection_id {source.collection_id!r} is managed by source {other.name!r} already.")
    if targets.adapter_for(source.target_kind).taken(source.collection_id):
        raise SourceExists(
            f"collection_id {source.collection_id!r} serves data loaded outside managed datasets.",
            remediation="Choose another collection_id, or unpublish that collection first.",
        )


def source_validate(*, data: dict[str, Any], source: ManagedSource | None = None) -> None:
    """Validate a create (``source`` None) or a change without saving (the admin form's clean)."""
    import copy

    probe = copy.copy(source) if source is not None else ManagedSource(name=str(data.get("name") or ""))
    _clean(probe, data)
    _collection_free(probe)


def source_create(*, data: dict[str, Any], user: Any = None) -> ManagedSource:
    source = ManagedSource(name=str(data.get("name") or ""))
    _clean(source, data)
    if ManagedSource.objects.filter(name=source.name).exists():
        raise SourceExists(f"A managed source {source.name!r} exists already.")
    _collection_free(source)
    source.next_run_at = scheduler.schedule_next(source)
    source.created_by = user if user is not None and getattr(user, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError:
        raise SourceExists(f"A managed source {source.name!r} (or its collection_id) exists already.") from None
    return source


def source_update(*, source: ManagedSource, data: dict[str, Any], user: Any = None) -> ManagedSource:
    """Change the fields in ``data`` (``name`` is the id and stays). The target (kind,
    collection id) is fixed once a version exists."""
    if "name" in data and data["name"] != source.name:
        raise _bad("name", "the name is the source's id and cannot change; create another source.")
    has_versions = source.versions.exclude(status__in=[VersionStatus.FAILED, VersionStatus.UNCHANGED]).exists()
    for key in ("collection_id", "target_kind"):
        if key in data and data[key] != getattr(source, key) and has_versions:
            raise UpdateRunning(
                f"{key} cannot change once the source has data; delete the source and create it again.",
                code="managed_target_fixed",
            )
    schedule_before = source.schedule
    _clean(source, data)
    _collection_free(source)
    if source.schedule != schedule_before:
        source.next_run_at = scheduler.schedule_next(source)
    source.save()
    return source


def source_enable(*, source: ManagedSource, user: Any = None) -> ManagedSource:
    if not source.enabled:
        source.enabled = True
        source.next_run_at = scheduler.schedule_next(source)
        source.save(update_fields=["enabled", "next_run_at", "updated_at"])
    return source


def source_disable(*, source: ManagedSource, user: Any = None) -> ManagedSource:
    if source.enabled:
        source.enabled = False
        source.save(update_fields=["enabled", "updated_at"])
    return source


def source_delete(*, source: ManagedSource, user: Any = None) -> dict[str, Any]:
    """Remove the source, every version's data (the live collection too) and blobs.
    Refused while an update runs."""
    if source.versions.filter(status__in=IN_PROGRESS).exists():
        raise UpdateRunning(f"An update of {source.name!r} is running; wait for it, then delete.")
    adapter = targets.adapter_for(source.target_kind)
    removed: list[str] = []
    with transaction.atomic():
        for version in source.versions.all():
            name = targets.data_name(version)
            if adapter.exists(name):
                adapter.remove(name)
                removed.append(name)
        name = source.name
        blobs = [b for v in source.versions.all() for b in v.blobs]
        source.delete()
    _blobs_delete(blobs)
    return {"source": name, "removed": removed, "blobs_removed": len(blobs)}


# --- the update trigger -------------------------------------------------------------------------


@dataclass
class TriggerOutcome:
    # "unchanged": the check found nothing new (no version, no job); "submitted": a version
    # and its update job; "running": an update of this source was already under way.
    outcome: str
    reason: str = ""
    requests: int = 0
    seconds: float = 0.0
    version: SourceVersion | None = None
    job_id: str = ""


def _live(source: ManagedSource) -> SourceVersion | None:
    return SourceVersion.objects.filter(source=source, status=VersionStatus.LIVE).first()


def update_trigger(*, source: ManagedSource, force: bool = False, user: Any = None) -> TriggerOutcome:
    """Check the source now; when it may have changed (or ``force``), make a version and
    submit its update job. ``force`` re-ingests an unchanged version."""
    from ingest.services import job_submit

    from .update import JOB_TYPE

    running = SourceVersion.objects.filter(source=source, status__in=IN_PROGRESS).first()
    if running is not None:
        return TriggerOutcome(
            "running", "an update is under way", version=running, job_id=running.job_ids.get("update", "")
        )
    handler = handlers.get(source.handler)
    live = _live(source)
    http = SourceHttp(token=credentials_token(source.credentials_setting))
    started = time.monotonic()
    try:
        result = handler.check(source, live, http)
    except HandlerError as exc:
        error = {"stage": "check", "message": exc.message, "at": timezone.now().isoformat()}
        ManagedSource.objects.filter(pk=source.pk).update(last_checked_at=timezone.now(), last_error=error)
        raise CheckFailed(
            f"Checking source {source.name!r} failed: {exc.message}",
            remediation=exc.remediation or "The live version is unchanged; the next run tries again.",
        ) from exc
    finally:
        http.close()
    seconds = time.monotonic() - started
    now = timezone.now()
    if not result.changed and not force and live is not None:
        ManagedSource.objects.filter(pk=source.pk).update(last_checked_at=now, last_success_at=now, last_error=None)
        source.refresh_from_db()
        return TriggerOutcome("unchanged", result.reason, http.count, seconds)
    candidate = result.candidate
    if candidate is None:  # forced, unchanged: the live version's own candidate again
        base = live.candidate if live is not None else {}
        candidate = Candidate.from_dict(base) if base else Candidate(url=source.location)
    try:
        with transaction.atomic():
            top = source.versions.aggregate(top=Max("number"))["top"] or 0
            version = SourceVersion.objects.create(
                source=source,
                number=top + 1,
                label=candidate.label,
                url=candidate.url,
                etag=candidate.etag,
                last_modified=candidate.last_modified,
                candidate=candidate.as_dict(),
                status=VersionStatus.DOWNLOADING,
                stage="download",
                forced=force,
            )
    except IntegrityError:  # a concurrent trigger made one first: join it
        running = SourceVersion.objects.filter(source=source, status__in=IN_PROGRESS).first()
        return TriggerOutcome("running", "an update is under way", version=running)
    outcome = job_submit(job_type=JOB_TYPE, parameters={"source": source.name, "version": version.number}, user=user)
    version.job_ids = {"update": outcome.job.id}
    version.save(update_fields=["job_ids", "updated_at"])
    ManagedSource.objects.filter(pk=source.pk).update(last_checked_at=now)
    source.refresh_from_db()
    return TriggerOutcome("submitted", result.reason, http.count, seconds, version, outcome.job.id)


# --- failures ----------------------------------------------------------------------------------


def _blobs_delete(blobs: list[str]) -> None:
    container = storage.zone_container("bronze")
    for blob in blobs:
        try:
            if storage.blob_exists(container, blob):
                storage.blob_delete(container, blob)
        except Exception:  # a blob we cannot remove is logged, never fails the caller
            logger.warning("could not remove blob %s/%s", container, blob, exc_info=True)


def _data_remove(version: SourceVersion) -> None:
    """Remove a version's hidden data (never the live collection)."""
    if version.status == VersionStatus.LIVE:
        return
    adapter = targets.adapter_for(version.source.target_kind)
    name = targets.hidden_name(version.source, version.number)
    if adapter.exists(name):
        adapter.remove(name)


def version_fail(*, version: SourceVersion, stage: str, message: str) -> SourceVersion:
    """Mark ``version`` failed at ``stage`` and remove what it made; the live version stays."""
    error = {"stage": stage, "message": message}
    _data_remove(version)
    _blobs_delete(list(version.blobs))
    version.status = VersionStatus.FAILED
    version.stage = stage
    version.error = error
    version.blobs = []
    version.save()
    ManagedSource.objects.filter(pk=version.source_id).update(
        last_error={**error, "version": version.number, "at": timezone.now().isoformat()}
    )
    return version


# --- after the ingest job: gate, then swap ----------------------------------------------------------


def _bbox_shift_pct(old: list[float] | None, new: list[float] | None) -> float:
    """How far the box's edges moved, as % of the old box's size (the larger of x and y)."""
    if not old or not new:
        return 0.0 if old == new else 100.0
    width = max(old[2] - old[0], 1e-9)
    height = max(old[3] - old[1], 1e-9)
    shifts = [abs(new[0] - old[0]) / width, abs(new[2] - old[2]) / width]
    shifts += [abs(new[1] - old[1]) / height, abs(new[3] - old[3]) / height]
    return round(100.0 * max(shifts), 3)


def version_diff(*, source: ManagedSource, live: SourceVersion | None, new: SourceVersion) -> dict[str, Any]:
    """What changed from the live version, and which gate rules it trips."""
    if live is None:
        return {"first_version": True, "trips": []}
    limits = {
        "count_change_pct": float(settings.GEOPLATFORM_MANAGED_COUNT_CHANGE_PCT),
        "bbox_change_pct": 10.0,
        "schema_change": True,
        **(source.thresholds or {}),
    }
    trips: list[str] = []
    old_cols = {c["name"]: c["type"] for c in live.schema or []}
    new_cols = {c["name"]: c["type"] for c in new.schema or []}
    schema = {
        "added": sorted(set(new_cols) - set(old_cols)),
        "removed": sorted(set(old_cols) - set(new_cols)),
        "changed": sorted(n for n in set(old_cols) & set(new_cols) if old_cols[n] != new_cols[n]),
    }
    if live.schema_fingerprint != new.schema_fingerprint and limits["schema_change"]:
        trips.append("schema")
    counts: dict[str, Any] = {}
    for key in sorted(set(live.counts or {}) | set(new.counts or {})):
        before, after = (live.counts or {}).get(key), (new.counts or {}).get(key)
        pct = (
            round(100.0 * abs(after - before) / before, 3)
            if isinstance(before, (int, float)) and isinstance(after, (int, float)) and before
            else (0.0 if before == after else 100.0)
        )
        counts[key] = {"old": before, "new": after, "change_pct": pct}
        if pct > limits["count_change_pct"]:
            trips.append(f"count.{key}")
    shift = _bbox_shift_pct(live.bbox, new.bbox)
    if shift > limits["bbox_change_pct"]:
        trips.append("bbox")
    return {
        "against_version": live.number,
        "schema": schema,
        "counts": counts,
        "bbox": {"old": live.bbox, "new": new.bbox, "shift_pct": shift},
        "thresholds": limits,
        "trips": trips,
    }


def version_advance(*, version_id: int) -> str:
    """Follow a version waiting for its ingest job (the watcher actor calls this): still
    running -> "waiting"; failed -> the version fails (stage ingest); completed -> the gate
    holds it or it swaps live (a failed swap fails the version, stage swap, the live one
    untouched). Returns the version's status (or "waiting"). The version row is locked
    throughout: two watchers (a re-sent message, ``watch_all``) never swap twice."""
    with transaction.atomic():
        version = SourceVersion.objects.select_for_update().select_related("source").filter(pk=version_id).first()
        if version is None or version.status != VersionStatus.INGESTING:
            return version.status if version is not None else "gone"
        return _advance_locked(version)


def _advance_locked(version: SourceVersion) -> str:
    from ingest.models import Job, JobStatus

    job = Job.objects.filter(pk=version.job_ids.get("ingest", "")).first()
    if job is None:
        return version_fail(version=version, stage="ingest", message="its ingest job is gone").status
    if not job.is_terminal:
        return "waiting"
    if job.status != JobStatus.COMPLETED:
        message = (job.error or {}).get("message") or f"the ingest job {job.id} ended {job.status}"
        return version_fail(version=version, stage="ingest", message=str(message)).status
    source = version.source
    adapter = targets.adapter_for(source.target_kind)
    try:
        facts = adapter.facts(targets.hidden_name(source, version.number))
    except Exception as exc:  # the loader said done but nothing is there
        return version_fail(version=version, stage="ingest", message=f"no loaded data found: {exc}").status
    version.counts = facts.counts
    version.bbox = facts.bbox
    version.schema = facts.schema
    version.schema_fingerprint = facts.fingerprint
    live = _live(source)
    version.diff = version_diff(source=source, live=live, new=version)
    version.stage = "gate"
    if source.review_policy == ReviewPolicy.REVIEW or version.diff["trips"]:
        version.status = VersionStatus.HELD
        version.save()
        return version.status
    version.save()
    try:
        with transaction.atomic():  # a savepoint: a failed swap leaves the live version as it was
            version_publish(version=version)
    except Exception as exc:
        logger.exception("managed source %s: swap of version %s failed", source.name, version.number)
        version = SourceVersion.objects.select_related("source").get(pk=version.pk)
        return version_fail(version=version, stage="swap", message=f"{type(exc).__name__}: {exc}").status
    return VersionStatus.LIVE


def version_publish(*, version: SourceVersion, user: Any = None) -> SourceVersion:
    """The swap: ``version`` becomes live, the live one previous, in one transaction."""
    source = version.source
    with transaction.atomic():
        ManagedSource.objects.select_for_update().filter(pk=source.pk).first()
        live = SourceVersion.objects.select_for_update().filter(source=source, status=VersionStatus.LIVE).first()
        if live is not None:
            live.status = VersionStatus.PREVIOUS
            live.save(update_fields=["status", "updated_at"])
        kept = targets.swap(source=source, new=version, live=live)
        now = timezone.now()
        version.status = VersionStatus.LIVE
        version.stage = "swap"
        version.published_at = now
        version.save()
        ManagedSource.objects.filter(pk=source.pk).update(last_success_at=now, last_error=None)
        _style_apply(source, kept)
        # An older held version must not be approved over this newer one.
        for older in SourceVersion.objects.filter(source=source, status=VersionStatus.HELD, number__lt=version.number):
            _data_remove(older)
            older.status = VersionStatus.REJECTED
            older.review_note = f"superseded by version {version.number}"
            older.save()
    versions_retire(source=source)
    _dependents_refresh(source, version)
    return version


def _style_apply(source: ManagedSource, kept: list[dict[str, Any]]) -> None:
    """The source's own style on the stable collection, replaced at each swap; its default
    unless a person made one of their styles (``kept`` across the swap) the default."""
    style = handlers.get(source.handler).style(source)
    if not style:
        return
    default = not any(k["default"] for k in kept)
    try:
        with transaction.atomic():  # a bad style costs the map its colours, never the swap
            targets.adapter_for(source.target_kind).style_apply(source.collection_id, style, default=default)
    except Exception:
        logger.exception("managed source %s: style not applied", source.name)


def _dependents_refresh(source: ManagedSource, version: SourceVersion) -> None:
    """What other apps computed from the stable dataset is computed again from the new live
    version: the H3 statistics of the collection (vector) or of its items (raster). The jobs
    are submitted here and run on the workers; their ids are kept on the version
    (``job_ids["h3"]``). A failure to submit is logged and never undoes the swap."""
    kind, ref, prefix = targets.adapter_for(source.target_kind).stats_source(source.collection_id)
    try:
        started = h3_services.stats_recompute(kind=kind, ref=ref, ref_prefix=prefix)
    except Exception:
        logger.exception("managed source %s: H3 statistics not resubmitted", source.name)
        return
    if started:
        logger.info("managed source %s: H3 statistics recomputed: %s", source.name, started)
        version.job_ids = {**version.job_ids, "h3": started}
        version.save(update_fields=["job_ids", "updated_at"])


def versions_retire(*, source: ManagedSource) -> list[int]:
    """Keep the data of the live version and the newest previous ones (up to
    GEOPLATFORM_MANAGED_KEEP_VERSIONS in all); older good versions are retired (data and
    blobs removed), and rolled-back versions lose their data."""
    keep_previous = max(int(settings.GEOPLATFORM_MANAGED_KEEP_VERSIONS) - 1, 0)
    previous = list(SourceVersion.objects.filter(source=source, status=VersionStatus.PREVIOUS).order_by("-number"))
    retired: list[int] = []
    for version in previous[keep_previous:]:
        _data_remove(version)
        _blobs_delete(list(version.blobs))
        version.status = VersionStatus.RETIRED
        version.blobs = []
        version.save()
        retired.append(version.number)
    for version in SourceVersion.objects.filter(source=source, status=VersionStatus.ROLLED_BACK).exclude(blobs=[]):
        _data_remove(version)
        _blobs_delete(list(version.blobs))
        version.blobs = []
        version.save(update_fields=["blobs", "updated_at"])
    return retired


def version_rollback(*, source: ManagedSource, user: Any = None) -> SourceVersion:
    """Put the previous good version back live; the live one becomes ``rolled_back``."""
    adapter = targets.adapter_for(source.target_kind)
    with transaction.atomic():
        ManagedSource.objects.select_for_update().filter(pk=source.pk).first()
        live = SourceVersion.objects.select_for_update().filter(source=source, status=VersionStatus.LIVE).first()
        previous = (
            SourceVersion.objects.select_for_update()
            .filter(source=source, status=VersionStatus.PREVIOUS)
            .order_by("-number")
            .first()
        )
        if previous is None or not adapter.exists(targets.hidden_name(source, previous.number)):
            raise NothingToRollBack(
                f"Source {source.name!r} has no previous good version to roll back to.",
                remediation="Trigger an update with force=true to load the source again.",
            )
        kept = targets.swap(source=source, new=previous, live=live)
        if live is not None:
            live.status = VersionStatus.ROLLED_BACK
            live.save(update_fields=["status", "updated_at"])
        previous.status = VersionStatus.LIVE
        previous.published_at = timezone.now()
        previous.save(update_fields=["status", "published_at", "updated_at"])
        ManagedSource.objects.filter(pk=source.pk).update(last_success_at=timezone.now())
        _style_apply(source, kept)
    versions_retire(source=source)
    _dependents_refresh(source, previous)
    return previous


# --- review of held versions ----------------------------------------------------------------------


def _held(version: SourceVersion) -> None:
    if version.status != VersionStatus.HELD:
        raise VersionNotHeld(f"Version {version.number} of {version.source.name!r} is {version.status}, not held.")


def version_approve(*, version: SourceVersion, user: Any = None, note: str = "") -> SourceVersion:
    """A reviewer lets a held version go live (the swap)."""
    with transaction.atomic():
        version = SourceVersion.objects.select_for_update().select_related("source").get(pk=version.pk)
        _held(version)
        version.reviewed_by = user if user is not None and getattr(user, "is_authenticated", False) else None
        version.reviewed_at = timezone.now()
        version.review_note = note
        version.save(update_fields=["reviewed_by", "reviewed_at", "review_note", "updated_at"])
        return version_publish(version=version, user=user)


def version_reject(*, version: SourceVersion, user: Any = None, note: str = "") -> SourceVersion:
    """A reviewer refuses a held version: its data goes, the live version stays."""
    with transaction.atomic():
        version = SourceVersion.objects.select_for_update().select_related("source").get(pk=version.pk)
        _held(version)
        _data_remove(version)
        blobs = list(version.blobs)
        version.status = VersionStatus.REJECTED
        version.reviewed_by = user if user is not None and getattr(user, "is_authenticated", False) else None
        version.reviewed_at = timezone.now()
        version.review_note = note
        version.blobs = []
        version.save()
    _blobs_delete(blobs)
    return version
