"""``export_h3_stats``: a statistics dataset as GeoParquet 1.1 in the silver zone, one file per
resolution, ``h3/<slug>/res-<r>/<slug>.parquet`` (blob names cannot hold ``=``, so not a hive
path: every file has its ``res`` column, so ``read_parquet('.../h3/<slug>/*/*.parquet')`` reads
all resolutions as one table and a ``res`` filter reads only matching files' row groups).

Columns: ``cell`` int64, ``res`` int16, ``iso3`` (the country holding the largest share of the
cell, from ``h3.cell_country``; null off the land grid), ``lon``/``lat`` (cell centre),
``bbox`` struct (xmin, ymin, xmax, ymax: the GeoParquet 1.1 ``covering``, so DuckDB or any
Parquet reader filters by area from row-group statistics with no spatial extension),
``geometry`` (WKB polygon, CRS84), then one double column per statistic. Rows are in cell id
order (spatially coherent) in row groups of 64k rows. A cell crossing the antimeridian keeps
H3's own boundary (longitudes on both sides); its bbox spans the whole range of its
vertices.

``folder`` (default ``h3/<slug>``) puts the files elsewhere below ``h3/<slug>/``: publishing
exports each release of a dataset into a folder of its own (``h3/<slug>/releases/<dataset_id>/
<resource_id>/v<ordinal>``), so a release's files, their external copies and their removal are
that release's alone. An export owns exactly ``<folder>/res-<r>/<slug>.parquet``: a completed
run removes the files of resolutions it no longer has (an overwrite with fewer resolutions),
a failed one removes what it wrote (:func:`export_cleanup`), and :func:`export_remove` is
the unpublish of a release's export.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from typing import Any, TypedDict, cast

import numpy as np
import polars as pl
import polars_h3 as plh3
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from django.db import connection, transaction
from psycopg import sql
from pyproj import CRS

from geoplatform import storage
from geoplatform.errors import InvalidInput, NotFound
from ingest.errors import PermanentError
from ingest.registry import FinalizeContext, TaskContext

from . import stats, zonal
from .models import StatDataset

ROW_GROUP = 65_536
# GeoParquet: a missing "crs" means OGC:CRS84; stated anyway (PROJJSON) for readers that want it.
_CRS84: dict[str, Any] = CRS.from_user_input("OGC:CRS84").to_json_dict()
ZONE = "silver"


def dataset_slug(ident: str) -> str:
    """The slug of a dataset named by its slug or its numeric id (as ``/api/h3/`` names it)."""
    found = StatDataset.objects.filter(slug=ident).values_list("slug", flat=True).first()
    if found is None and re.fullmatch(r"[0-9]{1,18}", ident):
        found = StatDataset.objects.filter(pk=int(ident)).values_list("slug", flat=True).first()
    if found is None or ".load-" in found:  # a replacement still being built is no dataset yet
        raise NotFound(
            f"No statistics dataset {ident!r}.",
            code="h3_dataset_not_found",
            remediation="GET /api/h3/registry lists the statistics datasets (their slug or id).",
        )
    return str(found)


def export_folder(params: dict[str, Any]) -> str:
    """Where the export's files go: ``folder``, or ``h3/<slug>`` by default."""
    slug = str(params.get("dataset", ""))
    return str(params.get("folder") or f"h3/{slug}").rstrip("/")


def folder_check(slug: str, folder: str) -> None:
    own = f"h3/{slug}"
    inside = folder == own or (folder.startswith(own + "/") and folder[len(own) + 1 :].split("/")[0] != "stats")
    try:
        storage.check_blob_name(folder)
    except InvalidInput:
        inside = False
    if not inside:
        raise InvalidInput(
            f"'folder' {folder!r} must be {own!r} or a folder below it (not its 'stats' parts).",
            code="invalid_folder",
            remediation=f"Leave 'folder' out (the export goes to {own}/) or name a folder below it.",
        )


def _has_rows(dataset: StatDataset, res: int) -> bool:
    """Whether the dataset holds any cell at ``res`` (PostgreSQL or its Parquet parts)."""
    if dataset.storage.get(str(res), "postgres") != "postgres":
        return bool(stats.stat_parts_list(slug=stats.parts_name(dataset), res=res))
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {t} WHERE res = %s)").format(t=stats.table_ident(dataset.table))
    with connection.cursor() as cur:
        cur.execute(query.as_string(connection.connection), [res])
        return bool(cur.fetchone()[0])


