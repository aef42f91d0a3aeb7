"""Vector tiles (MVT): our /api/features/collections/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}
(gunicorn, as scripts/run.sh) vs tipg's MVT endpoint, on the SAME tables of one database.

Tables: `geo.bench_points` (1,000,000 points, loaded by bench/features_ingest.py) and
`geo.bench_countries` (Natural Earth 1:110m countries, 177 polygons, from pyogrio's test
fixtures; loaded here through process_vector with a short-lived worker when missing).

Each request is a tile of a seeded random sequence (points: z3-z9 over the data's rows;
countries: z0-z6 anywhere, so some are empty ocean), the same for both servers, the same
properties (``properties=`` the collection's attributes) and the same cap of 10,000 features
per tile; 8 concurrent keep-alive clients. An empty tile is our 204 or tipg's empty 200.
"ours" makes every tile (its tile cache off: GEOPLATFORM_FEATURES_TILE_CACHE_MB=0, the figure
to compare with tipg, which has no cache); "ours-cached" is a second server with the default
per-process cache, warmed first by asking every tile twice on fresh connections (so both
workers hold them): what repeated tiles (many users on one map) cost. Prints
tiles/s, p50/p99 and the ratios to tipg, and the servers' RSS (now and peak); writes
bench/results/features_tiles.json.

CPU per tile (the figure other processes on a shared machine do not move): after the rounds,
each server ("ours" without its cache, and tipg) makes the 400 tiles once more, one after the
other on one keep-alive connection; the CPU time its processes and the PostgreSQL backends of
the bench database used meanwhile (/proc utime + stime), divided by 400. Throughput on an idle
machine is bounded by it; under others' load the CPU each server gets also depends on its number
of processes (ours 2 gunicorn workers, tipg 4 uvicorn workers).

tipg runs from its own venv (scripts/bench-peers.sh tipg makes it):

    .venv/bin/python bench/features_tiles.py [--seconds 15] [--rounds 2] [--concurrency 8]
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402
import features_serving as serving  # noqa: E402

OURS_PORT, THEIRS_PORT, CACHED_PORT = 8883, 8884, 8885
POINTS, COUNTRIES = "bench_points", "bench_countries"
PROPERTIES = {POINTS: "name,value,category", COUNTRIES: "pop_est,continent,name,iso_a3,gdp_md_est"}
STORAGE = ROOT / "var" / "bench" / "features-storage"
CONTAINER = "bench-bronze"
MVT = "application/vnd.mapbox-vector-tile"


def _lowres() -> Path:
    import pyogrio

    return Path(pyogrio.__file__).parent / "tests" / "fixtures" / "naturalearth_lowres"


def load_countries() -> None:
    """geo.bench_countries through our own ingest (a worker for the job's lifetime), if missing."""
    import psycopg

    with psycopg.connect(serving.DB_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT to_regclass('features_vectordataset') IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM features_vectordataset WHERE collection_id = %s)",
            [COUNTRIES],
        ).fetchone()
    if row and row[0]:
        return
    env = {**serving._env(), "GEOPLATFORM_STORAGE_ROOT": str(STORAGE), "GEOPLATFORM_BRONZE_CONTAINER": CONTAINER,
           "GEOPLATFORM_UPLOAD_CONTAINERS": CONTAINER}  # fmt: skip
    (STORAGE / CONTAINER).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(STORAGE / CONTAINER / "countries.zip", "w") as zf:
        for part in _lowres().iterdir():
            zf.write(part, part.name)
    code = (
        "import time, django; django.setup()\n"
        "from ingest.services import job_submit\nfrom ingest.models import Job\n"
        f"params = {{'file_name': 'countries.zip', 'table_name': {COUNTRIES!r}, 'overwrite': True}}\n"
        "job = job_submit(job_type='process_vector', parameters=params, force=True).job\n"
        "while not Job.objects.get(pk=job.pk).is_terminal: time.sleep(0.2)\n"
        "job = Job.objects.get(pk=job.pk); assert job.status == 'completed', job.error\n"
    )
    logs = ROOT / "var" / "bench"
    worker = common.start(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "rundramatiq", "--processes", "1", "--threads", "1"],
        env,
        logs / "features-tiles-worker.log",
    )
    try:
        subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], cwd=ROOT, env=env, check=True, timeout=300)
    finally:
        common.stop(worker)


