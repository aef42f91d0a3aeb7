"""Publishing's own job type: ``externalize_release`` (copy to / remove from the external zone).

Stages: ``plan`` (which blobs) -> ``transfer`` (one task per blob, fanned out) -> ``record``
(store the copies on the release). Every task is idempotent.
"""

from __future__ import annotations

from typing import Any

from geoplatform.errors import ApplicationError
from ingest import registry
from ingest.errors import PermanentError

from . import externalize, kinds, selectors, services
from .models import ApprovalState, ClearanceState, Release


def _plan(ctx: registry.TaskContext) -> dict[str, Any]:
    """The blobs to copy out (or remove): named by the release's kind, as the unpublish dry run names them."""
    release = Release.objects.select_related("job").get(pk=ctx.params["release_id"])
    kind = kinds.kind_of(release)
    if ctx.params["action"] == "copy":
        _check_copyable(release, ctx.params["revision"])
        try:
            # A vector's public form is a GeoParquet export of each table (written to silver,
            # then copied like any other artifact).
            kind.export(release)
        except ApplicationError as exc:
            ctx.warn(f"No export: {exc.message}")
        return {"blobs": sorted(kind.artifacts(release).copy_blobs)}
    return {"blobs": list(kinds.external_copies(release))}


def _check_copyable(release: Release, revision: int) -> None:
    """Only what the state machine cleared leaves the organisation: the job checks again
    when it runs (a retried, re-sent or hand-started copy of a release revoked, overwritten
    or never approved as public copies nothing)."""
    cleared = (
        release.approval_state == ApprovalState.APPROVED
        and release.clearance_state == ClearanceState.PUBLIC
        and release.revision == revision
    )
    if not cleared:
        raise PermanentError(
            f"Release {release.id} (revision {release.revision}) is {release.approval_state}, clearance "
            f"{release.clearance_state}: only an approved public release (revision {revision}) is copied to "
            "the external zone.",
            code="release_not_public",
            remediation="Approve it as public with POST /api/platform/approve; that starts the copy.",
        )


def _transfer(ctx: registry.TaskContext) -> dict[str, Any]:
    name = ctx.task_params["blob"]
    if ctx.params["action"] == "copy":
        result = externalize.blob_copy(name=name)
        services.external_audit(release_id=ctx.params["release_id"], event="externalized", detail=result)
    else:
        result = externalize.blob_remove(name=name)
        services.external_audit(release_id=ctx.params["release_id"], event="external_removed", detail=result)
    return result


def _record(ctx: registry.TaskContext) -> dict[str, Any]:
    services.release_external_record(
        release_id=ctx.params["release_id"],
        action=ctx.params["action"],
        job_id=ctx.job_id,
        results=ctx.previous_results,
    )
    return {"blobs": len(ctx.previous_results)}


def _finalize(ctx: registry.FinalizeContext) -> dict[str, Any]:
    return {"action": ctx.params["action"], "blobs": ctx.stage_results[1]}


EXTERNALIZE = registry.JobType(
    name="externalize_release",
    description="Copy an approved public release's artifacts silver -> external (or remove the copies).",
    params=[
        registry.Param("release_id", str, required=True),
        registry.Param("revision", int, default=1, min=1),
        registry.Param("action", str, default="copy", choices=("copy", "remove")),
    ],
    stages=[
        registry.Stage("plan", _plan),
        registry.Stage(
            "transfer", _transfer, tasks=registry.from_previous(lambda r, p: [{"blob": b} for b in r[0]["blobs"]])
        ),
        registry.Stage("record", _record),
    ],
    finalize=_finalize,
    # It checks nothing itself: publishing starts it once the state machine allows it.
    api_submit=False,
    started_by=(
        "publishing when a release is approved as public: use POST /api/platform/approve "
        "(POST /api/platform/revoke or /api/platform/unpublish removes the copies)"
    ),
)


def register() -> None:
    registry.register(EXTERNALIZE)
    registry.register_submit_guard(selectors.release_outputs_guard)
    # Data the generic API may not publish without review is reviewed through a release.
    registry.register_review_route("POST /api/platform/submit")