def export_plan(params: dict[str, Any]) -> tuple[StatDataset, list[int]]:
    """The dataset and the resolutions an export writes; each refusal has its own code
    (publishing's ``h3_stats`` kind answers them as 400s before a release is created)."""
    slug = str(params.get("dataset", ""))
    dataset = StatDataset.objects.filter(slug=slug).first()
    if dataset is None:
        raise NotFound(
            f"No statistics dataset {slug!r}.",
            code="h3_dataset_not_found",
            remediation="GET /api/h3/registry lists the statistics datasets.",
        )
    if dataset.computed_at is None:
        raise InvalidInput(
            f"Statistics dataset {slug!r} is not computed yet.",
            code="h3_dataset_not_computed",
            remediation="Wait until its aggregation job has completed, then export it.",
        )
    folder_check(slug, export_folder(params))
    wanted = params.get("resolutions") or list(dataset.resolutions)
    if not all(isinstance(r, int) and not isinstance(r, bool) for r in wanted):
        raise InvalidInput(f"'resolutions' must be a list of integers, e.g. [5, 6]; got {wanted!r}.")
    missing = sorted(set(wanted) - set(dataset.resolutions))
    if missing:
        raise InvalidInput(
            f"Dataset {slug!r} has no resolution {missing}; it has {dataset.resolutions}.",
            code="resolution_not_computed",
            details={"missing": missing, "computed": list(dataset.resolutions)},
            remediation=f"Choose among {dataset.resolutions}, or compute the others with an aggregation job.",
        )
    resolutions = sorted(set(wanted))
    if not any(_has_rows(dataset, r) for r in resolutions):
        raise InvalidInput(
            f"Dataset {slug!r} holds no cell at resolution(s) {resolutions}: nothing to export.",
            code="nothing_to_export",
            remediation="Export a dataset whose aggregation found cells (its source overlaps the land grid).",
        )
    return dataset, resolutions


def export_tasks(params: dict[str, Any], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _, resolutions = export_plan(params)
    return [{"index": i, "res": r} for i, r in enumerate(resolutions)]


def blob_name(slug: str, res: int, folder: str = "") -> str:
    return f"{folder or f'h3/{slug}'}/res-{res}/{slug}.parquet"


def export_blobs(*, slug: str, folder: str = "") -> list[str]:
    """The files of an export that exist now (``<folder>/res-<r>/<slug>.parquet``), sorted."""
    folder = folder or f"h3/{slug}"
    own = re.compile(rf"^{re.escape(folder)}/res-\d+/{re.escape(slug)}\.parquet$")
    return [n for n in storage.blob_list(storage.zone_container(ZONE), folder) if own.match(n)]


def export_remove(
    *, slug: str, folder: str = "", dry_run: bool = False, keep: frozenset[str] = frozenset()
) -> list[str]:
    """Delete an export's files (but ``keep``); returns their names. Idempotent."""
    container = storage.zone_container(ZONE)
    names = [n for n in export_blobs(slug=slug, folder=folder) if n not in keep]
    if not dry_run:
        for name in names:
            storage.blob_delete(container, name)
    return names


def export_cleanup(job_id: str, params: dict[str, Any]) -> None:
    """A failed or cancelled export leaves no file behind (the job type's ``cleanup``)."""
    export_remove(slug=str(params.get("dataset", "")), folder=export_folder(params))


def _rows(table: str, columns: list[str], res: int) -> Iterator[list[tuple[Any, ...]]]:
    cols = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in columns)
    query = sql.SQL(
        "SELECT s.cell, (SELECT cc.iso3 FROM h3.cell_country cc WHERE cc.cell = s.cell ORDER BY cc.share DESC, cc.iso3 LIMIT 1), {cols}"
        " FROM {t} s WHERE s.res = %s ORDER BY s.cell"
    ).format(cols=cols, t=stats.table_ident(table))
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor(name=f"export_{table}_{res}") as cur:
            cur.execute(query.as_string(connection.connection), [res])
            while batch := cur.fetchmany(ROW_GROUP):
                yield batch


def _part_rows(slug: str, columns: list[str], res: int) -> Iterator[list[tuple[Any, ...]]]:
    """The same rows as :func:`_rows` from a resolution stored as Parquet parts."""
    for part in stats.stat_parts_read(slug=slug, res=res):
        for batch in part.to_batches(max_chunksize=ROW_GROUP):
            cells = batch.column("cell").to_numpy()
            countries = stats.country_of(cells)
            values = [batch.column(c).to_numpy(zero_copy_only=False) for c in columns]
            yield [
                (int(cell), countries.get(int(cell)), *(float(v[i]) for v in values)) for i, cell in enumerate(cells)
            ]


def _schema(columns: list[str]) -> pa.Schema:
    fields = [
        pa.field("cell", pa.int64(), nullable=False),
        pa.field("res", pa.int16(), nullable=False),
        pa.field("iso3", pa.string()),
        pa.field("lon", pa.float64()),
        pa.field("lat", pa.float64()),
        pa.field(
            "bbox",
            pa.struct([("xmin", pa.float64()), ("ymin", pa.float64()), ("xmax", pa.float64()), ("ymax", pa.float64())]),
        ),
        pa.field("geometry", pa.binary()),
        *[pa.field(c, pa.float64()) for c in columns],
    ]
    return pa.schema(fields)