def tiles(kind: str, n: int = 400) -> list[tuple[int, int, int]]:
    rng = random.Random(11)
    out = []
    for _ in range(n):
        if kind == POINTS:  # the points fill y in -1.5e7..1.5e7 (rows 1/8..7/8 of the matrix)
            z = rng.randint(3, 9)
            size = 2**z
            out.append((z, rng.randrange(size), rng.randrange(size // 8, size - size // 8)))
        else:
            z = rng.randint(0, 6)
            out.append((z, rng.randrange(2**z), rng.randrange(2**z)))
    return out


def paths(kind: str, ours: bool) -> list[str]:
    props = PROPERTIES[kind]
    if ours:
        return [f"/api/features/collections/{kind}/tiles/WebMercatorQuad/{z}/{x}/{y}?properties={props}"
                for z, x, y in tiles(kind)]  # fmt: skip
    return [f"/collections/geo.{kind}/tiles/WebMercatorQuad/{z}/{x}/{y}?properties={props}" for z, x, y in tiles(kind)]


def _count(data: bytes, z: int, x: int, y: int) -> int:
    """Features in an MVT, read by GDAL's MVT driver (0 for an empty body)."""
    if not data:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.mvt"
        path.write_bytes(data)
        out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", "-oo", f"X={x}", "-oo", f"Y={y}", "-oo", f"Z={z}",
                              f"MVT:{path}"], capture_output=True, text=True, check=True)  # fmt: skip
    return sum(int(line.split(":")[1]) for line in out.stdout.splitlines() if line.startswith("Feature Count:"))


def same_tiles(kind: str) -> None:
    """The first tiles hold the same features on both servers: ours also the ones in the tile's
    buffer (64 of 4096 units each side, ~6% more area), so symbols at its edges are not cut."""
    for (z, x, y), ours, theirs in list(zip(tiles(kind), paths(kind, True), paths(kind, False), strict=True))[:6]:
        counts = []
        for port, path in ((OURS_PORT, ours), (THEIRS_PORT, theirs)):
            status, body = common.get(port, path)
            assert status in (200, 204), (port, path, status, body[:200])
            counts.append(_count(body, z, x, y))
        assert counts[1] <= counts[0] <= 1.08 * counts[1] + 5, (kind, (z, x, y), counts)


def warm(port: int, urls: list[str]) -> None:
    """Every tile twice, 8 at a time, each on a new connection (spread over the workers)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda u: common.get(port, u), urls * 2))


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def _group(leader: subprocess.Popen[bytes]) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == leader.pid:
                pids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def _backends() -> list[int]:
    import psycopg

    with psycopg.connect(serving.DB_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def cpu_per_tile(port: int, leader: subprocess.Popen[bytes], urls: list[str]) -> dict[str, float]:
    """CPU milliseconds per tile of the server's processes and of the database's backends, the
    tiles made one after the other (see the module docstring)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    procs = _group(leader)
    before, backends_before = _cpu_seconds(procs), {pid: _cpu_seconds([pid]) for pid in _backends()}
    for url in urls:
        conn.request("GET", url)
        conn.getresponse().read()
    server = (_cpu_seconds(procs) - before) * 1000 / len(urls)
    after = {pid: _cpu_seconds([pid]) for pid in _backends()}
    postgres = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in after.items()) * 1000 / len(urls)
    conn.close()
    return {"server_ms": round(server, 3), "postgres_ms": round(postgres, 3), "total_ms": round(server + postgres, 3)}


