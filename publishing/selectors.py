"""Reads: finding a release by any of its ids, status bodies, lists, catalogue lookups.

URLs are returned as absolute paths (``/api/...``); the API makes them absolute URLs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from features.selectors import dataset_split_of
from geoplatform.errors import InvalidInput
from h3grid.jobtypes_stats import STAT_EXPORT
from ingest import registry
from ingest.models import Job
from ingest.selectors import blob_reference_q, job_progress, task_backlog

from . import kinds
from .errors import ReleaseNotFound
from .models import ApprovalState, Asset, ProcessingStatus, Release, asset_id_for, request_id_for


def _releases() -> QuerySet[Release]:
    return Release.objects.select_related("asset__platform", "job", "unpublish_job")


def release_find(*, ident: str) -> Release:
    """``ident`` is a request_id, job_id, release_id or asset_id (tried in that order)."""
    qs = _releases().order_by("-version_ordinal", "-created_at")
    for lookup in (
        Q(request_id=ident),
        Q(job_id=ident) | Q(unpublish_job_id=ident),
        Q(pk=ident),
        Q(asset_id=ident),
    ):
        release = qs.filter(lookup).first()
        if release is not None:
            return release
    raise ReleaseNotFound(
        f"No release known by {ident!r}.",
        remediation="Use the request_id, job_id, release_id or asset_id returned by submit.",
    )


def release_identify(
    *,
    release_id: str = "",
    asset_id: str = "",
    job_id: str = "",
    request_id: str = "",
    dataset_id: str = "",
    resource_id: str = "",
    version_id: str = "",
) -> Release:
    """One release from any identifying field (review and unpublish bodies)."""
    qs = _releases().order_by("-version_ordinal")
    if release_id:
        release = qs.filter(pk=release_id).first()
    elif job_id:
        release = qs.filter(Q(job_id=job_id) | Q(unpublish_job_id=job_id)).first()
    elif request_id:
        release = qs.filter(request_id=request_id).first()
    elif asset_id or (dataset_id and resource_id):
        aid = asset_id or asset_id_for(dataset_id, resource_id)
        scoped = qs.filter(asset_id=aid)
        if version_id:
            scoped = scoped.filter(
                Q(version_id=version_id)
                | Q(suggested_version_id=version_id)
                | Q(request_id=request_id_for(dataset_id, resource_id, version_id))
            )
        release = scoped.first()
    else:
        raise InvalidInput(
            "Identify the release with release_id, asset_id, job_id, request_id or dataset_id+resource_id."
        )
    if release is None:
        raise ReleaseNotFound("No release matches the given identifiers.")
    return release


def is_processing(release: Release) -> bool:
    return release.processing_status in {ProcessingStatus.PENDING, ProcessingStatus.PROCESSING}


def services_of(release: Release) -> dict[str, Any] | None:
    """Where an approved release is served (as its kind says); None until it is approved."""
    if release.approval_state != ApprovalState.APPROVED:
        return None
    return kinds.kind_of(release).services(release)


def _release_summary(release: Release) -> dict[str, Any]:
    return {
        "release_id": release.id,
        "version_id": release.version_id,
        "suggested_version_id": release.suggested_version_id or None,
        "version_ordinal": release.version_ordinal,
        "revision": release.revision,
        "processing_status": release.processing_status,
        "approval_state": release.approval_state,
        "clearance_state": release.clearance_state,
        "data_type": release.data_type,
        "job_id": release.job_id,
        "request_id": release.request_id,
        "created_at": release.created_at,
        "reviewed_at": release.reviewed_at,
    }


def asset_summary(asset: Asset) -> dict[str, Any]:
    return {
        "asset_id": asset.id,
        "platform": asset.platform.code,
        "dataset_id": asset.dataset_id,
        "resource_id": asset.resource_id,
    }


def release_status(*, release: Release) -> dict[str, Any]:
    """The DDH status body of one release."""
    job = release.job
    body: dict[str, Any] = {
        "success": True,
        "request_id": release.request_id,
        "asset": {**asset_summary(release.asset), "title": release.title, "data_type": release.data_type},
        "release": _release_summary(release),
        "job_id": release.job_id,
        "job_type": release.job_type,
        "job_status": job.status if job is not None else None,
        "warnings": list(job.warnings or []) if job is not None else [],
    }
    status = release.processing_status
    if job is not None and is_processing(release):
        progress = job_progress(job=job)
        body["progress"] = {
            "started_at": job.started_at,
            "tasks_total": progress["tasks_total"],
            "tasks_done": progress["tasks_done"],
            "percent_complete": progress["percent_complete"],
            "stage": progress["stage"],
        }
    if status == ProcessingStatus.FAILED:
        err = (job.error if job is not None else None) or {"message": "The job was removed.", "code": "job_missing"}
        body["error"] = {
            "message": err.get("message"),
            "code": err.get("code"),
            "category": err.get("category"),
            "remediation": err.get("remediation"),
            "user_fixable": err.get("user_fixable"),
        }
    if status == ProcessingStatus.COMPLETED:
        body["outputs"] = {
            **release.outputs,
            "table_name": release.table_name or None,
            "stac_collection_id": release.stac_collection_id or None,
            "stac_item_id": release.stac_item_id or None,
        }
    services = services_of(release)
    if services is not None:
        body["services"] = services
    if release.external:
        body["external"] = release.external
    if status == ProcessingStatus.COMPLETED and release.approval_state == ApprovalState.PENDING_REVIEW:
        body["approval"] = {
            "approve_url": "/api/platform/approve",
            "viewer_url": f"/admin/publishing/release/{release.id}/change/",
        }
    if release.unpublish_job_id:
        body["unpublish_job_id"] = release.unpublish_job_id
    siblings = _releases().filter(asset_id=release.asset_id).order_by("-version_ordinal")
    body["versions"] = [_release_summary(r) for r in siblings]
    return body


def release_list() -> QuerySet[Release]:
    """Every release, newest first; list routes narrow it with their FilterSet."""
    return _releases().order_by("-created_at", "id")


def page(qs: QuerySet[Release], *, limit: int, offset: int) -> tuple[list[Release], bool]:
    rows = list(qs[offset : offset + limit + 1])
    return rows[:limit], len(rows) > limit


def release_row(release: Release) -> dict[str, Any]:
    return {**_release_summary(release), "asset": asset_summary(release.asset), "title": release.title}


def approvals_status(*, stac_item_ids: list[str], table_names: list[str]) -> dict[str, Any]:
    """Approval state of the releases serving these STAC items / tables (latest release each)."""
    out: dict[str, Any] = {"stac_items": {}, "tables": {}}
    qs = _releases().order_by("-version_ordinal", "-created_at")
    for item_id in stac_item_ids:
        release = qs.filter(stac_item_id=item_id).first()
        out["stac_items"][item_id] = _approval_brief(release)
    for table in table_names:
        release = qs.filter(table_name=table).first()
        if release is None:  # a {table}_point / _line / _polygon collection of a split file
            base = dataset_split_of(collection_id=table)
            release = qs.filter(table_name=base).first() if base else None
        out["tables"][table] = _approval_brief(release)
    return out


def _approval_brief(release: Release | None) -> dict[str, Any] | None:
    if release is None:
        return None
    return {
        "release_id": release.id,
        "asset_id": release.asset_id,
        "approval_state": release.approval_state,
        "clearance_state": release.clearance_state,
        "version_id": release.version_id,
        "is_public": release.approval_state == ApprovalState.APPROVED,
    }


# --- catalogue lookups ---------------------------------------------------------------------


def _approved() -> QuerySet[Release]:
    return _releases().filter(approval_state=ApprovalState.APPROVED).order_by("-version_ordinal")


def _catalog_entry(release: Release) -> dict[str, Any]:
    return {
        "asset": asset_summary(release.asset),
        "release": _release_summary(release),
        "title": release.title,
        "description": release.description,
        "tags": release.tags,
        "services": services_of(release),
    }


def catalog_lookup(*, dataset_id: str, resource_id: str, version_id: str = "") -> dict[str, Any]:
    qs = _approved().filter(asset_id=asset_id_for(dataset_id, resource_id))
    if version_id:
        qs = qs.filter(version_id=version_id)
    release = qs.first()
    if release is None:
        raise ReleaseNotFound(
            f"No approved release of {dataset_id}/{resource_id}" + (f" version {version_id}." if version_id else ".")
        )
    return _catalog_entry(release)


def catalog_asset(*, asset_id: str) -> dict[str, Any]:
    asset = Asset.objects.select_related("platform").filter(pk=asset_id).first()
    if asset is None:
        raise ReleaseNotFound(f"No asset {asset_id!r}.")
    approved = [_release_summary(r) for r in _approved().filter(asset=asset)]
    latest = _approved().filter(asset=asset).first()
    return {
        "asset": asset_summary(asset),
        "approved_releases": approved,
        "latest": _catalog_entry(latest) if latest is not None else None,
    }


def catalog_item(*, collection_id: str, item_id: str) -> dict[str, Any]:
    release = _approved().filter(stac_collection_id=collection_id, stac_item_id=item_id).first()
    if release is None:
        raise ReleaseNotFound(f"No approved release publishes STAC item {collection_id}/{item_id}.")
    return _catalog_entry(release)


def catalog_dataset(*, dataset_id: str) -> dict[str, Any]:
    entries = []
    for asset in Asset.objects.select_related("platform").filter(dataset_id=dataset_id).order_by("resource_id"):
        latest = _approved().filter(asset=asset).first()
        if latest is not None:
            entries.append(_catalog_entry(latest))
    if not entries:
        raise ReleaseNotFound(f"Dataset {dataset_id!r} has no approved release.")
    return {"dataset_id": dataset_id, "resources": entries}


# --- operations ----------------------------------------------------------------------------


def queue_backlog() -> dict[str, int]:
    return task_backlog()


def failures(*, hours: int, limit: int) -> dict[str, Any]:
    """Recent failed releases, sanitised (no paths, no stack traces), with common patterns."""
    since = timezone.now() - dt.timedelta(hours=hours)
    failed_jobs = Job.objects.filter(status__in=["failed", "cancelled"], finished_at__gte=since)
    qs = _releases().filter(job__in=failed_jobs).order_by("-job__finished_at")
    items = []
    patterns: Counter[str] = Counter()
    total = qs.count()
    for release in qs[:limit]:
        err = (release.job.error if release.job else None) or {}
        patterns[str(err.get("code") or "unknown")] += 1
        items.append(
            {
                "release_id": release.id,
                "asset_id": release.asset_id,
                "dataset_id": release.asset.dataset_id,
                "resource_id": release.asset.resource_id,
                "job_id": release.job_id,
                "job_type": release.job_type,
                "failed_at": release.job.finished_at if release.job else None,
                "error": {
                    "message": str(err.get("message", ""))[:500],
                    "code": err.get("code"),
                    "category": err.get("category"),
                    "remediation": err.get("remediation"),
                    "user_fixable": err.get("user_fixable"),
                },
            }
        )
    return {
        "hours": hours,
        "total": total,
        "failures": items,
        "patterns": [{"code": code, "count": n} for code, n in patterns.most_common()],
    }


def pending_review() -> QuerySet[Release]:
    return _releases().filter(approval_state=ApprovalState.PENDING_REVIEW)


# --- the review gate on the generic job API ----------------------------------------------------

# Releases whose data is under review or approved: their outputs change only through the
# state machine (/api/platform/*). A failed pending release holds nothing to protect.
# (processing status is the release's job status: failed or cancelled = failed)
_GUARDED = Q(approval_state=ApprovalState.APPROVED) | Q(
    approval_state=ApprovalState.PENDING_REVIEW, job__status__in=["queued", "running", "completed"]
)


def _releases_of_output(output: registry.Output) -> QuerySet[Release]:
    qs = Release.objects.filter(_GUARDED).select_related("asset")
    if output.kind == registry.VECTOR_TABLE:
        # a part of a split file ({table}_point, ...) belongs to the release of its table
        return qs.filter(table_name__in={output.id, dataset_split_of(collection_id=output.id) or output.id})
    if output.kind == registry.STAC_ITEM:
        collection, _, item = output.id.partition("/")
        # a single raster's item, or any item of a collection a release owns (a raster collection)
        return qs.filter(
            Q(stac_collection_id=collection, stac_item_id=item)
            | Q(stac_collection_id=collection, data_type__in=kinds.stac_collection_owners())
        )
    if output.kind == registry.STAC_COLLECTION:
        return qs.filter(stac_collection_id=output.id)
    if output.kind == STAT_EXPORT:  # an H3 statistics export: the release's own folder
        return qs.filter(job_parameters__folder=output.id)
    return qs.none()


def release_outputs_guard(outputs: Sequence[registry.Output]) -> list[str]:
    """Submit guard (registered with ingest): refuse generic-API jobs that would replace or
    delete the data of a release under review or approved."""
    refusals = []
    for output in outputs:
        release = _releases_of_output(output).order_by("-version_ordinal").first()
        if release is None:
            continue
        refusals.append(
            f"{output.kind.replace('_', ' ')} {output.id!r} holds the data of release {release.id} "
            f"({release.asset.dataset_id}/{release.asset.resource_id}, ordinal {release.version_ordinal}, "
            f"{release.approval_state}): change it through /api/platform/* — POST /api/platform/submit "
            "(a new version_id, or processing_options.overwrite once it is no longer approved), "
            "POST /api/platform/revoke or POST /api/platform/unpublish."
        )
    return refusals


def releases_referencing_blob(*, container: str, name: str) -> QuerySet[Release]:
    """Releases whose source is the blob and that still stand on it: approved ones, and those
    awaiting review that did not fail (a failed, rejected or revoked release may have its file
    replaced and be submitted again)."""
    return (
        Release.objects.filter(blob_reference_q("job_parameters", container=container, name=name))
        .filter(_GUARDED)
        .select_related("asset")
        .order_by("created_at")
    )


def blob_release_user(container: str, name: str) -> str | None:
    """The storage layer's "blob in use" question, answered for releases (a sentence naming them)."""
    found = list(releases_referencing_blob(container=container, name=name)[:5])
    if not found:
        return None
    return ", ".join(
        f"release {r.id} ({r.asset.dataset_id}/{r.asset.resource_id} v{r.version_ordinal}, {r.approval_state})"
        for r in found
    )
