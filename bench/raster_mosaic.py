"""Mosaic tiles of a registered pgSTAC search: ours vs titiler-pgstac, on the same search id.

1. 16 synthetic COG sources (a 4 x 4 grid of 2048 x 2048 3-band 8-bit GeoTIFFs, EPSG:3857,
   zoom-14 pixels, gradients plus noise as in raster_tiles.py) are made once in var/bench/.
2. They are loaded with our ``process_raster_collection`` job (stages run in this process on
   local storage, as a worker would): 16 COGs, 16 STAC items in one collection and the pgSTAC
   search ``{"collections": [<collection>]}`` that the job registers (its id is pgSTAC's hash).
3. titiler-pgstac (its own venv, never .venv) serves the SAME database and so the same search
   id: ``/searches/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png?assets=analysis``; ours serves
   ``/api/raster/mosaic/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png``. Before timing, a few
   tiles of each zoom are fetched from both and their decoded pixels compared (must be equal).
4. PNG tiles z10-14 over the mosaic (within the search's minzoom..maxzoom), one shuffled
   order, 8 concurrent keep-alive clients, rounds alternating ours / titiler-pgstac.

    python3.11 -m venv .cache/bench-venvs/titiler-pgstac
    .cache/bench-venvs/titiler-pgstac/bin/pip install 'titiler.pgstac[psycopg-binary]==3.2.0' 'uvicorn[standard]'
    .venv/bin/python bench/raster_mosaic.py [--seconds 15] [--rounds 2] [--concurrency 8] [--results NAME]

Ours: gunicorn as scripts/run.sh (GEOPLATFORM_WEB_WORKERS x GEOPLATFORM_WEB_THREADS, default
2 x 4); titiler-pgstac: uvicorn with 4 workers (as titiler in raster_tiles.py).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402
import raster_tiles  # noqa: E402

DB_NAME = "geoplatform_bench_rasters_mosaic"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
OURS_PORT, THEIRS_PORT = 8895, 8896  # raster_tiles.py uses 8893/8894
VENV = ROOT / ".cache" / "bench-venvs" / "titiler-pgstac"
WORK = ROOT / "var" / "bench" / "rasters-mosaic"
STORAGE = WORK / "storage"
GRID, SIZE = 4, 2048
PIXEL = raster_tiles.PIXEL  # zoom 14
ORIGIN = raster_tiles.ORIGIN  # upper-left of the grid, EPSG:3857
COLLECTION = "bench-mosaic"
ZOOMS = range(10, 15)


def _env() -> dict[str, str]:
    env = raster_tiles._env()
    env.update({"GEOPLATFORM_DATABASE_URL": DB_URL, "GEOPLATFORM_STORAGE_ROOT": str(STORAGE)})
    return env


def synthetic_sources() -> list[Path]:
    """The 16 grid cells (made once; deterministic)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    out = []
    rng = np.random.default_rng(7)
    x = np.linspace(0, 4 * np.pi, SIZE, dtype="float32")
    for row in range(GRID):
        for col in range(GRID):
            path = WORK / "sources" / f"cell-{row}-{col}.tif"
            out.append(path)
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            west, north = ORIGIN[0] + col * SIZE * PIXEL, ORIGIN[1] - row * SIZE * PIXEL
            profile = {
                "driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3, "dtype": "uint8", "crs": "EPSG:3857",
                "transform": from_origin(west, north, PIXEL, PIXEL), "tiled": True, "blockxsize": 256,
                "blockysize": 256, "compress": "lzw",
            }  # fmt: skip
            y = np.linspace(0, 4 * np.pi, SIZE, dtype="float32")[:, None]
            with rasterio.open(path, "w", **profile) as dst:
                for band in range(3):
                    base = (
                        127 + 60 * np.sin(x[None, :] * (band + 1) / 3 + y + row) + 40 * np.cos(y * (band + 2) / 2 + col)
                    )
                    noise = rng.normal(0, 12, (SIZE, SIZE))
                    dst.write(np.clip(base + noise, 0, 255).astype("uint8"), band + 1)
    return out


def load_collection(sources: list[Path]) -> dict[str, Any]:
    """Upload the sources to bronze and run process_raster_collection here; its result."""
    from django.core.files import File

    from geoplatform.storage import get_storage, zone_container

    bronze = zone_container("bronze")
    files = []
    for path in sources:
        name = f"bench-mosaic/{path.name}"
        with open(path, "rb") as fh:
            get_storage(bronze).save(name, File(fh, name=path.name))
        files.append({"file_name": name, "item_id": path.stem})
    params = {"container_name": bronze, "files": files, "collection_id": COLLECTION, "output_tier": "analysis"}
    from ingest import registry

    stage_results: list[list[dict[str, Any]]] = []
    t0 = time.perf_counter()
    job_id = raster_tiles.run_job_inline(
        "process_raster_collection", params, after_stage=lambda _name, results: stage_results.append(results)
    )
    jt = registry.get("process_raster_collection")
    assert jt.finalize is not None
    ctx = registry.FinalizeContext(job_id=job_id, params=jt.clean_params(params), stage_results=stage_results)
    result = jt.finalize(ctx)
    return {**result, "load_s": time.perf_counter() - t0}


