"""What other apps may hang on the features app, without features importing them.

An app above features (``styles``) registers here from its ``AppConfig.ready()``:

- ``collection_ready`` (a Django signal) is sent inside the transaction that publishes a
  collection (a first load or an overwrite), with ``dataset`` (the ``VectorDataset`` row) and
  ``classes`` (``classes(column, limit)``: the distinct non-null values of a text column, or
  ``None`` when it has more than ``limit``). A receiver that raises fails the load.
- ``collection_removed`` is sent when a collection's row is deleted (unpublish, or an overwrite
  that no longer makes one of its geometry-type parts), with ``collection_id``.
- :func:`register_conformance` adds conformance classes to ``/api/features/conformance``;
  :func:`register_collection_links` adds links to each collection document;
  :func:`register_map_style` names the style the HTML items page draws with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.dispatch import Signal
from psycopg import sql as psql

collection_ready = Signal()
collection_removed = Signal()

LinkMaker = Callable[[str, Callable[[str], str]], list[dict[str, Any]]]
MapStyle = Callable[[str], dict[str, Any] | None]

_conformance: list[str] = []
_link_makers: list[LinkMaker] = []
_map_styles: list[MapStyle] = []


def register_conformance(uris: list[str]) -> None:
    _conformance.extend(u for u in uris if u not in _conformance)


def conformance() -> list[str]:
    return list(_conformance)


def register_collection_links(maker: LinkMaker) -> None:
    """``maker(collection_id, url)`` returns extra links; ``url(path)`` is absolute below /api/features/."""
    if maker not in _link_makers:
        _link_makers.append(maker)


def collection_links(collection_id: str, url: Callable[[str], str]) -> list[dict[str, Any]]:
    return [link for maker in _link_makers for link in maker(collection_id, url)]


def register_map_style(provider: MapStyle) -> None:
    """``provider(collection_id)`` returns ``{"leaflet": url, "mapbox": url, ...}`` or None."""
    if provider not in _map_styles:
        _map_styles.append(provider)


def map_style(collection_id: str) -> dict[str, Any] | None:
    for provider in _map_styles:
        found = provider(collection_id)
        if found:
            return found
    return None


def text_classes(table: str) -> Callable[[str, int], list[str] | None]:
    """``classes(column, limit)`` over ``geo.<table>``: its distinct values, sorted, or None
    when there are more than ``limit`` (read limit + 1 of them, never the whole column)."""
    from . import sql  # late: sql imports Django's connection machinery

    def classes(column: str, limit: int) -> list[str] | None:
        query = psql.SQL("SELECT DISTINCT {col}::text FROM {table} WHERE {col} IS NOT NULL LIMIT %s").format(
            col=psql.Identifier(column), table=sql._table(table)
        )
        rows = [r[0] for r in sql._execute(query, [limit + 1]).fetchall()]
        return None if len(rows) > limit else sorted(rows)

    return classes
