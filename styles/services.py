"""Writes of styles: each one validated (CartoSym schema, then every encoding but SLD... see
:func:`style_check`) and recorded in the history."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from . import cartosym, encodings
from .errors import InvalidStyle, StyleExists
from .models import Style, StyleRevision
from .selectors import style_get

GENERATED_ID = "generated"


def style_check(doc: Any, *, collection_id: str = "c") -> dict[str, Any]:
    """Valid CartoSym-JSON that every served encoding can express, or a 400 naming the rule."""
    cartosym.validate(doc)
    encodings.to_leaflet(doc, name="check")
    encodings.to_mapbox(doc, name="check", source_url="/", glyphs=str(settings.GEOPLATFORM_STYLES_GLYPHS_URL))
    return dict(doc)


def _record(style: Style, action: str, user: Any) -> None:
    StyleRevision.objects.create(
        collection_id=style.collection_id,
        style_id=style.style_id,
        version=style.version,
        action=action,
        cartosym=style.cartosym if action != StyleRevision.Action.DELETE else None,
        is_default=style.is_default,
        changed_by=user if user is not None and user.is_authenticated else None,
    )


def _title(doc: dict[str, Any], fallback: str) -> str:
    return str((doc.get("metadata") or {}).get("title") or fallback)[:300]


def _make_default(style: Style) -> None:
    Style.objects.filter(collection_id=style.collection_id, is_default=True).exclude(pk=style.pk).update(
        is_default=False
    )


@transaction.atomic
def style_create(*, collection_id: str, style_id: str, doc: Any, user: Any = None, default: bool = False) -> Style:
    if not style_id or not style_id.replace("-", "").replace("_", "").isalnum() or len(style_id) > 63:
        raise InvalidStyle("A style id is 1 to 63 letters, digits, '-' or '_'.")
    doc = style_check(doc, collection_id=collection_id)
    if Style.objects.filter(collection_id=collection_id, style_id=style_id).exists():
        raise StyleExists(f"Collection {collection_id!r} already has a style {style_id!r}; PUT to replace it.")
    first = not Style.objects.filter(collection_id=collection_id).exists()
    style = Style(
        collection_id=collection_id,
        style_id=style_id,
        title=_title(doc, style_id),
        description=str((doc.get("metadata") or {}).get("description") or ""),
        cartosym=doc,
        is_default=default or first,
        updated_by=user if user is not None and user.is_authenticated else None,
    )
    if style.is_default:
        Style.objects.filter(collection_id=collection_id, is_default=True).update(is_default=False)
    style.save()
    _record(style, StyleRevision.Action.CREATE, user)
    return style


@transaction.atomic
def style_replace(*, collection_id: str, style_id: str, doc: Any, user: Any = None, default: bool = False) -> Style:
    doc = style_check(doc, collection_id=collection_id)
    style = style_get(collection_id=collection_id, style_id=style_id)
    style.cartosym = doc
    style.title = _title(doc, style_id)
    style.description = str((doc.get("metadata") or {}).get("description") or "")
    style.version += 1
    style.generated = False  # a person's edit: an overwrite no longer replaces it
    style.updated_by = user if user is not None and user.is_authenticated else None
    if default:
        _make_default(style)
        style.is_default = True
    style.save()
    _record(style, StyleRevision.Action.REPLACE, user)
    return style


@transaction.atomic
def style_delete(*, collection_id: str, style_id: str, user: Any = None) -> None:
    style = style_get(collection_id=collection_id, style_id=style_id)
    _record(style, StyleRevision.Action.DELETE, user)
    style.delete()
    if style.is_default:  # another style (the oldest) becomes the default, if any
        successor = Style.objects.filter(collection_id=collection_id).order_by("created_at", "id").first()
        if successor is not None:
            Style.objects.filter(pk=successor.pk).update(is_default=True)


@transaction.atomic
def style_generate(*, collection_id: str, doc: dict[str, Any]) -> Style:
    """The platform's style for a load: replaces the earlier generated one; the default unless
    a person made another style the default."""
    cartosym.validate(doc)
    style = Style.objects.filter(collection_id=collection_id, style_id=GENERATED_ID).first()
    if style is not None and not style.generated:
        return style  # edited by a person since: theirs stays
    has_default = (
        Style.objects.filter(collection_id=collection_id, is_default=True).exclude(style_id=GENERATED_ID).exists()
    )
    if style is None:
        style = Style(collection_id=collection_id, style_id=GENERATED_ID, version=0)
    style.cartosym = doc
    style.title = _title(doc, GENERATED_ID)
    style.description = str(doc["metadata"].get("description", ""))
    style.generated = True
    style.version += 1
    style.is_default = not has_default
    style.save()
    _record(style, StyleRevision.Action.GENERATE, None)
    return style


@transaction.atomic
def styles_remove(*, collection_id: str) -> int:
    """Every style of a collection that is gone (history kept)."""
    count = 0
    for style in Style.objects.filter(collection_id=collection_id):
        _record(style, StyleRevision.Action.DELETE, None)
        style.delete()
        count += 1
    return count
