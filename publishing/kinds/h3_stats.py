"""H3 statistics releases: a submit names an existing statistics dataset (``h3_dataset``, its
slug or id) instead of a file -> ``export_h3_stats`` writes it as GeoParquet 1.1, one file per
resolution, into a silver folder of the release's own -> approval (public) copies those files
to the external zone; revoke removes the copies, unpublish the silver files too.

The folder, ``h3/<slug>/releases/<dataset_id>/<resource_id>/v<ordinal>``, is the release's:
the copies of two versions of one asset never share a name, so revoking one leaves the other's
files where they are; an overwrite (same ordinal, next revision) replaces the files in place
and drops those of resolutions it no longer has. The statistics themselves stay served by
``/api/h3/`` whatever the release's state: the release governs the export, the artifact that
leaves the platform.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from geoplatform.errors import ApplicationError, InvalidInput
from h3grid import export

from ..errors import H3DatasetNotFound, NothingToExport, PublicationFailed, ResolutionNotComputed
from ..models import DataType, Release
from .base import (
    Artifacts,
    DataKind,
    JobPlan,
    Submission,
    existing_silver,
    external_copies,
    reported_blobs,
    without_none,
)

SOURCE_FIELD = "h3_dataset"
OPTIONS = ("resolutions", "overwrite")
RESULT_KEYS = ("blobs",)  # export_h3_stats' result: the silver names of its files
# h3grid's refusal codes -> the error DDH sees (error_type is the class name).
_REFUSALS: dict[str, type[InvalidInput]] = {
    "h3_dataset_not_found": H3DatasetNotFound,
    "resolution_not_computed": ResolutionNotComputed,
    "h3_dataset_not_computed": NothingToExport,
    "nothing_to_export": NothingToExport,
}


def release_folder(slug: str, dataset_id: str, resource_id: str, ordinal: int) -> str:
    return f"h3/{slug}/releases/{dataset_id}/{resource_id}/v{ordinal}"


def _refused(exc: ApplicationError) -> InvalidInput:
    error = _REFUSALS.get(exc.code, InvalidInput)
    return error(exc.message, code=exc.code, details=exc.details, remediation=exc.remediation)


def _slug(sub: Submission) -> str:
    try:
        return export.dataset_slug(str(sub.data[SOURCE_FIELD]))
    except ApplicationError as exc:
        raise _refused(exc) from None


def _check(sub: Submission) -> None:
    if sub.data.get("container_name"):
        raise InvalidInput(
            f"'container_name' does not go with '{SOURCE_FIELD}': the statistics are already on the platform.",
            code="unsupported_option",
            remediation=f"Send '{SOURCE_FIELD}' alone (and processing_options.resolutions to export some only).",
        )
    params = {"dataset": _slug(sub), "resolutions": sub.options.get("resolutions") or []}
    try:
        export.export_plan(params)
    except ApplicationError as exc:
        raise _refused(exc) from None


def _job_parameters(sub: Submission) -> JobPlan:
    slug = _slug(sub)
    folder = release_folder(slug, sub.data["dataset_id"], sub.data["resource_id"], sub.ordinal)
    params = {
        "dataset": slug,
        "resolutions": sub.options.get("resolutions"),
        "folder": folder,
        "overwrite": sub.options.get("overwrite"),
    }
    return without_none(params), {}


def _where(release: Release) -> tuple[str, str]:
    """(slug, folder) of the release's export, from its job parameters."""
    params = release.job_parameters or {}
    return str(params.get("dataset", "")), str(params.get("folder", ""))


def _unpublish_parameters(release: Release) -> dict[str, Any]:
    slug, folder = _where(release)
    return {"dataset": slug, "folder": folder, "dry_run": False}


def _artifacts(release: Release) -> Artifacts:
    external = external_copies(release)
    slug, folder = _where(release)
    if not (slug and folder):
        return Artifacts(external_blobs=external)
    silver = tuple(export.export_blobs(slug=slug, folder=folder))  # what unpublish_h3_export removes
    return Artifacts(
        silver_blobs=silver,
        copy_blobs=tuple(existing_silver(reported_blobs(release, RESULT_KEYS))),
        external_blobs=external,
    )


def _publish(release: Release) -> None:
    """Nothing to show (``/api/h3/`` serves the statistics anyway): approval only checks that
    the files the job wrote are there, so a public approval has something to copy."""
    reported = reported_blobs(release, RESULT_KEYS)
    missing = sorted(set(reported) - set(existing_silver(reported)))
    if not reported or missing:
        raise PublicationFailed(
            f"The export of release {release.id} is missing from the silver zone ({', '.join(missing) or 'no files'}); "
            "approval rolled back.",
            remediation="Resubmit with processing_options.overwrite=true to export it again.",
        )


def _services(release: Release) -> dict[str, Any] | None:
    slug, _ = _where(release)
    if not slug:
        return None
    stats = reverse("h3grid:stats", args=[slug])
    outputs = release.outputs
    files = [
        {k: f.get(k) for k in ("res", "blob", "rows", "bytes")}
        for f in outputs.get("files") or []
        if isinstance(f, dict)
    ]
    return {
        "service_url": stats,
        "preview": f"{reverse('h3grid:map')}?dataset={slug}",
        "viewer": f"{reverse('h3grid:map')}?dataset={slug}",
        "tiles": None,
        "stac_collection": None,
        "stac_item": None,
        "h3_dataset": slug,
        "cells": reverse("h3grid:stats-cells", args=[slug]),
        "format": outputs.get("format"),
        "files": files,
    }


H3_STATS = DataKind(
    data_type=DataType.H3_STATS,
    process_job_type="export_h3_stats",
    unpublish_job_type="unpublish_h3_export",
    options=OPTIONS,
    check=_check,
    job_parameters=_job_parameters,
    unpublish_parameters=_unpublish_parameters,
    publish=_publish,
    artifacts=_artifacts,
    services=_services,
    result_keys=RESULT_KEYS,
    source_field=SOURCE_FIELD,
)
