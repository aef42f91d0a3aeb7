"""All SQL of the features app: the ``geo.<table>`` layout, COPY loading, the atomic swap,
and the OGC API Features queries whose GeoJSON is built inside PostgreSQL.

Identifiers are composed with :mod:`psycopg.sql` from names that :func:`check_table_name`
or the dataset's stored attribute list already vouched for; values are always bound.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.db import connection, transaction
from psycopg import sql

from geoplatform.postgis.cursors import server_bound_cursor

from .crs import DEFAULT as DEFAULT_CRS
from .crs import Crs, geometry_out
from .errors import InvalidInput, TableExists

SCHEMA = "geo"
RESERVED_COLUMNS = {"id", "geom", "etl_batch_id"}
# PostgreSQL's reserved key words (pg_get_keywords() catcode R and T): never column names.
PG_RESERVED = set(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate
    collation column concurrently constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user default deferrable desc distinct do else end except false fetch for
    foreign freeze from full grant group having ilike in initially inner intersect into is isnull join lateral leading
    left like limit localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing
    primary references returning right select session_user similar some symmetric system_user table tablesample then
    to trailing true union unique user using variadic verbose when where window with""".split()
)
_TABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_IDENT = 63


def check_table_name(name: str) -> str:
    if not _TABLE_RE.match(name) or name in PG_RESERVED or name.startswith("_load_"):
        raise InvalidInput(
            f"Invalid table_name {name!r}.",
            code="invalid_table_name",
            remediation="Use 1-63 lowercase letters, digits and '_', starting with a letter (not a reserved word).",
        )
    return name


def table_name_from_file(file_name: str) -> str:
    """A default table name from the file's stem (the caller checks it)."""
    stem = file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return sanitize_names([stem])[0]


def sanitize_names(names: Sequence[str]) -> list[str]:
    """Safe, unique, lowercase SQL identifiers for source column names (order kept)."""
    out: list[str] = []
    taken = set(RESERVED_COLUMNS)
    for raw in names:
        ascii_ = unicodedata.normalize("NFKD", str(raw)).encode("ascii", "ignore").decode()
        name = re.sub(r"[^a-z0-9_]+", "_", ascii_.lower()).strip("_") or "col"
        if name[0].isdigit():
            name = "c_" + name
        if name in PG_RESERVED or name in RESERVED_COLUMNS:
            name += "_"
        name = name[:MAX_IDENT]
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            suffix = f"_{n}"
            candidate = name[: MAX_IDENT - len(suffix)] + suffix
        taken.add(candidate)
        out.append(candidate)
    return out


def _table(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(name))


def _render(query: sql.Composable) -> str:
    connection.ensure_connection()
    return query.as_string(connection.connection)


def _execute(query: sql.Composable, params: Sequence[Any] | None = None, *, bound: bool = False) -> Any:
    """Run ``query`` on Django's connection; ``bound``: with server-side parameters, so the
    text is the same for every call of one query shape and gets prepared
    (:func:`geoplatform.postgis.cursors.server_bound_cursor`)."""
    cur = server_bound_cursor() if bound else connection.cursor()
    cur.execute(_render(query), params)
    return cur


def index_names(table: str) -> tuple[str, str]:
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    return f"{table[:40]}_geom_{digest}", f"{table[:40]}_batch_{digest}"


# --- loading ----------------------------------------------------------------------------------


def table_exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [f'{SCHEMA}."{name}"'])
        return bool(cur.fetchone()[0])


SPLIT_SUFFIXES = {"Point": "_point", "LineString": "_line", "Polygon": "_polygon"}


def load_table_name(job_id: str, family: str = "") -> str:
    """The job's staging table; one per geometry family when a file mixes them."""
    return f"_load_{job_id[:24]}{SPLIT_SUFFIXES[family] if family else ''}"


def load_table_names(job_id: str) -> list[str]:
    """Every staging table a job may have made (its cleanup drops them all)."""
    return [load_table_name(job_id), *(load_table_name(job_id, f) for f in SPLIT_SUFFIXES)]


def split_table_name(table: str, family: str) -> str:
    """``{table}_point`` / ``_line`` / ``_polygon``: the table of one geometry family of a
    file that mixes them. A name that would pass 63 bytes keeps a hash of the whole base,
    so two long names that share a beginning still get different tables."""
    suffix = SPLIT_SUFFIXES[family]
    if len(table) + len(suffix) <= MAX_IDENT:
        return table + suffix
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    return f"{table[: MAX_IDENT - len(suffix) - 9]}_{digest}{suffix}"


