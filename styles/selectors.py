"""Reads of styles."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, Subquery

from features import selectors as features_selectors
from features.models import VectorDataset

from .errors import StyleNotFound
from .models import Style, StyleRevision


def style_list(*, collection_id: str) -> list[Style]:
    return list(Style.objects.filter(collection_id=collection_id))


def style_get(*, collection_id: str, style_id: str) -> Style:
    style = Style.objects.filter(collection_id=collection_id, style_id=style_id).first()
    if style is None:
        raise StyleNotFound(f"Collection {collection_id!r} has no style {style_id!r}.")
    return style


def style_default(*, collection_id: str) -> Style | None:
    return Style.objects.filter(collection_id=collection_id, is_default=True).first()


def style_history(*, collection_id: str, style_id: str) -> list[StyleRevision]:
    return list(StyleRevision.objects.filter(collection_id=collection_id, style_id=style_id))


def style_get_served(*, collection_id: str, style_id: str, include_unpublished: bool) -> Style:
    """A style of a collection the caller may see, in ONE query (a style GET comes with every
    map load): the row annotated with ``collection_visible`` and ``collection_bbox``.
    A miss falls back to the features selector for the right 404 (no collection, or no style)."""
    datasets = VectorDataset.objects.filter(pk=OuterRef("collection_id"))
    if not include_unpublished:
        datasets = datasets.filter(Q(published=True))
    style = (
        Style.objects.filter(collection_id=collection_id, style_id=style_id)
        .annotate(collection_visible=Exists(datasets), collection_bbox=Subquery(datasets.values("bbox")[:1]))
        .first()
    )
    if style is None or not style.collection_visible:  # type: ignore[attr-defined]
        features_selectors.dataset_get(collection_id=collection_id, include_unpublished=include_unpublished)
        raise StyleNotFound(f"Collection {collection_id!r} has no style {style_id!r}.")
    return style
