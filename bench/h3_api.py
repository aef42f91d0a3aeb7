"""H3 cells API latency: ``/api/h3/stats/{dataset}/cells?iso3=BRA&res=5`` (pages of 1000 cells,
keyset paging through the whole country) at concurrency 8, our server (gunicorn as scripts/run.sh)
on a dedicated database. The target (issue 16) is p99 < 150 ms; the printed ratio is
target / measured p99 (>= 1 meets it). No peer serves H3 statistics (no h3-pg here).

    .venv/bin/python bench/h3_api.py [--seconds 15] [--rounds 2] [--concurrency 8]

The synthetic data: Brazil (the basemap's Natural Earth countries file) covered with H3 cells at
resolutions 4 to 6 ('overlap' rule), every cell mapped to BRA, and one stat dataset with six
statistics per cell at resolutions 5 and 6, loaded with COPY, and at resolution 7 (the children of
the res-6 cells, ~1.7 M) as Parquet parts in the silver zone (the Parquet tier, h3grid/parts.py).
The JSON pages are kept in each server process's page cache (h3grid.selectors, 30 s): the main
case cycles through the country's pages, so after the first cycle it measures cache hits; "json
res5, uncached" sends the same pages with limits 990-1010, each request new (the cost of
computing a page). Also measured: the same pages as GeoJSON (polygons derived per page) and as CSV (COPY), res 6
pages and res 7 pages (country cells from h3.cell_country, values from the parts' row groups).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402

DB_NAME = "geoplatform_bench_h3api"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
PORT = 8893
TARGET_MS = 150.0
SLUG = "bench-bra"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": DB_URL,
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/5",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
            "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


SEED = """
import json, sys, time
import django; django.setup()
import h3.api.basic_int as h3i
import numpy as np
from shapely.geometry import shape
from django.db import connection
from h3grid.models import StatDataset

t0 = time.perf_counter()
feats = json.load(open("rasters/basemap/countries.geojson"))["features"]
geom = shape(next(f for f in feats if f["properties"]["iso_a3"] == "BRA")["geometry"])
cells = {}
for res in (4, 5, 6):
    found = set()
    for poly in getattr(geom, "geoms", [geom]):
        shape_ = h3i.geo_to_h3shape(poly.__geo_interface__)
        found |= set(h3i.h3shape_to_cells_experimental(shape_, res, contain="overlap"))
    cells[res] = sorted(found)
StatDataset.objects.filter(slug="%(slug)s").delete()
cols = [{"name": n, "stat": n, "band": 1, "category": None, "units": "m", "approximate": False}
        for n in ("mean", "sum", "count", "min", "max", "std")]
from h3grid import stats
rng = np.random.default_rng(1)
stats.stat_parts_delete(slug="%(slug)s")
ds = StatDataset.objects.create(slug="%(slug)s", title="Synthetic elevation of Brazil", source_kind="raster",
                                source_ref="bench/synthetic", resolutions=[5, 6, 7], columns=cols, units="m",
                                storage=stats.storage_of("%(slug)s", [5, 6, 7], 6))
