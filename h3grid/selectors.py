"""Reads of the H3 app: the stat registry, the stat tables and the land grid (schema ``h3``).

Stat tables (``h3.stat_<id>``) are read with SQL built here; rows are turned into output text by
PostgreSQL (JSON per row, CSV by COPY) and streamed in chunks, never held as a whole result of
Python objects. Pages use keyset paging on the cell id (``after``), which the (res, cell)
primary key serves.
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
import orjson
import psycopg
import pyarrow as pa
from django.db import connection
from numpy.typing import NDArray
from psycopg import sql

from geoplatform.errors import InvalidInput, NotFound
from geoplatform.postgis.cursors import server_bound_cursor
from ingest.models import JobStatus
from ingest.selectors import job_list

from . import cellids, grid, parts
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
    """Every dataset but replacements still being built (their load name holds a dot)."""
    return list(StatDataset.objects.exclude(slug__contains=".load-"))


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
        _pages.clear()
        _pages_size[0] = 0


# Per-process cache of whole JSON/GeoJSON pages of the cells route. A page is a pure function of
# the dataset row (id, computation time), the grid and the request URL; it is kept CACHE_SECONDS
# like the dataset row it was read with (so it is never staler than the other caches here), and
# the pages together stay under PAGE_CACHE_BYTES (least recently used out first). Clients paging
# through a country, or a map asking for the same view, then cost no query.
PAGE_CACHE_BYTES = 32 * 1024 * 1024
PAGE_MAX_BYTES = 2 * 1024 * 1024
_pages: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
_pages_size = [0]


def page_cache_key(ds: StatDataset, url: str) -> str:
    return f"{ds.pk}:{ds.computed_at}:{url}"


def page_cached(key: str) -> bytes | None:
    now = time.monotonic()
    with _cache_lock:
        hit = _pages.get(key)
        if hit is None:
            return None
        if hit[0] <= now:
            _pages_size[0] -= len(_pages.pop(key)[1])
            return None
        _pages.move_to_end(key)
        return hit[1]


def page_store(key: str, body: bytes) -> None:
    if len(body) > PAGE_MAX_BYTES:
        return
    with _cache_lock:
        old = _pages.pop(key, None)
        if old is not None:
            _pages_size[0] -= len(old[1])
        _pages[key] = (time.monotonic() + CACHE_SECONDS, body)
        _pages_size[0] += len(body)
        while _pages_size[0] > PAGE_CACHE_BYTES and _pages:
            _pages_size[0] -= len(_pages.popitem(last=False)[1][1])


def dataset_get(*, dataset_id: str) -> StatDataset:
    """A dataset by its numeric id or its slug (cached a few seconds, see CACHE_SECONDS)."""
    row: StatDataset | None = _cached("ds:" + dataset_id, lambda: _dataset_find(dataset_id))
    if row is None:
        raise NotFound(f"No H3 statistics dataset {dataset_id!r}; GET /api/h3/registry lists them.")
    return row


def _dataset_find(dataset_id: str) -> StatDataset | None:
    row = None
    if _SLUG.match(
        dataset_id
    ):  # a load name (a dot) is never matched  # anything else names no dataset (and never reaches SQL)
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
    # "postgres" or "parquet" (the Parquet tier: :mod:`h3grid.parts`); the Parquet page is read
    # once (limit + 1 rows) and shared by next_after and the body.
    tier: str = "postgres"
    page: Any = None


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
    tier = "postgres" if res_storage(ds, res) == "postgres" else "parquet"
    names = stat_names(ds)
    if stat:
        wanted = [s.strip() for s in stat.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in names]
        if unknown:
            raise InvalidInput(f"Unknown stat {', '.join(unknown)}: dataset {ds.slug!r} has {', '.join(names)}.")
    else:
        wanted = names
    q = CellQuery(
        ds=ds, res=res, stats=wanted, limit=limit or DEFAULT_LIMIT, iso3=None, after=after, bbox=bbox, tier=tier
    )
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
    if tier == "postgres" and not _table_exists(ds):
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


def _row_columns(q: CellQuery) -> tuple[sql.Composable, list[str]]:
    """The columns of a JSON page and their names: cell, res, the country and its share when
    filtered by iso3, then the statistics."""
    cols: list[sql.Composable] = [sql.SQL("s.cell, s.res")]
    names = ["cell", "res"]
    if q.iso3:
        # The share is a float4: through numeric it comes out as PostgreSQL prints it (0.3,
        # not 0.30000001192092896).
        cols.append(sql.SQL("cc.iso3, cc.share::numeric::float8"))
        names += ["iso3", "share"]
    cols += [sql.SQL("s.{}").format(sql.Identifier(n)) for n in q.stats]
    return sql.SQL(", ").join(cols), [*names, *q.stats]


def cells_json_rows(q: CellQuery) -> Iterator[list[tuple[int, str]]]:
    """Chunks of (cell, JSON text of its properties), at most ``limit + 1`` rows in all (the
    extra row tells the caller there is a next page).

    Rows come in PostgreSQL's binary format (no text conversion of the doubles) on a cursor
    with server-side parameters (:func:`geoplatform.postgis.cursors.server_bound_cursor`: the
    statement is prepared after a few pages; its plan, a walk of the country's cells with a
    key probe each, does not depend on the values), and each row's JSON is written by orjson
    (NaN and infinities, which JSON lacks, as null). A 1000-cell page costs 2.0 ms in PostgreSQL
    and 2.2 ms in Python, against 10.6 + 0.9 ms when PostgreSQL built the JSON
    (json_build_object looks up every argument's output function on every row)."""
    if q.tier == "parquet":
        yield from _parquet_json_rows(q)
        return
    columns, names = _row_columns(q)
    query, params = _select(q, columns, limit=q.limit + 1, after=q.after)
    with server_bound_cursor() as cur:
        if not isinstance(cur.cursor, psycopg.ClientCursor):  # (Django's own while queries are logged)
            cur.cursor.format = psycopg.pq.Format.BINARY
        cur.execute(query.as_string(cur.cursor.connection), params)
        while True:
            chunk = cur.fetchmany(FETCH_CHUNK)
            if not chunk:
                break
            yield [(row[0], _row_json(names, row)) for row in chunk]


def _row_json(names: list[str], row: tuple[Any, ...]) -> str:
    values = dict(zip(names, row, strict=True))
    values["cell"] = format(row[0], "015x")
    return orjson.dumps(values).decode()


def cells_csv(q: CellQuery) -> Iterator[bytes]:
    """The page as CSV written by PostgreSQL (COPY ... TO STDOUT), streamed as it comes."""
    if q.tier == "parquet":
        yield _parquet_csv(q)
        return
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
    if q.tier == "parquet":
        page = parquet_page(q).slice(0, q.limit)
        for batch in page.to_batches(max_chunksize=FETCH_CHUNK * 10):
            yield batch.to_pydict()
        return
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
    if q.tier == "parquet":
        page = parquet_page(q)
        return int(page["cell"][q.limit - 1].as_py()) if page.num_rows > q.limit else None
    query, params = _select(q, sql.SQL("s.cell"), limit=2, after=q.after, offset=q.limit - 1)
    with connection.cursor() as cur:
        cur.execute(query.as_string(cur.cursor.connection), params)
        rows = cur.fetchall()
    return int(rows[0][0]) if len(rows) == 2 else None


# The Parquet tier (resolutions above postgres_max_res: :mod:`h3grid.parts`) -----------------------

# A country page reads the country's cells from h3.cell_country at least this many at a time,
# then only the Parquet row groups holding them.
ISO3_CHUNK = 2000


def parquet_page(q: CellQuery) -> pa.Table:
    """The page (``limit + 1`` rows: the extra one says a next page exists) as an Arrow table
    of cell, res, [iso3, share], statistics, ascending by cell; read once per request."""
    if q.page is None:
        q.page = _parquet_read(q, q.limit + 1)
    return q.page


def _parquet_ranges(q: CellQuery) -> tuple[Any, Any]:
    if q.cells is not None:
        ranges = parts.ranges_normalise([(c, c) for c in q.cells])
    elif q.ranges is not None:
        ranges = parts.ranges_normalise(list(zip(*q.ranges, strict=True)))
    else:
        ranges = parts.ranges_normalise([cellids.res_range(q.res)])
    if q.parent is not None:
        ranges = parts.ranges_intersect(ranges, *cellids.children_range(q.parent, q.res))
    return ranges


def _parquet_read(q: CellQuery, n: int) -> pa.Table:
    index = parts.dataset_index(q.ds, q.res, _cached)
    ranges = _parquet_ranges(q)
    if not q.iso3:
        page = parts.read_page(index, ranges=ranges, columns=q.stats, limit=n, after=q.after)
        return page.add_column(1, "res", pa.array(np.full(page.num_rows, q.res, np.int16)))
    # By country: its cells (and shares) a chunk at a time from the (iso3, cell) index, each
    # chunk looked up in the row groups that hold them; a page costs about one chunk.
    found: list[pa.Table] = []
    count, cursor = 0, q.after
    chunk = max(n, ISO3_CHUNK)
    while count < n and len(ranges[0]):
        cells, shares = _country_cells(q.iso3, ranges, after=cursor, limit=chunk)
        if len(cells) == 0:
            break
        page = parts.read_page(index, ranges=(cells, cells), columns=q.stats, limit=n - count)
        if page.num_rows:
            share = shares[np.searchsorted(cells, page["cell"].to_numpy())]
            page = page.add_column(1, "res", pa.array(np.full(page.num_rows, q.res, np.int16)))
            page = page.add_column(2, "iso3", pa.array([q.iso3] * page.num_rows, pa.string()))
            page = page.add_column(3, "share", pa.array(share, pa.float32()))
            found.append(page)
            count += page.num_rows
        if len(cells) < chunk:
            break
        cursor = int(cells[-1])
    if not found:
        empty = {"cell": pa.array([], pa.int64()), "res": pa.array([], pa.int16())}
        empty |= {"iso3": pa.array([], pa.string()), "share": pa.array([], pa.float32())}
        return pa.table({**empty, **{s: pa.array([], pa.float64()) for s in q.stats}})
    return pa.concat_tables(found)


def _country_cells(iso3: str, ranges: tuple[Any, Any], *, after: int | None, limit: int) -> tuple[Any, Any]:
    """The next ``limit`` cells of the country within ``ranges`` (sorted) and their shares."""
    lo, hi = ranges
    params: list[Any] = [iso3]
    if len(lo) == 1:
        source = "h3.cell_country cc WHERE cc.iso3 = %s AND cc.cell BETWEEN %s AND %s"
        params += [int(lo[0]), int(hi[0])]
    else:
        source = (
            "h3.cell_country cc JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi)"
            " ON cc.cell BETWEEN r.lo AND r.hi WHERE cc.iso3 = %s"
        )
        params = [lo.tolist(), hi.tolist(), iso3]
    if after is not None:
        source += " AND cc.cell > %s"
        params.append(after)
    with connection.cursor() as cur:
        cur.execute(f"SELECT cc.cell, cc.share FROM {source} ORDER BY cc.cell LIMIT %s", [*params, limit])
        rows = cur.fetchall()
    return np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.float32)