def load_table_create(*, table: str, columns: Sequence[tuple[str, str]], geometry_type: str) -> None:
    """(Re)create the staging table a job loads into (idempotent for a retried validate)."""
    if geometry_type not in {"MultiPoint", "MultiLineString", "MultiPolygon"}:
        raise ValueError(geometry_type)
    cols = [
        # The primary key is built in finalise: each chunk arrives in spatial order, so its ids
        # would go into a live index in random order (twice the COPY time).
        sql.SQL("id bigint NOT NULL"),
        sql.SQL("etl_batch_id text NOT NULL"),
        sql.SQL("geom geometry({}, 4326) NOT NULL").format(sql.SQL(geometry_type)),
    ]
    cols += [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pgtype)) for name, pgtype in columns]
    with connection.cursor() as cur:
        # CREATE SCHEMA checks its privilege before IF NOT EXISTS, and the application role
        # may not create schemas: only create geo when a migration has not (dbroles.py).
        cur.execute("SELECT to_regnamespace('geo') IS NULL")
        if cur.fetchone()[0]:
            cur.execute("CREATE SCHEMA geo")
    _execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_table(table)))
    _execute(sql.SQL("CREATE TABLE {} ({})").format(_table(table), sql.SQL(", ").join(cols)))


def chunk_copy(*, table: str, batch_id: str, columns: Sequence[str], csv_bytes: bytes) -> int:
    """Replace one batch's rows: DELETE its earlier rows and COPY the new ones in one transaction."""
    names = sql.SQL(", ").join(sql.Identifier(c) for c in ["id", "etl_batch_id", "geom", *columns])
    with transaction.atomic():
        cur = _execute(sql.SQL("DELETE FROM {} WHERE etl_batch_id = %s").format(_table(table)), [batch_id])
        raw: psycopg.Cursor[Any] = cur.cursor
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(_table(table), names)
        with raw.copy(copy_sql) as copy:
            for start in range(0, len(csv_bytes), 8 * 1024 * 1024):
                copy.write(csv_bytes[start : start + 8 * 1024 * 1024])
        return int(raw.rowcount)


def load_table_finish(*, table: str) -> None:
    """The staging table's indexes and primary key, built before the swap (the swap is instant).

    Two connections build them side by side: the GiST index on one, the ids' unique index and
    the batch index on the other (``CREATE INDEX`` locks allow that; ``ADD PRIMARY KEY`` would
    not, so the key is made from the finished unique index). Idempotent for a retried finalise.
    """
    geom_ix, batch_ix = index_names(table)
    pkey = f"{table[:58]}_pkey"
    builds: list[list[sql.Composable]] = [
        [
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gist (geom)").format(
                sql.Identifier(geom_ix), _table(table)
            )
        ],
        [
            sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (id)").format(sql.Identifier(pkey), _table(table)),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (etl_batch_id)").format(
                sql.Identifier(batch_ix), _table(table)
            ),
        ],
    ]
    if connection.in_atomic_block:
        # Other connections cannot see a table created in an open transaction (a caller's or
        # a test's): build on this connection, one index after another.
        for statements in builds:
            _build_indexes(statements, own_connection=False)
    else:
        with ThreadPoolExecutor(max_workers=len(builds)) as pool:
            for future in [pool.submit(_build_indexes, statements) for statements in builds]:
                future.result()
    has_key = _execute(
        sql.SQL("SELECT 1 FROM pg_constraint WHERE conrelid = {}::regclass AND contype = 'p'").format(
            sql.Literal(f"{SCHEMA}.{table}")
        )
    ).fetchone()
    if not has_key:
        _execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}").format(
                _table(table), sql.Identifier(pkey), sql.Identifier(pkey)
            )
        )


def _build_indexes(statements: Sequence[sql.Composable], *, own_connection: bool = True) -> None:
    """Run ``statements`` on this thread's connection (closed at the end when it is its own)."""
    try:
        with connection.cursor() as cur:
            # More sort memory than the default 64 MB makes builds on millions of rows faster.
            cur.execute("SET maintenance_work_mem = '512MB'")
            for statement in statements:
                cur.execute(_render(statement))
            cur.execute("RESET maintenance_work_mem")
    finally:
        if own_connection:
            connection.close()


def temporal_extent(*, table: str, column: str) -> list[str | None]:
    """[min, max] of the temporal column as ISO 8601 UTC (nulls ignored)."""
    col = sql.Identifier(column)
    query = sql.SQL("SELECT min({c})::timestamptz, max({c})::timestamptz FROM {t}").format(c=col, t=_table(table))
    row = _execute(query).fetchone()
    return [v.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if v is not None else None for v in row]


