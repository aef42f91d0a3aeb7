"""The stages of ``h3_vector_aggregation``: a features collection (``geo.<table>``) to per-cell
measures at the finest requested resolution, rolled up (sums) to the coarser ones.

- Points: the number of points in each cell (multi-points count each point).
- Lines: the geodesic length (WGS 84 ellipsoid, metres) of the part of each line inside each
  cell. Candidate cells: the cells of the line's vertices after densifying it to a third of
  the cell edge length, plus their neighbours; each piece is the exact intersection with
  the cell polygon (H3 boundary, straight edges in lon/lat).
- Polygons: the area (m²) of the part of each polygon inside each cell, measured in the
  equal-area EPSG:6933 (WGS 84 cylindrical equal-area; pieces densified to 0.01° first).
  Candidate cells: H3's own polygon cover with the "overlap" containment.

With ``category``, each measure is also split by the values of that column (at most
:data:`MAX_CATEGORIES`; more is refused at submit, naming the count).

Batches are id ranges; a cell can get contributions from several batches, so tasks write a
staging table ``h3.stat_<id>_parts`` (replaced per batch: idempotent) that finalise sums into
``h3.stat_<id>``, then rolls up, then drops.
"""

from __future__ import annotations

import re
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import polars as pl
import polars_h3 as plh3
import shapely
from django.db import connection
from psycopg import sql
from pyproj import Geod, Transformer

from features import selectors as feature_selectors
from geoplatform.errors import NotFound
from ingest.errors import PermanentError
from ingest.registry import TaskContext

from . import stats, zonal
from .models import SourceKind, StatDataset

MAX_CATEGORIES = 50
BATCH_FEATURES = 20_000
_GEOD = Geod(ellps="WGS84")
_EQUAL_AREA = Transformer.from_crs("EPSG:4326", "EPSG:6933", always_xy=True)
KINDS = {"point": ("count", "count", ""), "line": ("length_m", "sum", "m"), "polygon": ("area_m2", "sum", "m2")}


def _kinds_of(geometry_type: str) -> list[str]:
    g = geometry_type.lower()
    if "point" in g:
        return ["point"]
    if "line" in g:
        return ["line"]
    if "polygon" in g:
        return ["polygon"]
    return ["point", "line", "polygon"]


def _ident(table: str) -> sql.Composed:
    return sql.SQL("geo.{}").format(sql.Identifier(table))


