"""Overhead of metrics and traces: items pages and raster tiles, with and without, same run.

Four copies of our server (gunicorn, as scripts/run.sh: 4 workers x 2 threads) run side by
side on the same database and files:

- "plain": GEOPLATFORM_METRICS_ENABLED=false, GEOPLATFORM_OTEL_ENABLED=false;
- "metrics": metrics on (multiprocess mode, its own PROMETHEUS_MULTIPROC_DIR, scraped every
  5 s as Prometheus would);
- "metrics+traces(1.0)": and traces on at sample ratio 1.0 (every request a span),
  exported over OTLP/HTTP to a sink in this process that answers 200 (a collector's cost
  is not ours);
- "metrics+traces(0.1)": the same at GEOPLATFORM_OTEL_SAMPLE_RATIO=0.1.

The same seeded request sequence goes to each from 8 keep-alive clients; each round runs
every server once, the order rotating from round to round (the later servers of a round
measured slower whichever they were: page cache and GDAL block caches of 16 processes). Target: the
observed server keeps >= 95% of the plain one's requests/s.

On a shared machine req/s swings with other people's load (measured 72 -> 39 req/s between
two rounds of the same server), so each round also reports the CPU time the server's
processes spent per request (from /proc, user + system, every gunicorn process): the
overhead is extra CPU per request, and that figure hardly moves with others' load. The
ratio of the plain server's CPU per request to the observed one's is the throughput ratio a
CPU-bound server would see.

Data (made once per run in its own database, local storage): 50,000 random points loaded by
process_vector (items pages: limit=100 and a random 20-degree bbox), and the Natural Earth
test COG loaded by process_raster (PNG tiles z0-4).

    .venv/bin/python bench/observability.py [--seconds 15] [--rounds 2] [--concurrency 8]
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402
import raster_tiles  # noqa: E402

DB_NAME = "geoplatform_bench_obs"
DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"
WORK = ROOT / "var" / "bench" / "observability"
STORAGE = WORK / "storage"
TABLE = "bench_obs_points"
ITEM = "bench-obs-ne"
POINTS = 50_000
METRICS_TOKEN = uuid.uuid4().hex


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",
            "GEOPLATFORM_DATABASE_URL": DB_URL,
            "GEOPLATFORM_BROKER_URL": "redis://127.0.0.1:6379/14",
            "GEOPLATFORM_BROKER_NAMESPACE": f"bench-obs-{os.getpid()}",
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_STORAGE_ROOT": str(STORAGE),
            "GEOPLATFORM_SECURE_COOKIES": "false",
            "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",  # plain http on this machine, as scripts/run.sh
            "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "GEOPLATFORM_METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def make_points(path: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyogrio
    import shapely

    rng = np.random.default_rng(42)
    geoms = shapely.points(rng.uniform(-180, 180, POINTS), rng.uniform(-85, 85, POINTS))
    table = pa.table(
        {
            "name": pa.array([f"p{i}" for i in range(POINTS)]),
            "value": pa.array(rng.normal(size=POINTS)),
            "geometry": pa.array(shapely.to_wkb(geoms), pa.binary()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.write_arrow(table, path, layer="points", driver="GPKG", geometry_name="geometry",
                        geometry_type="Point", crs="EPSG:4326")  # fmt: skip


def _data_present() -> bool:
    """The last run's database with its points table (what --keep-data reuses)."""
    import psycopg

    try:
        with psycopg.connect(DB_URL, connect_timeout=5) as conn:
            return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"geo.{TABLE}"]).fetchone() == (True,)
    except psycopg.OperationalError:
        return False


