"""The stages of ``h3_raster_aggregation``: a published raster (its STAC item) to per-cell
statistics at chosen resolutions, stored in ``h3.stat_<id>``.

inventory (one task): the raster's facts, the coarse "batch" cells overlapping it, the
registry row and its table. compute (fan-out, one task per group of batch cells): the land
cells at the finest resolution under each batch cell, exact pixel coverage fractions
(:mod:`h3grid.zonal`), weighted statistics; every coarser resolution is computed in the same
task from the same pixel-cell pairs grouped by parent (identical to rolling up sums, counts
and sums of squares; min/max likewise), so the median is exact at every resolution, not
approximate. A coarser cell aggregates its children at the finest resolution (H3 children do
not tile their parent exactly). finalise (one task): counts, ANALYZE, registry completed.

Batch cells are at ``min(coarsest requested, finest - 4)``: every requested cell lies inside
one batch cell, so each task writes whole cells and a retried task replaces exactly its rows.
"""

from __future__ import annotations

from typing import Any

import h3
import h3.api.numpy_int as h3n
import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from geoplatform.errors import InvalidInput, NotFound
from ingest.errors import PermanentError
from ingest.registry import FinalizeContext, TaskContext
from rasters import selectors as raster_selectors
from rasters.gdal import open_blob

from . import stats, zonal
from .models import SourceKind

# Target number of finest cells per compute task.
BATCH_CELLS = 150_000
MIN_RES, MAX_RES = 0, 15


def batch_res(resolutions: list[int]) -> int:
    return max(0, min(min(resolutions), max(resolutions) - 4))


def raster_asset(params: dict[str, Any]) -> raster_selectors.RasterAsset:
    try:
        return raster_selectors.raster_asset_get(
            collection_id=params["collection_id"],
            item_id=params["item_id"],
            asset=params.get("asset") or None,
            purpose="data",
        )
    except (NotFound, InvalidInput) as exc:
        raise PermanentError(exc.message) from exc


def columns_for(params: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": stat,
            "stat": stat,
            "band": int(params["band"]),
            "category": None,
            "units": "" if stat == "count" else params.get("units", ""),
            "approximate": False,
            **({"definition": zonal.MEDIAN_RULE} if stat == "median" else {}),
        }
        for stat in params["statistics"]
    ]


def raster_inventory(ctx: TaskContext) -> dict[str, Any]:
    p = ctx.params
    resolutions = sorted(set(p["resolutions"]))
    asset = raster_asset(p)
    with open_blob(asset.container, asset.blob) as ds:
        if p["band"] > ds.count:
            raise PermanentError(f"Band {p['band']} does not exist: the raster has {ds.count} band(s).")
        if ds.crs is None:
            raise PermanentError("The raster has no CRS.")
        lonlat = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
        crs_wkt = ds.crs.to_wkt()
        dtype = ds.dtypes[p["band"] - 1]
    finest = max(resolutions)
    coarse = batch_res(resolutions)
    parents = zonal.bbox_cells(lonlat, coarse)
    if p["land_only"]:
        if stats.land_cell_count(res=finest) == 0:
            raise PermanentError(
                f"The land grid has no cells at resolution {finest}: run bootstrap_h3_grid first, or pass land_only=false."
            )
        if coarse >= 2:
            parents = stats.land_cells(res=coarse, cells=parents)
    dataset = stats.stat_dataset_start(
        slug=p["dataset"],
        title=p.get("title") or p["dataset"],
        source_kind=SourceKind.RASTER,
        source_ref=f"{asset.collection_id}/{asset.item_id}",
        resolutions=resolutions,
        columns=columns_for(p),
        units=p.get("units", ""),
        job_id=ctx.job_id,
        provenance={
            "job_id": ctx.job_id,
            "source": {
                "collection_id": asset.collection_id,
                "item_id": asset.item_id,
                "asset": asset.key,
                "blob": f"{asset.container}/{asset.blob}",
                "updated": asset.item.get("properties", {}).get("updated"),
                "band": p["band"],
            },
            "method": "exact pixel coverage fractions of H3 cell polygons (straight edges in the raster CRS); "
            "weights = coverage fraction; coarser resolutions from the finest cells' pixels",
            "median": zonal.MEDIAN_RULE,
            "dtype": dtype,
            "land_only": p["land_only"],
            "libraries": {"h3": h3.__version__, "numpy": np.__version__, "rasterio": rasterio.__version__},
        },
    )
    per_parent = 7 ** (finest - coarse)
    group = max(1, BATCH_CELLS // per_parent)
    batches = [
        {"index": i, "parents": [int(c) for c in parents[start : start + group]]}
        for i, start in enumerate(range(0, len(parents), group))
    ]
    if not batches:
        ctx.warn("No cell of the grid overlaps the raster: the dataset is empty.")
    return {
        "dataset_id": dataset.pk,
        "table": dataset.table,
        "slug": dataset.slug,  # the load name of a replacement (overwrite): its parts go there
        "batches": batches,
        "crs": crs_wkt,
        "finest": finest,
        "batch_res": coarse,
        "lonlat_bounds": list(lonlat),
    }


def _pairs_of_parent(
    ds: rasterio.io.DatasetReader, cells: npt.NDArray[np.int64], band: int, crs_wkt: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    rings = zonal.raster_rings(cells, crs_wkt, tuple(ds.bounds))
    owners, values, weights = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0)]
    for group, win in _windows(rings, ds):
        data = ds.read(band, window=win, masked=True)
        owner, value, weight = zonal.zonal_pairs(group, data, window_transform(win, ds.transform))
        owners.append(owner)
        values.append(value)
        weights.append(weight)
    return np.concatenate(owners), np.concatenate(values), np.concatenate(weights)


