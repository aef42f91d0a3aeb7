"""Reads of styles."""

from __future__ import annotations

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
