"""Where a managed version's data lives, per target kind, and the swap that makes it live.

Each version loads into an id of its own, ``<collection_id>__v<number>``, hidden from readers
(``publish=False``). The swap, in ONE transaction, renames the live version's data aside to
its own id (hidden) and the new version's into the stable ``collection_id`` (shown): readers
see the old data or the new, never a mix, and the old stays for rollback.

A kind is one :class:`TargetAdapter` (``register(adapter)``); vector is here. Raster kinds
register theirs the same way (e.g. a raster collection renaming its STAC collection).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction

from .models import ManagedSource, SourceVersion, VersionStatus


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

    def style_apply(self, collection_id: str, style: dict[str, Any]) -> None:
        """Give the stable collection the source's style."""


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

    def style_apply(self, collection_id: str, style: dict[str, Any]) -> None:
        from styles import selectors as style_selectors
        from styles import services as style_services

        style_id = "managed"
        if not any(s.style_id == style_id for s in style_selectors.style_list(collection_id=collection_id)):
            style_services.style_create(collection_id=collection_id, style_id=style_id, doc=style, default=True)
        else:
            style_services.style_replace(collection_id=collection_id, style_id=style_id, doc=style, default=True)


_adapters: dict[str, TargetAdapter] = {"vector": VectorTarget()}


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


def swap(*, source: ManagedSource, new: SourceVersion, live: SourceVersion | None) -> None:
    """Make ``new`` live and ``live`` hidden, in one transaction (the caller's)."""
    adapter = adapter_for(source.target_kind)
    with transaction.atomic():
        if live is not None and adapter.exists(source.collection_id):
            adapter.rename(name=source.collection_id, new_name=hidden_name(source, live.number), published=False)
        adapter.rename(name=hidden_name(source, new.number), new_name=source.collection_id, published=True)