# Res 7 (the Parquet tier): the children of the res-6 cells, in parts of contiguous cells
# (as the aggregation's fan-out by coarse parent writes them), PART_ROW_GROUP-row groups.
cells[7] = np.sort(np.array([c for p in cells[6] for c in h3i.cell_to_children(p, 7)], dtype=np.int64))
for part, chunk in enumerate(np.array_split(cells[7], max(1, len(cells[7]) // 250_000))):
    v = rng.normal(500, 200, size=(len(chunk), 6))
    stats.stat_part_write(slug="%(slug)s", res=7, part=part, cells=chunk,
                          values={c["name"]: v[:, i] for i, c in enumerate(cols)})
with connection.cursor() as cur:
    cur.execute("TRUNCATE h3.cell, h3.cell_country")
    cur.execute(f"DROP TABLE IF EXISTS h3.{ds.table}")
    cur.execute(f"CREATE TABLE h3.{ds.table} (res smallint NOT NULL, cell bigint NOT NULL, "
                + ", ".join(f"{c['name']} double precision" for c in cols) + ", PRIMARY KEY (res, cell))")
    pg = cur.cursor
    with pg.copy("COPY h3.cell (cell, res, parent) FROM STDIN") as copy:
        for res, cs in cells.items():
            if res == 7:
                parents = np.repeat(np.array(cells[6], dtype=np.int64), 7)  # children in parent order
                rows = np.column_stack([np.sort(cs), np.full(len(cs), 7), np.sort(parents)])
                copy.write("".join(f"{a}\\t{b}\\t{c}\\n" for a, b, c in rows.tolist()).encode())
                continue
            for c in cs:
                copy.write_row((c, res, h3i.cell_to_parent(c, res - 1)))
    with pg.copy("COPY h3.cell_country (cell, iso3, share) FROM STDIN") as copy:
        for cs in cells.values():
            copy.write("".join(f"{c}\\tBRA\\t1\\n" for c in np.asarray(cs).tolist()).encode())
    with pg.copy(f"COPY h3.{ds.table} FROM STDIN") as copy:
        for res in (5, 6):
            v = rng.normal(500, 200, size=(len(cells[res]), 6))
            for c, row in zip(cells[res], v.tolist()):
                copy.write_row((res, c, *row))
    cur.execute("ANALYZE h3.cell; ANALYZE h3.cell_country")
    cur.execute(f"ANALYZE h3.{ds.table}")
print(json.dumps({"cells": {r: len(c) for r, c in cells.items()}, "seconds": round(time.perf_counter() - t0, 1)}))
"""


def prepare(env: dict[str, str]) -> dict[int, int]:
    import psycopg

    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", SEED % {"slug": SLUG}], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if out.returncode:
        sys.exit(f"seeding failed:\n{out.stderr[-3000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("{")][-1]
    info = json.loads(line)
    print(f"seeded: cells per resolution {info['cells']} in {info['seconds']} s")
    return {int(k): v for k, v in info["cells"].items()}


def _pages(res: int, fmt: str) -> list[common.Request]:
    """Every page of the country at ``res`` (following the next links once), as requests."""
    base = f"/api/h3/stats/{SLUG}/cells?iso3=BRA&res={res}&f={fmt}"
    paths: list[str] = []
    path = base
    while path and len(paths) < 400:
        paths.append(path)
        status, body = common.get(PORT, path)
        assert status == 200, body[:300]
        if fmt == "csv":
            break  # CSV pages: the first pages' Link headers are checked by the tests
        links = json.loads(body)["links"]
        nxt = [link["href"] for link in links if link["rel"] == "next"]
        path = nxt[0].split(f"127.0.0.1:{PORT}", 1)[1] if nxt else ""
    return [("GET", p, None) for p in paths]


def main() -> None:
    args = common.load_parser(__doc__).parse_args()
    env = _env()
    counts = prepare(env)
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    server = common.start_ours(PORT, env, logs / "h3api-ours.log")
    cases = {
        "json res5": (5, "json"),
        "geojson res5": (5, "geojson"),
        "csv res5": (5, "csv"),
        "json res6": (6, "json"),
        "json res7 (Parquet tier)": (7, "json"),
        "geojson res7 (Parquet tier)": (7, "geojson"),
    }
    results: dict[str, list[dict[str, float]]] = {}
    pages: dict[str, int] = {}
    try:
        common.wait_http(PORT, "/api/h3/registry")
        # The floor: the cheapest route of the same server in the same run (what the machine's
        # load alone costs), and the main case with one client (the service time).
        floor = [("GET", "/api/health/live", None)]
        pages["floor /api/health/live"] = 1
        results["floor /api/health/live"] = [common.load(PORT, floor, args.seconds, args.concurrency)]
        for name, (res, fmt) in cases.items():
            requests = _pages(res, fmt)
            pages[name] = len(requests)
            common.load(PORT, requests, 2, args.concurrency)  # warm-up
            results[name] = [common.load(PORT, requests, args.seconds, args.concurrency) for _ in range(args.rounds)]
            if name == "json res5":
                pages["json res5, 1 client"] = len(requests)
                results["json res5, 1 client"] = [common.load(PORT, requests, args.seconds, 1)]
                # The same pages with a limit from 990 to 1010: every request is new to the
                # server's page cache (what a page costs to compute).
                cold = [("GET", f"{p}&limit={n}", b) for n in range(990, 1011) for _, p, b in requests]
                pages["json res5, uncached"] = len(cold)
                results["json res5, uncached"] = [
                    common.load(PORT, cold[i::2], args.seconds, args.concurrency) for i in range(args.rounds)
                ]
    finally:
        common.stop(server)
    print(f"\nGET /api/h3/stats/{{dataset}}/cells?iso3=BRA&res=N (1000 cells a page), concurrency {args.concurrency},")
    print(f"{args.seconds:g} s x {args.rounds} rounds, server {common.web_config(env)}; cells per res: {counts}")
    print("| case | pages cycled | round | requests | req/s | p50 ms | p99 ms | errors | target/p99 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        for i, r in enumerate(runs, 1):
            print(
                f"| {name} | {pages[name]} | {i} | {r['requests']:.0f} | {r['rps']:.1f} | {r['p50_ms']:.1f} "
                f"| {r['p99_ms']:.1f} | {r['errors']:.0f} | {TARGET_MS / r['p99_ms']:.2f}x |"
            )
    floor_p99 = results["floor /api/health/live"][0]["p99_ms"]
    for case in ("json res5", "json res5, uncached"):
        worst = max(r["p99_ms"] for r in results[case])
        print(f"{case} worst p99 {worst:.1f} ms = {worst / floor_p99:.1f}x the floor's p99 ({floor_p99:.1f} ms)")
    print(f"load average (1/5/15 min): {os.getloadavg()} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
