"""Stat tables ``h3.stat_<id>`` (one per :class:`StatDataset`): create, load with COPY, roll up
to coarser resolutions, and the registry rows that describe them.

Table shape (read by the H3 API, keep it): ``res smallint, cell bigint``, one double precision
column per entry of ``StatDataset.columns``, ``PRIMARY KEY (res, cell)``.

Parents are computed from the cell ids themselves (H3's bit layout: the resolution in bits
52-55, three bits per resolution digit, unused digits set to 7), in numpy and in SQL, so a
roll-up needs neither h3-pg nor the grid tables.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection, transaction
from psycopg import sql

from .models import StatDataset

SCHEMA = "h3"
_RES_SHIFT = 52
_RES_MASK = 0xF << _RES_SHIFT


# --- cell ids ------------------------------------------------------------------------------


def parent_of(cells: npt.NDArray[Any], res: int) -> npt.NDArray[np.int64]:
    """The parents at ``res`` of ``cells`` (all at a finer resolution), vectorised."""
    c = np.asarray(cells).astype(np.uint64)
    digits = np.uint64((1 << (3 * (15 - res))) - 1)
    out = (c & ~np.uint64(_RES_MASK) & ~digits) | np.uint64(res << _RES_SHIFT) | digits
    return out.astype(np.int64)


def parent_sql(column: str, res: int) -> sql.Composable:
    """SQL for the parent at ``res`` of the bigint cell in ``column``."""
    digits = (1 << (3 * (15 - res))) - 1
    return sql.SQL("(({c} & ~({rm}::bigint) & ~({d}::bigint)) | ({r}::bigint) | ({d}::bigint))").format(
        c=sql.Identifier(column),
        rm=sql.Literal(_RES_MASK),
        d=sql.Literal(digits),
        r=sql.Literal(res << _RES_SHIFT),
    )


# --- tables --------------------------------------------------------------------------------


def table_ident(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(name))


def _run(query: sql.Composable, params: Sequence[Any] | None = None) -> Any:
    connection.ensure_connection()
    cur = connection.cursor()
    cur.execute(query.as_string(connection.connection), params)
    return cur


def column_names(columns: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(c["name"]) for c in columns]


def stat_table_create(*, table: str, columns: Sequence[str], key: Sequence[str] = ("res", "cell")) -> None:
    """``h3.<table>`` (if missing) with ``res, cell`` and one double precision column per name."""
    cols: list[sql.Composable] = [sql.SQL("res smallint NOT NULL"), sql.SQL("cell bigint NOT NULL")]
    if "batch" in key:
        cols.insert(0, sql.SQL("batch integer NOT NULL"))
    cols += [sql.SQL("{} double precision").format(sql.Identifier(c)) for c in columns]
    pk = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    _run(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
            table_ident(table), sql.SQL(", ").join(cols), pk
        )
    )


def stat_table_drop(*, table: str) -> None:
    _run(sql.SQL("DROP TABLE IF EXISTS {}").format(table_ident(table)))


def _csv(frame: Mapping[str, npt.NDArray[Any]]) -> bytes:
    buf = io.BytesIO()
    table = pa.table({k: pa.array(v) for k, v in frame.items()})
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


def stat_rows_replace(
    *,
    table: str,
    res: int,
    cells: npt.NDArray[Any],
    values: Mapping[str, npt.NDArray[Any]],
    batch: int | None = None,
) -> int:
    """Replace rows with COPY in one transaction (idempotent for a retried task): the rows of
    ``batch`` when given (a staging table), else the rows of these cells at ``res``."""
    cells = np.asarray(cells).astype(np.int64)
    names = list(values)
    frame: dict[str, npt.NDArray[Any]] = {}
    if batch is not None:
        frame["batch"] = np.full(len(cells), batch, dtype=np.int32)
    frame["res"] = np.full(len(cells), res, dtype=np.int16)
    frame["cell"] = cells
    for name in names:
        frame[name] = np.asarray(values[name], dtype=np.float64)
    with transaction.atomic():
        if batch is not None:
            _run(sql.SQL("DELETE FROM {} WHERE batch = %s AND res = %s").format(table_ident(table)), [batch, res])
        else:
            _run(
                sql.SQL("DELETE FROM {} WHERE res = %s AND cell = ANY(%s)").format(table_ident(table)),
                [res, cells.tolist()],
            )
        if len(cells) == 0:
            return 0
        target = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            table_ident(table), sql.SQL(", ").join(sql.Identifier(c) for c in frame)
        )
        raw = connection.cursor().cursor
        data = _csv(frame)
        with raw.copy(target.as_string(connection.connection)) as copy:
            for start in range(0, len(data), 8 * 1024 * 1024):
                copy.write(data[start : start + 8 * 1024 * 1024])
        return len(cells)


def stat_parts_merge(*, parts: str, table: str, res: int, columns: Sequence[str]) -> int:
    """Sum a staging table's per-batch rows into the stat table at ``res`` (replacing it)."""
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    sums = sql.SQL(", ").join(sql.SQL("sum({})").format(sql.Identifier(c)) for c in columns)
    with transaction.atomic():
        _run(sql.SQL("DELETE FROM {} WHERE res = %s").format(table_ident(table)), [res])
        cur = _run(
            sql.SQL(
                "INSERT INTO {t} (res, cell, {n}) SELECT %s, cell, {s} FROM {p} WHERE res = %s GROUP BY cell"
            ).format(t=table_ident(table), n=names, s=sums, p=table_ident(parts)),
            [res, res],
        )
        return int(cur.rowcount)


