"""Items pages: our /api/features (gunicorn, as scripts/run.sh) vs tipg, on the SAME table.

Needs the table `geo.bench_points` loaded by bench/features_ingest.py (same database). Each
request is GET .../items?limit=100&bbox=<random 20x20 degree box> (the same seeded sequence for
both servers), sent by 8 concurrent keep-alive clients; a second run pages deep with offset.
A third run filters with CQL2 (``filter=value > v AND S_INTERSECTS(geom, POLYGON(...))``). A
fourth asks large pages, items?limit=10000 in random 40x30 degree boxes (~1.8 MB of GeoJSON each;
ours streams them out of PostgreSQL), and prints both servers' memory before and after it (RSS,
and the sum of the processes' peaks). Prints requests/s, p50/p99 latency and the ratio ours /
tipg; writes bench/results/features_serving.json.

tipg runs from its own venv (never .venv):

    python3.11 -m venv .cache/bench-venvs/tipg
    .cache/bench-venvs/tipg/bin/pip install tipg==1.6.1 'uvicorn[standard]'
    .venv/bin/python bench/features_serving.py [--seconds 15] [--rounds 2] [--concurrency 8]

``--cpu`` instead measures where a bbox page's CPU goes on OUR server alone: one gunicorn worker x
one thread, one sequential keep-alive client, CPU time of the worker and of its PostgreSQL backend
(from /proc) divided by the requests served. Run it on two checkouts to compare code versions.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402

DB_NAME = "geoplatform_bench_features"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
TABLE = "bench_points"
OURS_PORT, THEIRS_PORT = 8881, 8882
TIPG_VENV = ROOT / ".cache" / "bench-venvs" / "tipg"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": DB_URL,
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/12",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",  # plain http on this machine, as scripts/run.sh
            "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def queries(kind: str, n: int = 500) -> list[str]:
    rng = random.Random(7)
    out = []
    for _ in range(n):
        if kind == "bbox":
            x, y = rng.uniform(-180, 160), rng.uniform(-80, 60)
            out.append(f"limit=100&bbox={x:.3f},{y:.3f},{x + 20:.3f},{y + 20:.3f}")
        elif kind == "large":  # ~20,000 points in each box: full pages of 10,000
            x, y = rng.uniform(-180, 140), rng.uniform(-75, 45)
            out.append(f"limit=10000&bbox={x:.3f},{y:.3f},{x + 40:.3f},{y + 30:.3f}")
        elif kind == "filter":  # CQL2 text: an attribute test and a spatial one (both servers parse it)
            x, y, v = rng.uniform(-180, 160), rng.uniform(-80, 60), rng.uniform(-1, 1)
            # a POLYGON, not BBOX(...): tipg 1.6.1 makes BBOX an SRID-0 envelope (a 500 on the SRID mismatch)
            x2, y2 = x + 20, y + 20
            ring = f"{x:.3f} {y:.3f}, {x2:.3f} {y:.3f}, {x2:.3f} {y2:.3f}, {x:.3f} {y2:.3f}, {x:.3f} {y:.3f}"
            cql = f"value > {v:.3f} AND S_INTERSECTS(geom, POLYGON(({ring})))"
            out.append("limit=100&filter-lang=cql2-text&" + urlencode({"filter": cql}))
        else:
            out.append(f"limit=100&offset={rng.randrange(0, 900_000)}")
    return out


ACCEPT = {"Accept": "application/geo+json"}


def load(port: int, base: str, qs: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    return common.load(port, [("GET", f"{base}?{q}", None) for q in qs], seconds, concurrency, ACCEPT)


def _get(port: int, path: str) -> tuple[int, bytes]:
    return common.get(port, path, ACCEPT)


def same_results(ours: str, theirs: str, qs: list[str]) -> None:
    """Both servers return full pages of the same number of features for the same bbox."""
    for q in qs[:5]:
        counts = []
        for port, base in ((OURS_PORT, ours), (THEIRS_PORT, theirs)):
            status, body = _get(port, f"{base}?{q}")
            assert status == 200, (port, body[:300])
            page = json.loads(body)
            counts.append((len(page["features"]), page.get("numberMatched")))
        assert counts[0][0] == counts[1][0], counts


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(seconds: float, rounds: int) -> None:
    import psycopg

    env = {**_env(), "GEOPLATFORM_WEB_WORKERS": "1", "GEOPLATFORM_WEB_THREADS": "1"}
    subprocess.run([str(ROOT / "scripts" / "db.sh")], env=env, check=True)
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    ours = common.start_ours(OURS_PORT, env, logs / "features-ours-cpu.log")
    base, qs = f"/api/features/collections/{TABLE}/items", queries("bbox")
    try:
        common.wait_http(OURS_PORT, f"/api/features/collections/{TABLE}")
        load(OURS_PORT, base, qs, 3, 1)  # warm-up: the worker's connection now exists
        workers = [
            int(p)
            for p in subprocess.run(["pgrep", "-P", str(ours.pid)], capture_output=True, text=True).stdout.split()
        ]
        with psycopg.connect(DB_URL, autocommit=True) as conn:
            backends = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
                " AND pid <> pg_backend_pid()", [DB_NAME]).fetchall()]  # fmt: skip
        print("| round | requests | Python (gunicorn worker) ms | PostgreSQL backend ms | p50 ms |")
        print("|---|---|---|---|---|")
        for i in range(1, rounds + 1):
            w0, b0 = sum(map(_cpu_seconds, workers)), sum(map(_cpu_seconds, backends))
            r = load(OURS_PORT, base, qs, seconds, 1)
            w1, b1 = sum(map(_cpu_seconds, workers)), sum(map(_cpu_seconds, backends))
            n = r["requests"]
            print(f"| {i} | {n:.0f} | {1000 * (w1 - w0) / n:.2f} | {1000 * (b1 - b0) / n:.2f} | {r['p50_ms']:.1f} |")
    finally:
        common.stop(ours)


def _load(avg: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in avg)


def main() -> None:
    parser = common.load_parser(__doc__, results="features_serving")
    parser.add_argument("--cpu", action="store_true", help="CPU per bbox page of our server (see above)")
    parser.add_argument("--kinds", default="bbox,offset,filter,large", help="which runs, comma-separated")
    args = parser.parse_args()
    if args.cpu:
        print(f"load average before: {_load(os.getloadavg())}")
        cpu_per_request(args.seconds, args.rounds)
        print(f"load average after: {_load(os.getloadavg())}")
        return
    if not (TIPG_VENV / "bin" / "uvicorn").exists():
        sys.exit(f"tipg is not installed in {TIPG_VENV} (see this script's docstring)")
    load_before = os.getloadavg()
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    env = _env()
    subprocess.run([str(ROOT / "scripts" / "db.sh")], env=env, check=True)  # schema up to date
    ours = common.start_ours(OURS_PORT, env, logs / "features-ours.log")
    tipg_env = {"DATABASE_URL": DB_URL, "TIPG_DB_SCHEMAS": '["geo"]', "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
    theirs = common.start_peer(TIPG_VENV, ["tipg.main:app"], THEIRS_PORT, tipg_env, logs / "features-tipg.log")
    ours_base = f"/api/features/collections/{TABLE}/items"
    theirs_base = f"/collections/geo.{TABLE}/items"
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    memory: dict[str, dict[str, float]] = {}
    try:
        common.wait_http(OURS_PORT, f"/api/features/collections/{TABLE}")
        common.wait_http(THEIRS_PORT, f"/collections/geo.{TABLE}")
        for kind in args.kinds.split(","):
            qs = queries(kind, 50 if kind == "large" else 500)
            if kind == "large":  # what the servers hold before the large pages
                for name, proc in (("ours", ours), ("tipg", theirs)):
                    memory[name] = {"rss_before": common.group_rss_mib(proc)}
            same_results(ours_base, theirs_base, qs)
            load(OURS_PORT, ours_base, qs, 3, args.concurrency)  # warm-up
            load(THEIRS_PORT, theirs_base, qs, 3, args.concurrency)
            results[kind] = {"ours": [], "tipg": []}
            for _ in range(args.rounds):
                results[kind]["ours"].append(load(OURS_PORT, ours_base, qs, args.seconds, args.concurrency))
                results[kind]["tipg"].append(load(THEIRS_PORT, theirs_base, qs, args.seconds, args.concurrency))
        for name, proc in (("ours", ours), ("tipg", theirs)) if memory else ():
            memory[name].update(rss=common.group_rss_mib(proc), peak=common.group_rss_mib(proc, "VmHWM"))
    finally:
        common.stop(ours)
        common.stop(theirs)

    load_after = os.getloadavg()
    print(f"\nload average (1/5/15 min): before {_load(load_before)}, after {_load(load_after)}")
    ratios = {}
    for kind, by_server in results.items():
        what = {
            "bbox": "items?limit=100 with random 20x20 deg bbox",
            "offset": "items?limit=100 with random offset < 900,000",
            "filter": "items?limit=100 with a CQL2 filter: value > v AND S_INTERSECTS(geom, random 20x20 deg POLYGON)",
            "large": "items?limit=10000 with random 40x30 deg bbox",
        }[kind]
        print(f"\nGET {what}, table geo.{TABLE}, concurrency {args.concurrency}")
        ratios[kind] = common.print_rounds(by_server, "tipg")
    if memory:
        print("\nserver memory, MiB (all processes): RSS before the large pages, after them, sum of the peaks")
        for name, mib in memory.items():
            print(f"{name}: {mib['rss_before']:.0f} -> {mib['rss']:.0f} (peak {mib['peak']:.0f})")
    out = common.results_path(args.results)
    out.write_text(json.dumps({"items": results, "ratios": ratios, "memory_mib": memory,
                               "load_average_start": load_before, "load_average_end": load_after}, indent=2))  # fmt: skip
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
