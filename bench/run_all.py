"""`make bench`: every benchmark in bench/, one after another, then ONE table of ratios.

Each benchmark runs as its own process (its output in var/bench/run_all/<name>.log and on the
terminal), with a time limit; one that fails is reported and the rest still run. The peers'
venvs are made first by scripts/bench-peers.sh (`make bench` does it).

Quick by default, so the whole run is bounded (~30-40 min on 2 cores): load benchmarks run
``--seconds 5 --rounds 1`` and the others smaller sizes (QUICK below); ``--full`` runs each
with its own defaults (what docs/benchmarks.md quotes). Benchmarks added to bench/ later are
found by themselves: a script using ``common.load_parser`` gets the quick load options.

The summary is read from the benchmarks' own output: every ``mean req/s: ours X, peer Y,
ratio Zx`` line of :func:`common.print_rounds` (with the p99 of its table and the title line
above it) and every other line stating a ratio. It is printed and written to
bench/results/summary.json.

    .venv/bin/python bench/run_all.py [--full] [--only NAME ...] [--skip NAME ...] [--timeout 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402

# Not benchmarks: shared code, and apps/actors the benchmarks start.
HELPERS = {"common", "run_all", "bare_actors", "climate_read_app", "climate_xpublish_app"}
# Run first, in this order (features_ingest loads the 1,000,000 points the features benches read).
ORDER = ["jobs_engine", "dispatch_bulk", "features_ingest", "features_serving", "features_tiles", "stac_search",
         "reader_search", "raster_png", "raster_tiles", "raster_mosaic", "basemap_tiles", "raster_large_memory",
         "climate_ingest", "climate_read", "styles_get", "observability", "diagnostics"]  # fmt: skip
QUICK_LOAD = ["--seconds", "5", "--rounds", "1"]
# Quick arguments of the benchmarks that are not load benchmarks (or need more than QUICK_LOAD).
QUICK: dict[str, list[str]] = {
    "jobs_engine": ["--tasks", "300", "--rounds", "2"],
    "dispatch_bulk": ["--messages", "500", "--rounds", "1"],
    "features_ingest": ["--keep-db"],
    "stac_search": [*QUICK_LOAD, "--keep-db"],
    "reader_search": [*QUICK_LOAD, "--keep-db"],
    "climate_ingest": ["--files", "200", "--reps", "1"],
    "observability": [*QUICK_LOAD, "--keep-data"],
    "diagnostics": ["--calls", "10", "--keep-db"],
}
ALWAYS: dict[str, list[str]] = {"features_ingest": ["--keep-db"]}  # the serving benches reuse its table

_MEAN = re.compile(
    r"mean req/s: (?P<ours>\S+) (?P<ours_rps>[\d.]+), (?P<peer>\S+) (?P<peer_rps>[\d.]+), ratio (?P<ratio>[\d.]+)x"
)
_ROW = re.compile(
    r"^\|\s*(?P<name>[^|]+?)\s*\|\s*\d+\s*\|\s*[\d.]+\s*\|\s*[\d.]+\s*\|\s*[\d.]+\s*\|\s*(?P<p99>[\d.]+)\s*\|"
)
# The first whole number followed by "x" after "ratio" (lazy, and never the tail of a longer
# number: "ratio 1.97x" once read as 7.00x).
_RATIO = re.compile(r"ratio[^:]*?:?\s*[^0-9]*?(?<![\d.])(?P<ratio>\d+(?:\.\d+)?)x", re.IGNORECASE)


def benchmarks() -> list[str]:
    found = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem not in HELPERS)
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def arguments(name: str, full: bool) -> list[str]:
    if full:
        return list(ALWAYS.get(name, []))
    if name in QUICK:
        return list(QUICK[name])
    source = (ROOT / "bench" / f"{name}.py").read_text()
    return list(QUICK_LOAD) if "load_parser(" in source else []


def summarise(name: str, output: str) -> list[dict[str, Any]]:
    """Rows of the summary from one benchmark's output (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    title = ""
    p99: dict[str, list[float]] = {}
    for line in output.splitlines():
        text = line.strip()
        if match := _ROW.match(text):
            p99.setdefault(match["name"], []).append(float(match["p99"]))
            continue
        if match := _MEAN.search(text):
            ours, peer = match["ours"], match["peer"]
            rows.append(
                {
                    "bench": name,
                    "case": title,
                    "ours": ours,
                    "peer": peer,
                    "ours_rps": float(match["ours_rps"]),
                    "peer_rps": float(match["peer_rps"]),
                    "ratio": float(match["ratio"]),
                    "ours_p99_ms": statistics.mean(p99[ours]) if p99.get(ours) else None,
                    "peer_p99_ms": statistics.mean(p99[peer]) if p99.get(peer) else None,
                }
            )
            continue
        if text.startswith("|") or not text:
            continue
        if match := _RATIO.search(text):
            rows.append({"bench": name, "case": text[:110], "ratio": float(match["ratio"])})
            continue
        if not text.startswith(("mean", "load average", "wrote", "server", "established")):
            title, p99 = text[:110], {}
    return rows


