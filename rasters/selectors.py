"""Reads: which stored COG answers a request for ``{collection_id}/{item_id}``.

The STAC item (through catalog) names the assets; tiles hit this per request, so items
are kept in memory for a few seconds (``GEOPLATFORM_RASTER_ITEM_CACHE_SECONDS``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from catalog import selectors as catalog_selectors

from . import conf, stac
from .errors import InvalidRasterRequest, RasterNotFound
from .models import PendingItem

_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class RasterAsset:
    collection_id: str
    item_id: str
    key: str
    container: str
    blob: str
    item: dict[str, Any]

    @property
    def raster_type(self) -> str:
        return str(self.item.get("properties", {}).get("geoplatform:raster_type", "continuous"))

    @property
    def render(self) -> dict[str, str]:
        return dict(self.item.get("properties", {}).get("geoplatform:render") or {})

    @property
    def etag_seed(self) -> str:
        props = self.item.get("properties", {})
        return f"{self.container}/{self.blob}:{props.get('updated', '')}"


def raster_item_get(*, collection_id: str, item_id: str, include_pending: bool = False) -> dict[str, Any]:
    """A published item (cached briefly); with ``include_pending``, also one awaiting review
    (never cached, marked ``geoplatform:pending``)."""
    key = (collection_id, item_id)
    ttl = float(conf.get("ITEM_CACHE_SECONDS"))
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit and now - hit[0] < ttl:
        return hit[1]
    item = catalog_selectors.item_get(collection_id=collection_id, item_id=item_id)
    if item is None and include_pending:
        pending = PendingItem.objects.filter(collection_id=collection_id, item_id=item_id).first()
        if pending is not None:
            return {**pending.item, "properties": {**pending.item.get("properties", {}), "geoplatform:pending": True}}
    if item is None:
        with _lock:
            _cache.pop(key, None)
        raise RasterNotFound(f"No raster item {item_id!r} in collection {collection_id!r}.")
    with _lock:
        if len(_cache) > 2048:
            _cache.clear()
        _cache[key] = (now, item)
    return item


def item_cache_clear() -> None:
    with _lock:
        _cache.clear()


def raster_asset_get(
    *,
    collection_id: str,
    item_id: str,
    asset: str | None = None,
    purpose: str = "tiles",
    include_pending: bool = False,
) -> RasterAsset:
    """The asset to read: ``asset`` if given, else the best tier for ``purpose`` (tiles or data)."""
    item = raster_item_get(collection_id=collection_id, item_id=item_id, include_pending=include_pending)
    assets = {
        k: v for k, v in (item.get("assets") or {}).items() if "geoplatform:blob" in v and "geoplatform:container" in v
    }
    if not assets:
        raise RasterNotFound(f"Item {item_id!r} in {collection_id!r} has no COG asset.")
    if asset:
        if asset not in assets:
            raise InvalidRasterRequest(f"Unknown asset {asset!r}; this item has {', '.join(sorted(assets))}.")
        key = asset
    else:
        order = stac.TILE_ASSET_ORDER if purpose == "tiles" else stac.DATA_ASSET_ORDER
        key = next(k for k in (*order, *sorted(assets)) if k in assets)
    chosen = assets[key]
    return RasterAsset(collection_id, item_id, key, chosen["geoplatform:container"], chosen["geoplatform:blob"], item)


# --- who made an item or collection (ingest's owner lookups for the generic job API) -------

_JOB_ID = "geoplatform:job_id"


def _owners(found: bool, jobs: list[Any]) -> list[str] | None:
    """None when nothing exists; [] when something exists that no job of ours made."""
    if not found:
        return None
    return [] if any(not job for job in jobs) else sorted(set(jobs))


def item_owner_jobs(output_id: str) -> list[str] | None:
    """``registry.STAC_ITEM`` (``collection_id/item_id``): the job that made the STAC item
    (its ``geoplatform:job_id`` property) and the job of an item still awaiting review."""
    collection_id, _, item_id = output_id.partition("/")
    item = catalog_selectors.item_get(collection_id=collection_id, item_id=item_id)
    jobs: list[Any] = list(
        PendingItem.objects.filter(collection_id=collection_id, item_id=item_id).values_list("job_id", flat=True)
    )
    if item is not None:
        jobs.append(item.get("properties", {}).get(_JOB_ID))
    return _owners(item is not None or bool(jobs), jobs)


def collection_owner_jobs(collection_id: str) -> list[str] | None:
    """``registry.STAC_COLLECTION``: the jobs that made the collection and every item in it
    (an unpublish deletes them all), pending items included."""
    collection = catalog_selectors.collection_get(collection_id=collection_id)
    jobs: list[Any] = list(PendingItem.objects.filter(collection_id=collection_id).values_list("job_id", flat=True))
    if collection is not None:
        jobs.append(collection.get(_JOB_ID))
        jobs.extend(catalog_selectors.collection_item_property_values(collection_id=collection_id, name=_JOB_ID))
    return _owners(collection is not None or bool(jobs), jobs)
