"""Where the land polygons of the grid come from: a features collection with an ISO3 column
(the managed Natural Earth Admin0 collection when present) or the Natural Earth 1:110m
countries shipped with the app."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import shapely
from django.db import connection
from psycopg import sql

from features import selectors as feature_selectors
from features import sql as feature_sql
from features.errors import CollectionNotFound
from geoplatform.errors import InvalidInput

from . import grid

# The managed Admin0 collection (built by the managed-datasets app) and the shipped fallback.
MANAGED_ADMIN0 = "ne_admin0_countries"
SHIPPED = "naturalearth_lowres"
# Tried in order when no ISO3 column is named (Natural Earth's own names, then common ones).
ISO3_COLUMNS = ("iso_a3_eh", "iso_a3", "adm0_a3", "iso3", "iso")


def source_resolve(source: str) -> str:
    """The source a bootstrap reads: "" means the managed Admin0 collection when it exists,
    else the shipped file."""
    if source:
        return source
    return MANAGED_ADMIN0 if feature_sql.table_exists(MANAGED_ADMIN0) else SHIPPED


def _collection_columns(collection_id: str) -> dict[str, str]:
    try:
        feature_selectors.dataset_get(collection_id=collection_id, include_unpublished=True)
    except CollectionNotFound:
        raise InvalidInput(
            f"No features collection {collection_id!r}: pass source='' (the Natural Earth countries), "
            f"{SHIPPED!r}, or the id of a loaded polygon collection with an ISO3 column."
        ) from None
    return {name.lower(): name for name, _ in feature_sql.table_columns(collection_id)}


def iso3_column_resolve(source: str, iso3_column: str) -> str:
    """The ISO3 column of ``source`` (named, or the first of :data:`ISO3_COLUMNS` present)."""
    if source == SHIPPED:
        if iso3_column not in {"", "iso_a3"}:
            raise InvalidInput(f"The shipped countries have the ISO3 column 'iso_a3', not {iso3_column!r}.")
        return "iso_a3"
    columns = _collection_columns(source)
    if iso3_column:
        if iso3_column.lower() not in columns:
            raise InvalidInput(
                f"Collection {source!r} has no column {iso3_column!r}.",
                details={"columns": sorted(columns.values())},
            )
        return columns[iso3_column.lower()]
    for candidate in ISO3_COLUMNS:
        if candidate in columns:
            return columns[candidate]
    raise InvalidInput(
        f"Collection {source!r} has none of the ISO3 columns {', '.join(ISO3_COLUMNS)}: name one with iso3_column.",
        details={"columns": sorted(columns.values())},
    )


def _version(source: str) -> str:
    if source == SHIPPED:
        return str(grid.SHIPPED.stat().st_mtime_ns)
    return feature_selectors.dataset_version(collection_id=source, include_unpublished=True)


def rows(source: str, iso3_column: str) -> tuple[list[str], list[Any]]:
    """(ISO3 codes, polygons in lon/lat) of every row of the source."""
    return _rows(source, iso3_column, _version(source))


@lru_cache(maxsize=2)
def _rows(source: str, iso3_column: str, version: str) -> tuple[list[str], list[Any]]:
    if source == SHIPPED:
        return grid.shipped_rows()
    query = sql.SQL("SELECT {}::text, ST_AsBinary(geom) FROM {} WHERE geom IS NOT NULL").format(
        sql.Identifier(iso3_column), sql.Identifier(feature_sql.SCHEMA, source)
    )
    with connection.cursor() as cur:
        cur.execute(query)
        fetched = cur.fetchall()
    codes = [str(r[0] or "") for r in fetched]
    geoms = list(shapely.from_wkb([bytes(r[1]) for r in fetched]))
    return codes, geoms


def land_get(*, source: str, iso3_column: str, country: str = "", bbox: list[float] | None = None) -> grid.Land:
    """The land of a bootstrap (cached per process for the source's current version)."""
    return _land(source, iso3_column, country, tuple(bbox) if bbox else None, _version(source))


@lru_cache(maxsize=2)
def _land(source: str, iso3_column: str, country: str, bbox: tuple[float, ...] | None, version: str) -> grid.Land:
    codes, geoms = _rows(source, iso3_column, version)
    return grid.land_build(codes, geoms, country=country, bbox=list(bbox) if bbox else None, source=source)
