"""Reads of the climate app: its dataset rows and their STAC items."""

from __future__ import annotations

import threading
import time
from typing import Any

from catalog import selectors as catalog_selectors

from . import conf
from .errors import DatasetNotFound
from .models import ClimateDataset

OUTPUT_KIND = "climate_dataset"  # ingest output kind; id "collection_id/item_id"
_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def dataset_row_get(*, collection_id: str, item_id: str) -> ClimateDataset:
    row = ClimateDataset.objects.filter(collection_id=collection_id, item_id=item_id).first()
    if row is None:
        raise DatasetNotFound(f"No climate dataset {item_id!r} in collection {collection_id!r}.")
    return row


def dataset_row_find(*, collection_id: str, item_id: str) -> ClimateDataset | None:
    return ClimateDataset.objects.filter(collection_id=collection_id, item_id=item_id).first()


def dataset_rows_list(*, include_pending: bool = False, collection_id: str | None = None) -> list[ClimateDataset]:
    rows = ClimateDataset.objects.all().order_by("collection_id", "item_id")
    if not include_pending:
        rows = rows.filter(published=True)
    if collection_id is not None:
        rows = rows.filter(collection_id=collection_id)
    return list(rows)


def item_get(*, collection_id: str, item_id: str, include_pending: bool = False) -> dict[str, Any]:
    """The STAC item of a climate dataset: the published one from pgSTAC (kept a few seconds),
    else, with ``include_pending``, the one awaiting review (marked ``geoplatform:pending``)."""
    key = (collection_id, item_id)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit and now - hit[0] < conf.item_cache_seconds():
        return hit[1]
    item = catalog_selectors.item_get(collection_id=collection_id, item_id=item_id)
    if item is not None and "references" not in (item.get("assets") or {}):
        item = None  # an item of another app: not a climate dataset
    if item is None:
        with _lock:
            _cache.pop(key, None)
        row = dataset_row_find(collection_id=collection_id, item_id=item_id) if include_pending else None
        if row is None:
            raise DatasetNotFound(f"No climate dataset {item_id!r} in collection {collection_id!r}.")
        return {**row.item, "properties": {**row.item.get("properties", {}), "geoplatform:pending": not row.published}}
    with _lock:
        if len(_cache) > 1024:
            _cache.clear()
        _cache[key] = (now, item)
    return item


def item_forget(*, collection_id: str, item_id: str) -> None:
    """Drop one item from this process's cache (after this process changed it)."""
    with _lock:
        _cache.pop((collection_id, item_id), None)


def item_cache_clear() -> None:
    with _lock:
        _cache.clear()


def item_owner_jobs(output_id: str) -> list[str] | None:
    """``registry.STAC_ITEM`` (``collection_id/item_id``): the job that made a climate item
    (None when no climate dataset has that id; rasters answer for theirs)."""
    collection_id, _, item_id = output_id.partition("/")
    row = dataset_row_find(collection_id=collection_id, item_id=item_id)
    if row is None:
        return None
    return [row.job_id] if row.job_id else []
