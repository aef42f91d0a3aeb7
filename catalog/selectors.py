"""Reads from the STAC catalogue (documents as stored, hydrated; no API links)."""

from __future__ import annotations

from typing import Any

from . import pgstac
from .errors import InvalidSearch


def collection_get(*, collection_id: str) -> dict[str, Any] | None:
    return pgstac.collection_get(collection_id)


def item_get(*, collection_id: str, item_id: str) -> dict[str, Any] | None:
    return pgstac.item_get(collection_id, item_id)


# --- For the STAC API: JSON texts built by PostgreSQL, with links under ``base`` ---------


def collection_exists(*, collection_id: str) -> bool:
    return pgstac.collection_exists(collection_id)


def collection_titles_list() -> list[tuple[str, str | None]]:
    return pgstac.collection_titles()


def collections_document_get(*, base: str) -> str:
    return pgstac.collections_document(base)


def collection_document_get(*, collection_id: str, base: str) -> str | None:
    return pgstac.collection_document(collection_id, base)


def item_document_get(*, collection_id: str, item_id: str, base: str) -> str | None:
    return pgstac.item_document(collection_id, item_id, base)


def search_page(*, search: dict[str, Any], base: str) -> tuple[str, str | None, str | None]:
    """One page of a STAC search: (FeatureCollection JSON without links, next token, prev token)."""
    try:
        return pgstac.search(search, base)
    except pgstac.BadToken as exc:
        raise InvalidSearch(
            "Invalid token: it is malformed or its item no longer exists; restart from the first page.",
            details={"parameter": "token", "reason": str(exc)},
        ) from exc
    except pgstac.BadSearch as exc:
        raise _refused(exc) from exc


def _refused(exc: Exception) -> InvalidSearch:
    return InvalidSearch(
        f"The search cannot be evaluated: {exc}. Check the filter/query operands against /queryables.",
        details={"reason": str(exc)},
    )


def collection_search_page(*, search: dict[str, Any], base: str) -> tuple[str, int, int]:
    """Collection search: (JSON array of collections with links, number matched, number returned)."""
    try:
        return pgstac.collection_search(search, base)
    except pgstac.BadSearch as exc:
        raise _refused(exc) from exc


def queryables_get(*, collection_id: str | None = None) -> dict[str, Any] | None:
    """The queryables JSON Schema (global, or of one collection: None if it does not exist)."""
    return pgstac.queryables(collection_id)


# --- Registered searches (see services.search_register) -----------------------------------


def search_get(*, search_id: str) -> dict[str, Any] | None:
    """{"id", "search", "metadata"} of a registered search, or None."""
    return pgstac.search_get(search_id)


def search_items_for_tile(
    *, search_id: str, bbox: tuple[float, float, float, float], limit: int = 100
) -> list[dict[str, Any]]:
    """Full (hydrated) items of a registered search intersecting ``bbox`` (EPSG:4326), in the search's order."""
    return pgstac.search_items_in_bbox(search_id, bbox, limit)


def search_bounds_get(*, search_id: str) -> tuple[float, float, float, float] | None:
    """The bbox of all the items of a registered search (None if it matches none)."""
    return pgstac.search_extent(search_id)


def collection_item_ids_list(*, collection_id: str) -> list[str]:
    return pgstac.collection_item_ids(collection_id)


def collection_item_property_values(*, collection_id: str, name: str) -> list[Any]:
    """Distinct values of the property ``name`` over the collection's items (None: absent)."""
    return pgstac.item_property_values(collection_id, name)


def collection_searches_list(*, collection_id: str) -> list[str]:
    """Ids of the registered searches over exactly this collection (its mosaic URLs)."""
    return pgstac.searches_of_collection(collection_id)
