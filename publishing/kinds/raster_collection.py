"""Raster collection releases: several GeoTIFFs -> ``process_raster_collection`` -> a STAC
collection of its own (one COG per file) and a registered mosaic search."""

from __future__ import annotations

from typing import Any, cast

from catalog import services as catalog_services
from rasters import links
from rasters import services as rasters_services
from rasters.results import RasterCollectionJobResult

from ..errors import PublicationFailed
from ..models import DataType, Release
from .base import (
    Artifacts,
    DataKind,
    JobPlan,
    Submission,
    container_required,
    existing_silver,
    external_copies,
    reported_blobs,
    without_none,
)
from .raster import EXTENSIONS, OPTIONS, raster_parameters, stac_ids_default

RESULT_KEYS = ("cog_blobs",)


def _job_parameters(sub: Submission) -> JobPlan:
    # The job creates its own STAC collection, named like a single raster's item.
    _, collection = stac_ids_default(sub.data["dataset_id"], sub.data["resource_id"], sub.ordinal)
    params = {
        **raster_parameters(sub, collection),
        "files": list(sub.data["file_name"]),
        "publish": False,  # the collection and its items go public on approval
    }
    return without_none(params), {"stac_collection_id": collection, "stac_item_id": ""}


def _result(release: Release) -> RasterCollectionJobResult:
    """The release's process_raster_collection result, typed so mypy checks the keys read
    here (``{}`` until the job completes: read it with ``.get``)."""
    return cast(RasterCollectionJobResult, release.outputs)


def _unpublish_parameters(release: Release) -> dict[str, Any]:
    # unpublish_raster takes one item; a collection (items, COGs, mosaic searches) has its own.
    return {"collection_id": release.stac_collection_id, "dry_run": False}


def _publish(release: Release) -> None:
    collection: dict[str, Any] | None = _result(release).get("stac_collection")  # annotated: a key typo is an error
    if release.job_id is None or not isinstance(collection, dict):
        raise PublicationFailed(
            f"The job produced no STAC collection {release.stac_collection_id!r} to publish; approval rolled back."
        )
    rasters_services.pending_collection_publish(collection=collection, job_id=release.job_id)


def _withdraw(release: Release) -> None:
    if release.stac_collection_id:
        catalog_services.collection_delete(collection_id=release.stac_collection_id)  # and its items


def _artifacts(release: Release) -> Artifacts:
    external = external_copies(release)
    if not release.stac_collection_id:
        return Artifacts(external_blobs=external)
    plan = rasters_services.raster_collection_unpublish(collection_id=release.stac_collection_id, dry_run=True)
    return Artifacts(
        stac_collections=(plan["stac_collection"],) if plan["stac_collection"] else (),
        stac_items=tuple(plan["stac_items"]),
        searches=tuple(plan["searches"]),
        silver_blobs=tuple(sorted(plan["blobs"])),
        copy_blobs=tuple(existing_silver(reported_blobs(release, RESULT_KEYS))),
        external_blobs=external,
    )


def _services(release: Release) -> dict[str, Any] | None:
    """The mosaic of its registered search."""
    c = release.stac_collection_id
    outputs = _result(release)
    # Annotated: mypy types .get() of a key the TypedDict lacks as object, so a typo fails here.
    tilejson: str | None = outputs.get("mosaic_tilejson_url")
    tiles: str | None = outputs.get("mosaic_tile_url_template")
    return {
        "service_url": tilejson or f"{links.stac_collection(c)}/items",
        "preview": None,
        "viewer": None,
        "tiles": tiles,
        "stac_collection": links.stac_collection(c),
        "stac_item": None,
    }


RASTER_COLLECTION = DataKind(
    data_type=DataType.RASTER_COLLECTION,
    process_job_type="process_raster_collection",
    unpublish_job_type="unpublish_raster_collection",
    options=OPTIONS,
    check=container_required,
    job_parameters=_job_parameters,
    unpublish_parameters=_unpublish_parameters,
    publish=_publish,
    withdraw=_withdraw,
    artifacts=_artifacts,
    services=_services,
    result_keys=RESULT_KEYS,
    extensions=EXTENSIONS,
    files="many",
    owns_stac_collection=True,
)