def _geo_metadata() -> dict[str, Any]:
    # No "bbox" member (optional): the schema, with this, is written before the rows are read.
    return {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon", "MultiPolygon"],
                "crs": _CRS84,
                "covering": {
                    "bbox": {
                        "xmin": ["bbox", "xmin"],
                        "ymin": ["bbox", "ymin"],
                        "xmax": ["bbox", "xmax"],
                        "ymax": ["bbox", "ymax"],
                    }
                },
            }
        },
    }


def _batch_table(rows: list[tuple[Any, ...]], res: int, columns: list[str], schema: pa.Schema) -> pa.Table:
    cells = np.array([r[0] for r in rows], dtype=np.int64)
    # CRS84 within ±180°: a cell across the antimeridian is a MultiPolygon cut there, the pole
    # cells are closed at the pole (zonal.lonlat_geometries), so the bbox covering is true.
    polys = zonal.lonlat_geometries(cells)
    bounds = shapely.bounds(polys)
    minx, miny, maxx, maxy = bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3]
    centre = pl.DataFrame({"c": pl.Series(cells.astype(np.uint64), dtype=pl.UInt64)}).select(
        plh3.cell_to_lat("c").alias("lat"), plh3.cell_to_lng("c").alias("lon")
    )
    data: dict[str, Any] = {
        "cell": cells,
        "res": np.full(len(cells), res, dtype=np.int16),
        "iso3": [r[1].strip() if r[1] else None for r in rows],
        "lon": centre["lon"].to_numpy(),
        "lat": centre["lat"].to_numpy(),
        "bbox": pa.StructArray.from_arrays(
            [pa.array(minx), pa.array(miny), pa.array(maxx), pa.array(maxy)], names=["xmin", "ymin", "xmax", "ymax"]
        ),
        "geometry": shapely.to_wkb(polys),
    }
    for i, c in enumerate(columns):
        data[c] = np.array([r[2 + i] for r in rows], dtype=np.float64)
    return pa.table(data, schema=schema)


def export_resolution(ctx: TaskContext) -> dict[str, Any]:
    try:
        dataset, _ = export_plan(ctx.params)
    except (NotFound, InvalidInput) as exc:
        raise PermanentError(exc.message) from exc
    res = int(ctx.task_params["res"])
    columns = stats.column_names(dataset.columns)
    schema = _schema(columns).with_metadata({"geo": json.dumps(_geo_metadata())})
    count = 0
    fd, path = tempfile.mkstemp(suffix=".parquet")
    os.close(fd)
    try:
        with pq.ParquetWriter(path, schema, compression="zstd", write_statistics=True) as writer:
            source = dataset.storage.get(str(res), "postgres")
            batches = (
                _rows(dataset.table, columns, res)
                if source == "postgres"
                else _part_rows(stats.parts_name(dataset), columns, res)
            )
            for rows in batches:
                writer.write_table(_batch_table(rows, res, columns, schema), row_group_size=ROW_GROUP)
                count += len(rows)
        container = storage.zone_container(ZONE)
        name = blob_name(dataset.slug, res, export_folder(ctx.params))
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            storage.blob_save(container, name, fh, size=size, overwrite=True)
    finally:
        os.unlink(path)
    return {"res": res, "container": container, "blob": name, "rows": count, "bytes": size}


class ExportFile(TypedDict):
    res: int
    container: str
    blob: str
    rows: int
    bytes: int


class ExportResult(TypedDict):
    """An export_h3_stats job's result (``Job.result``): publishing's h3_stats kind reads
    ``blobs`` (its ``result_keys``) and ``files``, ``format`` (its ``services``)."""

    dataset: str
    format: str
    container: str
    prefix: str
    files: list[ExportFile]
    blobs: list[str]  # silver blob names, the shape DataKind.result_keys reads


def export_result(ctx: FinalizeContext) -> dict[str, Any]:
    files = cast(list[ExportFile], sorted(ctx.stage_results[0], key=lambda r: r["res"]))
    slug = str(ctx.params["dataset"])
    folder = export_folder(ctx.params)
    blobs = [f["blob"] for f in files]
    # An earlier run into the same folder with more resolutions: its other files go now.
    export_remove(slug=slug, folder=folder, keep=frozenset(blobs))
    result: ExportResult = {
        "dataset": slug,
        "format": "GeoParquet 1.1",
        "container": storage.zone_container(ZONE),
        "prefix": f"{folder}/",
        "files": files,
        "blobs": blobs,
    }
    return dict(result)
