"""H3 statistics datasets on the catalogue home page (catalog.datasets registry): one entry per
stat dataset, linking the hexagon map and its API summary."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from catalog.datasets import Dataset, register_kind

from .models import StatDataset


def dataset_list(*, include_pending: bool) -> list[Dataset]:
    out: list[Dataset] = []
    for ds in StatDataset.objects.order_by("-computed_at", "slug"):
        stats = ", ".join(str(c.get("name")) for c in ds.columns if isinstance(c, dict))
        resolutions = ", ".join(str(r) for r in sorted(ds.resolutions))
        out.append(
            Dataset(
                kind="h3",
                id=ds.slug,
                title=ds.title or ds.slug,
                description=f"H3 statistics ({stats}) of {ds.source_ref} at resolutions {resolutions}.",
                updated=ds.computed_at or ds.created_at,
                map_url=reverse("h3grid:map") + f"?dataset={ds.slug}",
                api_url=reverse("h3grid:stats", args=[ds.slug]),
            )
        )
    return out


def _no_preview(user: Any) -> bool:
    return False  # stat datasets have no review step: all are listed


def register() -> None:
    register_kind("h3", label="H3 statistics", lister=dataset_list, can_preview=_no_preview)
