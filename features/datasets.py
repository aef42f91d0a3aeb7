"""Vector collections on the catalogue home page (catalog.datasets registry)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from catalog.datasets import Dataset, register_kind

from . import selectors
from .services import STAC_COLLECTION


def _can_preview(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm("features.preview_unpublished"))


def dataset_list(*, include_pending: bool) -> list[Dataset]:
    out = []
    for d in selectors.dataset_list(include_unpublished=include_pending):
        items = reverse("features:items", args=[d.collection_id])
        out.append(
            Dataset(
                kind="vector",
                id=d.collection_id,
                title=d.title or d.collection_id,
                description=d.description,
                bbox=tuple(d.bbox) if d.bbox else None,  # type: ignore[arg-type]
                updated=d.updated_at,
                map_url=f"{items}?f=html",
                api_url=reverse("features:collection", args=[d.collection_id]),
                stac_url=f"/api/stac/collections/{STAC_COLLECTION}/items/{d.collection_id}" if d.stac_item else "",
                pending=not d.published,
                extra={"features": d.feature_count, "geometry": d.geometry_type},
            )
        )
    return out


def register() -> None:
    register_kind("vector", label="Vector collection", lister=dataset_list, can_preview=_can_preview)
