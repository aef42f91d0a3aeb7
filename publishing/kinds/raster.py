"""Raster releases: one GeoTIFF -> ``process_raster`` -> COG(s) and a STAC item in the system
collection, kept pending until approval registers it."""

from __future__ import annotations

import re
from typing import Any, cast

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from rasters import links
from rasters import services as rasters_services
from rasters.results import RasterJobResult

from ..errors import PublicationFailed
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
    reported_blobs,
    without_none,
)

# Raster releases land in the catalog's system collection (process_raster refuses a
# collection that does not exist); the item id carries the asset and the version.
RASTER_COLLECTION = "system-rasters"
EXTENSIONS = ("tif", "tiff")
# What a raster submitter may tune (types and choices: process_raster's Params).
OPTIONS = ("crs", "raster_type", "output_tier", "processing", "overwrite")
RESULT_KEYS: tuple[str, ...] = ()  # the COGs are the STAC item's geoplatform:blob assets

_STAC_ID_RE = re.compile(r"[^A-Za-z0-9._-]+")


def stac_ids_default(dataset_id: str, resource_id: str, ordinal: int) -> tuple[str, str]:
    item = _STAC_ID_RE.sub("-", f"{dataset_id}-{resource_id}-v{ordinal}")
    if len(item) > 200:  # keep ids short but still unique per asset
        item = f"{item[:150]}-{asset_id_for(dataset_id, resource_id)[:16]}-v{ordinal}"
    return RASTER_COLLECTION, item


def raster_parameters(sub: Submission, collection_id: str) -> dict[str, Any]:
    """What a single raster and a raster collection both pass to their job."""
    return {
        **common_parameters(sub),
        "collection_id": collection_id,
        "crs": sub.options.get("crs"),
        "raster_type": sub.options.get("raster_type"),
        "output_tier": sub.options.get("output_tier", "analysis"),
        "processing": sub.options.get("processing"),
        # copied into the STAC item's properties by process_raster: namespaced keys
        "metadata": {f"ddh:{k}": v for k, v in sub.release_meta.items()},
    }


def _job_parameters(sub: Submission) -> JobPlan:
    collection, item = stac_ids_default(sub.data["dataset_id"], sub.data["resource_id"], sub.ordinal)
    params = {
        **raster_parameters(sub, collection),
        "file_name": sub.file_name,
        "item_id": item,
        "publish": False,  # the STAC item goes public on approval
    }
    return without_none(params), {"stac_collection_id": collection, "stac_item_id": item}


def _result(release: Release) -> RasterJobResult:
    """The release's process_raster result, typed so mypy checks the keys read here
    (``{}`` until the job completes: read it with ``.get``)."""
    return cast(RasterJobResult, release.outputs)


def _unpublish_parameters(release: Release) -> dict[str, Any]:
    # Parameter names as documented in docs/apps/rasters.md.
    return {"collection_id": release.stac_collection_id, "item_id": release.stac_item_id, "dry_run": False}


def _publish(release: Release) -> None:
    """Register the STAC item the job left pending."""
    if not release.stac_item_id:
        return
    item: dict[str, Any] | None = _result(release).get("stac_item")  # annotated: a key typo is an error
    if not isinstance(item, dict):
        item = catalog_selectors.item_get(collection_id=release.stac_collection_id, item_id=release.stac_item_id)
    if not isinstance(item, dict):
        raise PublicationFailed(
            f"The job produced no STAC item {release.stac_collection_id}/{release.stac_item_id}; approval rolled back."
        )
    catalog_services.item_upsert(collection_id=release.stac_collection_id, item=item)
    rasters_services.pending_item_discard(collection_id=release.stac_collection_id, item_id=release.stac_item_id)


def _withdraw(release: Release) -> None:
    if release.stac_item_id:
        catalog_services.item_delete(collection_id=release.stac_collection_id, item_id=release.stac_item_id)


def _artifacts(release: Release) -> Artifacts:
    external = external_copies(release)
    if not release.stac_item_id:
        return Artifacts(external_blobs=external)
    plan = rasters_services.raster_unpublish(
        collection_id=release.stac_collection_id, item_id=release.stac_item_id, dry_run=True
    )
    return Artifacts(
        stac_items=tuple(plan["stac_items"]),
        silver_blobs=tuple(sorted(plan["blobs"])),
        copy_blobs=tuple(existing_silver(reported_blobs(release, RESULT_KEYS))),
        external_blobs=external,
    )


def _services(release: Release) -> dict[str, Any] | None:
    """The job's own URLs when it reported them, else the raster app's paths for the item."""
    c, i = release.stac_collection_id, release.stac_item_id
    outputs = _result(release)
    # Annotated: mypy types .get() of a key the TypedDict lacks as object, so a typo fails here.
    tilejson: str | None = outputs.get("tilejson_url")
    preview: str | None = outputs.get("preview_url")
    viewer: str | None = outputs.get("viewer_url")
    tiles: str | None = outputs.get("tile_url_template")
    return {
        "service_url": tilejson or links.tilejson(c, i),
        "preview": preview or links.preview(c, i),
        "viewer": viewer or links.viewer(c, i),
        "tiles": tiles or links.tile_template(c, i),
        "stac_collection": links.stac_collection(c),
        "stac_item": links.stac_item(c, i) if i else None,
    }


RASTER = DataKind(
    data_type=DataType.RASTER,
    process_job_type="process_raster",
    unpublish_job_type="unpublish_raster",
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
    files="one",
)