def _parquet_rows(q: CellQuery) -> Iterator[dict[str, Any]]:
    page = parquet_page(q)
    for row in page.to_pylist():
        row["cell"] = cellids.to_hex(row["cell"])
        yield {k: _finite(v) if k in q.stats else v for k, v in row.items()}


def _parquet_json_rows(q: CellQuery) -> Iterator[list[tuple[int, str]]]:
    page = parquet_page(q)
    cells = page["cell"].to_pylist()
    rows = [(c, json.dumps(r)) for c, r in zip(cells, _parquet_rows(q), strict=True)]
    for start in range(0, len(rows), FETCH_CHUNK):
        yield rows[start : start + FETCH_CHUNK]


def _parquet_csv(q: CellQuery) -> bytes:
    import pyarrow.csv as pacsv

    page = parquet_page(q).slice(0, q.limit)
    hexes = pa.array([cellids.to_hex(c) for c in page["cell"].to_pylist()], pa.string())
    page = page.rename_columns(["cell_int", *page.column_names[1:]]).add_column(0, "cell", hexes)
    buf = io.BytesIO()
    pacsv.write_csv(page, buf, write_options=pacsv.WriteOptions(quoting_style="needed"))
    return buf.getvalue()


def parquet_values(ds: StatDataset, res: int, cells: list[int]) -> dict[int, dict[str, Any]]:
    """``ds``'s statistics of ``cells`` (all at ``res``, a Parquet-tier resolution)."""
    if not cells:
        return {}
    names = stat_names(ds)
    index = parts.dataset_index(ds, res, _cached)
    ranges = parts.ranges_normalise([(c, c) for c in cells])
    page = parts.read_page(index, ranges=ranges, columns=names, limit=len(cells))
    return {int(r.pop("cell")): {n: _finite(v) for n, v in r.items()} for r in page.to_pylist()}