def _query(query: sql.Composable, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(query.as_string(connection.connection), params)
        return list(cur.fetchall())


def _dataset(collection_id: str) -> Any:
    return feature_selectors.dataset_get(collection_id=collection_id, include_unpublished=True)


def vector_preflight(params: dict[str, Any]) -> list[str]:
    try:
        ds = _dataset(str(params.get("collection_id", "")))
    except NotFound as exc:
        return [exc.message]
    category = params.get("category") or ""
    if not category:
        return []
    names = [a.get("name") for a in ds.attributes]
    if category not in names:
        return [
            f"Column {category!r} is not in collection {ds.collection_id!r}; its columns: {', '.join(map(str, names))}."
        ]
    (count,) = _query(
        sql.SQL("SELECT count(DISTINCT {}) FROM {}").format(sql.Identifier(category), _ident(ds.collection_id))
    )[0]
    if count > MAX_CATEGORIES:
        return [
            f"Column {category!r} has {count} distinct values: at most {MAX_CATEGORIES} can be counted by category. "
            "Choose a column with fewer values, or none."
        ]
    return []


def _column_name(kind: str, value: Any, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", str(value).lower()).strip("_")[:40] or "empty"
    name = f"{KINDS[kind][0]}_{base}" if value is not None else f"{KINDS[kind][0]}__null"
    out, n = name, 2
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def vector_inventory(ctx: TaskContext) -> dict[str, Any]:
    p = ctx.params
    try:
        ds = _dataset(p["collection_id"])
    except NotFound as exc:
        raise PermanentError(exc.message) from exc
    resolutions = sorted(set(p["resolutions"]))
    finest = max(resolutions)
    if p["land_only"] and stats.land_cell_count(res=finest) == 0:
        raise PermanentError(
            f"The land grid has no cells at resolution {finest}: run bootstrap_h3_grid first, or pass land_only=false."
        )
    kinds = _kinds_of(ds.geometry_type)
    categories: list[Any] = []
    if p.get("category"):
        rows = _query(
            sql.SQL("SELECT DISTINCT {c}::text FROM {t} ORDER BY 1").format(
                c=sql.Identifier(p["category"]), t=_ident(ds.collection_id)
            )
        )
        categories = [r[0] for r in rows]
    columns: list[dict[str, Any]] = []
    taken: set[str] = set()
    for kind in kinds:
        name, stat, units = KINDS[kind]
        taken.add(name)
        columns.append(
            {"name": name, "stat": stat, "kind": kind, "category": None, "units": units, "approximate": False}
        )
        for value in categories:
            columns.append(
                {
                    "name": _column_name(kind, value, taken),
                    "stat": stat,
                    "kind": kind,
                    "category": {"column": p["category"], "value": value},
                    "units": units,
                    "approximate": False,
                }
            )
    dataset = stats.stat_dataset_start(
        slug=p["dataset"],
        title=p.get("title") or p["dataset"],
        source_kind=SourceKind.VECTOR,
        source_ref=ds.collection_id,
        resolutions=resolutions,
        columns=columns,
        units="",
        job_id=ctx.job_id,
        provenance={
            "job_id": ctx.job_id,
            "source": {"collection_id": ds.collection_id, "job_id": ds.job_id, "updated": ds.updated_at.isoformat()},
            "method": "points counted; line length geodesic (WGS 84); polygon area in EPSG:6933 (equal-area); "
            "finest resolution computed, coarser ones summed from it",
            "land_only": p["land_only"],
            "libraries": {"h3": h3.__version__, "shapely": shapely.__version__},
        },
    )
    parts = f"{dataset.table}_parts"
    stats.stat_table_create(table=parts, columns=stats.column_names(columns), key=("batch", "res", "cell"))
    lo, hi = _query(sql.SQL("SELECT min(id), max(id) FROM {}").format(_ident(ds.collection_id)))[0]
    batches = []
    if lo is not None:
        for i, start in enumerate(range(int(lo), int(hi) + 1, BATCH_FEATURES)):
            batches.append({"index": i, "first_id": start, "last_id": min(start + BATCH_FEATURES - 1, int(hi))})
    return {
        "dataset_id": dataset.pk,
        "table": dataset.table,
        "slug": dataset.slug,  # the load name of a replacement (overwrite): its parts go there
        "parts": parts,
        "finest": finest,
        "batches": batches,
        "categories": categories,
    }


def _cell_polygons(cells: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    # Cut at the antimeridian, pole cells closed at the pole: features on either side of 180°
    # and round the poles meet the cells they lie in.
    return zonal.lonlat_geometries(cells)


def _points(geoms: npt.NDArray[Any], cat: npt.NDArray[np.int64], res: int) -> tuple[Any, Any, Any]:
    parts, index = shapely.get_parts(geoms, return_index=True)
    xy = shapely.get_coordinates(parts)
    cells = (
        pl.DataFrame({"lat": xy[:, 1], "lng": xy[:, 0]})
        .select(plh3.latlng_to_cell("lat", "lng", res))
        .to_series()
        .to_numpy()
        .astype(np.int64)
    )
    return cells, cat[index], np.ones(len(cells))


def _line_candidates(geoms: npt.NDArray[Any], res: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(feature index, cell) pairs: cells of densified vertices and their neighbours."""
    step = h3.average_hexagon_edge_length(res, unit="km") / 111.32 / 3.0
    dense = shapely.segmentize(geoms, step)
    xy, index = shapely.get_coordinates(dense, return_index=True)
    frame = pl.DataFrame({"f": index, "lat": xy[:, 1], "lng": xy[:, 0]}).with_columns(
        plh3.latlng_to_cell("lat", "lng", res).alias("c")
    )
    frame = frame.select("f", plh3.grid_disk("c", 1).alias("c")).explode("c").unique()
    return frame["f"].to_numpy().astype(np.int64), frame["c"].to_numpy().astype(np.int64)


def _polygon_candidates(geoms: npt.NDArray[Any], res: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    feats: list[npt.NDArray[np.int64]] = []
    cells: list[npt.NDArray[np.int64]] = []
    for i, geom in enumerate(geoms):  # one H3 polygon cover per feature (vectorised inside)
        minx, _, maxx, _ = geom.bounds
        # h3 takes a polygon wider than 180° of longitude for one that crosses the antimeridian
        # (Antarctica, a MultiPolygon with parts on both sides of 180°): wide ones go in slices.
        slices = (
            [geom]
            if maxx - minx <= 90.0
            else [shapely.clip_by_rect(geom, x, -90.0, x + 90.0, 90.0) for x in (-180.0, -90.0, 0.0, 90.0)]
        )
        ids: set[str] = set()
        for piece in slices:
            if not piece.is_empty and piece.area > 0:
                shape = h3.geo_to_h3shape(shapely.geometry.mapping(piece))
                ids.update(h3.h3shape_to_cells_experimental(shape, res, contain="overlap"))
        found = np.array(sorted(h3.str_to_int(c) for c in ids), dtype=np.int64)
        feats.append(np.full(len(found), i, dtype=np.int64))
        cells.append(found)
    if not feats:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(feats), np.concatenate(cells)


def _measure(pieces: npt.NDArray[Any], kind: str) -> npt.NDArray[np.float64]:
    if kind == "line":
        parts, part_of = shapely.get_parts(pieces, return_index=True)
        lines = parts[shapely.get_type_id(parts) == 1]
        line_of = part_of[shapely.get_type_id(parts) == 1]
        xy, idx = shapely.get_coordinates(lines, return_index=True)
        same = idx[1:] == idx[:-1]
        _, _, dist = _GEOD.inv(xy[:-1, 0][same], xy[:-1, 1][same], xy[1:, 0][same], xy[1:, 1][same])
        per_line = np.bincount(idx[:-1][same], weights=dist, minlength=len(lines))
        return np.bincount(line_of, weights=per_line, minlength=len(pieces)).astype(np.float64)
    dense = shapely.segmentize(pieces, 0.01)
    projected = shapely.transform(dense, lambda c: np.column_stack(_EQUAL_AREA.transform(c[:, 0], c[:, 1])))
    return np.asarray(shapely.area(projected), dtype=np.float64)


def _lines_or_polygons(
    geoms: npt.NDArray[Any], cat: npt.NDArray[np.int64], res: int, kind: str
) -> tuple[Any, Any, Any]:
    feats, cells = (_line_candidates if kind == "line" else _polygon_candidates)(geoms, res)
    if len(cells) == 0:
        return cells, cells, np.zeros(0)
    uniq, inverse = np.unique(cells, return_inverse=True)
    polys = _cell_polygons(uniq)[inverse]
    pieces = shapely.intersection(geoms[feats], polys)
    amount = _measure(pieces, kind)
    keep = amount > 0
    return cells[keep], cat[feats][keep], amount[keep]


def vector_compute(ctx: TaskContext) -> dict[str, Any]:
    p = ctx.params
    inv = ctx.results_of(0)[0]
    res = int(inv["finest"])
    category = p.get("category") or ""
    select: list[sql.Composable] = [sql.SQL("ST_AsBinary(geom)")]
    if category:
        select.append(sql.SQL("{}::text").format(sql.Identifier(category)))
    rows = _query(
        sql.SQL("SELECT {} FROM {} WHERE id BETWEEN %s AND %s ORDER BY id").format(
            sql.SQL(", ").join(select), _ident(p["collection_id"])
        ),
        [ctx.task_params["first_id"], ctx.task_params["last_id"]],
    )
    geoms = shapely.from_wkb([bytes(r[0]) for r in rows])
    categories: list[Any] = inv["categories"]
    lookup = {v: i for i, v in enumerate(categories)}
    cat = np.array([lookup[r[1]] for r in rows] if category else np.full(len(rows), -1), dtype=np.int64)
    columns = _columns(inv)
    all_cells: list[npt.NDArray[np.int64]] = []
    per_kind: list[tuple[str, Any, Any, Any]] = []
    type_id = shapely.get_type_id(geoms)
    for kind, ids in (("point", (0, 4)), ("line", (1, 2, 5)), ("polygon", (3, 6))):
        if not any(c["kind"] == kind for c in columns):
            continue
        sel = np.isin(type_id, ids)
        if not sel.any():
            continue
        g, k = geoms[sel], cat[sel]
        cells, kcat, amount = _points(g, k, res) if kind == "point" else _lines_or_polygons(g, k, res, kind)
        per_kind.append((kind, cells, kcat, amount))
        all_cells.append(cells)
    uniq = np.unique(np.concatenate(all_cells)) if all_cells else np.zeros(0, np.int64)
    if p["land_only"]:
        uniq = stats.land_cells(res=res, cells=uniq)
    out = {c["name"]: np.zeros(len(uniq)) for c in columns}
    for kind, cells, kcat, amount in per_kind:
        pos = np.searchsorted(uniq, cells)
        inside = (
            (pos < len(uniq)) & (uniq[np.minimum(pos, max(len(uniq) - 1, 0))] == cells)
            if len(uniq)
            else np.zeros(len(cells), bool)
        )
        pos, kcat, amount = pos[inside], kcat[inside], amount[inside]
        for c in columns:
            if c["kind"] != kind:
                continue
            mask = np.ones(len(pos), bool) if c["category"] is None else kcat == lookup[c["category"]["value"]]
            out[c["name"]] += np.bincount(pos[mask], weights=amount[mask], minlength=len(uniq))
    written = stats.stat_rows_replace(
        table=inv["parts"], res=res, cells=uniq, values=out, batch=int(ctx.task_params["index"])
    )
    return {"rows": written, "features": len(rows)}


def _columns(inv: dict[str, Any]) -> list[dict[str, Any]]:
    return list(StatDataset.objects.get(pk=inv["dataset_id"]).columns)


def vector_finalise(ctx: TaskContext) -> dict[str, Any]:
    inv = ctx.results_of(0)[0]
    table, parts, finest = str(inv["table"]), str(inv["parts"]), int(inv["finest"])
    columns = _columns(inv)
    stats.stat_parts_merge(parts=parts, table=table, res=finest, columns=stats.column_names(columns))
    for res in sorted(set(ctx.params["resolutions"]), reverse=True):
        if res < finest:
            stats.stat_rollup(table=table, columns=columns, from_res=finest, to_res=res)
    stats.stat_table_drop(table=parts)
    # Resolutions past the PostgreSQL tier leave for Parquet once the roll-up has read them.
    for res in sorted(set(ctx.params["resolutions"])):
        if res > ctx.params["postgres_max_res"]:
            stats.stat_rows_to_parts(
                table=table, slug=inv.get("slug", ctx.params["dataset"]), res=res, columns=stats.column_names(columns)
            )
    return stats.stat_dataset_complete(params=ctx.params, dataset_id=int(inv["dataset_id"]), table=table)
