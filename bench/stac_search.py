"""STAC search throughput: our /api/stac/search (gunicorn, as scripts/run.sh) vs stac-fastapi-pgstac.

Both serve the SAME pgSTAC database in the same run: a dedicated benchmark database with
10,000 synthetic items in one collection. Two cases, each the same seeded sequence of queries
for both servers, sent by 8 concurrent keep-alive clients:
- ``bbox``: POST /search with a bbox, a datetime interval and limit 100;
- ``filter``: POST /search with a CQL2-JSON filter (eo:cloud_cover below a bound AND
  S_INTERSECTS a 10x10 degree box) and sortby eo:cloud_cover then datetime, limit 100
  (the filter and sort extensions; both servers hand them to pgSTAC).
Prints requests/s, p50/p99 latency and the ratio per case (target: ours >= 2x stac-fastapi-pgstac).

stac-fastapi-pgstac runs from its own venv (never .venv):

    python3.11 -m venv .cache/bench-venvs/stac-fastapi-pgstac
    .cache/bench-venvs/stac-fastapi-pgstac/bin/pip install stac-fastapi-pgstac==7.2.0 'uvicorn[standard]'
    .venv/bin/python bench/stac_search.py [--items 10000] [--seconds 15] [--rounds 2] [--keep-db] [--case bbox|filter]
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402

DB_NAME = "geoplatform_bench_stac"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
COLLECTION = "bench-items"
OURS_PORT, THEIRS_PORT = 8871, 8872
SFA_VENV = ROOT / ".cache" / "bench-venvs" / "stac-fastapi-pgstac"
# The data lie in lon -20..40, lat 0..50 over 2020; a 10x10 degree bbox over a 6-month window
# matches ~160 items, so every page is full (limit 100).
EXTENT = (-20.0, 0.0, 40.0, 50.0)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": DB_URL,
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/13",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",  # plain http on this machine, as scripts/run.sh
            "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def prepare_database(n_items: int, keep: bool) -> None:
    import psycopg

    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if exists and keep:
            print(f"reusing database {DB_NAME}")
            return
        if exists:
            admin.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    env = _env()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("GEOPLATFORM_", "DJANGO_"))})
    import django

    django.setup()
    from catalog import services

    services.collection_upsert(
        collection={
            "id": COLLECTION,
            "description": "Synthetic benchmark items",
            "license": "CC0-1.0",
            "extent": {
                "spatial": {"bbox": [list(EXTENT)]},
                "temporal": {"interval": [["2020-01-01T00:00:00Z", "2020-12-31T23:59:59Z"]]},
            },
        }
    )
    rng = random.Random(42)
    started = time.monotonic()
    batch: list[dict[str, Any]] = []
    for i in range(n_items):
        x = rng.uniform(EXTENT[0], EXTENT[2] - 0.2)
        y = rng.uniform(EXTENT[1], EXTENT[3] - 0.2)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1577836800 + rng.randrange(366 * 86400)))
        batch.append(
            {
                "id": f"item-{i:05d}",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x, y], [x + 0.2, y], [x + 0.2, y + 0.2], [x, y + 0.2], [x, y]]],
                },
                "bbox": [x, y, x + 0.2, y + 0.2],
                "properties": {"datetime": when, "eo:cloud_cover": rng.randrange(100), "platform": "bench-sat"},
                "assets": {
                    "data": {"href": f"https://example.org/bench/{i}.tif", "type": "image/tiff; application=geotiff"},
                    "thumbnail": {"href": f"https://example.org/bench/{i}.png", "type": "image/png"},
                },
            }
        )
        if len(batch) == 1000:
            services.items_upsert(collection_id=COLLECTION, items=batch)
            batch = []
    if batch:
        services.items_upsert(collection_id=COLLECTION, items=batch)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE pgstac.items")
    connection.close()
    print(f"loaded {n_items} items in {time.monotonic() - started:.1f}s")


def queries(n: int = 500, case: str = "bbox") -> list[bytes]:
    rng = random.Random(7)
    out = []
    for _ in range(n):
        x = rng.uniform(EXTENT[0], EXTENT[2] - 10)
        y = rng.uniform(EXTENT[1], EXTENT[3] - 10)
        month = rng.randrange(1, 7)
        box = [round(x, 3), round(y, 3), round(x + 10, 3), round(y + 10, 3)]
        body: dict[str, Any]
        if case == "filter":
            # ~270 items in the box, cloud cover uniform 0..99: a bound of 60..99 leaves 160..270.
            polygon = [[[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]], [box[0], box[1]]]]
            body = {
                "collections": [COLLECTION],
                "filter-lang": "cql2-json",
                "filter": {
                    "op": "and",
                    "args": [
                        {"op": "<", "args": [{"property": "eo:cloud_cover"}, rng.randrange(60, 100)]},
                        {
                            "op": "s_intersects",
                            "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": polygon}],
                        },
                    ],
                },
                "sortby": [
                    {"field": "properties.eo:cloud_cover", "direction": "asc"},
                    {"field": "properties.datetime", "direction": "desc"},
                ],
                "limit": 100,
            }
        else:
            body = {
                "collections": [COLLECTION],
                "bbox": box,
                "datetime": f"2020-{month:02d}-01T00:00:00Z/2020-{month + 6:02d}-01T00:00:00Z",
                "limit": 100,
            }
        out.append(json.dumps(body).encode())
    return out


def load(port: int, path: str, bodies: list[bytes], seconds: float, concurrency: int) -> dict[str, float]:
    def full_page(i: int, data: bytes) -> None:  # spot-check that pages are full
        assert len(json.loads(data)["features"]) > 0

    requests = [("POST", path, body) for body in bodies]
    return common.load(port, requests, seconds, concurrency, {"Content-Type": "application/json"}, full_page)


def same_results(bodies: list[bytes]) -> None:
    """Both servers must answer the same queries with the same items (a fair comparison)."""
    for body in bodies[:5]:
        ids = []
        for port, path in ((OURS_PORT, "/api/stac/search"), (THEIRS_PORT, "/search")):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            page = json.loads(resp.read())
            assert resp.status == 200, (port, page)
            ids.append([f["id"] for f in page["features"]])
        assert ids[0] == ids[1] and len(ids[0]) == 100, (len(ids[0]), len(ids[1]))


def main() -> None:
    parser = common.load_parser(__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--keep-db", action="store_true", help="reuse the loaded benchmark database")
    parser.add_argument("--case", choices=("bbox", "filter"), action="append", help="default: both")
    args = parser.parse_args()
    cases = args.case or ["bbox", "filter"]
    if not (SFA_VENV / "bin" / "uvicorn").exists():
        sys.exit(f"stac-fastapi-pgstac is not installed in {SFA_VENV} (see this script's docstring)")

    prepare_database(args.items, args.keep_db)
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    env = _env()
    ours = common.start_ours(OURS_PORT, env, logs / "stac-ours.log")
    sfa_env = {
        "PGUSER": "root", "PGPASSWORD": "", "PGHOST": "127.0.0.1", "PGPORT": "5432", "PGDATABASE": DB_NAME,
        "POSTGRES_USER": "root", "POSTGRES_PASS": "", "POSTGRES_HOST_READER": "127.0.0.1",
        "POSTGRES_HOST_WRITER": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_DBNAME": DB_NAME,
    }  # fmt: skip
    # Same process count as ours (4); uvicorn workers are async, one event loop each.
    theirs = common.start_peer(
        SFA_VENV, ["stac_fastapi.pgstac.app:create_app", "--factory"], THEIRS_PORT, sfa_env,
        logs / "stac-fastapi-pgstac.log",
    )  # fmt: skip
    try:
        common.wait_http(OURS_PORT, "/api/stac/")
        common.wait_http(THEIRS_PORT, "/")
        results: dict[str, dict[str, list[dict[str, float]]]] = {}
        for case in cases:
            bodies = queries(case=case)
            same_results(bodies)
            for port, path in ((OURS_PORT, "/api/stac/search"), (THEIRS_PORT, "/search")):
                load(port, path, bodies, 3, args.concurrency)  # warm-up: connections, caches
            runs: dict[str, list[dict[str, float]]] = {"ours": [], "stac-fastapi-pgstac": []}
            for _ in range(args.rounds):
                runs["ours"].append(load(OURS_PORT, "/api/stac/search", bodies, args.seconds, args.concurrency))
                runs["stac-fastapi-pgstac"].append(load(THEIRS_PORT, "/search", bodies, args.seconds, args.concurrency))
            results[case] = runs
    finally:
        common.stop(ours)
        common.stop(theirs)

    titles = {
        "bbox": "bbox 10x10 deg + 6-month datetime",
        "filter": "CQL2-JSON filter (eo:cloud_cover < n AND S_INTERSECTS 10x10 deg) + sortby cloud, -datetime",
    }
    for case, runs in results.items():
        print(f"\nPOST /search, {titles[case]}, limit 100, {args.items} items, concurrency {args.concurrency}")
        common.print_rounds(runs, "stac-fastapi-pgstac")


if __name__ == "__main__":
    main()
