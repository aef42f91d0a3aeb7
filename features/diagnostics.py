"""The features app's diagnostics: vector tables with row counts and size, and the datasets
whose metadata and table disagree. Registered from :class:`features.apps.FeaturesConfig`;
see :mod:`geoplatform.diagnostics`.

Counting rows of a large table on every call would cost seconds: a table up to
``exact_max_rows`` (by the planner's estimate) is counted; a larger one with dense ids
(``1..n``) is counted by ``max(id)`` through its primary key; any other gives the estimate.
A table someone holds exclusively (a swap in progress) is named, never waited on.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from geoplatform import diagnostics
from geoplatform.diagnostics import Param, diag_cursor, exclusively_locked, rows

from .models import VectorDataset
from .sql import RESERVED_COLUMNS, SCHEMA


def _render(cur: Any, query: sql.Composable) -> str:
    return query.as_string(cur.connection)


def vector(exact_max_rows: int, top: int) -> dict[str, Any]:
    datasets = {d.collection_id: d for d in VectorDataset.objects.all()}
    with diag_cursor() as cur:
        tables = rows(
            cur,
            "SELECT c.oid, c.relname AS name, greatest(c.reltuples, 0)::bigint AS estimated_rows"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            [SCHEMA],
        )
        locked = exclusively_locked(cur, [t["oid"] for t in tables])
        columns: dict[str, set[str]] = {}
        # pg_attribute, not information_schema.columns (a view that checks privileges row by row).
        cur.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p')"
            " AND a.attnum > 0 AND NOT a.attisdropped",
            [SCHEMA],
        )
        for table, column in cur.fetchall():
            columns.setdefault(table, set()).add(column)
        listed: list[dict[str, Any]] = []
        for t in tables:
            entry: dict[str, Any] = {"table": f"{SCHEMA}.{t['name']}", "estimated_rows": t["estimated_rows"]}
            if t["oid"] in locked:
                entry.update(locked=True, rows=None, bytes=None)
                listed.append(entry)
                continue
            cur.execute("SELECT pg_total_relation_size(%s)", [t["oid"]])
            entry["bytes"] = cur.fetchone()[0]
            ident = sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(t["name"]))
            ds = datasets.get(t["name"])
            if t["estimated_rows"] <= exact_max_rows:
                cur.execute(_render(cur, sql.SQL("SELECT count(*) FROM {}").format(ident)))
                entry.update(rows=cur.fetchone()[0], counted="exact")
            elif ds is not None and ds.dense_ids and "id" in columns.get(t["name"], set()):
                cur.execute(_render(cur, sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(ident)))
                entry.update(rows=cur.fetchone()[0], counted="max_id")
            else:
                entry.update(rows=t["estimated_rows"], counted="estimate")
            listed.append(entry)
    disagreements = _disagreements(datasets, {t["name"]: t for t in listed_by_name(listed)}, columns)
    listed.sort(key=lambda e: -(e["bytes"] or 0))
    return {
        "tables": listed[: max(top, 1) * 10],
        "tables_total": len(listed),
        "datasets_total": len(datasets),
        "locked": [e["table"] for e in listed if e.get("locked")],
        "disagreements": disagreements,
        "exact_max_rows": exact_max_rows,
    }


def listed_by_name(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "name": e["table"].split(".", 1)[1]} for e in listed]


def _disagreements(
    datasets: dict[str, VectorDataset], tables: dict[str, dict[str, Any]], columns: dict[str, set[str]]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for cid, ds in sorted(datasets.items()):
        table = tables.get(cid)
        if table is None:
            found.append({"dataset": cid, "problem": "missing_table", "detail": f"{SCHEMA}.{cid} does not exist"})
            continue
        if table.get("locked"):
            continue
        if table["counted"] != "estimate" and table["rows"] != ds.feature_count:
            found.append(
                {
                    "dataset": cid,
                    "problem": "feature_count",
                    "detail": f"metadata says {ds.feature_count} features, the table holds {table['rows']}",
                }
            )
        have = columns.get(cid, set())
        declared = {a.get("name") for a in ds.attributes or [] if isinstance(a, dict)}
        missing = sorted(n for n in declared - have if n)
        extra = sorted(have - declared - RESERVED_COLUMNS)
        if missing or extra:
            found.append(
                {
                    "dataset": cid,
                    "problem": "columns",
                    "detail": {"in_metadata_not_table": missing, "in_table_not_metadata": extra},
                }
            )
    for name in sorted(set(tables) - set(datasets)):
        if not name.startswith("_load_"):  # loads in progress are the ETL's own
            found.append({"dataset": None, "table": f"{SCHEMA}.{name}", "problem": "no_metadata"})
    return found


def register() -> None:
    diagnostics.register(
        "catalog",
        vector,
        source="features",
        params={
            "exact_max_rows": Param(int, 200_000, "Count tables up to this estimated size exactly.", 0, 10**9),
            "top": Param(int, 10, "How many rows each list shows.", 1, 100),
        },
    )