def table_swap(*, load: str, final: str, replace: bool) -> None:
    """Put the staging table in place of ``final`` (call inside the caller's transaction).

    Readers keep the old table until commit, then see the new one: never a half-loaded table.
    """
    if table_exists(final):
        if not replace:
            raise TableExists(f"Table geo.{final} appeared while this job ran; pass overwrite=true to replace it.")
        _execute(sql.SQL("DROP TABLE {}").format(_table(final)))
    _execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(_table(load), sql.Identifier(final)))
    for old, new in zip(index_names(load), index_names(final), strict=True):
        _execute(
            sql.SQL("ALTER INDEX IF EXISTS {}.{} RENAME TO {}").format(
                sql.Identifier(SCHEMA), sql.Identifier(old), sql.Identifier(new)
            )
        )
    _execute(
        sql.SQL("ALTER INDEX IF EXISTS {}.{} RENAME TO {}").format(
            sql.Identifier(SCHEMA), sql.Identifier(f"{load}_pkey"), sql.Identifier(f"{final[:58]}_pkey")
        )
    )


def table_drop(name: str) -> bool:
    existed = table_exists(name)
    _execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_table(name)))
    return existed


def table_analyze(name: str) -> None:
    _execute(sql.SQL("ANALYZE {}").format(_table(name)))


def all_single_points(name: str) -> bool:
    """True when every geometry is a MultiPoint of one point (stops at the first that is not)."""
    query = sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {} WHERE ST_NumGeometries(geom) > 1)").format(_table(name))
    return bool(_execute(query).fetchone()[0])


def ids_dense(name: str, count: int) -> bool:
    """ids run exactly from 1 to ``count`` (two index lookups)."""
    row = _execute(sql.SQL("SELECT min(id), max(id) FROM {}").format(_table(name))).fetchone()
    return bool(row[0] == 1 and row[1] == count)


def rows_for_export(name: str, columns: Sequence[str], batch: int = 50_000) -> Any:
    """Yield lists of (wkb, id, *columns) rows of a whole table in id order, ``batch`` at a time
    (a named, server-side cursor: the table is never held in memory at once)."""
    query = sql.SQL("SELECT ST_AsBinary(geom), {} FROM {} ORDER BY id").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in ["id", *columns]), _table(name)
    )
    # A named cursor lives in a transaction.
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor(name=f"export_{name}") as cur:
            cur.execute(query)
            while rows := cur.fetchmany(batch):
                yield rows


