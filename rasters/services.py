"""Writes of the rasters app: COG outputs in the silver zone and their STAC items.

Blob layout (silver): ``rasters/<collection_id>/<item_id>/<run>/<tier>.tif`` where ``run``
is the first 16 characters of the job id. A failed run removes only its own folder, so an
``overwrite`` that fails never damages the published version; a successful run removes
the older runs after its STAC item is in place.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from django.core.files import File

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from geoplatform.faults import fault_point
from geoplatform.storage import blob_delete, blob_href, blob_list, get_storage, zone_container

from . import cog
from .errors import InvalidRaster
from .models import PendingItem
from .results import RasterCollectionUnpublishResult, RasterUnpublishResult

logger = logging.getLogger(__name__)

SYSTEM_COLLECTION = "system-rasters"


def item_prefix(collection_id: str, item_id: str) -> str:
    return f"rasters/{collection_id}/{item_id}"


def run_prefix(collection_id: str, item_id: str, job_id: str) -> str:
    return f"{item_prefix(collection_id, item_id)}/{job_id[:16]}"


def cog_tier_publish(
    *,
    source_container: str,
    source_name: str,
    local_source: Path,
    collection_id: str,
    item_id: str,
    job_id: str,
    tier: str,
    raster_type: str,
    crs: str | None,
    web_optimized: bool,
) -> dict[str, Any]:
    """Create one tier's COG from a local copy of the source and store it in silver (idempotent)."""
    silver = zone_container("silver")
    blob = f"{run_prefix(collection_id, item_id, job_id)}/{tier}.tif"
    with tempfile.TemporaryDirectory(prefix="geoplatform-cog-") as tmp:
        out = cog.create_cog(
            local_source,
            Path(tmp) / f"{tier}.tif",
            tier=tier,
            raster_type=raster_type,
            crs=crs,
            web_optimized=web_optimized,
        )
        blob_store(container=silver, name=blob, path=out.path)
        fault_point("rasters.cog.stored")  # COG in silver, task not yet recorded
    return {
        "tier": tier,
        "container": silver,
        "blob": blob,
        "href": blob_href(silver, blob),
        "profile": out.profile,
        "size": out.size,
        "warnings": out.warnings,
    }


def part_blob(collection_id: str, item_id: str, job_id: str, index: int) -> str:
    return f"{run_prefix(collection_id, item_id, job_id)}/parts/{index:06d}.tif"


def blob_store(*, container: str, name: str, path: Path) -> None:
    storage = get_storage(container)
    with open(path, "rb") as fh:
        saved = storage.save(name, File(fh, name=name))
    if saved != name:
        raise RuntimeError(f"storage stored {name!r} as {saved!r}")


def parts_delete(*, collection_id: str, item_id: str, job_id: str) -> int:
    """Window parts of a large raster are scaffolding: gone once the COGs are registered."""
    silver = zone_container("silver")
    blobs = blob_list(silver, f"{run_prefix(collection_id, item_id, job_id)}/parts")
    for blob in blobs:
        blob_delete(silver, blob)
    return len(blobs)


def raster_item_register(*, collection_id: str, item: dict[str, Any]) -> None:
    if collection_id == SYSTEM_COLLECTION and catalog_selectors.collection_get(collection_id=collection_id) is None:
        catalog_services.system_collections_ensure()
    catalog_services.item_upsert(collection_id=collection_id, item=item)


def old_runs_delete(*, collection_id: str, item_id: str, keep_job_id: str) -> list[str]:
    """After a successful publish: remove the blobs of earlier runs of the same item."""
    keep = run_prefix(collection_id, item_id, keep_job_id) + "/"
    silver = zone_container("silver")
    deleted = []
    for blob in blob_list(silver, item_prefix(collection_id, item_id)):
        if not blob.startswith(keep):
            blob_delete(silver, blob)
            deleted.append(blob)
    return deleted


def pending_item_set(*, collection_id: str, item_id: str, item: dict[str, Any], job_id: str) -> None:
    """Keep the item of a release awaiting review (previewable, not public)."""
    PendingItem.objects.update_or_create(
        collection_id=collection_id, item_id=item_id, defaults={"item": item, "job_id": job_id}
    )


def pending_item_discard(*, collection_id: str, item_id: str) -> bool:
    """Forget a pending item (approved: it is in STAC now; or unpublished). Idempotent."""
    deleted, _ = PendingItem.objects.filter(collection_id=collection_id, item_id=item_id).delete()
    return bool(deleted)