def _windows(rings: zonal.Rings, ds: rasterio.io.DatasetReader) -> list[tuple[zonal.Rings, Window]]:
    """The raster windows under ``rings`` (north-up rasters), one pixel of margin, within the
    raster: one per run of rings whose columns overlap, so that the two sides of a cell cut at
    the antimeridian (or a pole cell's 360°) do not read the whole width between them."""
    if len(rings) == 0:
        return []
    minx, miny, maxx, maxy = rings.bounds()
    inv = ~ds.transform
    c0 = np.floor(np.minimum(inv.a * minx, inv.a * maxx) + inv.c) - 1
    c1 = np.ceil(np.maximum(inv.a * minx, inv.a * maxx) + inv.c) + 1
    r0 = np.floor(np.minimum(inv.e * maxy, inv.e * miny) + inv.f) - 1
    r1 = np.ceil(np.maximum(inv.e * maxy, inv.e * miny) + inv.f) + 1
    order = np.argsort(c0, kind="stable")
    run_end = np.maximum.accumulate(c1[order])
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = c0[order][1:] > run_end[:-1]
    run = np.empty(len(order), dtype=np.int64)
    run[order] = np.cumsum(new_run) - 1
    out = []
    for k in range(int(run.max()) + 1):
        mine = run == k
        col0, col1 = max(int(c0[mine].min()), 0), min(int(c1[mine].max()), ds.width)
        row0, row1 = max(int(r0[mine].min()), 0), min(int(r1[mine].max()), ds.height)
        if col1 > col0 and row1 > row0:
            out.append((rings.subset(mine), Window(col0, row0, col1 - col0, row1 - row0)))
    return out


def raster_compute(ctx: TaskContext) -> dict[str, Any]:
    p = ctx.params
    inv = ctx.results_of(0)[0]
    finest, table = int(inv["finest"]), str(inv["table"])
    parents = np.array(ctx.task_params["parents"], dtype=np.int64)
    asset = raster_asset(p)
    owners, values, weights, cell_lists = [], [], [], []
    offset = 0
    with open_blob(asset.container, asset.blob) as ds:
        for parent in parents:
            cells = np.sort(h3n.cell_to_children(int(parent), finest).astype(np.int64))
            if p["land_only"]:
                cells = stats.land_cells(res=finest, cells=cells)
            if len(cells) == 0:
                continue
            owner, value, weight = _pairs_of_parent(ds, cells, int(p["band"]), inv["crs"])
            owners.append(owner + offset)
            values.append(value)
            weights.append(weight)
            cell_lists.append(cells)
            offset += len(cells)
    written: dict[str, int] = {}
    all_cells = np.concatenate(cell_lists) if cell_lists else np.zeros(0, np.int64)
    owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
    value = np.concatenate(values) if values else np.zeros(0)
    weight = np.concatenate(weights) if weights else np.zeros(0)
    pair_cells = all_cells[owner]
    for res in sorted(set(p["resolutions"])):
        keys = pair_cells if res == finest else stats.parent_of(pair_cells, res)
        uniq, group = np.unique(keys, return_inverse=True)
        result = zonal.weighted_stats(group.astype(np.int64), value, weight, p["statistics"])
        columns = {s: result.values[s] for s in p["statistics"]}
        cells = uniq[result.index]
        if res > p["postgres_max_res"]:
            stats.stat_part_write(
                slug=inv.get("slug", p["dataset"]),
                res=res,
                part=int(ctx.task_params["index"]),
                cells=cells,
                values=columns,
            )
            written[str(res)] = len(cells)
        else:
            written[str(res)] = stats.stat_rows_replace(table=table, res=res, cells=cells, values=columns)
    return {"rows": written, "pairs": len(owner)}


def raster_finalise(ctx: TaskContext) -> dict[str, Any]:
    inv = ctx.results_of(0)[0]
    return stats.stat_dataset_complete(params=ctx.params, dataset_id=int(inv["dataset_id"]), table=str(inv["table"]))


def raster_result(ctx: FinalizeContext) -> dict[str, Any]:
    return dict(ctx.stage_results[-1][0])


def stat_cleanup(job_id: str, params: dict[str, Any]) -> None:
    stats.stat_dataset_discard(slug=str(params.get("dataset", "")), job_id=job_id)