def load_tables_of(prefix: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'geo' AND tablename LIKE %s", [prefix + "%"])
        return [r[0] for r in cur.fetchall()]


@dataclass
class TableStats:
    count: int
    bbox: list[float] | None
    geometry_types: list[str]
    temporal: list[str | None] | None = None


def table_stats(*, table: str, temporal_column: str | None = None) -> TableStats:
    temporal: sql.Composable = sql.SQL("NULL, NULL")
    if temporal_column:
        col = sql.Identifier(temporal_column)
        temporal = sql.SQL("min({c})::timestamptz, max({c})::timestamptz").format(c=col)
    query = sql.SQL(
        "SELECT count(*), ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)),"
        " ST_YMax(ST_Extent(geom)), array_agg(DISTINCT GeometryType(geom)), {t} FROM {tbl}"
    ).format(t=temporal, tbl=_table(table))
    row = _execute(query).fetchone()
    count = int(row[0])
    bbox = None if row[1] is None else [float(v) for v in row[1:5]]
    types = sorted(t for t in (row[5] or []) if t)
    tmp: list[str | None] | None = None
    if temporal_column:
        tmp = [v.isoformat().replace("+00:00", "Z") if v is not None else None for v in row[6:8]]
    return TableStats(count=count, bbox=bbox, geometry_types=types, temporal=tmp)


def table_columns(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'geo' AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return [(r[0], r[1]) for r in cur.fetchall()]


# --- serving ------------------------------------------------------------------------------------

# OGC property types from PostgreSQL types (for /queryables-like schemas and the OpenAPI).
JSON_TYPES = {
    "integer": "integer",
    "bigint": "integer",
    "smallint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "boolean": "boolean",
}


@dataclass
class ItemsQuery:
    table: str
    columns: list[str]  # all attribute columns of the dataset, in order
    decimal_columns: frozenset[str] = frozenset()  # real / double precision / numeric columns
    properties: list[str] | None = None  # selection (None: all)
    bbox: tuple[float, float, float, float] | None = None
    datetime_column: str | None = None
    datetime_range: tuple[str | None, str | None] | None = None
    filters: list[tuple[str, str, str]] = field(default_factory=list)  # (column, pg type, value)
    sortby: list[tuple[str, bool]] = field(default_factory=list)  # (column, ascending)
    limit: int = 10
    offset: int = 0
    after_id: int | None = None  # keyset: only features with id > after_id (default order only)
    # Every geometry is one point: the bounding-box test is exact, so the index operator
    # alone answers bbox (no per-row ST_Intersects; the planner can walk the id order).
    single_points: bool = False
    # ids are 1..count and nothing filters or reorders: offset becomes "id > offset".
    offset_seek: bool = False
    # The table is stored in spatial order and has statistics on geom: an id-ordered bbox page
    # picks at run time between the GiST bitmap (few rows in the box, read from neighbouring
    # pages, then sorted) and the primary-key walk (many rows in the box). See _page_subquery.
    bitmap_choice: bool = False
    feature_count: int = 0  # of the whole table (the estimate and the choice need it)
    # A CQL2 filter (features.cql2.filter_clause): a boolean fragment and its parameters.
    where: sql.Composable | None = None
    where_params: list[Any] = field(default_factory=list)
    crs: Crs = DEFAULT_CRS  # of the output geometries (features.crs; reprojected in PostgreSQL)


def _where(
    q: ItemsQuery, *, boxes_from_cte: bool = False, box_by_index: bool = True
) -> tuple[sql.Composable, list[Any]]:
    """The WHERE of the query's filters.

    ``boxes_from_cte``: the bbox envelopes are read from the ``_e`` CTE (:func:`_estimate_cte`),
    so the planner does not know them (an InitPlan value, usable by an index): its estimate is
    then the same for every box, and a prepared statement's generic plan is as good as a plan
    made for the box. ``box_by_index=False`` also hides the test from index matching and from
    selectivity estimation (a ``CASE``): only a filter of another scan, assumed not selective.
    """
    parts: list[sql.Composable] = []
    params: list[Any] = []
    if q.bbox is not None:
        boxes = _boxes(q)
        envelopes: list[sql.Composable] = (
            [sql.SQL("(SELECT b{} FROM _e)").format(sql.SQL(str(i))) for i in range(len(boxes))]
            if boxes_from_cte
            else [sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, 4326)")] * len(boxes)
        )
        tests: list[sql.Composable] = []
        for envelope, box in zip(envelopes, boxes, strict=True):
            if q.single_points:  # the index operator is exact for points
                tests.append(sql.SQL("geom && {}").format(envelope))
            elif len(boxes) == 1:  # ST_Intersects brings its own index condition
                tests.append(sql.SQL("ST_Intersects(geom, {})").format(envelope))
            else:  # ... but not inside an OR
                tests.append(sql.SQL("geom && {e} AND ST_Intersects(geom, {e})").format(e=envelope))
            if not boxes_from_cte:
                params += list(box) * (2 if len(boxes) > 1 and not q.single_points else 1)
        test = sql.SQL(" OR ").join(tests)
        if box_by_index:
            parts.append(sql.SQL("({})").format(test))
        else:
            parts.append(sql.SQL("CASE WHEN {} THEN TRUE END").format(test))
    if q.datetime_column and q.datetime_range is not None:
        start, end = q.datetime_range
        col = sql.Identifier(q.datetime_column)
        if start is not None:
            parts.append(sql.SQL("{}::timestamptz >= %s::timestamptz").format(col))
            params.append(start)
        if end is not None:
            parts.append(sql.SQL("{}::timestamptz <= %s::timestamptz").format(col))
            params.append(end)
    if q.where is not None:
        parts.append(q.where)
        params += q.where_params
    for column, pgtype, value in q.filters:
        if pgtype in JSON_TYPES:
            parts.append(sql.SQL("{} = CAST(%s AS {})").format(sql.Identifier(column), sql.SQL(pgtype)))
        else:
            parts.append(sql.SQL("{}::text = %s").format(sql.Identifier(column)))
        params.append(value)
    if q.after_id is not None:
        parts.append(sql.SQL("id > %s"))
        params.append(q.after_id)
    if not parts:
        return sql.SQL("TRUE"), params
    return sql.SQL(" AND ").join(parts), params


DECIMAL_TYPES = frozenset({"numeric", "real", "double precision"})


def _property(column: str, decimal: bool) -> sql.Composable:
    if not decimal:
        return sql.SQL("t.{}").format(sql.Identifier(column))
    # PostgreSQL writes a whole double as 889953, and clients that type fields from the first
    # features (QGIS 3.22's OAPIF provider) then make the column an integer and lose later
    # fractions: whole values of decimal columns are written 889953.0 (NaN/Infinity/1e15+ as is).
    return sql.SQL(
        "CASE WHEN t.{c} = trunc(t.{c}) AND abs(t.{c}) < 1e15 THEN to_json(t.{c}::numeric(32, 1))"
        " ELSE to_json(t.{c}) END AS {c}"
    ).format(c=sql.Identifier(column))


def _properties_json(columns: Iterable[str], decimal: frozenset[str] = frozenset()) -> sql.Composable:
    cols = list(columns)
    if not cols:
        return sql.SQL("'{}'::json")
    return sql.SQL("(SELECT row_to_json(p) FROM (SELECT {}) AS p)").format(
        sql.SQL(", ").join(_property(c, c in decimal) for c in cols)
    )


def _feature_json(
    columns: Iterable[str], decimal: frozenset[str] = frozenset(), crs: Crs = DEFAULT_CRS
) -> sql.Composable:
    return _feature_json_text(tuple(columns), decimal, crs)


@functools.lru_cache(maxsize=256)
def _feature_json_text(columns: tuple[str, ...], decimal: frozenset[str], crs: Crs = DEFAULT_CRS) -> sql.SQL:
    """One dataset's Feature expression, composed and rendered once per process (it grows with
    the columns; composing it was the largest part of building an items statement)."""
    # Text concatenation, not json_build_object(...)::text: the geometry text of
    # ST_AsGeoJSON is used as is instead of being parsed into json and printed again.
    expression = sql.SQL(
        """('{{"type": "Feature", "id": ' || t.id || ', "geometry": ' || ST_AsGeoJSON({g}, {d})"""
        """ || ', "properties": ' || {p} || '}}')"""
    ).format(g=geometry_out(sql.SQL("t.geom"), crs), d=sql.Literal(crs.decimals), p=_properties_json(columns, decimal))
    return sql.SQL(expression.as_string())


# Rows in the box up to which the bitmap beats the walk, squared, per (limit + 1) x feature count.
# The walk tests ~(limit + 1) / selectivity rows, each a random heap access in a spatially
# ordered table (~3.5 us); the bitmap reads selectivity x count rows from neighbouring pages
# (~0.75 us each): equal at rows^2 = ~5 x (limit + 1) x count. Measured on 1M points: boxes of
# 13,000 rows took 7.8 ms as bitmaps and 34 ms as walks, boxes of 37,000 rows 29 ms and 9.5 ms.
BITMAP_BREAK_EVEN = 5


def _bitmap_choice(q: ItemsQuery) -> bool:
    return q.bitmap_choice and q.bbox is not None and not q.sortby


def _estimate_cte(q: ItemsQuery) -> tuple[sql.Composable, list[Any]]:
    """``WITH _e``: the bbox estimate, computed once per statement (the plan choice and
    numberMatched), and the bbox envelopes ``b0`` (``b1``: the part east of the antimeridian)."""
    if not _bitmap_choice(q):
        return sql.SQL(""), []
    boxes = _boxes(q)
    envelopes = sql.SQL("").join(
        sql.SQL(", ST_MakeEnvelope(%s, %s, %s, %s, 4326) AS b{}").format(sql.SQL(str(i))) for i in range(len(boxes))
    )
    query = sql.SQL("WITH _e AS MATERIALIZED (SELECT {} AS est{}) ").format(_estimate(q), envelopes)
    return query, [*_estimate_params(q, q.feature_count), *(v for box in boxes for v in box)]


def _page_subquery(q: ItemsQuery) -> tuple[sql.Composable, list[Any]]:
    """The page's rows numbered 1..limit+1 (``_n``) in the page order.

    The page is cut in a subquery of plain columns: rows skipped by OFFSET are never turned
    into GeoJSON (PostgreSQL projects every row a scan returns). The row_number() window
    has the subquery's own order, so it costs no second sort.

    With ``bitmap_choice`` (needs :func:`_estimate_cte` in front), two branches under a
    UNION ALL are gated by the estimate: PostgreSQL evaluates the gates once and runs one
    branch. ``ORDER BY id + 0`` is the same order as ``id``, but no index provides it, so that
    branch reads the box through the GiST index and sorts instead of walking the primary key.
    """
    if q.offset_seek and q.offset:
        q = ItemsQuery(**{**q.__dict__, "after_id": q.offset, "offset": 0, "offset_seek": False})
    choice = _bitmap_choice(q)
    where, params = _where(q, boxes_from_cte=choice)
    order: list[sql.Composable] = [
        sql.SQL("{} {} NULLS LAST").format(sql.Identifier(c), sql.SQL("ASC" if asc else "DESC")) for c, asc in q.sortby
    ]
    order.append(sql.SQL("id"))
    # LIMIT and OFFSET are literals: a prepared statement's generic plan would assume a
    # LIMIT parameter keeps 10% of the rows, and choose its scans for that.
    cut = sql.SQL("LIMIT {} OFFSET {}").format(
        sql.Literal(q.limit + 1), sql.Literal(q.offset if q.after_id is None else 0)
    )
    window = sql.SQL("SELECT s.*, row_number() OVER (ORDER BY {o}) AS _n FROM ").format(o=sql.SQL(", ").join(order))
    if not choice:
        query = window + sql.SQL("(SELECT * FROM {tbl} WHERE {w} ORDER BY {o} {cut}) AS s").format(
            tbl=_table(q.table), w=where, o=sql.SQL(", ").join(order), cut=cut
        )
        return query, params
    # The bitmap branch sorts only (ctid, id) pairs and then fetches its page's rows by ctid
    # (a TID scan, same snapshot): ~0.4 ms less per page than sorting whole rows. Neither
    # branch lets the planner see the box (its plan is fixed whatever the box), and the walk's
    # test is no index condition: so the plan, made once for a prepared statement, is the same
    # as the one made per box, and reads a box of any size the way its branch means to.
    walk_where, walk_params = _where(q, boxes_from_cte=True, box_by_index=False)
    few = sql.SQL("(SELECT est FROM _e) * (SELECT est FROM _e) <= %s")
    query = window + sql.SQL(
        "((SELECT * FROM {tbl} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {tbl} WHERE {w} AND {few} ORDER BY id + 0 {cut})))"
        " UNION ALL (SELECT * FROM {tbl} WHERE {ww} AND NOT {few} ORDER BY id {cut})) AS s"
    ).format(tbl=_table(q.table), w=where, ww=walk_where, few=few, cut=cut)
    break_even = BITMAP_BREAK_EVEN * (q.limit + 1) * q.feature_count
    return query, [*params, break_even, *walk_params, break_even]


def bbox_only(q: ItemsQuery) -> bool:
    """The only filter is ``bbox`` (its numberMatched estimate needs no planner)."""
    return q.bbox is not None and not q.filters and q.datetime_range is None and q.where is None


def _boxes(q: ItemsQuery) -> list[tuple[float, float, float, float]]:
    assert q.bbox is not None
    minx, miny, maxx, maxy = q.bbox
    return [(minx, miny, 180.0, maxy), (-180.0, miny, maxx, maxy)] if minx > maxx else [(minx, miny, maxx, maxy)]


def _estimate(q: ItemsQuery) -> sql.Composable:
    """numberMatched estimate of a bbox-only query from the statistics the planner itself uses
    (PostGIS' 2-D histogram of geom) times the feature count: no EXPLAIN round trip. Only for
    tables with statistics on geom (:func:`geom_stats_exist`): without them it is an error."""
    sel = sql.SQL(" + ").join(
        sql.SQL("_postgis_selectivity(%s::regclass, 'geom', ST_MakeEnvelope(%s, %s, %s, %s, 4326))") for _ in _boxes(q)
    )
    return sql.SQL("round(LEAST(1.0, {}) * %s)::bigint").format(sel)


def _estimate_params(q: ItemsQuery, feature_count: int) -> list[Any]:
    params: list[Any] = []
    for box in _boxes(q):
        params += [f'{SCHEMA}."{q.table}"', *box]
    return [*params, feature_count]


def geom_stats_exist(table: str) -> bool:
    """ANALYZE has left statistics on ``geo.<table>.geom`` (what ``_postgis_selectivity`` reads)."""
    query = "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = %s AND tablename = %s AND attname = 'geom')"
    with connection.cursor() as cur:
        cur.execute(query, [SCHEMA, table])
        return bool(cur.fetchone()[0])


@dataclass
class PageRows:
    """What one items statement returns (see :func:`items_page`)."""

    version: str | None  # the metadata row's version seen by the statement; None: gone or hidden
    matched: int | None  # count(*), an estimate, or None when not asked (or not available)
    rows: int  # rows read: limit + 1 when more follow
    last_id: int | None  # id of the last feature on the page
    body: str  # the page's GeoJSON Features joined by ","


def row_version_sql() -> str:
    """A version of a table row that changes with every update (a new row version has another
    (xmin, ctid)): the per-process metadata cache compares it to the one it holds."""
    return "xmin::text || ':' || ctid::text"


def row_version(*, meta_table: str, collection_id: str, include_unpublished: bool) -> str | None:
    """The version of a collection's metadata row; None when it is gone or hidden from the caller."""
    query = sql.SQL("SELECT {v} FROM {meta} WHERE collection_id = %s AND (published OR %s)").format(
        v=sql.SQL(row_version_sql()), meta=sql.Identifier(meta_table)
    )
    row = _execute(query, [collection_id, include_unpublished]).fetchone()
    return None if row is None else str(row[0])


def _matched(q: ItemsQuery, count: str) -> tuple[sql.Composable, list[Any]]:
    """The numberMatched expression of a page: exact, the bbox estimate, or NULL (unknown)."""
    if count == "exact":
        where, params = _where(ItemsQuery(**{**q.__dict__, "after_id": None}))
        return sql.SQL("(SELECT count(*) FROM {} WHERE {})").format(_table(q.table), where), params
    if count == "estimate" and bbox_only(q):
        if _bitmap_choice(q):
            return sql.SQL("(SELECT est FROM _e)"), []
        return _estimate(q), _estimate_params(q, q.feature_count)
    return sql.SQL("NULL::bigint"), []


def _items_page_sql(
    q: ItemsQuery, meta_table: str, count: str, version_params: list[Any]
) -> tuple[sql.Composable, list[Any]]:
    cte, cte_params = _estimate_cte(q)
    page, page_params = _page_subquery(q)
    matched, matched_params = _matched(q, count)
    query = cte + sql.SQL(
        "SELECT (SELECT {version} FROM {meta} WHERE collection_id = %s AND (published OR %s)), {matched}, count(*),"
        " (array_agg(t.id ORDER BY t._n DESC) FILTER (WHERE t._n <= %s))[1],"
        " string_agg({f}, ',' ORDER BY t._n) FILTER (WHERE t._n <= %s)"
        " FROM ({page}) AS t"
    ).format(
        version=sql.SQL(row_version_sql()),
        meta=sql.Identifier(meta_table),
        matched=matched,
        f=_feature_json(q.properties if q.properties is not None else q.columns, q.decimal_columns, q.crs),
        page=page,
    )
    return query, [*cte_params, *version_params, *matched_params, q.limit, q.limit, *page_params]


def items_page(
    q: ItemsQuery, *, meta_table: str, collection_id: str, include_unpublished: bool, count: str, feature_count: int
) -> PageRows:
    """One statement per items page: the metadata row's version (so a cached copy of it can be
    checked in the same snapshot), numberMatched (``count``: "exact", "estimate" or "none";
    "estimate" only for bbox-only queries on tables with geom statistics, from ``feature_count``),
    and the page as ONE text of Features (limit + 1 rows read to tell if more follow)."""
    q = ItemsQuery(**{**q.__dict__, "feature_count": feature_count})
    query, params = _items_page_sql(q, meta_table, count, [collection_id, include_unpublished])
    # Prepared and planned once when that plan is right for all values (~0.4 ms of a ~2 ms page).
    cur = _execute(query, params, bound=_same_plan_for_all_values(q))
    row = cur.fetchone()
    return PageRows(
        version=row[0],
        matched=None if row[1] is None else int(row[1]),
        rows=int(row[2]),
        last_id=None if row[3] is None else int(row[3]),
        body=row[4] or "",
    )


STREAM_CHUNK_ROWS = 500  # Features per chunk of a streamed page (~120-250 kB of GeoJSON)


class PageStream:
    """An items page streamed out of PostgreSQL (``COPY (...) TO STDOUT``, binary): first its
    head (the metadata row's version, numberMatched, rows read, last id), then the Features in
    chunks of :data:`STREAM_CHUNK_ROWS`, each already one text joined by ",". Python holds one
    chunk at a time, never the page. :meth:`chunks` must be read to the end or :meth:`close`d
    (the COPY holds the connection until then)."""

    def __init__(self, copy_cm: Any, copy: Any, head: PageRows) -> None:
        self._cm, self._copy, self.head = copy_cm, copy, head

    def chunks(self) -> Any:
        try:
            while (row := self._copy.read_row()) is not None:
                yield row[0]
            self._finish(None)
        finally:
            self.close()

    def close(self) -> None:
        """Leave the COPY early (a client gone, a stale cache): psycopg cancels it on the server
        when the block ends with an exception, and reads what was already sent."""
        self._finish(_StreamClosed("items stream closed early"))

    def _finish(self, exc: BaseException | None) -> None:
        cm, self._cm = self._cm, None
        if cm is not None:
            with connection.wrap_database_errors:
                cm.__exit__(type(exc) if exc else None, exc, None)


class _StreamClosed(Exception):
    pass


def items_page_stream(
    q: ItemsQuery, *, meta_table: str, collection_id: str, include_unpublished: bool, count: str, feature_count: int
) -> PageStream:
    """:func:`items_page` as a stream (large pages): the same statement shape, but the Features
    come in chunks through COPY instead of one aggregated text. ``count`` as there."""
    q = ItemsQuery(**{**q.__dict__, "feature_count": feature_count})
    cte, cte_params = _estimate_cte(q)
    page, page_params = _page_subquery(q)
    matched, matched_params = _matched(q, count)
    # _estimate_cte ends with ") ": the page CTE follows it in the same WITH.
    with_page = (cte + sql.SQL(", ") if _bitmap_choice(q) else sql.SQL("WITH ")) + sql.SQL(
        "_p AS MATERIALIZED ({page})"
    ).format(page=page)
    query = sql.SQL(
        "COPY ({with_page}"
        " SELECT b FROM ("
        "SELECT 0 AS k, convert_to(json_build_array("
        "(SELECT {version} FROM {meta} WHERE collection_id = %s AND (published OR %s)), {matched},"
        " (SELECT count(*) FROM _p), (SELECT (array_agg(id ORDER BY _n DESC) FILTER (WHERE _n <= %s))[1] FROM _p)"
        ")::text, 'UTF8') AS b"
        " UNION ALL SELECT c.k, convert_to(string_agg(c.f, ',' ORDER BY c._n), 'UTF8') FROM"
        " (SELECT (t._n - 1) / {chunk} + 1 AS k, t._n, {f} AS f FROM _p AS t WHERE t._n <= %s) AS c GROUP BY c.k"
        ") AS o ORDER BY k) TO STDOUT (FORMAT binary)"
    ).format(
        with_page=with_page,
        version=sql.SQL(row_version_sql()),
        meta=sql.Identifier(meta_table),
        matched=matched,
        chunk=sql.Literal(STREAM_CHUNK_ROWS),
        f=_feature_json(q.properties if q.properties is not None else q.columns, q.decimal_columns, q.crs),
    )
    params = [*cte_params, *page_params, collection_id, include_unpublished, *matched_params, q.limit, q.limit]
    raw = connection.cursor().cursor
    with connection.wrap_database_errors:
        copy_cm = raw.copy(_render(query), params)
        copy = copy_cm.__enter__()
        try:
            copy.set_types(["bytea"])
            first = copy.read_row()
        except BaseException:
            copy_cm.__exit__(None, None, None)
            raise
    version, matched_rows, rows, last_id = json.loads(first[0])
    head = PageRows(
        version=version,
        matched=None if matched_rows is None else int(matched_rows),
        rows=int(rows),
        last_id=None if last_id is None else int(last_id),
        body="",
    )
    return PageStream(copy_cm, copy, head)


def _same_plan_for_all_values(q: ItemsQuery) -> bool:
    """The statement's best plan does not depend on its parameter values, so it may be
    prepared and planned once: no filter at all (the primary key serves every page), or only
    a bbox whose plan is chosen at run time (``bitmap_choice``). Other filters keep a plan per
    request, made for their values (a rare value may be best read by a sequential scan)."""
    return (_bitmap_choice(q) and bbox_only(q)) or (
        q.bbox is None and not q.filters and q.datetime_range is None and q.where is None
    )


def items_count(q: ItemsQuery, *, exact: bool) -> int:
    """numberMatched: count(*) or the planner's estimate (no scan)."""
    base = ItemsQuery(**{**q.__dict__, "after_id": None})
    where, params = _where(base)
    if exact:
        return int(
            _execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(_table(q.table), where), params).fetchone()[0]
        )
    cur = _execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}").format(_table(q.table), where), params)
    plan = cur.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def feature_select(
    *,
    table: str,
    columns: Sequence[str],
    feature_id: int,
    decimal_columns: frozenset[str] = frozenset(),
    crs: Crs = DEFAULT_CRS,
) -> str | None:
    query = sql.SQL("SELECT {f} FROM {tbl} AS t WHERE t.id = %s").format(
        f=_feature_json(columns, decimal_columns, crs), tbl=_table(table)
    )
    row = _execute(query, [feature_id]).fetchone()
    return None if row is None else str(row[0])