def load_data(env: dict[str, str]) -> None:
    """The points table and the raster item, through the platform's own jobs (in this process)."""
    shutil.rmtree(WORK, ignore_errors=True)
    raster_tiles.prepare_database(DB_NAME, env)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("GEOPLATFORM_", "DJANGO_"))})
    import django

    django.setup()
    from django.core.files import File

    from geoplatform.storage import get_storage, zone_container

    bronze = zone_container("bronze")
    gpkg = WORK / "points.gpkg"
    make_points(gpkg)
    store = get_storage(bronze)
    for source, name in (
        (gpkg, "bench/points.gpkg"),
        (ROOT / "tests/fixtures/natural_earth_1_downsampled_cog.tif", "bench/ne.tif"),
    ):
        with open(source, "rb") as fh:
            store.save(name, File(fh, name=source.name))
    from ingest.services import job_submit
    from tests.ingest.inline import run_inline  # the engine's own functions, stage by stage, here

    for job_type, params in (
        ("process_vector", {"container_name": bronze, "file_name": "bench/points.gpkg", "table_name": TABLE}),
        ("process_raster", {"container_name": bronze, "file_name": "bench/ne.tif", "item_id": ITEM}),
    ):
        job = run_inline(job_submit(job_type=job_type, parameters=params).job.id)
        assert job.status == "completed", (job_type, job.error)


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that takes every export and answers 200."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Sink.received += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _scraper(stop: threading.Event, scrapes: list[int], ports: list[int]) -> None:
    while not stop.wait(5.0):
        for port in ports:
            try:
                status, body = common.get(port, "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
                scrapes.append(len(body) if status == 200 else -status)
            except OSError:
                scrapes.append(-1)


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _group_cpu(proc: Any) -> float:
    """CPU seconds of a gunicorn master and its workers."""
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    return _cpu_seconds(proc.pid) + sum(_cpu_seconds(int(p)) for p in children)


def _round(proc: Any, port: int, requests: Any, seconds: float, concurrency: int, headers: Any) -> dict[str, float]:
    before = _group_cpu(proc)
    r = common.load(port, requests, seconds, concurrency, headers)
    r["cpu_ms_per_request"] = 1000 * (_group_cpu(proc) - before) / max(r["requests"], 1)
    return r


def components(n: int = 20_000) -> None:
    """CPU per request of the middleware alone, in this process (every thread: the span
    exporter's included), around a view that does nothing: what metrics and traces add to
    any request, free of the machine's other load. Traces go to the OTLP sink over HTTP."""
    os.environ.update({k: v for k, v in _env().items() if k.startswith(("GEOPLATFORM_", "DJANGO_"))})
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-obs-prometheus-")
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink.server_address[1]}"
    import django

    django.setup()
    from django.http import HttpResponse
    from django.test import RequestFactory, override_settings

    from geoplatform import metrics, tracing

    request = RequestFactory().get(f"/api/features/collections/{TABLE}/items")
    request.resolver_match = type("Match", (), {"route": "api/features/collections/<str:collection_id>/items"})()
    response = HttpResponse(b"{}")

    def view(_: Any) -> HttpResponse:
        return response

    def cost(handler: Any) -> float:
        for _ in range(500):
            handler(request)
        start = time.process_time()
        for _ in range(n):
            handler(request)
        return 1e6 * (time.process_time() - start) / n

    print("| middleware | CPU us per request (best of 3) |")
    print("|---|---|")
    for label, ratio in (("metrics", None), ("metrics + traces (1.0)", 1.0), ("metrics + traces (0.1)", 0.1)):
        with override_settings(GEOPLATFORM_OTEL_ENABLED=ratio is not None, GEOPLATFORM_OTEL_SAMPLE_RATIO=ratio or 1.0):
            tracing.use_provider(None)
            inner = tracing.TracingMiddleware(view) if ratio is not None else view
            handler = metrics.MetricsMiddleware(inner)
            best = min(cost(handler) - cost(view) for _ in range(3))
            tracing.tracer().span_processor.force_flush()  # type: ignore[attr-defined]
        print(f"| {label} | {best:.1f} |")
    sink.shutdown()


