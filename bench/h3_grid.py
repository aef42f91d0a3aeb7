"""The land H3 pyramid, res 2-7, end to end: bootstrap_h3_grid on real Dramatiq workers into a
dedicated database (plan, one batch per res-0 cell, finalise), timed from submit to
`completed`, with the peak RSS of the worker processes (sampled every 0.2 s).

The floor in the same run: h3's own polygon fill (C, ``h3shape_to_cells_experimental`` with
contain='overlap') of the same land polygons at res 2-6, cells only, in one process, against
our computation of the same resolutions (cells and country shares) in one process, no database.
Res 7 is left out of the floor: h3 returns Python ints, and a set of 28 M of them needs GBs.

    .venv/bin/python bench/h3_grid.py [--workers 2] [--max-res 7] [--floor-res 6] [--keep-db]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "geoplatform_bench_h3grid"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": DB_URL,
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/3",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_STORAGE_ROOT": str(ROOT / "var" / "bench" / "h3grid-storage"),
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def prepare_database(keep: bool) -> None:
    import psycopg

    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if exists and not keep:
            admin.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
        if not exists or not keep:
            admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=_env(), check=True)


def _group_rss_mb(pgid: int) -> tuple[float, float]:
    """(total, largest process) resident memory of the processes of one process group (MB)."""
    total = largest = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        largest = max(largest, int(line.split()[1]))
        except (OSError, ProcessLookupError):
            continue
    return total / 1024, largest / 1024


def run_ours(workers: int, max_res: int) -> tuple[float, list[float], dict[str, object]]:
    env = _env()
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "var" / "bench" / "h3grid-worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rundramatiq", "--processes", str(workers), "--threads", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    peak = [0.0, 0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total, largest = _group_rss_mb(worker.pid)
            peak[0], peak[1] = max(peak[0], total), max(peak[1], largest)
            stop.wait(0.2)

    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith(("GEOPLATFORM_", "DJANGO_"))})
        import django

        django.setup()
        from ingest.models import Job, WorkerHeartbeat
        from ingest.services import job_submit

        while WorkerHeartbeat.objects.count() < workers:  # the worker processes are up
            time.sleep(0.5)
        idle = _group_rss_mb(worker.pid)
        threading.Thread(target=sample, daemon=True).start()
        started = time.monotonic()
        outcome = job_submit(job_type="bootstrap_h3_grid", parameters={"max_res": max_res}, force=True)
        while True:
            job = Job.objects.get(pk=outcome.job.id)
            if job.status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        stop.set()
        if job.status != "completed":
            raise RuntimeError(f"bootstrap_h3_grid {job.status}: {job.error}")
        print(f"worker RSS idle: {idle[0]:.0f} MB in all, {idle[1]:.0f} MB the largest process")
        return elapsed, peak, dict(job.result or {})
    finally:
        stop.set()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)


def floor(max_res: int) -> tuple[float, float, dict[int, int], dict[int, int]]:
    """(h3 fill seconds, our computation seconds, h3's counts, our counts) for res 2..max_res."""
    import h3
    import h3.api.basic_int as h3int
    import shapely

    from h3grid import grid

    codes, geoms = grid.shipped_rows()
    started = time.monotonic()
    theirs: dict[int, int] = {}
    for res in range(2, max_res + 1):
        cells: set[int] = set()
        for geom in geoms:
            # Polygons spanning > 180 degrees of longitude are taken by h3 for antimeridian
            # crossers: cut into 90-degree slices (the union's overlap fill is the same).
            for x in range(-180, 180, 90):
                piece = shapely.clip_by_rect(geom, x, -90, x + 90, 90)
                if not piece.is_empty and piece.area > 0:
                    shape = h3.geo_to_h3shape(piece)
                    cells.update(h3int.h3shape_to_cells_experimental(shape, res, contain="overlap"))
        theirs[res] = len(cells)
        del cells
    h3_seconds = time.monotonic() - started
    started = time.monotonic()
    land = grid.land_build(codes, geoms)
    ours: dict[int, int] = {}
    for coarse in grid.coarse_cells_for(land):
        for level in grid.batch_levels(coarse, land, min_res=2, max_res=max_res):
            # The grid also holds the sea parents of land cells (closure under parent): h3's fill
            # has only the overlapping cells, so those are compared.
            ours[level.res] = ours.get(level.res, 0) + len(level.cell) - level.closure
    return h3_seconds, time.monotonic() - started, theirs, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-res", type=int, default=7)
    parser.add_argument("--floor-res", type=int, default=6)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    h3_s, ours_s, theirs, ours = floor(args.floor_res)
    print(f"\nfloor, res 2-{args.floor_res}, one process, no database")
    print("| computation | seconds | cells per res |")
    print("|---|---|---|")
    print(f"| h3 polygon fill (overlap), cells only | {h3_s:.1f} | {theirs} |")
    print(f"| h3grid.grid (cells + shares; overlap cells counted) | {ours_s:.1f} | {ours} |")
    print(f"ratio (h3 seconds / ours): {h3_s / ours_s:.2f}x; same cells: {theirs == ours}")
    prepare_database(args.keep_db)
    print(f"\nload average before the job: {os.getloadavg()}")
    elapsed, peak, result = run_ours(args.workers, args.max_res)
    print(f"\nbootstrap_h3_grid res 2-{args.max_res}, {args.workers} worker processes, end to end")
    print(
        f"time {elapsed:.0f} s ({elapsed / 60:.1f} min), peak worker RSS {peak[0]:.0f} MB in all, {peak[1]:.0f} MB the largest process"
    )
    print(f"cells per res: {result.get('cells')}")
    print(f"geometry tested per res: {result.get('geometry_tested')}")
    print(f"orphans per res: {result.get('orphans')}, countries: {result.get('countries')}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
