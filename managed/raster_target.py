"""The ``raster_collection`` target of managed sources (FATHOM, STAC collections): a
:class:`managed.targets.TargetAdapter` over process_raster_collection's outputs.

A version loads with ``publish=False`` into its hidden id ``<collection_id>__v<n>``: its COGs
are in silver under ``rasters/<hidden id>/...`` and its STAC items wait as pending items
(rasters' review mechanism, previewable, not public). The swap, in ONE database transaction
(pgSTAC lives in the same PostgreSQL, so its functions join the transaction):

- the live items of the stable collection move back to pending under the live version's
  hidden id (kept for rollback) and leave the public collection;
- the new version's pending items are registered in the stable collection (asset hrefs
  unchanged: the COGs stay where the version wrote them), with the pgSTAC search
  ``{"collections": [collection_id]}``: readers of the stable collection, its tiles and its
  mosaic URL see the old items or the new ones, never a mix, and the mosaic URL stays the
  same across versions (the search id depends on the collection and the zooms only).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from rasters import mosaic
from rasters import selectors as raster_selectors
from rasters import services as raster_services
from rasters.models import PendingItem

from . import targets
from .models import ManagedSource


def _pending(name: str) -> list[dict[str, Any]]:
    return [row.item for row in PendingItem.objects.filter(collection_id=name).order_by("item_id")]


def _public(name: str) -> list[dict[str, Any]]:
    items = []
    for item_id in catalog_selectors.collection_item_ids_list(collection_id=name):
        item = catalog_selectors.item_get(collection_id=name, item_id=item_id)
        if item is not None:
            items.append(item)
    return items


def _items(name: str) -> list[dict[str, Any]]:
    return _pending(name) or _public(name)


def _bbox(items: list[dict[str, Any]]) -> list[float] | None:
    boxes = [i["bbox"] for i in items if i.get("bbox")]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def _zooms(name: str) -> tuple[int, int] | None:
    """The mosaic zooms process_raster_collection registered for ``name`` (its search)."""
    for search_id in catalog_selectors.collection_searches_list(collection_id=name):
        meta = (catalog_selectors.search_get(search_id=search_id) or {}).get("metadata") or {}
        if "minzoom" in meta and "maxzoom" in meta:
            return int(meta["minzoom"]), int(meta["maxzoom"])
    return None


def _caches_clear() -> None:
    """This process's item and mosaic caches; other processes' expire within
    GEOPLATFORM_RASTER_ITEM_CACHE_SECONDS, as after any raster overwrite."""
    raster_selectors.item_cache_clear()
    mosaic.index_clear()


class RasterCollectionTarget:
    kind = "raster_collection"

    def taken(self, collection_id: str) -> bool:
        return catalog_selectors.collection_exists(collection_id=collection_id)

    def exists(self, name: str) -> bool:
        return PendingItem.objects.filter(collection_id=name).exists() or catalog_selectors.collection_exists(
            collection_id=name
        )

    def facts(self, name: str) -> targets.Facts:
        items = _items(name)
        bands: list[dict[str, Any]] = []
        for item in items[:1]:
            for key, asset in sorted((item.get("assets") or {}).items()):
                if "raster:bands" in asset:
                    bands.append({"asset": key, "bands": [b.get("data_type") for b in asset["raster:bands"]]})
        pixels = 0
        for item in items:
            shape = item.get("properties", {}).get("proj:shape")
            if isinstance(shape, list) and len(shape) == 2:
                pixels += int(shape[0]) * int(shape[1])
        return targets.Facts(counts={"items": len(items), "pixels": pixels}, bbox=_bbox(items), schema=bands)

    def rename(self, *, name: str, new_name: str, published: bool) -> None:
        items = _items(name)
        if published:
            self._publish(name, new_name, items)
        else:
            self._hide(name, new_name, items)
        _caches_clear()

    def _hide(self, name: str, new_name: str, items: list[dict[str, Any]]) -> None:
        """The public items of ``name`` become pending items of ``new_name`` (kept, not public)."""
        for item in items:
            moved = {**item, "collection": new_name}
            raster_services.pending_item_set(
                collection_id=new_name,
                item_id=item["id"],
                item=moved,
                job_id=str(item.get("properties", {}).get("geoplatform:job_id", "")),
            )
            catalog_services.item_delete(collection_id=name, item_id=item["id"])

    def _publish(self, name: str, new_name: str, items: list[dict[str, Any]]) -> None:
        """The pending items of ``name`` become the items of the public collection ``new_name``."""
        source = ManagedSource.objects.filter(collection_id=new_name).first()
        now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        bbox = _bbox(items) or [-180.0, -90.0, 180.0, 90.0]
        collection: dict[str, Any] = {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": new_name,
            "title": (source.title if source else "") or new_name,
            "description": (source.description if source else "") or f"Managed raster collection {new_name}.",
            "license": (source.licence if source else "") or "other",
            "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[now, None]]}},
            "links": [],
        }
        if source is not None and source.attribution:
            collection["providers"] = [{"name": source.attribution, "roles": ["licensor"]}]
        catalog_services.collection_upsert(collection=collection)
        keep = {i["id"] for i in items}
        for old in catalog_selectors.collection_item_ids_list(collection_id=new_name):
            if old not in keep:  # an item the new version no longer has
                catalog_services.item_delete(collection_id=new_name, item_id=old)
        catalog_services.items_upsert(collection_id=new_name, items=[{**i, "collection": new_name} for i in items])
        for item in items:
            raster_services.pending_item_discard(collection_id=name, item_id=item["id"])
        zooms = _zooms(name) or _zooms(new_name)
        if zooms is not None:  # the stable mosaic URL: same collection + zooms -> same search id
            catalog_services.search_register(
                search={"collections": [new_name]},
                metadata={"name": new_name, "minzoom": zooms[0], "maxzoom": zooms[1]},
            )

    def remove(self, name: str) -> None:
        raster_services.raster_collection_unpublish(collection_id=name, dry_run=False)
        _caches_clear()

    def style_apply(self, collection_id: str, style: dict[str, Any]) -> None:
        """Raster styles are render parameters of the tile API, not the styles app's
        (vector) CartoSym documents: kept on the source, nothing to hand over."""
        return None


targets.register(RasterCollectionTarget())