# One cell across datasets ------------------------------------------------------------------------


def cell_detail(*, cell: int) -> dict[str, Any]:
    """Every dataset's values for ``cell``, whether the land grid has it, and its countries."""
    res = h3i.get_resolution(cell)
    datasets = [ds for ds in dataset_list() if res in dataset_resolutions(ds)]
    in_parquet = [ds for ds in datasets if res_storage(ds, res) != "postgres"]
    with connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM h3.cell WHERE cell = %s)", [cell])
        in_grid = bool(cur.fetchone()[0])
        cur.execute("SELECT iso3, share FROM h3.cell_country WHERE cell = %s ORDER BY share DESC, iso3", [cell])
        countries = [{"iso3": r[0], "share": r[1]} for r in cur.fetchall()]
        values: dict[int, dict[str, Any]] = {}
        for ds in in_parquet:
            found = parquet_values(ds, res, [cell])
            if cell in found:
                values[ds.pk] = found[cell]
        existing = [ds for ds in datasets if ds not in in_parquet and _table_exists(ds)]
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
    if cells and res_storage(ds, res) != "postgres":
        return parquet_values(ds, res, cells)
    if not cells or not _table_exists(ds):
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


# --- the land grid (bootstrap_h3_grid) ---------------------------------------------------


def grid_counts() -> dict[str, int]:
    """Land cells per resolution (as strings: JSON keys); counts every row (seconds for the
    world at res 7: the last bootstrap's counts are in its job result, see
    :func:`grid_last_bootstrap`)."""
    with connection.cursor() as cur:
        cur.execute("SELECT res, count(*) FROM h3.cell GROUP BY res ORDER BY res")
        return {str(r): int(n) for r, n in cur.fetchall()}