def main() -> None:
    parser = common.load_parser(__doc__, results="observability")
    parser.add_argument("--keep-data", action="store_true", help="reuse the database and files of the last run")
    parser.add_argument("--components", action="store_true", help="CPU of the middleware alone (see components)")
    args = parser.parse_args()
    if args.components:
        components()
        return
    env = _env()
    if not (args.keep_data and _data_present()):  # a fresh clone has nothing to keep
        load_data(env)
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    folders: list[Path] = []

    def variant(metrics_on: bool, ratio: float | None) -> dict[str, str]:
        out = {**env, "GEOPLATFORM_METRICS_ENABLED": str(metrics_on).lower(), "GEOPLATFORM_OTEL_ENABLED": "false"}
        out.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if metrics_on:  # each server its own folder, as each host would have
            folders.append(Path(tempfile.mkdtemp(prefix="bench-obs-prometheus-")))
            out["PROMETHEUS_MULTIPROC_DIR"] = str(folders[-1])
        if ratio is not None:
            out["GEOPLATFORM_OTEL_ENABLED"] = "true"
            out["GEOPLATFORM_OTEL_SAMPLE_RATIO"] = str(ratio)
            out["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink.server_address[1]}"
        return out

    variants = {
        "plain": (8897, variant(False, None)),
        "metrics": (8898, variant(True, None)),
        "metrics+traces(1.0)": (8899, variant(True, 1.0)),
        "metrics+traces(0.1)": (8900, variant(True, 0.1)),
    }
    WORK.mkdir(parents=True, exist_ok=True)
    servers = {name: common.start_ours(port, e, WORK / f"{port}.log") for name, (port, e) in variants.items()}
    ports = {name: port for name, (port, _) in variants.items()}
    rng = random.Random(7)
    items = []
    for _ in range(500):
        x, y = rng.uniform(-180, 160), rng.uniform(-80, 60)
        items.append(
            f"/api/features/collections/{TABLE}/items?limit=100&bbox={x:.3f},{y:.3f},{x + 20:.3f},{y + 20:.3f}"
        )
    tiles = [f"/api/raster/system-rasters/{ITEM}/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
             for z in range(0, 5) for x in range(2**z) for y in range(2**z)]  # fmt: skip
    rng.shuffle(tiles)
    workloads = {
        "items pages (limit=100, bbox)": ([("GET", p, None) for p in items], {"Accept": "application/geo+json"}),
        f"PNG tiles z0-4 ({len(tiles)} distinct)": ([("GET", p, None) for p in tiles], {}),
    }
    stop, scrapes = threading.Event(), []  # type: ignore[var-annotated]
    results: dict[str, Any] = {}
    try:
        for port in ports.values():
            common.wait_http(port, f"/api/features/collections/{TABLE}")
            assert common.get(port, tiles[0])[0] == 200
        scraped = [port for name, port in ports.items() if name != "plain"]
        threading.Thread(target=_scraper, args=(stop, scrapes, scraped), daemon=True).start()
        for label, (requests, headers) in workloads.items():
            for port in ports.values():
                common.load(port, requests, 3, args.concurrency, headers)  # warm-up
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in ports}
            names = list(ports)
            for i in range(args.rounds):
                for name in names[i % len(names) :] + names[: i % len(names)]:  # each goes first in turn
                    runs[name].append(
                        _round(servers[name], ports[name], requests, args.seconds, args.concurrency, headers)
                    )
            print(f"\n### {label}")
            print("| server | req/s (mean of rounds) | ratio to plain | CPU ms per request (median) | CPU ratio |")
            print("|---|---|---|---|---|")
            rps = {name: statistics.mean(r["rps"] for r in runs[name]) for name in runs}
            cpu = {name: statistics.median(r["cpu_ms_per_request"] for r in runs[name]) for name in runs}
            for name in runs:
                print(
                    f"| {name} | {rps[name]:.1f} | {rps[name] / rps['plain']:.3f} | {cpu[name]:.2f} "
                    f"| {cpu['plain'] / cpu[name]:.3f} |"
                )
            results[label] = {"runs": runs, "rps": rps, "cpu_ms_per_request": cpu}
        for port in scraped:
            status, body = common.get(port, "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert status == 200 and b"geoplatform_http_requests_total" in body
    finally:
        stop.set()
        for proc in servers.values():
            common.stop(proc)
        sink.shutdown()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\nscrapes during the run: {len(scrapes)} (bytes: {scrapes[-1] if scrapes else 0}); OTLP exports received: {_Sink.received}"
    )
    for label, r in results.items():
        cpu = r["cpu_ms_per_request"]
        for name in cpu:
            if name != "plain":
                lost = 100 * (1 - cpu["plain"] / cpu[name])
                print(f"{label}, {name}: {lost:.1f}% of CPU-bound req/s lost (target <= 5%)")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    summary = {"exports": _Sink.received, "scrapes": len(scrapes), **results}
    (out / f"{args.results}.json").write_text(json.dumps(summary, indent=2, default=statistics.mean))


if __name__ == "__main__":
    main()
