"""The registry of dataset kinds shown on the catalogue home page (``/``).

Apps above catalog (features, rasters, later climate and H3) call :func:`register_kind` from
their ``AppConfig.ready()`` with a function listing their datasets; catalog never imports
them (layers). Each kind's lister gets ``include_pending``: datasets awaiting review are only
listed for reviewers (each app decides who may preview its own).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Dataset:
    kind: str
    id: str
    title: str
    description: str = ""
    bbox: tuple[float, float, float, float] | None = None
    updated: dt.datetime | None = None
    map_url: str = ""
    api_url: str = ""
    stac_url: str = ""
    pending: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def matches(self, text: str) -> bool:
        words = text.lower().split()
        haystack = f"{self.id} {self.title} {self.description} {self.kind}".lower()
        return all(w in haystack for w in words)

    def intersects(self, bbox: tuple[float, float, float, float]) -> bool:
        if self.bbox is None:
            return False
        w, s, e, n = self.bbox
        return not (e < bbox[0] or w > bbox[2] or n < bbox[1] or s > bbox[3])


@dataclass(frozen=True)
class Kind:
    kind: str
    label: str
    lister: Callable[..., list[Dataset]]
    can_preview: Callable[[Any], bool]


_kinds: dict[str, Kind] = {}


def register_kind(
    kind: str, *, label: str, lister: Callable[..., list[Dataset]], can_preview: Callable[[Any], bool]
) -> None:
    """``lister(include_pending=bool)`` lists the kind's datasets (a lister may return several
    dataset kinds, e.g. rasters: single rasters and raster collections); ``can_preview(user)`` says
    whether ``user`` may see the ones awaiting review. Registering a kind again replaces it."""
    _kinds[kind] = Kind(kind=kind, label=label, lister=lister, can_preview=can_preview)


def kinds() -> list[Kind]:
    return list(_kinds.values())


def dataset_list(
    *, user: Any, text: str = "", bbox: tuple[float, float, float, float] | None = None, kind: str = ""
) -> list[Dataset]:
    """Every registered kind's datasets visible to ``user``, newest first, filtered by free
    ``text`` (all words, in id/title/description/kind), ``bbox`` (intersects) and ``kind``."""
    found: list[Dataset] = []
    for k in _kinds.values():
        found.extend(k.lister(include_pending=bool(user is not None and k.can_preview(user))))
    if kind:
        found = [d for d in found if d.kind == kind]
    if text:
        found = [d for d in found if d.matches(text)]
    if bbox:
        found = [d for d in found if d.intersects(bbox)]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(found, key=lambda d: (d.updated or epoch, d.id), reverse=True)