ROLLUP = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}


def stat_rollup(*, table: str, columns: Sequence[Mapping[str, Any]], from_res: int, to_res: int) -> int:
    """Rows at ``to_res`` aggregated from the rows at ``from_res`` (finer) of the same table:
    additive columns (sum, count, lengths, areas) are summed, min/max kept as min/max."""
    if to_res >= from_res:
        raise ValueError("roll up to a coarser resolution")
    names = [str(c["name"]) for c in columns]
    aggs = []
    for c in columns:
        fn = ROLLUP.get(str(c.get("stat")))
        if fn is None:
            raise ValueError(f"statistic {c.get('stat')!r} does not roll up by itself")
        aggs.append(sql.SQL("{}({})").format(sql.SQL(fn), sql.Identifier(str(c["name"]))))
    with transaction.atomic():
        _run(sql.SQL("DELETE FROM {} WHERE res = %s").format(table_ident(table)), [to_res])
        cur = _run(
            sql.SQL(
                "INSERT INTO {t} (res, cell, {n}) SELECT %s, {p} AS parent, {a} FROM {t} WHERE res = %s GROUP BY parent"
            ).format(
                t=table_ident(table),
                n=sql.SQL(", ").join(sql.Identifier(n) for n in names),
                p=parent_sql("cell", to_res),
                a=sql.SQL(", ").join(aggs),
            ),
            [to_res, from_res],
        )
        return int(cur.rowcount)


def stat_rows_per_res(*, table: str) -> dict[str, int]:
    cur = _run(sql.SQL("SELECT res, count(*) FROM {} GROUP BY res ORDER BY res").format(table_ident(table)))
    return {str(r): int(n) for r, n in cur.fetchall()}


def stat_table_size(*, table: str) -> int:
    cur = _run(sql.SQL("SELECT pg_total_relation_size(%s::regclass)"), [f"{SCHEMA}.{table}"])
    return int(cur.fetchone()[0])


def stat_table_analyze(*, table: str) -> None:
    _run(sql.SQL("ANALYZE {}").format(table_ident(table)))


# --- the registry ----------------------------------------------------------------------------


def stat_dataset_start(
    *,
    slug: str,
    title: str,
    source_kind: str,
    source_ref: str,
    resolutions: Sequence[int],
    columns: Sequence[Mapping[str, Any]],
    units: str,
    job_id: str,
    provenance: Mapping[str, Any],
) -> StatDataset:
    """Register (or, for the same job re-run, take back) a dataset and create its table.
    Another job's dataset of the same slug is replaced (pre-flight allowed it: overwrite)."""
    with transaction.atomic():
        found = StatDataset.objects.select_for_update().filter(slug=slug).first()
        if found is not None and found.job_id != job_id:
            stat_table_drop(table=found.table)
            found.delete()
            found = None
        if found is None:
            found = StatDataset.objects.create(
                slug=slug,
                title=title,
                source_kind=source_kind,
                source_ref=source_ref,
                resolutions=sorted(resolutions),
                columns=list(columns),
                units=units,
                job_id=job_id,
                provenance=dict(provenance),
            )
        stat_table_create(table=found.table, columns=column_names(found.columns))
    return found


def stat_dataset_finish(*, dataset_id: int, storage: Mapping[str, str], provenance: Mapping[str, Any]) -> StatDataset:
    dataset = StatDataset.objects.get(pk=dataset_id)
    dataset.storage = dict(storage)
    dataset.provenance = {**dataset.provenance, **provenance}
    dataset.computed_at = dt.datetime.now(dt.UTC)
    dataset.save(update_fields=["storage", "provenance", "computed_at"])
    return dataset


def stat_dataset_discard(*, slug: str, job_id: str) -> bool:
    """Remove what a failed or cancelled job registered (its table too); idempotent."""
    found = StatDataset.objects.filter(slug=slug, job_id=job_id).first()
    if found is None:
        return False
    stat_table_drop(table=found.table)
    stat_table_drop(table=f"{found.table}_parts")
    found.delete()
    return True


def stat_dataset_delete(*, dataset: StatDataset) -> None:
    """Delete a dataset and its table (the admin's delete)."""
    with transaction.atomic():
        stat_table_drop(table=dataset.table)
        stat_table_drop(table=f"{dataset.table}_parts")
        dataset.delete()


# --- reads of the grid ---------------------------------------------------------------------


def land_cells(*, res: int, cells: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Those of ``cells`` (all at ``res``) that the land pyramid ``h3.cell`` holds, sorted."""
    cells = np.asarray(cells).astype(np.int64)
    if len(cells) == 0:
        return cells
    cur = _run(
        sql.SQL("SELECT cell FROM h3.cell WHERE res = %s AND cell = ANY(%s::bigint[]) ORDER BY cell"),
        [res, cells.tolist()],
    )
    return np.array([r[0] for r in cur.fetchall()], dtype=np.int64)


def land_cell_count(*, res: int) -> int:
    cur = _run(sql.SQL("SELECT count(*) FROM (SELECT 1 FROM h3.cell WHERE res = %s LIMIT 1) AS t"), [res])
    return int(cur.fetchone()[0])
