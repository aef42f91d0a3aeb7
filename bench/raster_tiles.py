"""Raster tiles and COG creation: ours vs titiler and vs `rio cogeo create`.

1. A synthetic 8192 x 8192 3-band 8-bit GeoTIFF (EPSG:3857, ~9.55 m pixels = zoom 14) is made
   once in var/bench/.
2. COG creation: our ``rasters.cog.create_cog`` (analysis tier) vs the ``rio cogeo create`` CLI
   with the same profile (DEFLATE, predictor 2, 512 blocks, average overviews); and the whole
   ``process_raster`` job (run stage by stage in this process on local storage) for context.
3. Tiles: PNG tiles z10-14 over the raster, the same shuffled sequence sent by 8 concurrent
   keep-alive clients to our /api/raster/.../tiles (gunicorn, as scripts/run.sh: 2 workers x
   4 threads) and to titiler.application's /cog/tiles (4 uvicorn workers) reading the same COG.
4. Point queries: random lon/lat inside the raster (one seeded sequence), the same 8 clients,
   our /api/raster/.../point?lon=&lat= vs titiler's /cog/point/{lon},{lat}?url=<the same COG>.
   While the first round of each runs, established connections per server process are sampled
   with ``ss`` (how keep-alive connections spread over the worker processes).

titiler runs from its own venv (never .venv):

    python3.11 -m venv .cache/bench-venvs/titiler
    .cache/bench-venvs/titiler/bin/pip install titiler.application==2.4.0 'uvicorn[standard]'
    .venv/bin/python bench/raster_tiles.py [--seconds 15] [--rounds 2] [--concurrency 8] [--results NAME]

Our gunicorn takes GEOPLATFORM_WEB_WORKERS / GEOPLATFORM_WEB_THREADS from the environment
(defaults 2 x 4, as scripts/run.sh).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402

DB_NAME = "geoplatform_bench_rasters"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
OURS_PORT, THEIRS_PORT = 8893, 8894  # other benches use 887x/888x
TITILER_VENV = ROOT / ".cache" / "bench-venvs" / "titiler"
WORK = ROOT / "var" / "bench" / "rasters"
STORAGE = WORK / "storage"
SIZE = 8192
PIXEL = 9.554628535647032  # WebMercatorQuad zoom 14 resolution
ORIGIN = (1_000_000.0, 6_000_000.0)  # upper-left, EPSG:3857 (central Europe)
ITEM = "bench-8k"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": DB_URL,
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/13",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_STORAGE_ROOT": str(STORAGE),
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",  # plain http on this machine, as scripts/run.sh
            "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def synthetic_source(path: Path) -> None:
    """Smooth gradients plus noise (compressible like imagery, not trivially), written by strips."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    if path.exists():
        return
    rng = np.random.default_rng(1)
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3, "dtype": "uint8", "crs": "EPSG:3857",
        "transform": from_origin(ORIGIN[0], ORIGIN[1], PIXEL, PIXEL), "tiled": True, "blockxsize": 256,
        "blockysize": 256, "compress": "lzw",
    }  # fmt: skip
    x = np.linspace(0, 8 * np.pi, SIZE, dtype="float32")
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, SIZE, 512):
            y = np.linspace(row / SIZE, (row + 512) / SIZE, 512, dtype="float32")[:, None] * 8 * np.pi
            for band in range(3):
                base = 127 + 60 * np.sin(x[None, :] * (band + 1) / 3 + y) + 40 * np.cos(y * (band + 2) / 2)
                noise = rng.normal(0, 12, (512, SIZE))
                dst.write(np.clip(base + noise, 0, 255).astype("uint8"), band + 1, window=((row, row + 512), (0, SIZE)))


def prepare_database(db_name: str = DB_NAME, env: dict[str, str] | None = None) -> None:
    import psycopg

    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
            admin.execute(f'DROP DATABASE "{db_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db_name}"')
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, cwd=ROOT, env=env or _env(), check=True)


def cog_creation(source: Path, rounds: int = 2) -> dict[str, float]:
    """Seconds to write the analysis COG: our create_cog vs the rio cogeo CLI, same options.

    Alternated, best of ``rounds`` each, so neither side profits from a warmer page cache.
    """
    from rio_cogeo.cogeo import cog_validate

    from rasters import cog

    ours, cli = WORK / "ours-cog.tif", WORK / "cli-cog.tif"
    cli_cmd = [
        str(ROOT / ".venv" / "bin" / "rio"), "cogeo", "create", str(source), str(cli), "--cog-profile", "deflate",
        "--co", "PREDICTOR=2", "--co", "ZLEVEL=6", "--co", "BLOCKXSIZE=512", "--co", "BLOCKYSIZE=512",
        "--overview-resampling", "average", "--threads", "ALL_CPUS", "--quiet",
    ]  # fmt: skip
    ours_s, cli_s = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(cli_cmd, check=True)
        cli_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cog.create_cog(source, ours, tier="analysis", raster_type="rgb")  # includes our validation + decode check
        ours_s.append(time.perf_counter() - t0)
    assert cog_validate(str(cli), quiet=True)[0]
    return {
        "ours_create_cog_s": min(ours_s),
        "rio_cogeo_cli_s": min(cli_s),
        "ours_bytes": ours.stat().st_size,
        "cli_bytes": cli.stat().st_size,
    }


