"""Zarr / NetCDF releases: one ``.nc``, a list of them (a series along time), or a ``.zarr``
store -> ``virtualize_climate`` (references only, no data copied) -> a datacube STAC item in
the system collection, kept pending (previewable) until approval registers it.

The external zone: the references name the sources in their container, so a public release's
external copy needs the sources too. ``export`` (run by the externalize job) stages the sources
and references retargeted to their external copies under the item's ``public/`` folder in
silver; they are then copied out and, on revoke, removed like any other artifact.
"""

from __future__ import annotations

import re
from typing import Any, cast

from django.urls import reverse

from climate import selectors as climate_selectors
from climate import services as climate_services
from climate.results import VirtualizeResult
from geoplatform.errors import InvalidInput

from ..errors import PublicationFailed, ZarrNotAvailable
from ..models import DataType, Release, asset_id_for
from .base import (
    Artifacts,
    DataKind,
    JobPlan,
    Submission,
    common_parameters,
    container_required,
    existing_silver,
    external_copies,
    without_none,
)

ZARR_COLLECTION = climate_services.SYSTEM_COLLECTION
OPTIONS = ("concat_dim", "file_pattern", "max_files", "chunks", "overwrite", "pipeline")
RESULT_KEYS = ("references_blob",)
_STAC_ID_RE = re.compile(r"[^A-Za-z0-9._-]+")


def zarr_unavailable(job_type: str = "") -> ZarrNotAvailable:
    return ZarrNotAvailable(
        "zarr processing is not available yet.",
        remediation="Submit NetCDF/Zarr once the climate app is deployed; vector and raster files work now.",
    )


def stac_ids_default(dataset_id: str, resource_id: str, ordinal: int) -> tuple[str, str]:
    item = _STAC_ID_RE.sub("-", f"{dataset_id}-{resource_id}-v{ordinal}")
    if len(item) > 120:
        item = f"{item[:80]}-{asset_id_for(dataset_id, resource_id)[:16]}-v{ordinal}"
    return ZARR_COLLECTION, item


def _check(sub: Submission) -> None:
    if sub.data.get("source_url"):
        raise InvalidInput(
            "'source_url' is not supported for NetCDF/Zarr: the platform reads data from its own storage.",
            code="unsupported_option",
            remediation="Upload the .nc files (or the .zarr store) to a container and submit 'file_name'.",
        )
    container_required(sub)
    if sub.options.get("chunks"):
        raise InvalidInput(
            "Processing option 'chunks' is not supported: a release is virtual (references keep the sources' chunks).",
            code="unsupported_option",
            remediation="Leave 'chunks' out; an operator can add a time-series copy with rechunk_climate.",
        )


def _job_parameters(sub: Submission) -> JobPlan:
    collection, item = stac_ids_default(sub.data["dataset_id"], sub.data["resource_id"], sub.ordinal)
    names = sub.data["file_name"]
    params: dict[str, Any] = {
        **common_parameters(sub),
        "collection_id": collection,
        "item_id": item,
        "concat_dim": sub.options.get("concat_dim"),
        "max_files": sub.options.get("max_files"),
        "pipeline": sub.options.get("pipeline"),
        "publish": False,  # the STAC item goes public on approval
    }
    if sub.options.get("file_pattern"):
        # With a pattern, file_name is the folder (prefix) holding the series.
        params["prefix"] = names if isinstance(names, str) else names[0]
        params["file_pattern"] = sub.options["file_pattern"]
    elif isinstance(names, str):
        params["file_name"] = names
    else:
        params["files"] = list(names)
    return without_none(params), {"stac_collection_id": collection, "stac_item_id": item}


def _result(release: Release) -> VirtualizeResult:
    return cast(VirtualizeResult, release.outputs)


def _unpublish_parameters(release: Release) -> dict[str, Any]:
    return {"collection_id": release.stac_collection_id, "item_id": release.stac_item_id, "dry_run": False}


def _publish(release: Release) -> None:
    if not release.stac_item_id:
        return
    if (
        climate_selectors.dataset_row_find(collection_id=release.stac_collection_id, item_id=release.stac_item_id)
        is None
    ):
        raise PublicationFailed(
            f"The job produced no climate dataset {release.stac_collection_id}/{release.stac_item_id}; "
            "approval rolled back."
        )
    climate_services.dataset_publish(collection_id=release.stac_collection_id, item_id=release.stac_item_id)


def _withdraw(release: Release) -> None:
    if release.stac_item_id:
        climate_services.dataset_withdraw(collection_id=release.stac_collection_id, item_id=release.stac_item_id)


def _artifacts(release: Release) -> Artifacts:
    external = external_copies(release)
    if not release.stac_item_id:
        return Artifacts(external_blobs=external)
    c, i = release.stac_collection_id, release.stac_item_id
    plan = climate_services.climate_unpublish(collection_id=c, item_id=i, dry_run=True)
    return Artifacts(
        stac_items=tuple(plan["stac_items"]),
        silver_blobs=tuple(sorted(plan["blobs"])),
        copy_blobs=tuple(existing_silver(climate_services.public_blobs(collection_id=c, item_id=i))),
        external_blobs=external,
    )


def _export(release: Release) -> list[str]:
    if not release.stac_item_id:
        return []
    return climate_services.dataset_export_public(
        collection_id=release.stac_collection_id, item_id=release.stac_item_id
    )


def _services(release: Release) -> dict[str, Any] | None:
    c, i = release.stac_collection_id, release.stac_item_id
    stac_item: str | None = _result(release).get("stac_item_url")
    return {
        "stac_collection": f"/api/stac/collections/{c}",
        "stac_item": stac_item or f"/api/stac/collections/{c}/items/{i}",
        "edr": f"/api/edr/collections/{c}",
        "point": f"/api/xarray/point/{c}/{i}",
        # The climate viewer (map with a time slider and a point chart): the reviewers' preview.
        "preview": reverse("climate_read:xarray-viewer", kwargs={"collection": c, "item": i}),
        "viewer": reverse("climate_read:xarray-viewer", kwargs={"collection": c, "item": i}),
    }


ZARR = DataKind(
    data_type=DataType.ZARR,
    process_job_type="virtualize_climate",
    unpublish_job_type="unpublish_zarr",
    options=OPTIONS,
    check=_check,
    job_parameters=_job_parameters,
    unpublish_parameters=_unpublish_parameters,
    publish=_publish,
    withdraw=_withdraw,
    artifacts=_artifacts,
    export=_export,
    services=_services,
    result_keys=RESULT_KEYS,
    extensions=("nc", "zarr"),
    files="any",
    from_source_url=True,
    unavailable=zarr_unavailable,
)