def run(name: str, args: list[str], timeout: float, logs: Path) -> tuple[str, float, str]:
    """(status, seconds, output) of one benchmark; its output is shown as it comes."""
    started = time.monotonic()
    log = logs / f"{name}.log"
    print(f"\n===== {name} {' '.join(args)}", flush=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, f"bench/{name}.py", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None
        timer = threading.Timer(timeout, common.stop, [proc])  # a silent hang ends too
        timer.start()
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                out.write(line)
            code = proc.wait()
        finally:
            timer.cancel()
        status = "ok" if code == 0 else f"failed ({code})"
        if time.monotonic() - started >= timeout:
            status = f"timeout ({timeout:.0f} s)"
    return status, time.monotonic() - started, log.read_text()


def _fmt(value: Any, pattern: str = "{:.1f}") -> str:
    return "" if value is None else pattern.format(value)


def print_summary(done: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    print("\n===== summary (ratio: ours / peer req/s, or as the benchmark states it)")
    print("| bench | case | ours | peer | ours req/s | peer req/s | ratio | p99 ms ours / peer |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        p99 = f"{_fmt(r.get('ours_p99_ms'))} / {_fmt(r.get('peer_p99_ms'))}" if r.get("ours_p99_ms") else ""
        print(
            f"| {r['bench']} | {r['case']} | {r.get('ours', '')} | {r.get('peer', '')} | {_fmt(r.get('ours_rps'))} "
            f"| {_fmt(r.get('peer_rps'))} | {r['ratio']:.2f}x | {p99} |"
        )
    print("\n| bench | status | seconds |\n|---|---|---|")
    for d in done:
        print(f"| {d['bench']} | {d['status']} | {d['seconds']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="each benchmark with its own defaults")
    parser.add_argument("--only", nargs="+", default=None, help="just these benchmarks")
    parser.add_argument("--skip", nargs="+", default=[], help="all but these")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds one benchmark may take")
    parser.add_argument("--summary-only", action="store_true", help="summarise the logs of the last run")
    args = parser.parse_args()
    names = [n for n in (args.only or benchmarks()) if n not in args.skip]
    logs = ROOT / "var" / "bench" / "run_all"
    logs.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    done: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for name in names:
        if args.summary_only:
            log = logs / f"{name}.log"
            status, seconds, output = ("ok", 0.0, log.read_text()) if log.exists() else ("no log", 0.0, "")
        else:
            status, seconds, output = run(name, arguments(name, args.full), args.timeout, logs)
        done.append({"bench": name, "status": status, "seconds": seconds})
        rows += summarise(name, output)
    print_summary(done, rows)
    print(f"\nload average before: {load_before}, after: {os.getloadavg()} (2 cores shared: ratios, not absolutes)")
    out = common.results_path("summary")
    out.write_text(json.dumps({"mode": "full" if args.full else "quick", "runs": done, "rows": rows,
                               "load_average_start": load_before, "load_average_end": os.getloadavg()}, indent=2))  # fmt: skip
    print(f"wrote {out.relative_to(ROOT)}")
    if any(d["status"] != "ok" for d in done):
        sys.exit(1)


if __name__ == "__main__":
    main()
