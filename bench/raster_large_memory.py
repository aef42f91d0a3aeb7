"""Peak memory of ``process_raster`` by windows (a large file) on a raster larger than a chosen memory cap.

1. A synthetic ``--size`` x ``--size`` 3-band uint8 GeoTIFF (EPSG:3857, gradients + noise,
   uncompressed, tiled) is written strip by strip in var/bench/rasters-large/, so this
   generator never holds more than one 512-row strip.
2. A child process (the "worker": Django set up on a dedicated database
   ``geoplatform_bench_rasters_large`` and local storage) runs every ``process_raster``
   stage (``processing=windows``) in order, in-process, with ``--window-size`` windows (as one worker of the long queue
   would run all of them one after the other). After each stage it reads its own peak RSS
   (``VmHWM`` in /proc/self/status) and resets it (``echo 5 > /proc/self/clear_refs``), so each
   stage's peak is its own. The worker's peak is the highest of those (the ``wait4()``
   ru_maxrss of the child is also printed, but the resets lower it).
3. The COG is checked with ``rio_cogeo.cogeo.cog_validate()`` and a few random windows are
   compared pixel for pixel with the source.

    .venv/bin/python bench/raster_large_memory.py [--size 16000] [--window-size 2048]
        [--cap-mb 512] [--gdal-cachemax MB]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import raster_tiles  # noqa: E402  (shares the job runner, the database reset and the constants)

DB_NAME = "geoplatform_bench_rasters_large"
WORK = ROOT / "var" / "bench" / "rasters-large"
STORAGE = WORK / "storage"
BRONZE, SILVER = "bench-large-bronze", "bench-large-silver"
ITEM = "bench-large"


def _env(gdal_cachemax: str | None) -> dict[str, str]:
    env = raster_tiles._env()
    env.update(
        {
            "GEOPLATFORM_DATABASE_URL": f"postgresql://root@127.0.0.1:5432/{DB_NAME}",
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/14",
            "GEOPLATFORM_STORAGE_ROOT": str(STORAGE),
            "GEOPLATFORM_BRONZE_CONTAINER": BRONZE,
            "GEOPLATFORM_SILVER_CONTAINER": SILVER,
            "GEOPLATFORM_EXTERNAL_CONTAINER": "bench-large-external",
            "GEOPLATFORM_UPLOAD_CONTAINERS": BRONZE,
        }
    )
    if gdal_cachemax:
        env["GDAL_CACHEMAX"] = gdal_cachemax
    else:
        env.pop("GDAL_CACHEMAX", None)
    return env


def synthetic_source(path: Path, size: int) -> None:
    """Gradients + noise, uncompressed and tiled, written 512 rows at a time."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    if path.exists():
        return
    rng = np.random.default_rng(7)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": "EPSG:3857",
        "transform": from_origin(*raster_tiles.ORIGIN, raster_tiles.PIXEL, raster_tiles.PIXEL), "tiled": True,
        "blockxsize": 256, "blockysize": 256, "BIGTIFF": "IF_SAFER",
    }  # fmt: skip
    x = np.linspace(0, 8 * np.pi, size, dtype="float32")
    tmp = path.with_suffix(".partial.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, size, 512):
            rows = min(512, size - row)
            y = np.linspace(row / size, (row + rows) / size, rows, dtype="float32")[:, None] * 8 * np.pi
            for band in range(3):
                base = 127 + 60 * np.sin(x[None, :] * (band + 1) / 3 + y) + 40 * np.cos(y * (band + 2) / 2)
                base += rng.standard_normal((rows, size), dtype="float32") * 12
                dst.write(np.clip(base, 0, 255).astype("uint8"), band + 1, window=((row, row + rows), (0, size)))
    tmp.rename(path)


def _vm(field: str) -> int:
    """A /proc/self/status field in bytes (VmHWM: peak RSS, VmRSS: current)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(source: Path, window_size: int) -> None:
    """The worker side: Django, then every process_raster stage (by windows) here; JSON on the last line."""
    import django

    django.setup()
    from geoplatform.storage import get_storage

    name = f"bench/{source.name}"
    target = Path(get_storage(BRONZE).path(name))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.link(source, target)  # same file system: no copy, no memory
    stages: list[dict[str, Any]] = [
        {"stage": "startup (django, imports)", "peak_rss": _vm("VmHWM"), "rss_after": _vm("VmRSS"), "seconds": 0.0}
    ]
    resettable = _reset_peak()
    clock = [time.perf_counter()]

    def after_stage(stage: str, results: list[dict[str, Any]]) -> None:
        now = time.perf_counter()
        stages.append(
            {
                "stage": stage,
                "tasks": len(results),
                "peak_rss": _vm("VmHWM"),
                "rss_after": _vm("VmRSS"),  # what the stage left held (GDAL block cache, malloc arenas)
                "seconds": now - clock[0],
            }
        )
        _reset_peak()
        clock[0] = time.perf_counter()

    t0 = time.perf_counter()
    job_id = raster_tiles.run_job_inline(
        "process_raster",
        {
            "container_name": BRONZE,
            "file_name": name,
            "item_id": ITEM,
            "overwrite": True,
            "window_size": window_size,
            "processing": "windows",
        },
        after_stage=after_stage,
    )
    elapsed = time.perf_counter() - t0
    cog_path = get_storage(SILVER).path(f"rasters/system-rasters/{ITEM}/{job_id[:16]}/analysis.tif")
    print(
        json.dumps({"stages": stages, "job_s": elapsed, "cog": str(cog_path), "per_stage_reset": resettable}),
        flush=True,
    )


def check_output(source: Path, cog_path: Path) -> dict[str, Any]:
    import numpy as np
    import rasterio
    from rasterio.windows import Window
    from rio_cogeo.cogeo import cog_validate

    valid, errors, warnings = cog_validate(str(cog_path), quiet=True)
    rng = random.Random(11)
    same = True
    with rasterio.open(source) as a, rasterio.open(cog_path) as b:
        assert (a.width, a.height, a.count, a.crs, a.transform) == (b.width, b.height, b.count, b.crs, b.transform)
        for _ in range(4):
            win = Window(rng.randrange(0, a.width - 512), rng.randrange(0, a.height - 512), 512, 512)
            same = same and bool(np.array_equal(a.read(window=win), b.read(window=win)))
        overviews = b.overviews(1)
    return {
        "cog_valid": valid,
        "cog_errors": errors,
        "cog_warnings": warnings,
        "pixels_equal_4_windows": same,
        "overviews": overviews,
        "cog_bytes": cog_path.stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=16000)
    parser.add_argument("--window-size", type=int, default=2048)
    parser.add_argument("--cap-mb", type=int, default=512, help="the memory cap the raster must exceed")
    parser.add_argument("--gdal-cachemax", default=None, help="GDAL_CACHEMAX for the worker (default: GDAL's)")
    parser.add_argument("--results", default="raster_large_memory", help="bench/results/<NAME>.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.window_size)
        return

    raw_bytes = args.size * args.size * 3
    cap = args.cap_mb * 1024**2
    if raw_bytes <= cap:
        sys.exit(f"the raster ({raw_bytes} bytes) must be larger than the cap ({cap} bytes)")
    WORK.mkdir(parents=True, exist_ok=True)
    source = WORK / f"synthetic-{args.size}.tif"
    print(f"making the synthetic {args.size}x{args.size}x3 source ...", flush=True)
    t0 = time.perf_counter()
    synthetic_source(source, args.size)
    print(f"  {time.perf_counter() - t0:.1f} s, {source.stat().st_size} bytes", flush=True)
    env = _env(args.gdal_cachemax)
    raster_tiles.prepare_database(DB_NAME, env)
    import shutil

    shutil.rmtree(STORAGE / SILVER, ignore_errors=True)
    load_before = os.getloadavg()
    cmd = [sys.executable, __file__, "--child", str(source), "--window-size", str(args.window_size)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"the worker process failed ({proc.returncode})")
    report = json.loads(out.strip().splitlines()[-1])
    # ru_maxrss is the kernel's high-water mark at exit, which the per-stage resets lower: the
    # process's true peak is the larger of it and the highest per-stage peak.
    wait4_peak = usage.ru_maxrss * 1024  # kB on Linux
    child_peak = max(wait4_peak, *(s["peak_rss"] for s in report["stages"]))
    checks = check_output(source, Path(report["cog"]))

    mb = 1024**2
    print(
        f"\nprocess_raster by windows, {args.size}x{args.size}x3 uint8 = {raw_bytes / mb:.0f} MiB uncompressed "
        f"(cap {args.cap_mb} MiB), window {args.window_size} px, GDAL_CACHEMAX={args.gdal_cachemax or 'default'}"
    )
    print("| stage | tasks | seconds | peak RSS MiB | RSS after MiB | peak RSS / raster |\n|---|---|---|---|---|---|")
    for s in report["stages"]:
        print(
            f"| {s['stage']} | {s.get('tasks', '')} | {s['seconds']:.1f} | {s['peak_rss'] / mb:.0f} "
            f"| {s['rss_after'] / mb:.0f} "
            f"| {s['peak_rss'] / raw_bytes:.2f} |"
        )
    print(
        f"| whole worker process (max of stages, wait4 {wait4_peak / mb:.0f}) | | {wall:.1f} | {child_peak / mb:.0f} "
        f"| | {child_peak / raw_bytes:.2f} |"
    )
    print(f"job {report['job_s']:.1f} s; peak RSS / raster size = {child_peak / raw_bytes:.2f}")
    print(f"peak RSS below the {args.cap_mb} MiB cap: {child_peak < cap}")
    print(f"COG: {json.dumps(checks)}")
    print(f"load average before {load_before}, after {os.getloadavg()}")
    doc = {
        "size": args.size,
        "window_size": args.window_size,
        "raster_bytes": raw_bytes,
        "source_file_bytes": source.stat().st_size,
        "cap_bytes": cap,
        "gdal_cachemax": args.gdal_cachemax,
        "worker_peak_rss_bytes": child_peak,
        "wait4_ru_maxrss_bytes": wait4_peak,
        "ratio_peak_rss_to_raster": child_peak / raw_bytes,
        "wall_s": wall,
        **report,
        **checks,
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    (ROOT / "bench" / "results" / f"{args.results}.json").write_text(json.dumps(doc, indent=2))
    print(f"wrote bench/results/{args.results}.json")


if __name__ == "__main__":
    main()
