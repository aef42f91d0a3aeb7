"""Rasters on the catalogue home page (catalog.datasets registry): a collection holding one
raster item (and every item of the system collection) is a "raster" with the item viewer; a
collection of several is a "raster collection" with the mosaic viewer."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

from catalog import selectors as catalog_selectors
from catalog.datasets import Dataset, register_kind

from . import links
from .models import PendingItem
from .services import SYSTEM_COLLECTION

MAX_ITEMS = 2000  # the home page lists at most this many raster items (newest first)


def _can_preview(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm("rasters.preview_unpublished"))


def _when(props: dict[str, Any]) -> dt.datetime | None:
    raw = props.get("updated") or props.get("datetime")
    try:
        return dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None


def _item_dataset(item: dict[str, Any], *, pending: bool) -> Dataset:
    props = item.get("properties", {})
    c, i = item["collection"], item["id"]
    return Dataset(
        kind="raster",
        id=f"{c}/{i}",
        title=str(props.get("title") or i),
        description=str(props.get("description") or ""),
        bbox=tuple(item["bbox"][:4]) if item.get("bbox") else None,  # type: ignore[arg-type]
        updated=_when(props),
        map_url=links.viewer(c, i),
        api_url=links.tilejson(c, i),
        stac_url="" if pending else links.stac_item(c, i),
        pending=pending,
        extra={"raster_type": props.get("geoplatform:raster_type", "")},
    )


def _raster_items() -> list[dict[str, Any]]:
    body, _next, _prev = catalog_selectors.search_page(
        search={"limit": MAX_ITEMS, "sortby": [{"field": "datetime", "direction": "desc"}]}, base=""
    )
    features = json.loads(body).get("features", [])
    return [f for f in features if "geoplatform:raster_type" in f.get("properties", {})]


def _union(boxes: list[list[float]]) -> tuple[float, float, float, float] | None:
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def dataset_list(*, include_pending: bool) -> list[Dataset]:
    by_collection: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in _raster_items():
        by_collection[item["collection"]].append(item)
    out: list[Dataset] = []
    for collection_id, items in by_collection.items():
        if collection_id == SYSTEM_COLLECTION or len(items) == 1:
            out.extend(_item_dataset(item, pending=False) for item in items)
            continue
        collection = catalog_selectors.collection_get(collection_id=collection_id) or {}
        boxes = [item["bbox"] for item in items if item.get("bbox")]
        times = [t for t in (_when(item.get("properties", {})) for item in items) if t]
        base = f"{links.PREFIX}/mosaic/collections/{collection_id}"
        out.append(
            Dataset(
                kind="raster-collection",
                id=collection_id,
                title=str(collection.get("title") or collection_id),
                description=str(collection.get("description") or ""),
                bbox=_union(boxes),
                updated=max(times) if times else None,
                map_url=f"{base}/viewer",
                api_url=f"{base}/tilejson.json",
                stac_url=links.stac_collection(collection_id),
                extra={"items": len(items)},
            )
        )
    if include_pending:
        out.extend(_item_dataset(p.item, pending=True) for p in PendingItem.objects.all()[:MAX_ITEMS])
    return out


def register() -> None:
    register_kind("raster", label="Raster", lister=dataset_list, can_preview=_can_preview)