def _load(port: int, urls: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    return common.load(port, [("GET", u, None) for u in urls], seconds, concurrency, ok=(200, 204))


def main() -> None:
    args = common.load_parser(__doc__, results="features_tiles").parse_args()
    if not (serving.TIPG_VENV / "bin" / "uvicorn").exists():
        sys.exit(f"tipg is not installed in {serving.TIPG_VENV} (scripts/bench-peers.sh tipg)")
    load_before = os.getloadavg()
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    env = serving._env()
    subprocess.run([str(ROOT / "scripts" / "db.sh")], env=env, check=True)  # schema up to date
    load_countries()
    ours = common.start_ours(
        OURS_PORT, {**env, "GEOPLATFORM_FEATURES_TILE_CACHE_MB": "0"}, logs / "features-tiles-ours.log"
    )
    cached = common.start_ours(CACHED_PORT, env, logs / "features-tiles-cached.log")
    tipg_env = {"DATABASE_URL": serving.DB_URL, "TIPG_DB_SCHEMAS": '["geo"]', "TIPG_MAX_FEATURES_PER_TILE": "10000"}
    theirs = common.start_peer(
        serving.TIPG_VENV, ["tipg.main:app"], THEIRS_PORT, tipg_env, logs / "features-tiles-tipg.log"
    )
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    rss: dict[str, dict[str, float]] = {}
    cpu: dict[str, dict[str, dict[str, float]]] = {}
    try:
        common.wait_http(OURS_PORT, f"/api/features/collections/{POINTS}")
        common.wait_http(CACHED_PORT, f"/api/features/collections/{POINTS}")
        common.wait_http(THEIRS_PORT, f"/collections/geo.{POINTS}")
        for kind in (POINTS, COUNTRIES):
            same_tiles(kind)
            ours_urls, theirs_urls = paths(kind, True), paths(kind, False)
            _load(OURS_PORT, ours_urls, 3, args.concurrency)  # warm-up
            _load(THEIRS_PORT, theirs_urls, 3, args.concurrency)
            warm(CACHED_PORT, ours_urls)
            results[kind] = {"ours": [], "tipg": [], "ours-cached": []}
            for _ in range(args.rounds):
                results[kind]["ours"].append(_load(OURS_PORT, ours_urls, args.seconds, args.concurrency))
                results[kind]["tipg"].append(_load(THEIRS_PORT, theirs_urls, args.seconds, args.concurrency))
                results[kind]["ours-cached"].append(_load(CACHED_PORT, ours_urls, args.seconds, args.concurrency))
            cpu[kind] = {
                "ours": cpu_per_tile(OURS_PORT, ours, ours_urls),
                "tipg": cpu_per_tile(THEIRS_PORT, theirs, theirs_urls),
            }
        time.sleep(0.5)
        for name, proc in (("ours", ours), ("tipg", theirs), ("ours-cached", cached)):
            rss[name] = {"rss": common.group_rss_mib(proc), "peak": common.group_rss_mib(proc, "VmHWM")}
    finally:
        common.stop(ours)
        common.stop(theirs)
        common.stop(cached)

    load_after = os.getloadavg()
    print(f"\nload average (1/5/15 min): before {serving._load(load_before)}, after {serving._load(load_after)}")
    ratios = {}
    for kind, by_server in results.items():
        what = "1,000,000 points, z3-z9" if kind == POINTS else "177 country polygons, z0-z6"
        print(f"\nMVT tiles of geo.{kind} ({what}, 400 distinct), concurrency {args.concurrency}, "
              f"ours gunicorn {common.web_config(env)}")  # fmt: skip
        ratios[kind] = common.print_rounds(by_server, "tipg")
        ratios[f"{kind} cached"] = common.print_rounds(by_server, "tipg", ours="ours-cached")
    for kind, per_server in cpu.items():
        o, t = per_server["ours"], per_server["tipg"]
        print(f"\nCPU per tile, geo.{kind} (server + PostgreSQL backends, tiles one after the other): "
              f"ours {o['total_ms']:.2f} ms ({o['server_ms']:.2f} + {o['postgres_ms']:.2f}), "
              f"tipg {t['total_ms']:.2f} ms ({t['server_ms']:.2f} + {t['postgres_ms']:.2f}), "
              f"ratio {t['total_ms'] / max(o['total_ms'], 1e-9):.2f}x")  # fmt: skip
    print(f"\nserver memory after the rounds, MiB (all processes; rss now / sum of peaks): {rss}")
    out = common.results_path(args.results)
    out.write_text(json.dumps({"tiles": results, "ratios": ratios, "memory_mib": rss, "cpu_per_tile": cpu, "gunicorn": common.web_config(env),
                               "load_average_start": load_before, "load_average_end": load_after}, indent=2))  # fmt: skip
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