def pending_items_discard(*, collection_id: str, job_id: str) -> int:
    """Forget the pending items one run of a collection job kept (its cleanup)."""
    deleted, _ = PendingItem.objects.filter(collection_id=collection_id, job_id=job_id).delete()
    return deleted


def raster_collection_register(*, collection: dict[str, Any], items: list[dict[str, Any]], job_id: str) -> None:
    """Make a collection and its items public; earlier runs' COGs of those items go."""
    collection_id = collection["id"]
    catalog_services.collection_upsert(collection=collection)
    catalog_services.items_upsert(collection_id=collection_id, items=items)
    for item in items:
        old_runs_delete(collection_id=collection_id, item_id=item["id"], keep_job_id=job_id)


def pending_collection_publish(*, collection: dict[str, Any], job_id: str) -> int:
    """Approval of a collection release: register the collection and the items its run kept pending."""
    collection_id = collection["id"]
    pending = PendingItem.objects.filter(collection_id=collection_id, job_id=job_id).order_by("item_id")
    items = [row.item for row in pending]
    if not items:
        raise InvalidRaster(f"No pending items of {collection_id!r} from job {job_id}: nothing to publish.")
    raster_collection_register(collection=collection, items=items, job_id=job_id)
    pending.delete()
    return len(items)


def run_outputs_delete(*, collection_id: str, item_id: str, job_id: str) -> dict[str, Any]:
    """Undo a failed run: its own blobs, and the STAC item only if this run wrote it."""
    silver = zone_container("silver")
    blobs = blob_list(silver, run_prefix(collection_id, item_id, job_id))
    for blob in blobs:
        blob_delete(silver, blob)
    item = catalog_selectors.item_get(collection_id=collection_id, item_id=item_id)
    item_deleted = False
    if item is not None and item.get("properties", {}).get("geoplatform:job_id") == job_id:
        item_deleted = catalog_services.item_delete(collection_id=collection_id, item_id=item_id)

    PendingItem.objects.filter(collection_id=collection_id, item_id=item_id, job_id=job_id).delete()
    return {"blobs": blobs, "item_deleted": item_deleted}


def raster_unpublish(*, collection_id: str, item_id: str, dry_run: bool = True) -> RasterUnpublishResult:
    """List (dry run) or delete an item's COGs and STAC item; deleting twice is harmless."""
    silver = zone_container("silver")
    blobs = blob_list(silver, item_prefix(collection_id, item_id))
    item = catalog_selectors.item_get(collection_id=collection_id, item_id=item_id)
    stac_items = [f"{collection_id}/{item_id}"] if item is not None else []
    if not dry_run:
        for blob in blobs:
            blob_delete(silver, blob)
        if item is not None:
            catalog_services.item_delete(collection_id=collection_id, item_id=item_id)
        pending_item_discard(collection_id=collection_id, item_id=item_id)
    return {"dry_run": dry_run, "container": silver, "blobs": blobs, "stac_items": stac_items}


def raster_collection_unpublish(*, collection_id: str, dry_run: bool = True) -> RasterCollectionUnpublishResult:
    """List (dry run) or delete a whole raster collection: COGs, items, the collection, its mosaic searches.

    Deleting twice is harmless. System collections are refused by the job's pre-flight.
    """
    silver = zone_container("silver")
    blobs = blob_list(silver, f"rasters/{collection_id}")
    exists = catalog_selectors.collection_get(collection_id=collection_id) is not None
    item_ids = catalog_selectors.collection_item_ids_list(collection_id=collection_id) if exists else []
    searches = catalog_selectors.collection_searches_list(collection_id=collection_id)
    pending = list(PendingItem.objects.filter(collection_id=collection_id).values_list("item_id", flat=True))
    if not dry_run:
        for blob in blobs:
            blob_delete(silver, blob)
        if exists:
            catalog_services.collection_delete(collection_id=collection_id)  # and its items
        for search_id in searches:
            catalog_services.search_delete(search_id=search_id)
        PendingItem.objects.filter(collection_id=collection_id).delete()
    return {
        "dry_run": dry_run,
        "container": silver,
        "blobs": blobs,
        "stac_collection": collection_id if exists else None,
        "stac_items": [f"{collection_id}/{item_id}" for item_id in item_ids],
        "pending_items": sorted(pending),
        "searches": searches,
    }
