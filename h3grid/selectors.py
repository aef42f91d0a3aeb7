"""Reads of the H3 app: the stat registry, the stat tables and the land grid (schema ``h3``).

Stat tables (``h3.stat_<id>``) are read with SQL built here; rows are turned into output text by
PostgreSQL (JSON per row, CSV by COPY) and streamed in chunks, never held as a whole result of
Python objects. Pages use keyset paging on the cell id (``after``), which the (res, cell)
primary key serves.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import h3.api.basic_int as h3i
from django.db import connection
from psycopg import sql

from geoplatform.errors import InvalidInput, NotFound

from . import cellids
from .models import StatDataset

_ISO3 = re.compile(r"^[A-Za-z]{3}$")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,63}$")
MAX_LIMIT = 10000
DEFAULT_LIMIT = 1000
FETCH_CHUNK = 500
# Above this many covering cells a bbox query uses coarser cells and their descendants' ranges.
BBOX_MAX_CELLS = 20000


# Registry ----------------------------------------------------------------------------------------


def dataset_list() -> list[StatDataset]:
    return list(StatDataset.objects.all())


# Per-process caches of what every cells request checks first (the dataset row and whether its
# table exists, the ISO3 codes of the grid): three round trips a request fewer. A new dataset or
# country shows after CACHE_SECONDS at most.
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _cached(key: str, make: Any) -> Any:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = make()
    with _cache_lock:
        _cache[key] = (now + CACHE_SECONDS, value)
    return value


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def dataset_get(*, dataset_id: str) -> StatDataset:
    """A dataset by its numeric id or its slug (cached a few seconds, see CACHE_SECONDS)."""
    row: StatDataset | None = _cached("ds:" + dataset_id, lambda: _dataset_find(dataset_id))
    if row is None:
        raise NotFound(f"No H3 statistics dataset {dataset_id!r}; GET /api/h3/registry lists them.")
    return row


def _dataset_find(dataset_id: str) -> StatDataset | None:
    row = None
    if _SLUG.match(dataset_id):  # anything else names no dataset (and never reaches SQL)
        if dataset_id.isdigit() and len(dataset_id) <= 18:
            row = StatDataset.objects.filter(pk=int(dataset_id)).first()
        if row is None:
            row = StatDataset.objects.filter(slug=dataset_id).first()
    return row


def stat_names(ds: StatDataset) -> list[str]:
    return [str(c["name"]) for c in ds.columns if isinstance(c, dict) and c.get("name")]


def dataset_resolutions(ds: StatDataset) -> list[int]:
    return sorted(int(r) for r in ds.resolutions)


def res_storage(ds: StatDataset, res: int) -> str:
    """``postgres`` or ``parquet:<blob prefix>`` (h3agg's choice per resolution)."""
    return str((ds.storage or {}).get(str(res), "postgres"))


def _table(ds: StatDataset) -> sql.Composable:
    return sql.Identifier("h3", ds.table)


def _table_exists(ds: StatDataset) -> bool:
    def find() -> bool:
        with connection.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", [f"h3.{ds.table}"])
            return bool(cur.fetchone()[0])

    # Only a table found is cached: a dataset whose job is still running shows at once when done.
    key = f"table:{ds.table}"
    with _cache_lock:
        if key in _cache and _cache[key][0] > time.monotonic():
            return True
    if find():
        _cached(key, lambda: True)
        return True
    return False


def dataset_summary(ds: StatDataset) -> list[dict[str, Any]]:
    """Per resolution: cells with values and each statistic's min, max, mean (over cells). A scan
    of the whole stat table (seconds at resolution 7): cached per process and computation."""
    key = f"summary:{ds.pk}:{ds.computed_at}:{ds.resolutions}"
    return _cached(key, lambda: _summary(ds))  # type: ignore[no-any-return]


def _summary(ds: StatDataset) -> list[dict[str, Any]]:
    names = stat_names(ds)
    in_db = [r for r in dataset_resolutions(ds) if res_storage(ds, r) == "postgres"]
    out: dict[int, dict[str, Any]] = {
        r: {"res": r, "storage": res_storage(ds, r), "cells": None, "stats": {}} for r in dataset_resolutions(ds)
    }
    if in_db and _table_exists(ds):
        aggs: list[sql.Composable] = [sql.SQL("count(*)")]
        for name in names:
            col = sql.Identifier(name)
            aggs += [sql.SQL("min({c}), max({c}), avg({c})").format(c=col)]
        query = sql.SQL("SELECT res, {aggs} FROM {t} WHERE res = ANY(%s) GROUP BY res ORDER BY res").format(
            aggs=sql.SQL(", ").join(aggs), t=_table(ds)
        )
        with connection.cursor() as cur:
            cur.execute(query.as_string(cur.cursor.connection), [in_db])
            for row in cur.fetchall():
                entry = out.setdefault(row[0], {"res": row[0], "storage": "postgres", "stats": {}})
                entry["cells"] = row[1]
                for i, name in enumerate(names):
                    lo, hi, mean = row[2 + 3 * i : 5 + 3 * i]
                    entry["stats"][name] = {"min": _finite(lo), "max": _finite(hi), "mean": _finite(mean)}
    return [out[r] for r in sorted(out)]


# Cells of one dataset ----------------------------------------------------------------------------


@dataclass
class CellQuery:
    """A validated page request on one dataset's stat table."""

    ds: StatDataset
    res: int
    stats: list[str]
    limit: int
    iso3: str | None = None
    after: int | None = None
    parent: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    # Filled by :func:`cell_query`: exact cells or (lo, hi) ranges of a coarser cover.
    cells: list[int] | None = None
    ranges: tuple[list[int], list[int]] | None = None
    extra: dict[str, str] = field(default_factory=dict)


def iso3_check(iso3: str) -> str:
    if not _ISO3.match(iso3):
        raise InvalidInput(f"iso3={iso3!r} is not an ISO 3166-1 alpha-3 code (three letters, e.g. KEN).")
    code = iso3.upper()
    if code not in _cached("iso3", _iso3_codes):
        raise InvalidInput(f"Unknown ISO3 code {code!r}: no cell of the H3 grid lies in that country.")
    return code


def _iso3_codes() -> frozenset[str]:
    """The grid's countries: a loose index scan of (iso3, cell), one probe per country."""
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH RECURSIVE c(iso3) AS (
                (SELECT iso3 FROM h3.cell_country ORDER BY iso3 LIMIT 1)
                UNION ALL
                SELECT (SELECT iso3 FROM h3.cell_country WHERE iso3 > c.iso3 ORDER BY iso3 LIMIT 1)
                FROM c WHERE c.iso3 IS NOT NULL
            )
            SELECT iso3 FROM c WHERE iso3 IS NOT NULL
            """
        )
        return frozenset(str(r[0]) for r in cur.fetchall())


def cell_query(
    *,
    ds: StatDataset,
    res: int | None,
    stat: str | None,
    limit: int | None,
    iso3: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    after: int | None = None,
    parent: int | None = None,
) -> CellQuery:
    """Checks the request against the dataset (400 naming what to fix) and resolves bbox/parent."""
    resolutions = dataset_resolutions(ds)
    if not resolutions:
        raise NotFound(f"Dataset {ds.slug!r} has no statistics yet (no resolution computed).")
    if res is None:
        res = resolutions[0]
    cellids.check_pyramid_res(res)
    if res not in resolutions:
        raise InvalidInput(f"res={res}: dataset {ds.slug!r} has statistics at resolutions {resolutions} only.")
    storage = res_storage(ds, res)
    if storage != "postgres":
        raise InvalidInput(
            f"res={res} of dataset {ds.slug!r} is kept as Parquet in the silver zone ({storage}), not served"
            f" cell by cell here: use resolutions {[r for r in resolutions if res_storage(ds, r) == 'postgres']}"
            " or its GeoParquet export."
        )
    names = stat_names(ds)
    if stat:
        wanted = [s.strip() for s in stat.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in names]
        if unknown:
            raise InvalidInput(f"Unknown stat {', '.join(unknown)}: dataset {ds.slug!r} has {', '.join(names)}.")
    else:
        wanted = names
    q = CellQuery(ds=ds, res=res, stats=wanted, limit=limit or DEFAULT_LIMIT, iso3=None, after=after, bbox=bbox)
    if iso3:
        q.iso3 = iso3_check(iso3)
    if parent is not None:
        if h3i.get_resolution(parent) >= res:
            raise InvalidInput(
                f"parent must be coarser than res={res}: it is of resolution {h3i.get_resolution(parent)}."
            )
        q.parent = parent
    if bbox is not None:
        cover_res, cells = cellids.bbox_cover(bbox, res, max_cells=BBOX_MAX_CELLS)
        if cover_res == res:
            q.cells = cells
        else:
            pairs = [cellids.children_range(c, res) for c in cells]
            q.ranges = ([p[0] for p in pairs], [p[1] for p in pairs])
    if not _table_exists(ds):
        raise NotFound(f"Dataset {ds.slug!r} has no stat table yet (its aggregation has not run).")
    return q


def _select(
    q: CellQuery, columns: sql.Composable, *, limit: int, after: int | None, offset: int = 0
) -> tuple[sql.Composable, list[Any]]:
    """The page query. Filtered by country, it walks the country's cells on the (iso3, cell)
    index from the page's start and probes the stat table's (res, cell) key for each (a LATERAL
    subquery kept apart by OFFSET 0): PostgreSQL's join estimates otherwise pick a hash join that
    reads and sorts the country's remaining cells for every page."""
    params: list[Any] = []
    conds: list[sql.Composable] = []
    key = sql.SQL("s.cell")
    if q.iso3:
        source = sql.SQL(
            "h3.cell_country cc CROSS JOIN LATERAL"
            " (SELECT * FROM {t} s0 WHERE s0.res = %s AND s0.cell = cc.cell OFFSET 0) s"
        ).format(t=_table(q.ds))
        params.append(q.res)
        lo, hi = cellids.res_range(q.res)
        conds.append(sql.SQL("cc.iso3 = %s AND cc.cell BETWEEN %s AND %s"))
        key = sql.SQL("cc.cell")
        cond_params: list[Any] = [q.iso3, lo, hi]
    else:
        source = sql.SQL("{t} s").format(t=_table(q.ds))
        conds.append(sql.SQL("s.res = %s"))
        cond_params = [q.res]
    if q.ranges is not None:
        source = sql.SQL(
            "{} JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON s.cell BETWEEN r.lo AND r.hi"
        ).format(source)
        params += [q.ranges[0], q.ranges[1]]
    params += cond_params
    if q.cells is not None:
        conds.append(sql.SQL("{} = ANY(%s::bigint[])").format(key))
        params.append(q.cells)
    if q.parent is not None:
        conds.append(sql.SQL("{} BETWEEN %s AND %s").format(key))
        params += list(cellids.children_range(q.parent, q.res))
    if after is not None:
        conds.append(sql.SQL("{} > %s").format(key))
        params.append(after)
    query = sql.SQL("SELECT {cols} FROM {source} WHERE {where} ORDER BY {key} LIMIT %s OFFSET %s").format(
        cols=columns, source=source, where=sql.SQL(" AND ").join(conds), key=key
    )
    return query, [*params, limit, offset]


def _json_columns(q: CellQuery) -> sql.Composable:
    """One JSON object of text per row, built by PostgreSQL: cell (hex, as h3 writes it), res, the
    country share when filtered by iso3, then the statistics."""
    parts: list[sql.Composable] = [
        sql.SQL("'cell', lpad(to_hex(s.cell), 15, '0')"),
        sql.SQL("'res', s.res"),
    ]
    if q.iso3:
        parts += [sql.SQL("'iso3', cc.iso3"), sql.SQL("'share', cc.share")]
    # NaN and infinities (statistics of no pixels) as null: JSON has no such numbers.
    parts += [
        sql.SQL("{}, nullif(nullif(nullif(s.{}, 'NaN'), 'Infinity'), '-Infinity')").format(
            sql.Literal(n), sql.Identifier(n)
        )
        for n in q.stats
    ]
    return sql.SQL("s.cell, json_build_object({})::text").format(sql.SQL(", ").join(parts))


def cells_json_rows(q: CellQuery) -> Iterator[list[tuple[int, str]]]:
    """Chunks of (cell, JSON text of its properties), at most ``limit + 1`` rows in all (the
    extra row tells the caller there is a next page)."""
    query, params = _select(q, _json_columns(q), limit=q.limit + 1, after=q.after)
    with connection.cursor() as cur:
        cur.execute(query.as_string(cur.cursor.connection), params)
        while True:
            chunk = cur.fetchmany(FETCH_CHUNK)
            if not chunk:
                break
            yield chunk


def cells_csv(q: CellQuery) -> Iterator[bytes]:
    """The page as CSV written by PostgreSQL (COPY ... TO STDOUT), streamed as it comes."""
    cols: list[sql.Composable] = [
        sql.SQL("lpad(to_hex(s.cell), 15, '0') AS cell"),
        sql.SQL("s.cell AS cell_int"),
        sql.SQL("s.res"),
    ]
    if q.iso3:
        cols += [sql.SQL("cc.iso3"), sql.SQL("cc.share")]
    cols += [sql.SQL("s.{}").format(sql.Identifier(n)) for n in q.stats]
    query, params = _select(q, sql.SQL(", ").join(cols), limit=q.limit, after=q.after)
    with connection.cursor() as cur:
        pg = cur.cursor
        text = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(query).as_string(pg.connection)
        # COPY takes no server-side parameters: psycopg binds them client side.
        with pg.copy(text, params) as copy:
            for block in copy:
                yield bytes(block)


def cells_arrow_batches(q: CellQuery) -> Iterator[dict[str, list[Any]]]:
    """The page as column chunks (for Parquet), FETCH_CHUNK rows at a time."""
    cols: list[sql.Composable] = [sql.SQL("s.cell"), sql.SQL("s.res")]
    if q.iso3:
        cols += [sql.SQL("cc.iso3::text"), sql.SQL("cc.share")]
    cols += [sql.SQL("s.{}").format(sql.Identifier(n)) for n in q.stats]
    names = ["cell", "res", *(["iso3", "share"] if q.iso3 else []), *q.stats]
    query, params = _select(q, sql.SQL(", ").join(cols), limit=q.limit, after=q.after)
    with connection.cursor() as cur:
        cur.execute(query.as_string(cur.cursor.connection), params)
        while True:
            chunk = cur.fetchmany(FETCH_CHUNK * 10)
            if not chunk:
                break
            yield {name: [row[i] for row in chunk] for i, name in enumerate(names)}


def next_after(q: CellQuery) -> int | None:
    """The last cell of this page when another page follows (for CSV/Parquet, whose Link header
    is sent before the body): the page's last row and the one after it, by one index probe."""
    query, params = _select(q, sql.SQL("s.cell"), limit=2, after=q.after, offset=q.limit - 1)
    with connection.cursor() as cur:
        cur.execute(query.as_string(cur.cursor.connection), params)
        rows = cur.fetchall()
    return int(rows[0][0]) if len(rows) == 2 else None


# One cell across datasets ------------------------------------------------------------------------


def cell_detail(*, cell: int) -> dict[str, Any]:
    """Every dataset's values for ``cell``, whether the land grid has it, and its countries."""
    res = h3i.get_resolution(cell)
    datasets = [ds for ds in dataset_list() if res in dataset_resolutions(ds) and res_storage(ds, res) == "postgres"]
    with connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM h3.cell WHERE cell = %s)", [cell])
        in_grid = bool(cur.fetchone()[0])
        cur.execute("SELECT iso3, share FROM h3.cell_country WHERE cell = %s ORDER BY share DESC, iso3", [cell])
        countries = [{"iso3": r[0], "share": r[1]} for r in cur.fetchall()]
        values: dict[int, dict[str, Any]] = {}
        existing = [ds for ds in datasets if _table_exists(ds)]
        if existing:
            parts = [
                sql.SQL("SELECT {id}::bigint, row_to_json(s)::text FROM {t} s WHERE s.res = %s AND s.cell = %s").format(
                    id=sql.Literal(ds.pk), t=_table(ds)
                )
                for ds in existing
            ]
            query = sql.SQL(" UNION ALL ").join(parts)
            cur.execute(query.as_string(cur.cursor.connection), [v for _ in existing for v in (res, cell)])
            for pk, text in cur.fetchall():
                row = json.loads(text)
                values[int(pk)] = {
                    k: None if v in ("NaN", "Infinity", "-Infinity") else v
                    for k, v in row.items()
                    if k not in ("res", "cell")
                }
    return {
        "res": res,
        "in_grid": in_grid,
        "countries": countries,
        "datasets": [(ds, values.get(ds.pk)) for ds in datasets],
    }


