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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection, transaction
from psycopg import sql

from geoplatform.storage import blob_delete, blob_list, blob_save, get_storage, zone_container

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


def load_slug(slug: str, job_id: str) -> str:
    """The name a replacement (overwrite=true) is built under until its finalise swaps it in: a
    dot, which no dataset slug holds, so the API never resolves it; fits the 63 characters."""
    return f"{slug[:44]}.load-{job_id.replace('-', '')[:12]}"


def is_loading(slug: str) -> bool:
    return ".load-" in slug


def parts_name(dataset: StatDataset) -> str:
    """The name a dataset's Parquet parts were written under (its load name when it replaced
    another dataset, see :func:`stat_dataset_swap`)."""
    return str((dataset.provenance or {}).get("parts_slug") or dataset.slug)


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
    When another job's dataset holds the slug (pre-flight allowed it: overwrite), the new one is
    built beside it under :func:`load_slug` and swapped in by finalise
    (:func:`stat_dataset_complete`): the old one serves until then and stays if the job fails."""
    with transaction.atomic():
        found = StatDataset.objects.select_for_update().filter(slug=slug).first()
        name = slug
        if found is not None and found.job_id != job_id:
            name = load_slug(slug, job_id)
            found = StatDataset.objects.select_for_update().filter(slug=name, job_id=job_id).first()
        if found is None:
            found = StatDataset.objects.create(
                slug=name,
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


def stat_dataset_complete(*, params: Mapping[str, Any], dataset_id: int, table: str) -> dict[str, Any]:
    """The finalise of both aggregation jobs: ANALYZE, rows per resolution wherever each lives,
    the registry row completed (and swapped in for the dataset it replaces); returns the job's
    result."""
    stat_table_analyze(table=table)
    rows = stat_rows_per_res(table=table)
    name = StatDataset.objects.get(pk=dataset_id).slug  # the load name of a replacement
    for res in sorted(set(params["resolutions"])):
        if res > params["postgres_max_res"]:
            rows[str(res)] = stat_parts_rows(slug=name, res=res)
    rows = {k: rows[k] for k in sorted(rows, key=int)}
    dataset = stat_dataset_finish(
        dataset_id=dataset_id,
        storage=storage_of(name, params["resolutions"], params["postgres_max_res"]),
        provenance={"rows": rows, "table_bytes": stat_table_size(table=table)},
    )
    if dataset.slug != params["dataset"]:
        dataset = stat_dataset_swap(dataset=dataset, slug=str(params["dataset"]))
    return {"dataset": dataset.slug, "dataset_id": dataset.pk, "table": f"h3.{table}", "rows": rows}


def stat_dataset_swap(*, dataset: StatDataset, slug: str) -> StatDataset:
    """A completed replacement takes ``slug`` in one transaction: the old dataset's row and table
    go, the new row is renamed (its table and parts keep their names: the table is per id, the
    parts' location is in ``storage`` and ``provenance.parts_slug``). The old Parquet parts are
    deleted after the commit (blobs are not transactional: a crash there leaves only orphans)."""
    with transaction.atomic():
        old = StatDataset.objects.select_for_update().filter(slug=slug).exclude(pk=dataset.pk).first()
        old_parts = parts_name(old) if old is not None else None
        if old is not None:
            stat_table_drop(table=old.table)
            stat_table_drop(table=f"{old.table}_parts")
            old.delete()
        dataset.provenance = {**dataset.provenance, "parts_slug": dataset.slug}
        dataset.slug = slug
        dataset.save(update_fields=["slug", "provenance"])
    if old_parts is not None and old_parts != parts_name(dataset):
        stat_parts_delete(slug=old_parts)
    return dataset


def stat_dataset_discard(*, slug: str, job_id: str) -> bool:
    """Remove what a failed or cancelled job registered (its table and parts; a replacement's
    load too, the dataset it would have replaced untouched); idempotent."""
    found = StatDataset.objects.filter(slug__in=[slug, load_slug(slug, job_id)], job_id=job_id).first()
    if found is None:
        return False
    stat_table_drop(table=found.table)
    stat_table_drop(table=f"{found.table}_parts")
    stat_parts_delete(slug=parts_name(found))
    found.delete()
    return True


def stat_dataset_delete(*, dataset: StatDataset) -> None:
    """Delete a dataset and its table (the admin's delete)."""
    with transaction.atomic():
        stat_table_drop(table=dataset.table)
        stat_table_drop(table=f"{dataset.table}_parts")
        stat_parts_delete(slug=parts_name(dataset))
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


# --- the Parquet tier (fine resolutions in the silver zone) -------------------------------------

# Resolutions above this live as Parquet parts in silver, not in PostgreSQL (measured in
# bench/h3_zonal.py --storage: a land res-7 dataset is ~4.2 GiB and ~13 min of COPY in
# PostgreSQL against ~2.3 GiB of Parquet written 6x faster; res 6 is 0.6 GiB).
POSTGRES_MAX_RES = 6
PARQUET_ZONE = "silver"
# Rows per row group of a part: the H3 API reads whole row groups of the cells a page needs
# (h3grid/parts.py), so they are kept small (bench/h3_api.py, res 7 rows).
PART_ROW_GROUP = 8192


def parts_prefix(slug: str, res: int) -> str:
    return f"h3/{slug}/stats/res-{res}"


def storage_of(slug: str, resolutions: Sequence[int], postgres_max_res: int) -> dict[str, str]:
    """``StatDataset.storage``: "postgres" or "parquet:<container>/<prefix>/" per resolution."""
    container = zone_container(PARQUET_ZONE)
    return {
        str(r): "postgres" if r <= postgres_max_res else f"parquet:{container}/{parts_prefix(slug, r)}/"
        for r in sorted(set(resolutions))
    }


def stat_part_write(
    *, slug: str, res: int, part: int, cells: npt.NDArray[Any], values: Mapping[str, npt.NDArray[Any]]
) -> str:
    """One task's rows at ``res`` as ``<prefix>/part-<n>.parquet`` (replaced when the task
    runs again: idempotent). Same columns as the table: res, cell, statistics."""
    import pyarrow.parquet as pq  # heavy: only the Parquet tier needs it

    order = np.argsort(np.asarray(cells, dtype=np.int64))
    table = pa.table(
        {
            "res": pa.array(np.full(len(order), res, dtype=np.int16)),
            "cell": pa.array(np.asarray(cells, dtype=np.int64)[order]),
            **{k: pa.array(np.asarray(v, dtype=np.float64)[order]) for k, v in values.items()},
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=PART_ROW_GROUP)
    name = f"{parts_prefix(slug, res)}/part-{part:06d}.parquet"
    size = buf.tell()
    buf.seek(0)
    blob_save(zone_container(PARQUET_ZONE), name, buf, size=size, overwrite=True)
    return name


def stat_parts_list(*, slug: str, res: int) -> list[str]:
    return blob_list(zone_container(PARQUET_ZONE), parts_prefix(slug, res))


def stat_parts_read(*, slug: str, res: int) -> Iterator[pa.Table]:
    """The Parquet parts of a resolution, one table each, in part order."""
    import pyarrow.parquet as pq

    container = zone_container(PARQUET_ZONE)
    for name in stat_parts_list(slug=slug, res=res):
        with get_storage(container).open(name, "rb") as fh:
            yield pq.read_table(io.BytesIO(fh.read()))


def stat_parts_delete(*, slug: str) -> int:
    container = zone_container(PARQUET_ZONE)
    names = blob_list(container, f"h3/{slug}/stats")
    for name in names:
        blob_delete(container, name)
    return len(names)


def stat_parts_rows(*, slug: str, res: int) -> int:
    import pyarrow.parquet as pq

    container = zone_container(PARQUET_ZONE)
    total = 0
    for name in stat_parts_list(slug=slug, res=res):
        with get_storage(container).open(name, "rb") as fh:
            total += pq.ParquetFile(io.BytesIO(fh.read())).metadata.num_rows
    return total


def stat_rows_to_parts(
    *, table: str, slug: str, res: int, columns: Sequence[str], rows_per_part: int = 1_000_000
) -> int:
    """Move a resolution's rows from the table to Parquet parts (then delete them there)."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    moved = 0
    with transaction.atomic():
        connection.ensure_connection()
        query = sql.SQL("SELECT cell, {} FROM {} WHERE res = %s ORDER BY cell").format(cols, table_ident(table))
        with connection.connection.cursor(name=f"parts_{table}_{res}") as cur:
            cur.execute(query.as_string(connection.connection), [res])
            part = 0
            while rows := cur.fetchmany(rows_per_part):
                data = np.array(rows, dtype=np.float64) if columns else np.zeros((len(rows), 1))
                cells = np.array([r[0] for r in rows], dtype=np.int64)
                stat_part_write(
                    slug=slug,
                    res=res,
                    part=part,
                    cells=cells,
                    values={c: data[:, 1 + i] for i, c in enumerate(columns)},
                )
                part += 1
                moved += len(rows)
        _run(sql.SQL("DELETE FROM {} WHERE res = %s").format(table_ident(table)), [res])
    return moved


def country_of(cells: npt.NDArray[Any]) -> dict[int, str]:
    """The country holding the largest share of each cell (cells off the land grid absent)."""
    cur = _run(
        sql.SQL(
            "SELECT DISTINCT ON (cell) cell, iso3 FROM h3.cell_country WHERE cell = ANY(%s::bigint[])"
            " ORDER BY cell, share DESC, iso3"
        ),
        [np.asarray(cells, dtype=np.int64).tolist()],
    )
    return {int(c): str(i).strip() for c, i in cur.fetchall()}
