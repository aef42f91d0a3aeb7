"""The catalogue's diagnostics: pgSTAC collections with item counts, registered searches.
Registered from :class:`catalog.apps.CatalogConfig`; see :mod:`geoplatform.diagnostics`."""

from __future__ import annotations

from typing import Any

from geoplatform import diagnostics
from geoplatform.diagnostics import Param

from . import pgstac


def catalog(top: int) -> dict[str, Any]:
    with diagnostics.diag_cursor():  # short lock and statement timeouts for pgSTAC's reads too
        collections = pgstac.collections_with_counts(1000)
        searches = pgstac.searches_summary(top)
    return {
        "pgstac_version": pgstac.version(),
        "collections": collections,
        "items_total": sum(c["items"] for c in collections),
        "searches": searches,
    }


def register() -> None:
    diagnostics.register(
        "catalog", catalog, source="catalog", params={"top": Param(int, 10, "How many rows each list shows.", 1, 100)}
    )
