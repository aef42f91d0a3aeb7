"""Zonal statistics per H3 cell: h3grid.zonal vs exactextract on the same cell polygons, in one
process, same values; and what a stat table costs in PostgreSQL vs Parquet.

A synthetic 1 km raster (1/120°, float32, a smooth field plus noise, 2 % nodata in blocks)
over a lon/lat box (default 10° x 5°, 1200 x 600 pixels: a subset band of the global
raster, whose 43200 x 21600 float32 pixels would need 3.7 GB here) is written as a tiled
GeoTIFF. For each resolution (default 5, 6, 7) every cell overlapping the box is computed:

- ours: cell boundaries (polars-h3) + reading the raster + coverage fractions + all seven
  statistics (mean, sum, count, min, max, std, median);
- exactextract 0.3.0 ``exact_extract(file, polygons, [the same seven])``, the polygons
  built beforehand from the same boundaries (their building is not counted for it).

Values are compared (max relative difference of mean and sum) and the speed ratio printed
(exactextract time / ours: > 1 means we are faster).

``--storage N``: N rows of 7 statistics COPYed into a PostgreSQL table shaped like
h3.stat_<id> (needs GEOPLATFORM_DATABASE_URL; the table is dropped after) vs written as
Parquet (zstd): bytes per row and rows/s, extrapolated to the land pyramid's row counts.

    .venv/bin/python bench/h3_zonal.py [--box 10,40,20,45] [--res 5 6 7] [--storage 686000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STATS = ["mean", "sum", "count", "min", "max", "std", "median"]
EE_OPS = ["mean", "sum", "count", "min", "max", "stdev", "median"]
LAND_ROWS = {5: 686_000, 6: 4_800_000, 7: 33_600_000}


def synthetic_raster(path: Path, box: tuple[float, float, float, float], step: float = 1 / 120) -> None:
    import rasterio
    from rasterio.transform import from_origin

    west, south, east, north = box
    width, height = round((east - west) / step), round((north - south) / step)
    rng = np.random.default_rng(42)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    data = 100 + 50 * np.sin(x / 97.0) * np.cos(y / 53.0) + rng.normal(0, 5, (height, width)).astype(np.float32)
    for _ in range(max(1, width * height // 50 // 400)):  # 2 % nodata, in 20 x 20 blocks
        r, c = rng.integers(0, height - 20), rng.integers(0, width - 20)
        data[r : r + 20, c : c + 20] = -9999
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_origin(west, north, step, step),
        "nodata": -9999,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)


def zonal_vs_exactextract(path: Path, box: tuple[float, float, float, float], res: int) -> dict[str, float]:
    import geopandas as gpd
    import rasterio
    import shapely
    from exactextract import exact_extract

    from h3grid import zonal

    cells = zonal.bbox_cells(box, res)
    # exactextract's polygons, from the same boundaries (not timed).
    rings = zonal.cell_rings(cells)
    index = np.repeat(np.arange(len(rings)), np.diff(rings.offsets))
    polys = shapely.polygons(shapely.linearrings(np.column_stack([rings.x, rings.y]), indices=index))
    frame = gpd.GeoDataFrame({"owner": rings.owner}, geometry=polys, crs="EPSG:4326")

    start = time.perf_counter()
    rings = zonal.cell_rings(cells)
    with rasterio.open(path) as ds:
        data = ds.read(1, masked=True)
        transform = ds.transform
    ours = zonal.zonal_stats(rings, data, transform, stats=STATS)
    t_ours = time.perf_counter() - start

    start = time.perf_counter()
    ee = exact_extract(str(path), frame, EE_OPS, include_cols=["owner"], output="pandas")
    t_ee = time.perf_counter() - start

    ee = ee[ee["count"] > 0].set_index("owner")
    pos = np.searchsorted(ours.index, ee.index.to_numpy())
    assert np.array_equal(ours.index[pos], ee.index.to_numpy()), "different cells with data"
    diff = {
        k: float(np.max(np.abs(ours.values[k][pos] - ee[e].to_numpy()) / np.maximum(np.abs(ee[e].to_numpy()), 1e-12)))
        for k, e in (("mean", "mean"), ("sum", "sum"), ("count", "count"), ("std", "stdev"), ("median", "median"))
    }
    return {"cells": len(cells), "ours_s": t_ours, "ee_s": t_ee, **{f"maxrel_{k}": v for k, v in diff.items()}}


def storage(rows: int) -> None:
    import psycopg
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    cells = np.sort(rng.choice(2**52, rows, replace=False)).astype(np.int64) | (7 << 52)
    table = pa.table(
        {"res": np.full(rows, 7, np.int16), "cell": cells, **{s: rng.normal(100, 10, rows) for s in STATS}}
    )
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=False))
    dsn = os.environ["GEOPLATFORM_DATABASE_URL"]
    name = dsn.rsplit("/", 1)[-1]
    with psycopg.connect(dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    cols = ", ".join(f"{s} double precision" for s in STATS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.bench_h3_stat")
        conn.execute(f"CREATE TABLE public.bench_h3_stat (res smallint, cell bigint, {cols}, PRIMARY KEY (res, cell))")
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY public.bench_h3_stat FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
        t_pg = time.perf_counter() - start
        found = conn.execute("SELECT pg_total_relation_size('public.bench_h3_stat')").fetchone()
        size = int(found[0]) if found else 0
        conn.execute("DROP TABLE public.bench_h3_stat")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pq.write_table(table, f"{tmp}/t.parquet", compression="zstd", row_group_size=65_536)
        t_pq = time.perf_counter() - start
        psize = os.path.getsize(f"{tmp}/t.parquet")
    print(f"\nstorage of {rows:,} rows (res, cell, 7 statistics):")
    print(f"  PostgreSQL COPY: {rows / t_pg:,.0f} rows/s, {size / rows:.0f} B/row (table + primary key)")
    print(f"  Parquet (zstd):  {rows / t_pq:,.0f} rows/s, {psize / rows:.0f} B/row")
    for res, n in LAND_ROWS.items():
        print(
            f"  land res {res} ({n:,} rows): PostgreSQL {n * size / rows / 2**30:.2f} GiB, COPY {n / (rows / t_pg):.0f} s;"
            f" Parquet {n * psize / rows / 2**30:.2f} GiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--box", default="10,40,20,45", help="west,south,east,north of the raster (degrees)")
    parser.add_argument("--res", type=int, nargs="+", default=[5, 6, 7])
    parser.add_argument("--storage", type=int, default=0, help="rows for the PostgreSQL vs Parquet comparison")
    parser.add_argument("--storage-only", action="store_true", help="only the storage comparison")
    args = parser.parse_args()
    box = tuple(float(v) for v in args.box.split(","))
    assert len(box) == 4
    print(f"load average before: {os.getloadavg()[0]:.2f} (nproc {os.cpu_count()})")
    with tempfile.TemporaryDirectory() as tmp:
        if args.storage_only:
            args.res = []
        path = Path(tmp) / "synthetic_1km.tif"
        synthetic_raster(path, box)  # type: ignore[arg-type]
        print(f"raster {args.box} at 1/120°: {path.stat().st_size / 2**20:.1f} MiB")
        print(
            f"{'res':>3} {'cells':>9} {'ours s':>8} {'exactextract s':>15} {'ratio':>6}  max rel diff mean / sum / count / std / median"
        )
        total_ours = total_ee = 0.0
        for res in args.res:
            r = zonal_vs_exactextract(path, box, res)  # type: ignore[arg-type]
            total_ours += r["ours_s"]
            total_ee += r["ee_s"]
            print(
                f"{res:>3} {r['cells']:>9,} {r['ours_s']:>8.2f} {r['ee_s']:>15.2f} {r['ee_s'] / r['ours_s']:>6.1f}x"
                f"  {r['maxrel_mean']:.1e} / {r['maxrel_sum']:.1e} / {r['maxrel_count']:.1e} / {r['maxrel_std']:.1e}"
                f" / {r['maxrel_median']:.1e}"
            )
        if total_ours:
            print(f"all: ours {total_ours:.2f} s, exactextract {total_ee:.2f} s, ratio {total_ee / total_ours:.1f}x")
    if args.storage:
        storage(args.storage)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
