"""The grid in the diagnostics' catalog section, cheaply: the cells per resolution that the last
completed bootstrap wrote (its job result) and the planner's row estimates of the tables
(counting 30 M rows on every call would take seconds)."""

from __future__ import annotations

from typing import Any

from geoplatform import diagnostics
from geoplatform.diagnostics import diag_cursor, rows

from . import selectors


def grid(**_: Any) -> dict[str, Any]:
    with diag_cursor() as cur:
        tables = rows(
            cur,
            "SELECT c.relname AS table, greatest(c.reltuples, 0)::bigint AS estimated_rows,"
            " pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'h3' AND c.relname IN ('cell', 'cell_country') ORDER BY c.relname",
        )
    return {"tables": tables, "last_bootstrap": selectors.grid_last_bootstrap()}


def register() -> None:
    diagnostics.register(
        "catalog", grid, source="h3grid.grid", description="The H3 land grid: rows, size, the last bootstrap."
    )