def tile_list(minzoom: int, maxzoom: int) -> list[tuple[int, int, int]]:
    import morecantile
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    span = GRID * SIZE * PIXEL
    west, north = to_wgs84.transform(ORIGIN[0], ORIGIN[1])
    east, south = to_wgs84.transform(ORIGIN[0] + span, ORIGIN[1] - span)
    tms = morecantile.tms.get("WebMercatorQuad")
    zooms = [z for z in ZOOMS if minzoom <= z <= maxzoom]
    tiles = [(t.z, t.x, t.y) for z in zooms for t in tms.tiles(west, south, east, north, [z])]
    random.Random(11).shuffle(tiles)
    return tiles


def decoded(body: bytes) -> Any:
    from rasterio.io import MemoryFile

    with MemoryFile(body) as mem, mem.open() as ds:
        return ds.read()


def same_pixels(ours_urls: list[str], theirs_urls: list[str], tiles: list[tuple[int, int, int]]) -> int:
    """Compare decoded tiles (3 per zoom) from both servers; the number compared."""
    import numpy as np

    checked = 0
    for z in sorted({t[0] for t in tiles}):
        picks = [i for i, t in enumerate(tiles) if t[0] == z][:3]
        for i in picks:
            s1, ours = common.get(OURS_PORT, ours_urls[i])
            s2, theirs = common.get(THEIRS_PORT, theirs_urls[i])
            assert s1 == 200 and s2 == 200, (tiles[i], s1, s2, ours[:300], theirs[:300])
            a, b = decoded(ours), decoded(theirs)
            assert a.shape == b.shape and np.array_equal(a, b), f"tile {tiles[i]}: pixels differ"
            checked += 1
    return checked


def main() -> None:
    args = common.load_parser(__doc__, results="raster_mosaic").parse_args()
    if not (VENV / "bin" / "uvicorn").exists():
        sys.exit(f"titiler-pgstac is not installed in {VENV} (see this script's docstring)")
    load_before = os.getloadavg()
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(STORAGE, ignore_errors=True)
    print("making the 16 synthetic 2048x2048 sources ...", flush=True)
    sources = synthetic_sources()
    env = _env()
    raster_tiles.prepare_database(DB_NAME, env)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("GEOPLATFORM_", "DJANGO_"))})
    import django

    django.setup()
    loaded = load_collection(sources)
    search_id = loaded["search_id"]
    meta = {"minzoom": loaded["mosaic_minzoom"], "maxzoom": loaded["mosaic_maxzoom"]}
    print(f"collection loaded in {loaded['load_s']:.1f} s; search {search_id}, metadata {meta}", flush=True)
    from django.db import connection

    connection.close()

    logs = WORK / "logs"
    logs.mkdir(exist_ok=True)
    ours = common.start_ours(OURS_PORT, env, logs / "ours.log")
    theirs_env = {"DATABASE_URL": DB_URL, "TITILER_PGSTAC_API_DEBUG": "false"}
    theirs = common.start_peer(VENV, ["titiler.pgstac.main:app"], THEIRS_PORT, theirs_env, logs / "titiler-pgstac.log")
    tiles = tile_list(int(meta["minzoom"]), int(meta["maxzoom"]))
    ours_urls = [f"/api/raster/mosaic/{search_id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png" for z, x, y in tiles]
    theirs_urls = [f"/searches/{search_id}/tiles/WebMercatorQuad/{z}/{x}/{y}.png?assets=analysis" for z, x, y in tiles]
    try:
        common.wait_http(OURS_PORT, ours_urls[0])
        common.wait_http(THEIRS_PORT, theirs_urls[0])
        checked = same_pixels(ours_urls, theirs_urls, tiles)
        print(f"pixels equal on {checked} tiles (3 per zoom)", flush=True)
        out: dict[str, Any] = {"ours": [], "titiler-pgstac": []}
        common.load(OURS_PORT, [("GET", u, None) for u in ours_urls], 3, args.concurrency)  # warm-up
        common.load(THEIRS_PORT, [("GET", u, None) for u in theirs_urls], 3, args.concurrency)
        for _ in range(args.rounds):
            for name, port, urls in (("ours", OURS_PORT, ours_urls), ("titiler-pgstac", THEIRS_PORT, theirs_urls)):
                out[name].append(common.load(port, [("GET", u, None) for u in urls], args.seconds, args.concurrency))
        rss = {"ours": raster_tiles.group_rss_mib(ours), "titiler-pgstac": raster_tiles.group_rss_mib(theirs)}
    finally:
        common.stop(ours)
        common.stop(theirs)

    threads = common.web_config(env)
    zooms = sorted({t[0] for t in tiles})
    print(
        f"\nmosaic PNG tiles z{zooms[0]}-{zooms[-1]} ({len(tiles)} distinct) over 16 COGs, search {search_id}, "
        f"concurrency {args.concurrency}, ours gunicorn {threads}"
    )
    ratio = common.print_rounds(out, "titiler-pgstac")
    load_after = os.getloadavg()
    print(f"server RSS after the rounds, MiB (all processes): {rss}; {common.rss_ratio(rss, 'titiler-pgstac')}")
    print(f"load average before {load_before}, after {load_after}")
    doc = {
        "gunicorn": threads,
        "search_id": search_id,
        "search_metadata": meta,
        "distinct_tiles": len(tiles),
        "zooms": zooms,
        "pixels_compared": checked,
        "collection_load_s": loaded["load_s"],
        "results": out,
        "ratio": ratio,
        "rss_mib": rss,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    path = ROOT / "bench" / "results" / f"{args.results}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