# The land grid (DGGS zones) ----------------------------------------------------------------------


def grid_levels() -> list[int]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT r FROM generate_series(%s, %s) r WHERE EXISTS (SELECT 1 FROM h3.cell WHERE res = r)",
            [cellids.PYRAMID_MIN, cellids.PYRAMID_MAX],
        )
        return [int(r[0]) for r in cur.fetchall()]


def zone_ids(
    *,
    level: int,
    ds: StatDataset | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    parent: int | None = None,
    limit: int,
    offset: int = 0,
) -> list[int]:
    """Cells at ``level`` of the land grid (or with values in ``ds``), filtered, ordered by id."""
    if ds is not None and not _table_exists(ds):
        return []
    table = _table(ds) if ds is not None else sql.Identifier("h3", "cell")
    joins: list[sql.Composable] = []
    conds: list[sql.Composable] = [sql.SQL("s.res = %s")]
    params: list[Any] = []
    if bbox is not None:
        cover_res, cells = cellids.bbox_cover(bbox, level, max_cells=BBOX_MAX_CELLS)
        if cover_res == level:
            conds.append(sql.SQL("s.cell = ANY(%s::bigint[])"))
            cover_params: list[Any] = [cells]
        else:
            pairs = [cellids.children_range(c, level) for c in cells]
            joins.append(
                sql.SQL("JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON s.cell BETWEEN r.lo AND r.hi")
            )
            params += [[p[0] for p in pairs], [p[1] for p in pairs]]
            cover_params = []
    else:
        cover_params = []
    params.append(level)
    params += cover_params
    if parent is not None:
        lo, hi = cellids.children_range(parent, level)
        conds.append(sql.SQL("s.cell BETWEEN %s AND %s"))
        params += [lo, hi]
    query = sql.SQL("SELECT s.cell FROM {t} s {joins} WHERE {where} ORDER BY s.cell LIMIT %s OFFSET %s").format(
        t=table, joins=sql.SQL(" ").join(joins), where=sql.SQL(" AND ").join(conds)
    )
    with connection.cursor() as cur:
        cur.execute(query.as_string(cur.cursor.connection), [*params, limit, offset])
        return [int(r[0]) for r in cur.fetchall()]


def zone_values(*, ds: StatDataset, cells: list[int], res: int) -> dict[int, dict[str, Any]]:
    """``ds``'s statistics of the given cells (all at ``res``)."""
    names = stat_names(ds)
    if not cells or not _table_exists(ds) or res_storage(ds, res) != "postgres":
        return {}
    cols = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(n)) for n in names)
    query = sql.SQL("SELECT s.cell, {cols} FROM {t} s WHERE s.res = %s AND s.cell = ANY(%s::bigint[])").format(
        cols=cols, t=_table(ds)
    )
    with connection.cursor() as cur:
        cur.execute(query.as_string(cur.cursor.connection), [res, cells])
        return {int(r[0]): {n: _finite(v) for n, v in zip(names, r[1:], strict=True)} for r in cur.fetchall()}


def _finite(value: Any) -> Any:
    """NaN and infinities (a statistic of no pixels) as null: JSON has no such numbers."""
    return value if value is None or math.isfinite(value) else None
