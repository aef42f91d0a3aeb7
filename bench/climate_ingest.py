"""Virtualize N CMIP6-named daily NetCDF files through the job engine vs VirtualiZarr called
directly in one process (the floor); then a point time series on one-step chunks (the virtual
dataset) vs the rechunked Zarr v3 copy.

1. N small NetCDF4 files (``tas_day_BENCH_ssp245_r1i1p1f1_gn_<start>-<end>.nc``: 30 daily steps
   of a 360_day calendar, 18x36 grid, one step per chunk) are written once to
   var/bench/climate-storage/bench-bronze/series/.
2. Ours: ``virtualize_climate`` submitted to a real Dramatiq worker (``--workers`` processes)
   on a dedicated database (``geoplatform_bench_climate``) and local storage: plan -> one
   reference task per file -> combine -> STAC item. Timed from submit to completion; the silver
   zone's bytes are compared with the sources' (no data byte may be copied).
3. Floor: VirtualiZarr 2.5.1 ``open_virtual_dataset`` per file (HDFParser, obstore LocalStore),
   ``xr.concat`` along time and ``.vz.to_kerchunk`` in this one process (no job engine, no
   database, no STAC).
4. Point series: ``rechunk_climate`` makes the time-chunked copy; the time series at one grid
   cell is read ``--reps`` times from each (fresh opens), median reported.

    .venv/bin/python bench/climate_ingest.py [--files 1000] [--workers 2] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "geoplatform_bench_climate"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
STORAGE = ROOT / "var" / "bench" / "climate-storage"
CONTAINER = "bench-bronze"
PREFIX = "series"
ITEM = "bench-series"


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
            "GEOPLATFORM_BRONZE_CONTAINER": CONTAINER,
            "GEOPLATFORM_SILVER_CONTAINER": "bench-silver",
            "GEOPLATFORM_UPLOAD_CONTAINERS": CONTAINER,
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def prepare_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            admin.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=_env(), check=True)


def make_files(n: int) -> list[Path]:
    """N monthly files of 30 daily steps each (360_day calendar), written once and reused."""
    import netCDF4
    import numpy as np

    folder = STORAGE / CONTAINER / PREFIX
    marker = folder / f".made-{n}"
    if marker.exists():
        return sorted(folder.glob("*.nc"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    rng = np.random.default_rng(7)
    started = time.monotonic()
    for k in range(n):
        year, month = 2015 + k // 12, k % 12 + 1
        name = f"tas_day_BENCH_ssp245_r1i1p1f1_gn_{year:04d}{month:02d}01-{year:04d}{month:02d}30.nc"
        with netCDF4.Dataset(folder / name, "w", format="NETCDF4") as nc:
            nc.createDimension("time", None)
            nc.createDimension("lat", 18)
            nc.createDimension("lon", 36)
            t = nc.createVariable("time", "f8", ("time",), chunksizes=(30,))
            t.units, t.calendar, t.axis = "days since 2015-01-01", "360_day", "T"
            t[:] = np.arange(k * 30, k * 30 + 30, dtype="f8")
            lat = nc.createVariable("lat", "f4", ("lat",))
            lat.units, lat.axis = "degrees_north", "Y"
            lat[:] = np.linspace(-85, 85, 18)
            lon = nc.createVariable("lon", "f4", ("lon",))
            lon.units, lon.axis = "degrees_east", "X"
            lon[:] = np.linspace(0, 350, 36)
            tas = nc.createVariable("tas", "f4", ("time", "lat", "lon"), chunksizes=(1, 18, 36))
            tas.units, tas.standard_name = "K", "air_temperature"
            tas[:] = (280 + 10 * rng.standard_normal((30, 18, 36))).astype("f4")
    marker.touch()
    print(f"wrote {n} files in {time.monotonic() - started:.1f}s")
    return sorted(folder.glob("*.nc"))


def _wait(job_id: str) -> Any:
    from ingest.models import Job

    while True:
        job = Job.objects.get(pk=job_id)
        if job.status in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.2)


def args_workers(workers: int) -> int:
    return max(1, workers)


def run_ours(n: int, workers: int, reps: int) -> dict[str, float]:
    env = _env()
    log = open(ROOT / "var" / "bench" / "climate-worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rundramatiq", "--processes", str(workers), "--threads", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith(("GEOPLATFORM_", "DJANGO_"))})
        import django

        django.setup()
        from climate import datasets
        from climate.services import climate_unpublish
        from ingest.services import job_submit

        climate_unpublish(collection_id="system-zarr", item_id=ITEM, dry_run=False)
        # Warm-up: the worker processes start (Django, imports) before the clock starts.
        first = sorted(p.name for p in (STORAGE / CONTAINER / PREFIX).glob("*.nc"))[: args_workers(workers)]
        for name in first:
            warm = job_submit(
                job_type="inventory_climate",
                parameters={"container_name": CONTAINER, "file_name": f"{PREFIX}/{name}"},
                force=True,
            )
            _wait(warm.job.id)
        params = {
            "container_name": CONTAINER,
            "prefix": PREFIX,
            "file_pattern": "tas_*.nc",
            "item_id": ITEM,
            "overwrite": True,
        }
        started = time.monotonic()
        job = _wait(job_submit(job_type="virtualize_climate", parameters=params, force=True).job.id)
        elapsed = time.monotonic() - started
        if job.status != "completed":
            raise RuntimeError(f"virtualize_climate {job.status}: {job.error}")
        assert job.result["files"] == n, job.result
        silver = sum(p.stat().st_size for p in (STORAGE / "bench-silver").rglob("*") if p.is_file())
        sources = sum(p.stat().st_size for p in (STORAGE / CONTAINER / PREFIX).glob("*.nc"))

        rechunk = _wait(job_submit(job_type="rechunk_climate", parameters={"item_id": ITEM}, force=True).job.id)
        if rechunk.status != "completed":
            raise RuntimeError(f"rechunk_climate {rechunk.status}: {rechunk.error}")
        timings: dict[str, list[float]] = {"references": [], "rechunked": []}
        for _ in range(reps):
            for asset in timings:
                datasets.dataset_cache_clear()
                ds = datasets.dataset_open("system-zarr", ITEM, asset=asset)
                t0 = time.perf_counter()
                series = ds.tas.isel(lat=9, lon=20).values
                timings[asset].append(time.perf_counter() - t0)
                assert series.shape == (n * 30,)
        return {
            "seconds": elapsed,
            "silver_bytes": silver,
            "source_bytes": sources,
            "point_virtual_s": statistics.median(timings["references"]),
            "point_rechunked_s": statistics.median(timings["rechunked"]),
        }
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def run_floor(files: list[Path]) -> float:
    """VirtualiZarr directly: one process, no engine, no catalogue."""
    import xarray as xr
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore
    from virtualizarr import open_virtual_dataset
    from virtualizarr.parsers import HDFParser

    registry = ObjectStoreRegistry({"file://": LocalStore()})
    parser = HDFParser()
    started = time.monotonic()
    parts = [
        open_virtual_dataset(
            url=f"file://{p}", registry=registry, parser=parser, loadable_variables=["time", "lat", "lon"]
        )
        for p in files
    ]
    combined = xr.concat(parts, dim="time", coords="minimal", compat="override", combine_attrs="override")
    refs = combined.vz.to_kerchunk(format="dict")
    assert refs
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    files = make_files(args.files)
    prepare_database()
    floor = run_floor(files)
    ours = run_ours(args.files, args.workers, args.reps)
    print("| step | ours | floor (VirtualiZarr, one process) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| virtualize {args.files} files | {ours['seconds']:.1f} s | {floor:.1f} s | {ours['seconds'] / floor:.2f}x |"
    )
    print(
        f"silver zone after virtualize (references only): {ours['silver_bytes'] / 1e6:.2f} MB; sources {ours['source_bytes'] / 1e6:.1f} MB"
    )
    print(
        f"| point series ({args.files * 30} steps) | virtual {ours['point_virtual_s'] * 1000:.0f} ms | "
        f"rechunked {ours['point_rechunked_s'] * 1000:.0f} ms | {ours['point_virtual_s'] / ours['point_rechunked_s']:.1f}x |"
    )


if __name__ == "__main__":
    main()
