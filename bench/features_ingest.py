"""Vector ingest: process_vector (real Dramatiq workers) vs `ogr2ogr -f PostgreSQL` (PG_USE_COPY).

Both load the SAME synthetic GeoPackage of N points (default 1,000,000; EPSG:3857 so both
reproject to EPSG:4326) into the same dedicated database, and both end with a GIST index
and ANALYZE. Prints wall-clock seconds, features/s and the ratio (ogr2ogr time / ours).

    .venv/bin/python bench/features_ingest.py [--points 1000000] [--workers 2] [--chunk-rows 100000] [--keep-db]

Ours: `manage.py rundramatiq` with --workers processes (1 thread each) on local storage,
submit through ingest.services.job_submit, wait for `completed`. The time includes the
validate scan, all chunk tasks, indexes, ANALYZE and the swap.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "geoplatform_bench_features"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
STORAGE = ROOT / "var" / "bench" / "features-storage"
CONTAINER = "bench-bronze"
FILE = "points.gpkg"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": DB_URL,
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/12",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_STORAGE_ROOT": str(STORAGE),
            "GEOPLATFORM_BRONZE_CONTAINER": CONTAINER,
            "GEOPLATFORM_UPLOAD_CONTAINERS": CONTAINER,
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",  # plain http on this machine, as scripts/run.sh
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
    # Always migrate: a kept database still needs the code's newest migrations.
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=_env(), check=True)


def make_points(n: int) -> Path:
    """N random points in Web Mercator with a few typed attributes (written once, reused)."""
    import numpy as np
    import pyarrow as pa
    import pyogrio
    import shapely

    target = STORAGE / CONTAINER / FILE
    marker = target.with_suffix(f".{n}")
    if target.exists() and marker.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    for old in target.parent.glob("points.*"):
        old.unlink()
    rng = np.random.default_rng(42)
    x = rng.uniform(-2e7, 2e7, n)
    y = rng.uniform(-1.5e7, 1.5e7, n)
    geoms = shapely.points(x, y)
    table = pa.table(
        {
            "name": pa.array([f"p{i}" for i in range(n)]),
            "value": pa.array(rng.normal(size=n)),
            "category": pa.array(rng.integers(0, 50, n), pa.int32()),
            "geometry": pa.array(shapely.to_wkb(geoms), pa.binary()),
        }
    )
    started = time.monotonic()
    pyogrio.write_arrow(table, target, layer="points", driver="GPKG", geometry_name="geometry",
                        geometry_type="Point", crs="EPSG:3857")  # fmt: skip
    marker.touch()
    print(f"wrote {n} points to {target} in {time.monotonic() - started:.1f}s ({target.stat().st_size / 1e6:.0f} MB)")
    return target


def run_ours(n: int, workers: int, chunk_rows: int) -> float:
    env = _env()
    log = open(ROOT / "var" / "bench" / "features-worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rundramatiq", "--processes", str(workers), "--threads", "1"],
        cwd=ROOT, env={**env, "dramatiq_worker_timeout": "100"}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith(("GEOPLATFORM_", "DJANGO_"))})
        import django

        django.setup()
        from features.services import dataset_unpublish
        from ingest.models import Job
        from ingest.services import job_submit

        dataset_unpublish(collection_id="bench_points", dry_run=False)
        time.sleep(3)  # the worker's first heartbeat
        params = {"file_name": FILE, "table_name": "bench_points", "chunk_rows": chunk_rows, "overwrite": True}
        started = time.monotonic()
        outcome = job_submit(job_type="process_vector", parameters=params, force=True)
        while True:
            job = Job.objects.get(pk=outcome.job.id)
            if job.status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        if job.status != "completed":
            raise RuntimeError(f"process_vector {job.status}: {job.error}")
        assert job.result is not None and job.result["feature_count"] == n, job.result
        return elapsed
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def run_ogr2ogr(path: Path) -> float:
    if shutil.which("ogr2ogr") is None:
        sys.exit("ogr2ogr not found (apt-get install gdal-bin)")
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "root", DB_NAME, "-c", "DROP TABLE IF EXISTS geo.bench_ogr"], check=True
    )
    started = time.monotonic()
    subprocess.run(
        [
            "ogr2ogr", "--config", "PG_USE_COPY", "YES", "-f", "PostgreSQL",
            f"PG:host=127.0.0.1 user=root dbname={DB_NAME}", str(path), "points",
            "-nln", "geo.bench_ogr", "-t_srs", "EPSG:4326", "-nlt", "PROMOTE_TO_MULTI",
            "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST", "-lco", "FID=id", "-gt", "65536",
        ],
        check=True,
    )  # fmt: skip
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "root", DB_NAME, "-c", "ANALYZE geo.bench_ogr"], check=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    prepare_database(args.keep_db)
    path = make_points(args.points)
    theirs = run_ogr2ogr(path)
    ours = run_ours(args.points, args.workers, args.chunk_rows)
    print(f"\nGeoPackage, {args.points} points, EPSG:3857 -> 4326, GIST + ANALYZE")
    print("| loader | seconds | features/s |")
    print("|---|---|---|")
    print(
        f"| process_vector ({args.workers} workers, chunks of {args.chunk_rows}) | {ours:.1f} | {args.points / ours:,.0f} |"
    )
    print(f"| ogr2ogr PG_USE_COPY=YES | {theirs:.1f} | {args.points / theirs:,.0f} |")
    print(f"\nratio (ogr2ogr seconds / ours): {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