def publish(source: Path) -> tuple[float, str]:
    """Run process_raster stage by stage here (local storage); (seconds, path of the COG)."""
    from django.core.files import File

    from geoplatform.storage import get_storage, zone_container

    bronze = zone_container("bronze")
    with open(source, "rb") as fh:
        get_storage(bronze).save("bench/synthetic-8k.tif", File(fh, name="synthetic-8k.tif"))
    t0 = time.perf_counter()
    raw = {"container_name": bronze, "file_name": "bench/synthetic-8k.tif", "item_id": ITEM, "overwrite": True}
    job_id = run_job_inline("process_raster", raw)
    elapsed = time.perf_counter() - t0
    blob = f"rasters/system-rasters/{ITEM}/{job_id[:16]}/analysis.tif"
    return elapsed, str(get_storage(zone_container("silver")).path(blob))


def run_job_inline(job_type: str, raw_params: dict[str, Any], after_stage: Any = None) -> str:
    """Pre-flight, then every stage's tasks in order in this process (as a worker would); the job id.

    ``after_stage(name, results)`` is called after each stage (e.g. to take a memory reading).
    """
    from ingest import registry
    from ingest.services import job_id_for

    jt = registry.get(job_type)
    params = jt.clean_params(raw_params)
    problems = [p for v in jt.validators for p in v(params)]
    assert not problems, problems
    job_id = job_id_for(job_type, params)
    previous: list[dict[str, Any]] = []
    for index, stage in enumerate(jt.stages):
        results: list[dict[str, Any]] = []
        earlier = previous

        def load_previous(earlier: list[dict[str, Any]] = earlier) -> list[dict[str, Any]]:
            return earlier

        for unit, task_params in enumerate(stage.tasks(params, previous)):
            ctx = registry.TaskContext(
                job_id=job_id, task_id=f"{index}:{unit}", stage_index=index, stage_name=stage.name, params=params,
                task_params=task_params, attempt=1, load_previous=load_previous,
            )  # fmt: skip
            results.append(stage.handler(ctx) or {})
        previous = results
        if after_stage is not None:
            after_stage(stage.name, results)
    return job_id


def tile_paths() -> list[tuple[int, int, int]]:
    import morecantile
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    west, north = to_wgs84.transform(ORIGIN[0], ORIGIN[1])
    east, south = to_wgs84.transform(ORIGIN[0] + SIZE * PIXEL, ORIGIN[1] - SIZE * PIXEL)
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = [(t.z, t.x, t.y) for z in range(10, 15) for t in tms.tiles(west, south, east, north, [z])]
    random.Random(3).shuffle(tiles)
    return tiles


def point_queries(n: int = 2000) -> list[tuple[float, float]]:
    """``n`` random lon/lat points inside the raster (a margin of one pixel), one seeded order."""
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    rng = random.Random(5)
    span = (SIZE - 2) * PIXEL
    points = []
    for _ in range(n):
        x = ORIGIN[0] + PIXEL + rng.random() * span
        y = ORIGIN[1] - PIXEL - rng.random() * span
        lon, lat = to_wgs84.transform(x, y)
        points.append((round(lon, 7), round(lat, 7)))
    return points


def connections_per_process(port: int, seconds: float, every: float = 1.0) -> list[list[int]]:
    """Sampled ``ss`` snapshots: established connections to ``port`` counted per owning process.

    Each sample is the per-process counts sorted descending (e.g. [4, 2, 1, 1]: one process holds
    half of the 8 clients). Only our own child processes are looked at.
    """
    samples: list[list[int]] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        out = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True
        ).stdout
        counts: dict[str, int] = {}
        for pid in re.findall(r"pid=(\d+)", out):
            counts[pid] = counts.get(pid, 0) + 1
        if counts:
            samples.append(sorted(counts.values(), reverse=True))
        time.sleep(every)
    return samples


def compare(
    label: str,
    ours_urls: list[str],
    theirs_urls: list[str],
    seconds: float,
    rounds: int,
    concurrency: int,
) -> dict[str, Any]:
    """Warm-up, then alternating rounds ours/titiler (the first round of each with ``ss`` samples)."""
    out: dict[str, Any] = {"ours": [], "titiler": [], "connections": {}}
    load(OURS_PORT, ours_urls, 3, concurrency)  # warm-up: connections, GDAL caches
    load(THEIRS_PORT, theirs_urls, 3, concurrency)
    for index in range(rounds):
        for name, port, urls in (("ours", OURS_PORT, ours_urls), ("titiler", THEIRS_PORT, theirs_urls)):
            sampler: dict[str, Any] = {}
            thread = None
            if index == 0:
                thread = threading.Thread(
                    target=lambda p=port, into=sampler: into.update(s=connections_per_process(p, seconds - 1))
                )
                thread.start()
            out[name].append(load(port, urls, seconds, concurrency))
            if thread is not None:
                thread.join()
                out["connections"][name] = sampler.get("s", [])
    print(f"{label}: done", flush=True)
    return out


