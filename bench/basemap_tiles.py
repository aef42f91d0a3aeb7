"""Basemap tiles: our /api/raster/basemap tiles vs titiler serving the same relief COG.

Two workloads, each the same shuffled sequence of PNG tiles sent by 8 keep-alive clients:
"distinct" (every tile of zooms 0-5: 1365 tiles, nearly all cache misses in a short round) and
"hot" (the 85 tiles of zooms 0-3 over and over: what map pages ask for most), to:
- ours, rendering every tile (GEOPLATFORM_BASEMAP_CACHE_TILES=0): relief read + country
  outlines rasterized + PNG encoded;
- ours with the default in-process tile cache (2048 tiles per worker process);
- titiler.application's /cog/tiles over rasters/basemap/relief.tif (relief only, no outlines:
  less work than ours).
Ours runs as scripts/run.sh runs it (gunicorn 4 workers x 2 threads); titiler with 4 uvicorn
workers. The basemap routes touch no database; the server still needs its settings.

    .venv/bin/python bench/basemap_tiles.py [--seconds 15] [--rounds 2] [--concurrency 8]

titiler's venv: see bench/raster_tiles.py.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402

NOCACHE_PORT, CACHED_PORT, TITILER_PORT = 8961, 8962, 8963  # other benches use 887x-889x
TITILER_VENV = ROOT / ".cache" / "bench-venvs" / "titiler"
RELIEF = ROOT / "rasters" / "basemap" / "relief.tif"
WORK = ROOT / "var" / "bench" / "basemap"


def _env(cache_tiles: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": env.get(
                "GEOPLATFORM_DATABASE_URL", "postgresql://root@127.0.0.1:5432/postgres"
            ),
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_STORAGE_ROOT": str(WORK / "storage"),
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
            "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "GEOPLATFORM_BASEMAP_CACHE_TILES": str(cache_tiles),
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def tiles(maxzoom: int) -> list[tuple[int, int, int]]:
    out = [(z, x, y) for z in range(maxzoom + 1) for x in range(2**z) for y in range(2**z)]
    random.Random(5).shuffle(out)
    return out


def main() -> None:
    args = common.load_parser(__doc__, results="basemap_tiles").parse_args()
    if not (TITILER_VENV / "bin" / "uvicorn").exists():
        sys.exit(f"titiler is not installed in {TITILER_VENV} (see bench/raster_tiles.py)")
    load_before = os.getloadavg()
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    workloads = {"distinct z0-5": tiles(5), "hot z0-3": tiles(3)}
    procs = {
        "ours (no cache)": (common.start_ours(NOCACHE_PORT, _env(0), logs / "nocache.log"), NOCACHE_PORT),
        "ours (cached)": (common.start_ours(CACHED_PORT, _env(2048), logs / "cached.log"), CACHED_PORT),
        "titiler": (
            common.start_peer(TITILER_VENV, ["titiler.application.main:app"], TITILER_PORT, {}, logs / "titiler.log"),
            TITILER_PORT,
        ),
    }

    def urls(name: str, sequence: list[tuple[int, int, int]]) -> list[str]:
        if name == "titiler":
            return [f"/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url={RELIEF}" for z, x, y in sequence]
        return [f"/api/raster/basemap/tiles/{z}/{x}/{y}.png" for z, x, y in sequence]

    runs: dict[str, dict[str, list[dict[str, float]]]] = {w: {name: [] for name in procs} for w in workloads}
    try:
        for name, (_proc, port) in procs.items():
            common.wait_http(port, urls(name, [(0, 0, 0)])[0])
        for workload, sequence in workloads.items():
            for name, (_proc, port) in procs.items():
                common.load(port, [("GET", u, None) for u in urls(name, sequence)], 3, args.concurrency)  # warm-up
            for _ in range(args.rounds):
                for name, (_proc, port) in procs.items():
                    requests = [("GET", u, None) for u in urls(name, sequence)]
                    runs[workload][name].append(common.load(port, requests, args.seconds, args.concurrency))
    finally:
        for proc, _port in procs.values():
            common.stop(proc)
    mean: dict[str, dict[str, float]] = {}
    for workload, by_server in runs.items():
        print(f"\nPNG basemap tiles, {workload} ({len(workloads[workload])} distinct), concurrency {args.concurrency}")
        print("| server | round | requests | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|")
        for name, rounds in by_server.items():
            for i, r in enumerate(rounds, 1):
                print(
                    f"| {name} | {i} | {r['requests']:.0f} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                    f"| {r['errors']:.0f} |"
                )
        mean[workload] = {name: statistics.mean(r["rps"] for r in rounds) for name, rounds in by_server.items()}
        for name in ("ours (no cache)", "ours (cached)"):
            print(f"{name} / titiler: {mean[workload][name] / mean[workload]['titiler']:.2f}x")
    print(f"load average before the run: {load_before}; after: {os.getloadavg()}")
    out = ROOT / "bench" / "results" / f"{args.results}.json"
    doc: dict[str, Any] = {
        "runs": runs,
        "mean_rps": mean,
        "load_average_start": load_before,
        "load_average_end": os.getloadavg(),
    }
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
