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

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import transaction

from catalog import services as catalog_services
from geoplatform.storage import blob_save, get_storage, zone_container

from . import refs as refs_mod
from .models import ClimateDataset

logger = logging.getLogger(__name__)

SYSTEM_COLLECTION = "system-zarr"


def item_prefix(collection_id: str, item_id: str) -> str:
    return f"climate/{collection_id}/{item_id}"


def run_prefix(collection_id: str, item_id: str, job_id: str) -> str:
    return f"{item_prefix(collection_id, item_id)}/{job_id[:16]}"


def list_blobs(container: str, prefix: str) -> list[str]:
    storage = get_storage(container)
    found: list[str] = []
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:
        return found
    # Azure lists every blob below the prefix by full name; the file system one level.
    found.extend(name if name.startswith(prefix + "/") else f"{prefix}/{name}" for name in files)
    for sub in dirs:
        found.extend(list_blobs(container, f"{prefix}/{sub}"))
    return sorted(set(found))


def blob_delete(container: str, blob: str) -> None:
    """Delete a blob; on the file system also the folders it leaves empty."""
    storage = get_storage(container)
    storage.delete(blob)
    if isinstance(storage, FileSystemStorage):
        root = Path(storage.location).resolve()
        folder = Path(storage.path(blob)).parent
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent


def asset_href(container: str, blob: str) -> str:
    storage = get_storage(container)
    if settings.GEOPLATFORM_STORAGE_BACKEND == "azure":
        return str(storage.url(blob))
    return Path(storage.path(blob)).as_uri()


def json_save(*, container: str, name: str, document: dict[str, Any]) -> str:
    """Write a JSON document (overwrite: a task may run twice); returns its sha256."""
    data = refs_mod.dumps(document)
    blob_save(container, name, io.BytesIO(data), size=len(data), overwrite=True)
    return hashlib.sha256(data).hexdigest()


def json_load(*, container: str, name: str) -> dict[str, Any]:
    with get_storage(container).open(name, "rb") as fh:
        loaded = json.load(fh)
    return loaded if isinstance(loaded, dict) else {}


def part_blob(collection_id: str, item_id: str, job_id: str, index: int) -> str:
    return f"{run_prefix(collection_id, item_id, job_id)}/parts/{index:06d}.json"


def parts_delete(*, collection_id: str, item_id: str, job_id: str) -> int:
    silver = zone_container("silver")
    names = list_blobs(silver, f"{run_prefix(collection_id, item_id, job_id)}/parts")
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
    return row


def dataset_publish(*, collection_id: str, item_id: str) -> dict[str, Any]:
    """Approval: the pending item goes to pgSTAC."""
    row = ClimateDataset.objects.get(collection_id=collection_id, item_id=item_id)
    catalog_services.item_upsert(collection_id=collection_id, item=row.item)
    ClimateDataset.objects.filter(pk=row.pk).update(published=True)
    return dict(row.item)


def dataset_withdraw(*, collection_id: str, item_id: str) -> None:
    """Revoke: the item leaves pgSTAC; the references stay (a reviewer can preview again)."""
    catalog_services.item_delete(collection_id=collection_id, item_id=item_id)
    ClimateDataset.objects.filter(collection_id=collection_id, item_id=item_id).update(published=False)


def dataset_item_set(*, collection_id: str, item_id: str, item: dict[str, Any], **fields: Any) -> None:
    """Replace the stored item (and pgSTAC's when published): a new asset, retargeted references."""
    row = ClimateDataset.objects.get(collection_id=collection_id, item_id=item_id)
    ClimateDataset.objects.filter(pk=row.pk).update(item=item, **fields)
    if row.published:
        catalog_services.item_upsert(collection_id=collection_id, item=item)


def old_runs_delete(*, collection_id: str, item_id: str, keep_job_id: str) -> list[str]:
    """Older runs' references (after a successful overwrite)."""
    silver = zone_container("silver")
    keep = run_prefix(collection_id, item_id, keep_job_id) + "/"
    rechunked = item_prefix(collection_id, item_id) + "/rechunked/"
    removed = []
    for name in list_blobs(silver, item_prefix(collection_id, item_id)):
        if not name.startswith(keep) and not name.startswith(rechunked):
            blob_delete(silver, name)
            removed.append(name)
    return removed


def run_outputs_delete(*, collection_id: str, item_id: str, job_id: str) -> list[str]:
    """A failed or cancelled run: its own folder only (the published version stays)."""
    silver = zone_container("silver")
    names = list_blobs(silver, run_prefix(collection_id, item_id, job_id))
    for name in names:
        blob_delete(silver, name)
    return names