group_rss_mib = common.group_rss_mib  # (moved to bench/common.py)


def load(port: int, urls: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    return common.load(port, [("GET", url, None) for url in urls], seconds, concurrency)


def main() -> None:
    args = common.load_parser(__doc__, results="raster_tiles").parse_args()
    if not (TITILER_VENV / "bin" / "uvicorn").exists():
        sys.exit(f"titiler is not installed in {TITILER_VENV} (see this script's docstring)")
    load_before = os.getloadavg()
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(STORAGE, ignore_errors=True)
    source = WORK / "synthetic-8k.tif"
    print("making the synthetic 8192x8192 source ...")
    synthetic_source(source)
    prepare_database()
    env = _env()
    os.environ.update({k: v for k, v in env.items() if k.startswith(("GEOPLATFORM_", "DJANGO_"))})
    import django

    django.setup()
    creation = cog_creation(source)
    publish_s, cog_path = publish(source)
    creation["ours_process_raster_job_s"] = publish_s
    from django.db import connection

    connection.close()

    logs = WORK / "logs"
    logs.mkdir(exist_ok=True)
    ours = common.start_ours(OURS_PORT, env, logs / "ours.log")
    theirs = common.start_peer(TITILER_VENV, ["titiler.application.main:app"], THEIRS_PORT, {}, logs / "titiler.log")
    tiles = tile_paths()
    ours_urls = [f"/api/raster/system-rasters/{ITEM}/tiles/WebMercatorQuad/{z}/{x}/{y}.png" for z, x, y in tiles]
    theirs_urls = [f"/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url={cog_path}" for z, x, y in tiles]
    points = point_queries()
    ours_points = [f"/api/raster/system-rasters/{ITEM}/point?lon={lon}&lat={lat}" for lon, lat in points]
    theirs_points = [f"/cog/point/{lon},{lat}?url={cog_path}" for lon, lat in points]
    try:
        common.wait_http(OURS_PORT, ours_urls[0])
        common.wait_http(THEIRS_PORT, theirs_urls[0])
        common.wait_http(OURS_PORT, ours_points[0])
        common.wait_http(THEIRS_PORT, theirs_points[0])
        loads = (args.seconds, args.rounds, args.concurrency)
        results = compare("tiles", ours_urls, theirs_urls, *loads)
        rss_after_tiles = {"ours": group_rss_mib(ours), "titiler": group_rss_mib(theirs)}
        point_results = compare("points", ours_points, theirs_points, *loads)
    finally:
        common.stop(ours)
        common.stop(theirs)

    print("\nCOG creation, 8192x8192x3 uint8 (analysis: DEFLATE, predictor 2, 512 blocks, average overviews)")
    print("| step | seconds | bytes |\n|---|---|---|")
    print(f"| ours rasters.cog.create_cog | {creation['ours_create_cog_s']:.2f} | {creation['ours_bytes']:.0f} |")
    print(f"| rio cogeo create (CLI) | {creation['rio_cogeo_cli_s']:.2f} | {creation['cli_bytes']:.0f} |")
    print(f"| ours whole process_raster job (pre-flight, COG, stats, STAC) | {publish_s:.2f} | |")
    print(
        f"ratio create_cog / CLI: {creation['ours_create_cog_s'] / creation['rio_cogeo_cli_s']:.2f}x (lower is better)"
    )

    threads = common.web_config(env)
    for title, res in (
        (f"PNG tiles z10-14 ({len(tiles)} distinct)", results),
        (f"point queries ({len(points)} random points inside the raster)", point_results),
    ):
        print(f"\n{title}, concurrency {args.concurrency}, ours gunicorn {threads}")
        common.print_rounds(res, "titiler")
        for name, samples in res["connections"].items():
            print(f"established connections per process ({name}, sampled each second): {samples}")
    print(
        f"server RSS after the tile rounds, MiB (all processes): {rss_after_tiles}; {common.rss_ratio(rss_after_tiles, 'titiler')}"
    )
    print(f"load average before the run: {load_before}; after: {os.getloadavg()}")
    out = common.results_path(args.results)
    doc = {
        "gunicorn": threads,
        "cog_creation": creation,
        "tiles": results,
        "distinct_tiles": len(tiles),
        "points": point_results,
        "rss_mib_after_tiles": rss_after_tiles,
        "load_average_start": load_before,
        "load_average_end": os.getloadavg(),
    }
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
