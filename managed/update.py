"""The update of a managed source: check -> download -> ingest -> swap.

- **check** runs synchronously in :func:`managed.services.update_trigger` (the API's manual
  trigger and the scheduler both call it): it costs the handler's few requests (at most 3 for
  an unchanged source) and, when the source is unchanged, ends there: no version row, no job,
  no broker message. Only a source that may have changed gets a version and a job. (A job per
  check would cost a job row, a stage, a task and a queue round-trip per source per day, and
  would make "under 5 seconds" depend on queue depth.)
- the job ``managed_dataset_update`` (params ``source``, ``version``) then has two stages:
  **download** (stream every file of the candidate into the bronze zone, sha256 on the way,
  Range resume; an identical hash ends it as ``unchanged`` and removes the blobs) and
  **ingest** (the handler's optional ``prepare``, then ``ingest.services.job_submit`` of the
  existing loader, into the version's own hidden table / collection).
- a small actor (:func:`managed.actors.version_watch`) follows the ingest job (the engine has
  no "job finished" hook): when it completes, the **gate** compares the new data with the live
  one (schema, count change, bbox) and either holds the version for review or **swaps** it
  live (:mod:`managed.targets`). A failed ingest job fails the version (stage ``ingest``).

Every stage is idempotent (a retried download overwrites its blob; the ingest stage's job id is
a hash of its parameters, so a re-run joins the same job) and any failure for good leaves the
live version untouched: the job's ``cleanup`` hook marks the version failed with its stage and
message and removes what it made (blobs, the hidden table).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.utils import timezone

from geoplatform import storage
from ingest import registry
from ingest.errors import PermanentError, RetryableError
from ingest.registry import TaskContext

from . import handlers, targets
from .fetch import SourceHttp, credentials_token, download
from .handlers.base import Candidate, HandlerError, IngestPlan, SourceUnavailable, Target
from .models import ManagedSource, SourceVersion, VersionStatus

logger = logging.getLogger(__name__)

JOB_TYPE = "managed_dataset_update"
# The job types a handler may hand its files to (the existing loaders).
INGEST_JOB_TYPES = {
    "vector": "process_vector",
    "raster": "process_raster",
    "raster_collection": "process_raster_collection",
}


def blob_prefix(source: ManagedSource, number: int) -> str:
    return f"managed/{source.name}/v{number}"


def bronze() -> str:
    return storage.zone_container("bronze")


def version_of(params: dict[str, Any]) -> SourceVersion:
    version = (
        SourceVersion.objects.select_related("source")
        .filter(source__name=params["source"], number=params["version"])
        .first()
    )
    if version is None:
        raise PermanentError(f"No version {params['version']} of managed source {params['source']!r}.")
    return version


def combined_sha256(files: list[dict[str, Any]]) -> str:
    """One file: its sha256. Several: the sha256 of their sorted ``name sha`` lines."""
    if len(files) == 1:
        return str(files[0]["sha256"])
    lines = "\n".join(sorted(f"{f['name']} {f['sha256']}" for f in files))
    return hashlib.sha256(lines.encode()).hexdigest()


def default_ingest_plan(source: ManagedSource, candidate: Candidate, blobs: list[str], target: Target) -> IngestPlan:
    """The default of ``Handler.ingest``: process_vector of the first blob into the hidden
    table; process_raster of the first blob into the hidden item (``system-rasters``);
    process_raster_collection of every blob into the hidden collection."""
    if source.target_kind == "raster_collection":
        return IngestPlan(
            "process_raster_collection",
            {
                "container_name": bronze(),
                "files": list(blobs),
                "collection_id": target.name,
                "title": source.title or source.name,
                "description": source.description,
                "publish": False,
            },
        )
    if source.target_kind == "raster":
        from rasters.services import SYSTEM_COLLECTION

        raster: dict[str, Any] = {
            "container_name": bronze(),
            "file_name": blobs[0],
            "collection_id": SYSTEM_COLLECTION,
            "item_id": target.name,
            "title": source.title or source.name,
            "description": source.description,
            "publish": False,
        }
        if (source.settings or {}).get("crs"):
            raster["crs"] = source.settings["crs"]
        return IngestPlan("process_raster", raster)
    if source.target_kind != "vector":
        raise HandlerError(
            f"Handler {source.handler!r} has no ingest plan for target_kind {source.target_kind!r}.",
            remediation="Implement Handler.ingest for raster targets.",
        )
    params: dict[str, Any] = {
        "container_name": bronze(),
        "file_name": blobs[0],
        "table_name": target.table,
        "title": source.title or source.name,
        "description": source.description,
        "create_stac": True,
        "publish": False,
        # One stable collection id serves one table: a file mixing points, lines and polygons
        # fails at process_vector's validate, naming the types (Polygon + MultiPolygon loads).
        "split_geometry_types": False,
    }
    for key in ("layer_name", "crs"):
        if (source.settings or {}).get(key):
            params[key] = source.settings[key]
    return IngestPlan("process_vector", params)


# --- stage 1: download ------------------------------------------------------------------------------


def stage_download(ctx: TaskContext) -> dict[str, Any]:
    version = version_of(ctx.params)
    if version.status != VersionStatus.DOWNLOADING:
        return {"status": version.status, "skipped": True}  # a re-run after the stage finished
    source = version.source
    handler = handlers.get(source.handler)
    candidate = Candidate.from_dict(version.candidate)
    http = SourceHttp(token=credentials_token(source.credentials_setting))
    files: list[dict[str, Any]] = []
    try:
        for remote in handler.files(source, candidate):
            blob = f"{blob_prefix(source, version.number)}/{storage.check_blob_name(remote.blob_name)}"
            got = download(
                http=http, url=remote.url, container=bronze(), blob=blob, headers=remote.headers, auth=remote.auth
            )
            files.append(
                {
                    "name": remote.blob_name,
                    "blob": blob,
                    "sha256": got.sha256,
                    "bytes": got.bytes,
                    "etag": got.etag,
                    "last_modified": got.last_modified,
                    "url": remote.url,
                }
            )
            # Saved as we go: a failure later still lets the cleanup find every blob.
            version.blobs = [f["blob"] for f in files]
            version.save(update_fields=["blobs", "updated_at"])
    except SourceUnavailable as exc:
        raise RetryableError(exc.message, code=exc.code) from exc
    except HandlerError as exc:
        raise PermanentError(exc.message, code=exc.code, remediation=exc.remediation) from exc
    finally:
        http.close()
    if not files:
        raise PermanentError(f"Handler {source.handler!r} listed no file to download.")
    sha = combined_sha256(files)
    live = SourceVersion.objects.filter(source=source, status=VersionStatus.LIVE).first()
    version.sha256 = sha
    version.bytes = sum(int(f["bytes"]) for f in files)
    version.etag = version.etag or (files[0]["etag"] if len(files) == 1 else "")
    version.last_modified = version.last_modified or (files[0]["last_modified"] if len(files) == 1 else "")
    version.label = version.label or candidate.label or sha[:12]
    version.fetched_at = timezone.now()
    if live is not None and live.sha256 == sha and not version.forced:
        for blob in version.blobs:
            storage.blob_delete(bronze(), blob) if storage.blob_exists(bronze(), blob) else None
        version.blobs = []
        version.status = VersionStatus.UNCHANGED
        version.stage = "download"
        version.save()
        # The live data is confirmed current; its validators may have moved (a new ETag).
        ManagedSource.objects.filter(pk=source.pk).update(last_success_at=timezone.now(), last_error=None)
        SourceVersion.objects.filter(pk=live.pk).update(etag=version.etag, last_modified=version.last_modified)
        return {"status": "unchanged", "sha256": sha}
    version.status = VersionStatus.INGESTING
    version.stage = "ingest"
    version.save()
    return {"status": "downloaded", "sha256": sha, "files": files}


# --- stage 2: ingest ------------------------------------------------------------------------------


def stage_ingest(ctx: TaskContext) -> dict[str, Any]:
    from ingest.services import job_submit

    version = version_of(ctx.params)
    if version.status != VersionStatus.INGESTING:
        return {"status": version.status, "skipped": True}
    source = version.source
    handler = handlers.get(source.handler)
    candidate = Candidate.from_dict(version.candidate)
    target = Target(
        kind=source.target_kind,
        name=targets.hidden_name(source, version.number),
        source_collection_id=source.collection_id,
        number=version.number,
    )
    try:
        blobs = handler.prepare(source, candidate, list(version.blobs))
        plan = handler.ingest(source, candidate, blobs, target)
    except SourceUnavailable as exc:
        raise RetryableError(exc.message, code=exc.code) from exc
    except HandlerError as exc:
        raise PermanentError(exc.message, code=exc.code, remediation=exc.remediation) from exc
    if plan.job_type not in INGEST_JOB_TYPES.values():
        raise PermanentError(f"Handler {source.handler!r} planned {plan.job_type!r}, not one of the loaders.")
    if plan.parameters.get("publish", False):
        raise PermanentError("An ingest plan must load hidden (publish=false): the swap publishes.")
    if plan.job_type == "process_vector" and plan.parameters.get("split_geometry_types", True):
        raise PermanentError(
            "A vector ingest plan must load one table (split_geometry_types=false): the swap moves one."
        )
    extra_blobs = [b for b in blobs if b not in version.blobs]
    outcome = job_submit(job_type=plan.job_type, parameters=plan.parameters, user=None, force=version.forced)
    version.blobs = list(version.blobs) + extra_blobs
    version.target = {"kind": source.target_kind, "name": target.name}
    version.job_ids = {**version.job_ids, "ingest": outcome.job.id}
    version.save(update_fields=["blobs", "target", "job_ids", "updated_at"])
    from .actors import watch_later

    watch_later(version.pk)
    return {"status": "ingesting", "ingest_job": outcome.job.id}


def result(ctx: Any) -> dict[str, Any]:
    version = version_of(ctx.params)
    return {
        "source": version.source.name,
        "version": version.number,
        "status": version.status,
        "ingest_job": version.job_ids.get("ingest", ""),
    }


def cleanup(job_id: str, params: dict[str, Any]) -> None:
    """The update job failed for good (or was cancelled): fail its version with the stage
    and message, remove its blobs; the live version is untouched."""
    from ingest.models import Job

    from .services import version_fail

    version = (
        SourceVersion.objects.select_related("source")
        .filter(source__name=str(params.get("source")), number=int(params.get("version") or 0))
        .first()
    )
    if version is None or version.status not in (VersionStatus.DOWNLOADING, VersionStatus.INGESTING):
        return
    job = Job.objects.filter(pk=job_id).first()
    error = (job.error if job is not None else None) or {}
    stage = "download" if version.status == VersionStatus.DOWNLOADING else "ingest"
    version_fail(version=version, stage=stage, message=str(error.get("message") or "the update job failed"))


def register() -> None:
    registry.register(
        registry.JobType(
            name=JOB_TYPE,
            description="Update a managed source: download its new version, load it hidden, then gate and swap.",
            params=[
                registry.Param("source", str, required=True, help="Managed source name."),
                registry.Param("version", int, required=True, min=1, help="Version number (made by the trigger)."),
            ],
            stages=[
                registry.Stage("download", stage_download, queue="etl"),
                registry.Stage("ingest", stage_ingest, queue="default"),
            ],
            finalize=result,
            cleanup=cleanup,
            api_submit=False,
            started_by="POST /api/managed/sources/{name}/update (managed.services.update_trigger) and the scheduler",
        )
    )
