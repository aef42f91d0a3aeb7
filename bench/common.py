"""Plumbing shared by the benchmarks: start/stop servers, wait for them, drive HTTP load.

Every benchmark sends the same request sequence to our server and to its peer from N
keep-alive clients and reports requests/s, p50/p99 and errors with :func:`load`.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# (method, path, body) — body None for GET.
Request = tuple[str, str, bytes | None]


def load_parser(doc: str | None, results: str | None = None) -> argparse.ArgumentParser:
    """The options every load benchmark takes (--seconds, --rounds, --concurrency[, --results])."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    if results is not None:
        parser.add_argument("--results", default=results, help="bench/results/<NAME>.json")
    return parser


def print_rounds(runs: dict[str, Any], peer: str, ours: str = "ours") -> float:
    """The per-round table of ``ours`` and ``peer`` (lists of :func:`load` results) and the
    ratio of their mean requests/s, which it returns."""
    print("| server | round | requests | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for name in (ours, peer):
        for i, r in enumerate(runs[name], 1):
            print(
                f"| {name} | {i} | {r['requests']:.0f} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                f"| {r['errors']:.0f} |"
            )
    ours_rps = statistics.mean(r["rps"] for r in runs[ours])
    peer_rps = statistics.mean(r["rps"] for r in runs[peer])
    print(f"mean req/s: {ours} {ours_rps:.1f}, {peer} {peer_rps:.1f}, ratio {ours_rps / peer_rps:.2f}x")
    return ours_rps / peer_rps


def group_rss_mib(leader: subprocess.Popen[bytes], field: str = "VmRSS") -> float:
    """Memory (MiB) of every process in a server's process group (master + workers): resident
    now (``VmRSS``) or each process's peak (``VmHWM``), summed."""
    total_kib = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != leader.pid:  # pgrp (the group was started with start_new_session)
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        total_kib += next((int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field}:")), 0)
    return total_kib / 1024


def results_path(name: str) -> Path:
    """bench/results/<name>.json (the folder is made: it is not in git)."""
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{name}.json"


def database_ready(name: str, env: dict[str, str]) -> str:
    """The benchmark's own database, created if missing and migrated (``env`` names it in
    GEOPLATFORM_DATABASE_URL for manage.py): a fresh clone never ran ``make run``. Returns its URL."""
    import sys

    import psycopg

    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://root@127.0.0.1:5432/{name}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**env, "GEOPLATFORM_DATABASE_URL": url},
        check=True,
    )
    return url


def start(cmd: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    """A process in its own group (so :func:`stop` ends its children too)."""
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # closed with the process
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


# scripts/run.sh's web defaults (GEOPLATFORM_WEB_WORKERS x GEOPLATFORM_WEB_THREADS).
WEB_WORKERS, WEB_THREADS = "2", "4"


def web_config(env: dict[str, str]) -> str:
    return f"{env.get('GEOPLATFORM_WEB_WORKERS', WEB_WORKERS)}x{env.get('GEOPLATFORM_WEB_THREADS', WEB_THREADS)}"


def rss_ratio(rss: dict[str, float], peer: str) -> str:
    """Ours / the peer's total server RSS, as printed next to the throughput ratio."""
    return f"RSS ours / {peer}: {rss['ours'] / rss[peer]:.2f}x" if rss.get(peer) else "RSS ratio: n/a"


def start_ours(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Our server with the command line of scripts/run.sh (workers x threads from the env)."""
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"), "geoplatform.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", env.get("GEOPLATFORM_WEB_WORKERS", WEB_WORKERS), "--threads", env.get("GEOPLATFORM_WEB_THREADS", WEB_THREADS),
        "--access-logfile", "-", "--timeout", "120",
    ]  # fmt: skip
    env = {  # as scripts/run.sh
        **env,
        "GDAL_CACHEMAX": env.get("GEOPLATFORM_WEB_GDAL_CACHEMAX", "64"),
        "MALLOC_ARENA_MAX": env.get("MALLOC_ARENA_MAX", "2"),
    }
    return start(cmd, env, log)


def start_peer(venv: Path, app: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A peer server from its own venv: uvicorn, 4 worker processes (as many as ours), no access
    log, and an environment without our GEOPLATFORM_/DJANGO_ settings plus ``env``."""
    cmd = [
        str(venv / "bin" / "uvicorn"), *app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "4", "--no-access-log",
    ]  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GEOPLATFORM_", "DJANGO_"))}
    return start(cmd, {**clean, **env}, log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, resp.read()


def wait_http(port: int, path: str, timeout: float = 90, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get(port, path, headers, timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"nothing answered 200 on 127.0.0.1:{port}{path} in {timeout}s")


def load(
    port: int,
    requests: Sequence[Request],
    seconds: float,
    concurrency: int,
    headers: dict[str, str] | None = None,
    check: Callable[[int, bytes], None] | None = None,
    ok: Sequence[int] = (200,),
) -> dict[str, float]:
    """``concurrency`` keep-alive clients cycle through ``requests`` for ``seconds``.

    ``check(i, body)`` is called on the first few successful answers (spot checks); a status
    not in ``ok`` counts as an error (``ok=(200, 204)`` for tiles, where 204 is an empty tile).
    """
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    deadline = time.monotonic() + seconds

    def client(w: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = w
        while time.monotonic() < deadline:
            method, path, body = requests[i % len(requests)]
            i += concurrency
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            latencies[w].append(time.perf_counter() - t0)
            if resp.status not in ok:
                errors[w] += 1
            elif check is not None and i < 4 * concurrency:
                check(i, data)
        conn.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    flat = sorted(x for lat in latencies for x in lat)
    return {
        "requests": len(flat),
        "rps": len(flat) / elapsed,
        "p50_ms": 1000 * statistics.median(flat),
        "p99_ms": 1000 * flat[min(len(flat) - 1, int(0.99 * len(flat)))],
        "errors": sum(errors),
    }
