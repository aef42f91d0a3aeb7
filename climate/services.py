"""Writes of the climate app: references in the silver zone, dataset rows, STAC items.

Blob layout (silver): ``climate/<collection_id>/<item_id>/<run>/refs.json`` (``run``: the first
16 characters of the job id), the per-file references of a run under ``<run>/parts/`` while it
runs, and a rechunked copy under ``climate/<collection_id>/<item_id>/rechunked/<run>.zarr/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

from django.db import transaction

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from geoplatform.storage import blob_delete, blob_href, blob_list, blob_save, get_storage, zone_container

from . import gpstore, selectors
from . import refs as refs_mod
from .models import ClimateDataset
from .results import UnpublishResult

logger = logging.getLogger(__name__)

SYSTEM_COLLECTION = "system-zarr"


def item_prefix(collection_id: str, item_id: str) -> str:
    return f"climate/{collection_id}/{item_id}"


def run_prefix(collection_id: str, item_id: str, job_id: str) -> str:
    return f"{item_prefix(collection_id, item_id)}/{job_id[:16]}"


def json_save(*, container: str, name: str, document: dict[str, Any]) -> str:
    """Write a JSON document (overwrite: a task may run twice); returns its sha256."""
    data = refs_mod.dumps(document)
    blob_save(container, name, io.BytesIO(data), size=len(data), overwrite=True)
    return hashlib.sha256(data).hexdigest()


def source_open(*, container: str, name: str) -> Any:
    return get_storage(container).open(name, "rb")


def json_load(*, container: str, name: str) -> dict[str, Any]:
    with get_storage(container).open(name, "rb") as fh:
        loaded = json.load(fh)
    return loaded if isinstance(loaded, dict) else {}


def part_blob(collection_id: str, item_id: str, job_id: str, index: int) -> str:
    return f"{run_prefix(collection_id, item_id, job_id)}/parts/{index:06d}.json"


def parts_delete(*, collection_id: str, item_id: str, job_id: str) -> int:
    silver = zone_container("silver")
    names = blob_list(silver, f"{run_prefix(collection_id, item_id, job_id)}/parts")
    for name in names:
        blob_delete(silver, name)
    return len(names)


def dataset_register(
    *,
    collection_id: str,
    item: dict[str, Any],
    refs_blob: str,
    refs_etag: str,
    source_container: str,
    source_files: list[str],
    job_id: str,
    publish: bool,
) -> ClimateDataset:
    """Record the dataset; with ``publish``, also its STAC item in pgSTAC (else it waits for review)."""
    with transaction.atomic():
        row, _ = ClimateDataset.objects.update_or_create(
            collection_id=collection_id,
            item_id=item["id"],
            defaults={
                "item": item,
                "refs_blob": refs_blob,
                "refs_etag": refs_etag,
                "source_container": source_container,
                "source_files": source_files,
                "job_id": job_id,
                "published": publish,
            },
        )
        if publish:
            catalog_services.item_upsert(collection_id=collection_id, item=item)
    selectors.item_forget(collection_id=collection_id, item_id=item["id"])
    return row


def dataset_publish(*, collection_id: str, item_id: str) -> dict[str, Any]:
    """Approval: the pending item goes to pgSTAC."""
    row = ClimateDataset.objects.get(collection_id=collection_id, item_id=item_id)
    catalog_services.item_upsert(collection_id=collection_id, item=row.item)
    ClimateDataset.objects.filter(pk=row.pk).update(published=True)
    selectors.item_forget(collection_id=collection_id, item_id=item_id)
    return dict(row.item)


def dataset_withdraw(*, collection_id: str, item_id: str) -> None:
    """Revoke: the item leaves pgSTAC; the references stay (a reviewer can preview again)."""
    catalog_services.item_delete(collection_id=collection_id, item_id=item_id)
    ClimateDataset.objects.filter(collection_id=collection_id, item_id=item_id).update(published=False)
    selectors.item_forget(collection_id=collection_id, item_id=item_id)


def dataset_item_set(*, collection_id: str, item_id: str, item: dict[str, Any], **fields: Any) -> None:
    """Replace the stored item (and pgSTAC's when published): a new asset, retargeted references."""
    row = ClimateDataset.objects.get(collection_id=collection_id, item_id=item_id)
    ClimateDataset.objects.filter(pk=row.pk).update(item=item, **fields)
    if row.published:
        catalog_services.item_upsert(collection_id=collection_id, item=item)
    selectors.item_forget(collection_id=collection_id, item_id=item_id)


def old_runs_delete(*, collection_id: str, item_id: str, keep_job_id: str) -> list[str]:
    """Older runs' references and the rechunked copy of the old data (after a successful overwrite)."""
    silver = zone_container("silver")
    keep = run_prefix(collection_id, item_id, keep_job_id) + "/"
    removed = []
    for name in blob_list(silver, item_prefix(collection_id, item_id)):
        if not name.startswith(keep):
            blob_delete(silver, name)
            removed.append(name)
    return removed


def run_outputs_delete(*, collection_id: str, item_id: str, job_id: str) -> list[str]:
    """A failed or cancelled run: its own folder, and its row and item if it got that far
    (the published version of an earlier run stays)."""
    silver = zone_container("silver")
    names = blob_list(silver, run_prefix(collection_id, item_id, job_id))
    for name in names:
        blob_delete(silver, name)
    row = ClimateDataset.objects.filter(collection_id=collection_id, item_id=item_id, job_id=job_id).first()
    if row is not None:
        if row.published:
            catalog_services.item_delete(collection_id=collection_id, item_id=item_id)
        row.delete()
    return names


def climate_unpublish(
    *, collection_id: str, item_id: str, dry_run: bool = True, delete_sources: bool = False
) -> UnpublishResult:
    """List (dry run) or delete a dataset's references, rechunked copy, STAC item and row; the
    source files only with ``delete_sources``. Deleting twice is harmless."""
    silver = zone_container("silver")
    blobs = blob_list(silver, item_prefix(collection_id, item_id))
    item = catalog_selectors.item_get(collection_id=collection_id, item_id=item_id)
    ours = item is not None and "references" in (item.get("assets") or {})
    row = ClimateDataset.objects.filter(collection_id=collection_id, item_id=item_id).first()
    source_container = row.source_container if row is not None else ""
    source_blobs = [str(n) for n in row.source_files] if row is not None and delete_sources else []
    if not dry_run:
        for blob in blobs:
            blob_delete(silver, blob)
        if ours:
            catalog_services.item_delete(collection_id=collection_id, item_id=item_id)
        if row is not None:
            row.delete()
        storage = get_storage(source_container) if source_blobs else None
        for name in source_blobs:
            if storage is not None and storage.exists(name):
                storage.delete(name)
    return {
        "dry_run": dry_run,
        "collection_id": collection_id,
        "item_id": item_id,
        "container": silver,
        "blobs": blobs,
        "stac_items": [f"{collection_id}/{item_id}"] if ours else [],
        "dataset_row": row is not None,
        "source_container": source_container,
        "source_blobs": source_blobs,
    }


# --- the public (external) form of a dataset --------------------------------------------------


def public_prefix(collection_id: str, item_id: str) -> str:
    return f"{item_prefix(collection_id, item_id)}/public"


def dataset_export_public(*, collection_id: str, item_id: str) -> list[str]:
    """What the external zone needs for the references to work there, staged in silver under
    ``<item>/public/`` so publishing's externalize job copies (and on revoke removes) it like
    any other artifact: the source files, and the references retargeted to those copies in
    the external container. Idempotent (a staged source of the same size is not copied again).
    """
    row = ClimateDataset.objects.get(collection_id=collection_id, item_id=item_id)
    silver, external = zone_container("silver"), zone_container("external")
    prefix = public_prefix(collection_id, item_id)
    source_storage, silver_storage = get_storage(row.source_container), get_storage(silver)
    mapping: dict[str, str] = {}
    written: list[str] = []
    copies: list[tuple[str, str]] = []
    for index, name in enumerate(row.source_files):
        staged = f"{prefix}/sources/{index:05d}-{name.rsplit('/', 1)[-1]}"
        if not row.refs_blob:  # a Zarr v3 store: every object of it, same layout
            copies.extend((f, f"{staged}/{f[len(name) + 1 :]}") for f in blob_list(row.source_container, name))
        else:
            copies.append((name, staged))
            mapping[gpstore.url(row.source_container, name)] = gpstore.url(external, staged)
    for source, staged in copies:
        size = int(source_storage.size(source))
        if not (silver_storage.exists(staged) and int(silver_storage.size(staged)) == size):
            with source_storage.open(source, "rb") as fh:
                blob_save(silver, staged, fh, size=size, overwrite=True)
        written.append(staged)
    if not row.refs_blob:
        return written
    references = refs_mod.retarget(json_load(container=silver, name=row.refs_blob), mapping)
    refs_name = f"{prefix}/refs.json"
    json_save(container=silver, name=refs_name, document=references)
    return [*written, refs_name]


def public_blobs(*, collection_id: str, item_id: str) -> list[str]:
    """The staged public form (what :func:`dataset_export_public` wrote and still exists)."""
    return blob_list(zone_container("silver"), public_prefix(collection_id, item_id))


# --- the rechunked copy ------------------------------------------------------------------------


def rechunked_prefix(collection_id: str, item_id: str, job_id: str) -> str:
    return f"{item_prefix(collection_id, item_id)}/rechunked/{job_id[:16]}.zarr"


def folder_upload(*, local: Path, container: str, prefix: str) -> int:
    """Every file below ``local`` to ``prefix/<relative path>``; returns the bytes written."""
    total = 0
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        size = path.stat().st_size
        with open(path, "rb") as fh:
            blob_save(container, f"{prefix}/{path.relative_to(local).as_posix()}", fh, size=size, overwrite=True)
        total += size
    return total


def rechunked_register(*, collection_id: str, item_id: str, prefix: str, chunks: dict[str, int], job_id: str) -> None:
    """Add (or replace) the item's ``rechunked`` asset and drop older copies."""
    row = ClimateDataset.objects.get(collection_id=collection_id, item_id=item_id)
    silver = zone_container("silver")
    item = dict(row.item)
    item["assets"] = {
        **item.get("assets", {}),
        "rechunked": {
            "href": blob_href(silver, prefix),
            "type": "application/vnd.zarr; version=3",
            "title": "Zarr v3 copy chunked for time series (long time, small space)",
            "roles": ["data", "zarr"],
            "geoplatform:container": silver,
            "geoplatform:blob": prefix,
            "geoplatform:etag": job_id,
            "geoplatform:format": "zarr",
            "geoplatform:chunks": chunks,
        },
    }
    dataset_item_set(collection_id=collection_id, item_id=item_id, item=item, rechunked_prefix=prefix)
    for name in blob_list(silver, f"{item_prefix(collection_id, item_id)}/rechunked"):
        if not name.startswith(prefix + "/"):
            blob_delete(silver, name)


def rechunked_delete(*, collection_id: str, item_id: str, job_id: str) -> list[str]:
    silver = zone_container("silver")
    names = blob_list(silver, rechunked_prefix(collection_id, item_id, job_id))
    for name in names:
        blob_delete(silver, name)
    return names
