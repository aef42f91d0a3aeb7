"""Climate datasets on the catalogue home page (catalog.datasets registry): one entry per
virtualized dataset, linking its viewer, its EDR collection and its STAC item."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from catalog.datasets import Dataset, register_kind

from .models import ClimateDataset


def _can_preview(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm("climate.preview_unpublished"))


def dataset_list(*, include_pending: bool) -> list[Dataset]:
    rows = ClimateDataset.objects.order_by("-updated_at")
    if not include_pending:
        rows = rows.filter(published=True)
    out: list[Dataset] = []
    for row in rows:
        c, i = row.collection_id, row.item_id
        props = (row.item or {}).get("properties", {})
        bbox = (row.item or {}).get("bbox")
        out.append(
            Dataset(
                kind="climate",
                id=f"{c}/{i}",
                title=str(props.get("title") or i),
                description=str(props.get("description") or ""),
                bbox=tuple(bbox[:4]) if bbox else None,  # type: ignore[arg-type]
                updated=row.updated_at,
                map_url=reverse("climate_read:xarray-viewer", kwargs={"collection": c, "item": i}),
                api_url=reverse("climate_read:edr-collection", kwargs={"collection_id": f"{c}~{i}"}),
                stac_url="" if not row.published else f"/api/stac/collections/{c}/items/{i}",
                pending=not row.published,
            )
        )
    return out


def register() -> None:
    register_kind("climate", label="Climate datasets", lister=dataset_list, can_preview=_can_preview)