def grid_country_count() -> int:
    """Countries in the grid: a skip scan of the (iso3, cell) index, one probe per country
    (count(DISTINCT) would read all 30 M rows)."""
    with connection.cursor() as cur:
        cur.execute(
            "WITH RECURSIVE t(iso3) AS (SELECT min(iso3) FROM h3.cell_country"
            " UNION ALL SELECT (SELECT min(c.iso3) FROM h3.cell_country c WHERE c.iso3 > t.iso3)"
            " FROM t WHERE t.iso3 IS NOT NULL) SELECT count(iso3) FROM t"
        )
        return int(cur.fetchone()[0])


def _check_res(res: int) -> None:
    if not grid.MIN_RES <= res <= grid.MAX_RES:
        raise InvalidInput(f"Resolution {res} is outside the pyramid ({grid.MIN_RES} to {grid.MAX_RES}).")


def grid_cells_for_country(*, iso3: str, res: int) -> NDArray[np.int64]:
    """The land cells of ``res`` touching country ``iso3`` (sorted)."""
    _check_res(res)
    lo, hi = (res << 52) | (1 << 59), ((res + 1) << 52) | (1 << 59)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT cell FROM h3.cell_country WHERE iso3 = %s AND cell >= %s AND cell < %s ORDER BY cell",
            [iso3.upper(), lo, hi],
        )
        return np.array([r[0] for r in cur.fetchall()], dtype=np.int64)


def grid_cells_for_bbox(*, bbox: list[float], res: int) -> NDArray[np.int64]:
    """The land cells of ``res`` whose centre lies in ``bbox`` [minx, miny, maxx, maxy] (sorted):
    the candidates from the res-0 cells near the bbox, filtered on centres computed in bulk."""
    _check_res(res)
    cells = grid.cells_in_bbox(bbox, res)
    if len(cells) == 0:
        return cells
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.cell FROM h3.cell c JOIN unnest(%s::bigint[]) u(cell) USING (cell) ORDER BY c.cell",
            [cells.tolist()],
        )
        return np.array([r[0] for r in cur.fetchall()], dtype=np.int64)


def grid_last_bootstrap() -> dict[str, Any] | None:
    """The last completed bootstrap_h3_grid: its job id, parameters, end time and cells per res."""
    job = (
        job_list()
        .filter(job_type="bootstrap_h3_grid", status=JobStatus.COMPLETED)
        .order_by("-finished_at")
        .values("id", "parameters", "finished_at", "result")
        .first()
    )
    if job is None:
        return None
    result = job["result"] or {}
    return {
        "job_id": job["id"],
        "parameters": job["parameters"],
        "finished_at": job["finished_at"].isoformat() if job["finished_at"] else None,
        "cells": result.get("cells"),
        "source": result.get("source"),
    }


def grid_bootstraps_running() -> list[str]:
    """Ids of the bootstrap_h3_grid jobs queued or running (a second one would interleave)."""
    return list(
        job_list()
        .filter(job_type="bootstrap_h3_grid", status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .values_list("id", flat=True)
    )
