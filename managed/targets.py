"""Where a managed version's data lives, per target kind, and the swap that makes it live.

Each version loads into an id of its own, ``<collection_id>__v<number>``, hidden from readers
(``publish=False``). The swap, in ONE transaction, renames the live version's data aside to
its own id (hidden) and the new version's into the stable ``collection_id`` (shown): readers
see the old data or the new, never a mix, and the old stays for rollback.

A kind is one :class:`TargetAdapter` (``register(adapter)``): vector (a PostGIS table),
raster (one COG + STAC item) and raster_collection (a STAC collection and its mosaic).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction

from .errors import SourceExists
from .models import ManagedSource, SourceVersion, VersionStatus

logger = logging.getLogger(__name__)

# The style a source's own ``style`` becomes on its collection (replaced at every swap).
SOURCE_STYLE_ID = "managed"


@dataclass
class Facts:
    """What the gate compares between the live version and a new one."""

    counts: dict[str, int]
    bbox: list[float] | None
    schema: list[dict[str, Any]]

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.schema, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class TargetAdapter(Protocol):
    kind: str

    def taken(self, collection_id: str) -> bool:
        """Whether ``collection_id`` already serves data (a new source may not take it)."""

    def facts(self, name: str) -> Facts:
        """Counts, bbox and schema of the data at ``name``."""

    def exists(self, name: str) -> bool: ...

    def rename(self, *, name: str, new_name: str, published: bool) -> None:
        """Move the data at ``name`` to ``new_name`` (in the caller's transaction)."""

    def remove(self, name: str) -> None:
        """Remove the data at ``name`` (idempotent)."""

    def style_apply(self, collection_id: str, style: dict[str, Any], *, default: bool = True) -> None:
        """Give the stable collection the source's style (its default unless ``default`` is
        false: a person made one of theirs the default)."""

    def styles_kept(self, collection_id: str) -> list[dict[str, Any]]:
        """The styles people made on the stable collection: they belong to the id, not to a
        version, so the swap puts them back (:meth:`styles_restore`)."""

    def styles_restore(self, collection_id: str, styles: list[dict[str, Any]]) -> None: ...

    def stats_source(self, collection_id: str) -> tuple[str, str, str]:
        """How H3 statistics name this target's data: (source kind, exact ``source_ref``,
        ``source_ref`` prefix) — see :func:`h3grid.services.stats_recompute`."""
        ...


def bbox_union(boxes: list[list[float]]) -> list[float] | None:
    """The box around ``boxes`` ([minx, miny, maxx, maxy] each); None for none."""
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def bands_schema(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{name: "<asset>.b<n>", type: <data type>}]`` of the items' COG assets: what the gate
    compares as a raster's schema. STAC 1.1 ``bands`` (what rasters writes), or 1.0's
    ``raster:bands`` (items harvested from elsewhere)."""
    bands: dict[str, str] = {}
    for item in items:
        for key, asset in sorted((item.get("assets") or {}).items()):
            for index, band in enumerate(asset.get("bands") or asset.get("raster:bands") or []):
                bands.setdefault(f"{key}.b{index + 1}", str(band.get("data_type", "")))
    return [{"name": k, "type": v} for k, v in sorted(bands.items())]


def raster_caches_clear() -> None:
    """This process's cached STAC items and mosaic indexes, after a swap. Other processes'
    expire within GEOPLATFORM_RASTER_ITEM_CACHE_SECONDS, as after any raster overwrite; tile
    ETags and pooled datasets are keyed on the asset's blob and the item's ``updated``, which
    differ between versions, so no tile of one version is served as the other's."""
    from rasters import mosaic
    from rasters import selectors as raster_selectors

    raster_selectors.item_cache_clear()
    mosaic.index_clear()


def hidden_name(source: ManagedSource, number: int) -> str:
    """The id of a version's data while it is not live (also its ingest target)."""
    return f"{source.collection_id}__v{number}"


def data_name(version: SourceVersion) -> str:
    """Where a version's data is now: the stable id when live, else its own id."""
    if version.status == VersionStatus.LIVE:
        return version.source.collection_id
    return hidden_name(version.source, version.number)


class VectorTarget:
    """A PostGIS table + its OGC API Features collection (features app)."""

    kind = "vector"

    def taken(self, collection_id: str) -> bool:
        from features.models import VectorDataset

        return VectorDataset.objects.filter(pk=collection_id).exists()

    def exists(self, name: str) -> bool:
        from features.models import VectorDataset

        return VectorDataset.objects.filter(pk=name).exists()

    def facts(self, name: str) -> Facts:
        from features.selectors import dataset_get

        dataset = dataset_get(collection_id=name, include_unpublished=True)
        schema = [{"name": a["name"], "type": a["type"]} for a in dataset.attributes or []]
        schema.append({"name": "geometry", "type": dataset.geometry_type})
        return Facts(counts={"rows": int(dataset.feature_count)}, bbox=dataset.bbox, schema=schema)

    def rename(self, *, name: str, new_name: str, published: bool) -> None:
        from features.services import dataset_rename

        dataset_rename(collection_id=name, new_id=new_name, published=published)

    def remove(self, name: str) -> None:
        from features.services import dataset_unpublish

        dataset_unpublish(collection_id=name, dry_run=False)

    def style_apply(self, collection_id: str, style: dict[str, Any], *, default: bool = True) -> None:
        from styles import selectors as style_selectors
        from styles import services as style_services

        styles = style_selectors.style_list(collection_id=collection_id)
        if not any(s.style_id == SOURCE_STYLE_ID for s in styles):
            style_services.style_create(
                collection_id=collection_id, style_id=SOURCE_STYLE_ID, doc=style, default=default
            )
        else:
            style_services.style_replace(
                collection_id=collection_id, style_id=SOURCE_STYLE_ID, doc=style, default=default
            )

    def styles_kept(self, collection_id: str) -> list[dict[str, Any]]:
        from styles import selectors as style_selectors

        # Not the platform's generated style (remade for the new data, as after an overwrite)
        # nor the source's own; a generated style a person edited is theirs (generated=False).
        return [
            {"style_id": s.style_id, "doc": s.cartosym, "default": s.is_default}
            for s in style_selectors.style_list(collection_id=collection_id)
            if not s.generated and s.style_id != SOURCE_STYLE_ID
        ]

    def styles_restore(self, collection_id: str, styles: list[dict[str, Any]]) -> None:
        from styles import selectors as style_selectors
        from styles import services as style_services

        present = {s.style_id for s in style_selectors.style_list(collection_id=collection_id)}
        for kept in styles:
            write = style_services.style_replace if kept["style_id"] in present else style_services.style_create
            try:
                with transaction.atomic():  # a style that no longer validates is lost, never the swap
                    write(
                        collection_id=collection_id, style_id=kept["style_id"], doc=kept["doc"], default=kept["default"]
                    )
            except Exception:
                logger.exception("style %s of %s not kept across the swap", kept["style_id"], collection_id)

    def stats_source(self, collection_id: str) -> tuple[str, str, str]:
        return "vector", collection_id, ""


class _Unstyled:
    """The style hooks of a raster target: raster styles are not the styles app's (it styles
    vector collections), so there is nothing to apply, keep or restore."""

    def style_apply(self, collection_id: str, style: dict[str, Any], *, default: bool = True) -> None:
        return None

    def styles_kept(self, collection_id: str) -> list[dict[str, Any]]:
        return []

    def styles_restore(self, collection_id: str, styles: list[dict[str, Any]]) -> None:
        return None


class RasterCollectionTarget(_Unstyled):
    """A STAC collection of COG items and its mosaic (rasters app).

    A hidden version is what ``process_raster_collection`` with ``publish=false`` keeps: its
    items as pending items under the version's own id (COGs in silver under
    ``rasters/<collection_id>__v<n>/``). Live is the STAC collection ``<collection_id>``
    holding those items (the COG hrefs stay where they are), with a registered mosaic search
    on the collection: its URL is stable across versions. Renaming moves the item documents
    between the pending store and pgSTAC, in the caller's transaction (pgSTAC is reached
    through the same connection)."""

    kind = "raster_collection"

    def taken(self, collection_id: str) -> bool:
        from catalog import selectors as catalog_selectors

        return catalog_selectors.collection_exists(collection_id=collection_id)

    def _pending(self, name: str) -> list[dict[str, Any]]:
        from rasters.models import PendingItem

        return [row.item for row in PendingItem.objects.filter(collection_id=name).order_by("item_id")]

    def _items(self, name: str) -> list[dict[str, Any]]:
        from catalog import selectors as catalog_selectors

        if catalog_selectors.collection_exists(collection_id=name):
            ids = catalog_selectors.collection_item_ids_list(collection_id=name)
            items = [catalog_selectors.item_get(collection_id=name, item_id=i) for i in ids]
            return [i for i in items if i is not None]
        return self._pending(name)

    def exists(self, name: str) -> bool:
        return bool(self._items(name))

    def facts(self, name: str) -> Facts:
        items = self._items(name)
        if not items:
            raise LookupError(f"no items under {name!r}")
        bbox = bbox_union([i["bbox"] for i in items if i.get("bbox")])
        return Facts(counts={"items": len(items)}, bbox=bbox, schema=bands_schema(items))

    def rename(self, *, name: str, new_name: str, published: bool) -> None:
        from catalog import selectors as catalog_selectors
        from catalog import services as catalog_services
        from rasters.models import PendingItem

        items = self._items(name)
        moved = [{**item, "collection": new_name} for item in items]
        with transaction.atomic():
            if published:
                catalog_services.collection_upsert(collection=self._collection(new_name, moved))
                catalog_services.items_upsert(collection_id=new_name, items=moved)
                catalog_services.search_register(search={"collections": [new_name]}, metadata={"name": new_name})
            else:
                for item in moved:
                    PendingItem.objects.update_or_create(
                        collection_id=new_name,
                        item_id=item["id"],
                        defaults={
                            "item": item,
                            "job_id": str(item.get("properties", {}).get("geoplatform:job_id", "")),
                        },
                    )
            if catalog_selectors.collection_exists(collection_id=name):
                for item in items:
                    catalog_services.item_delete(collection_id=name, item_id=item["id"])
            PendingItem.objects.filter(collection_id=name).delete()
        raster_caches_clear()

    @staticmethod
    def _collection(collection_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        from catalog import selectors as catalog_selectors

        existing = catalog_selectors.collection_get(collection_id=collection_id) or {}
        union = bbox_union([i["bbox"] for i in items if i.get("bbox")]) or [-180.0, -90.0, 180.0, 90.0]
        return {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": collection_id,
            "title": existing.get("title") or collection_id,
            "description": existing.get("description") or f"{len(items)} rasters kept current by managed datasets.",
            "license": existing.get("license") or "other",
            "extent": {"spatial": {"bbox": [union]}, "temporal": {"interval": [[None, None]]}},
            "links": [],
        }

    def remove(self, name: str) -> None:
        from geoplatform import storage
        from rasters.services import raster_collection_unpublish

        # The live collection's COGs are under the version's own prefix: remove them by href.
        silver = storage.zone_container("silver")
        for item in self._items(name):
            for asset in (item.get("assets") or {}).values():
                blob = asset.get("geoplatform:blob")
                if blob and storage.blob_exists(silver, blob):
                    storage.blob_delete(silver, blob)
        raster_collection_unpublish(collection_id=name, dry_run=False)

    def stats_source(self, collection_id: str) -> tuple[str, str, str]:
        return "raster", "", f"{collection_id}/"  # every item of the collection


class RasterTarget(_Unstyled):
    """One COG and its STAC item (rasters app): the item ``system-rasters/<collection_id>``,
    read at ``/api/raster/system-rasters/<collection_id>/...`` whatever the version.

    A hidden version is what ``process_raster`` with ``publish=false`` keeps: its item pending
    under ``system-rasters/<collection_id>__v<n>``, its COG in silver under
    ``rasters/system-rasters/<collection_id>__v<n>/<run>/``. Renaming moves the item document
    between the pending store and pgSTAC under the other id (its COG stays where it is: the
    assets keep their hrefs; the API links of the item follow the id), in the caller's
    transaction: a reader gets the old item or the new one, and each names its own COG."""

    kind = "raster"

    def _collection(self) -> str:
        from rasters.services import SYSTEM_COLLECTION

        return SYSTEM_COLLECTION

    def _published(self, name: str) -> dict[str, Any] | None:
        from catalog import selectors as catalog_selectors

        return catalog_selectors.item_get(collection_id=self._collection(), item_id=name)

    def _item(self, name: str) -> dict[str, Any] | None:
        from rasters.models import PendingItem

        item = self._published(name)
        if item is not None:
            return item
        pending = PendingItem.objects.filter(collection_id=self._collection(), item_id=name).first()
        return pending.item if pending is not None else None

    def taken(self, collection_id: str) -> bool:
        return self._item(collection_id) is not None

    def exists(self, name: str) -> bool:
        return self._item(name) is not None

    def facts(self, name: str) -> Facts:
        item = self._item(name)
        if item is None:
            raise LookupError(f"no raster item {name!r} in {self._collection()!r}")
        height, width = (item.get("properties") or {}).get("proj:shape") or (0, 0)
        return Facts(counts={"pixels": int(height) * int(width)}, bbox=item.get("bbox"), schema=bands_schema([item]))

    def _renamed(self, item: dict[str, Any], new_name: str) -> dict[str, Any]:
        """The item under ``new_name``: id, and the read API's links (thumbnail, tilejson,
        viewer) that name it; the COG assets are unchanged."""
        from rasters import links

        old_base = links.base(self._collection(), item["id"]) + "/"
        new_base = links.base(self._collection(), new_name) + "/"

        def moved(entry: dict[str, Any]) -> dict[str, Any]:
            href = str(entry.get("href", ""))
            return {**entry, "href": new_base + href[len(old_base) :]} if href.startswith(old_base) else entry

        return {
            **item,
            "id": new_name,
            "collection": self._collection(),
            "assets": {key: moved(asset) for key, asset in (item.get("assets") or {}).items()},
            "links": [moved(link) for link in item.get("links") or []],
        }

    def rename(self, *, name: str, new_name: str, published: bool) -> None:
        from catalog import services as catalog_services
        from rasters import services as raster_services

        item = self._item(name)
        if item is None:
            raise LookupError(f"no raster item {name!r} in {self._collection()!r}")
        moved = self._renamed(item, new_name)
        collection = self._collection()
        if published and self._published(new_name) is not None:
            # The swap moved the live version's item away first: this one was loaded by hand
            # after the source was made. Never replaced silently (a vector swap refuses too).
            raise SourceExists(f"A raster item {collection}/{new_name} exists already (not this source's).")
        with transaction.atomic():
            if published:
                raster_services.raster_item_register(collection_id=collection, item=moved)
            else:
                job_id = str((item.get("properties") or {}).get("geoplatform:job_id", ""))
                raster_services.pending_item_set(collection_id=collection, item_id=new_name, item=moved, job_id=job_id)
            if self._published(name) is not None:
                catalog_services.item_delete(collection_id=collection, item_id=name)
            raster_services.pending_item_discard(collection_id=collection, item_id=name)
        raster_caches_clear()

    def remove(self, name: str) -> None:
        from geoplatform import storage
        from rasters.services import raster_unpublish

        # The COG is under the version's own prefix (also once live): remove it by its asset.
        silver = storage.zone_container("silver")
        for asset in ((self._item(name) or {}).get("assets") or {}).values():
            blob = asset.get("geoplatform:blob")
            if blob and storage.blob_exists(silver, blob):
                storage.blob_delete(silver, blob)
        raster_unpublish(collection_id=self._collection(), item_id=name, dry_run=False)
        raster_caches_clear()

    def stats_source(self, collection_id: str) -> tuple[str, str, str]:
        return "raster", f"{self._collection()}/{collection_id}", ""


_adapters: dict[str, TargetAdapter] = {
    "vector": VectorTarget(),
    "raster": RasterTarget(),
    "raster_collection": RasterCollectionTarget(),
}


def register(adapter: TargetAdapter) -> TargetAdapter:
    _adapters[adapter.kind] = adapter
    return adapter


def adapter_for(kind: str) -> TargetAdapter:
    from .errors import InvalidSource

    try:
        return _adapters[kind]
    except KeyError:
        raise InvalidSource(
            f"target_kind {kind!r} cannot be managed yet; supported: {', '.join(sorted(_adapters))}.",
            details={"field": "target_kind"},
        ) from None


def supported_kinds() -> list[str]:
    return sorted(_adapters)


def swap(*, source: ManagedSource, new: SourceVersion, live: SourceVersion | None) -> list[dict[str, Any]]:
    """Make ``new`` live and ``live`` hidden, in one transaction (the caller's): a new version,
    or a rollback to the previous one. Styles people added to the stable collection stay:
    returns them (``[{style_id, doc, default}]``)."""
    adapter = adapter_for(source.target_kind)
    with transaction.atomic():
        kept: list[dict[str, Any]] = []
        if live is not None and adapter.exists(source.collection_id):
            kept = adapter.styles_kept(source.collection_id)
            adapter.rename(name=source.collection_id, new_name=hidden_name(source, live.number), published=False)
        adapter.rename(name=hidden_name(source, new.number), new_name=source.collection_id, published=True)
        adapter.styles_restore(source.collection_id, kept)
    return kept
