"""STAC search on a reader deployment vs the full platform: the cost of pgstac.readonly.

A reader (GEOPLATFORM_MODE=reader) connects as a role with SELECT grants only and sets
``pgstac.readonly=true``, so pgSTAC's search() neither records the search in pgstac.searches
nor caches its counts in pgstac.search_wheres (both writes). This measures what that costs
against the full platform (the application role, recording every search), on the SAME
database in the same run: the items and queries of bench/stac_search.py (10,000 items, POST
/search with a bbox, a 6-month datetime interval and limit 100), both servers gunicorn with
the same workers x threads, rounds alternating. Prints requests/s, p50/p99 and the ratio
reader / full (parity expected), then the same for pgSTAC's search() alone (no HTTP: less
noise on a busy machine).

    .venv/bin/python bench/reader_search.py [--items 10000] [--seconds 15] [--rounds 2] [--keep-db]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402
import stac_search  # noqa: E402

# A database of its own (stac_search.py's may be in use by its own benchmark).
DB_NAME = "geoplatform_bench_reader"
READER_ROLE = "geoplatform_bench_reader"
FULL_PORT, READER_PORT = 8873, 8874
stac_search.DB_NAME = DB_NAME
stac_search.DB_URL = f"postgresql://root@127.0.0.1:5432/{DB_NAME}"


def grant_reader_role() -> str:
    """The reader's role on the benchmark database, granted as scripts/db.sh grants it."""
    import psycopg

    from geoplatform.dbroles import grant_reader

    with psycopg.connect(stac_search.DB_URL, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"DO $$ BEGIN CREATE ROLE {READER_ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        grant_reader(cur, reader=READER_ROLE, dbname=DB_NAME, writers=["root"])
        (count,) = cur.execute("SELECT count(*) FROM pgstac.searches").fetchone()  # type: ignore[misc]
    print(f"reader role {READER_ROLE} granted; pgstac.searches holds {count} rows")
    return f"postgresql://{READER_ROLE}@127.0.0.1:5432/{DB_NAME}"


def searches_count() -> int:
    import psycopg

    with psycopg.connect(stac_search.DB_URL, autocommit=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM pgstac.searches").fetchone()  # type: ignore[misc]
    return int(count)


def sql_only(reader_url: str, rounds: int) -> None:
    """pgSTAC's search() alone, without HTTP: the full platform's role (recording each search)
    vs the reader's (pgstac.readonly), interleaved query by query on two connections."""
    import json
    import statistics
    import time

    import psycopg

    base = "-c search_path=public,pgstac -c jit=off -c max_parallel_workers_per_gather=0"
    conns = {
        "full": psycopg.connect(stac_search.DB_URL, autocommit=True, options=base),
        "reader": psycopg.connect(reader_url, autocommit=True, options=base + " -c pgstac.readonly=true"),
    }
    bodies = [json.dumps({**json.loads(b), "conf": {"nohydrate": True}}) for b in stac_search.queries(100)]
    times: dict[str, list[float]] = {name: [] for name in conns}
    for _ in range(rounds):
        for body in bodies:
            for name, conn in conns.items():
                started = time.perf_counter()
                conn.execute("SELECT pgstac.search(%s::jsonb)", [body]).fetchone()
                times[name].append(time.perf_counter() - started)
    for conn in conns.values():
        conn.close()
    medians = {name: 1000 * statistics.median(t) for name, t in times.items()}
    print(
        f"search() alone, {len(bodies) * rounds} queries each, median ms: full {medians['full']:.1f},"
        f" reader {medians['reader']:.1f}; ratio of speeds reader/full {medians['full'] / medians['reader']:.2f}x"
    )


def main() -> None:
    parser = common.load_parser(__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workers", default="2", help="gunicorn workers of each server (threads: 2)")
    parser.add_argument("--keep-db", action="store_true", help="reuse the loaded benchmark database")
    args = parser.parse_args()

    stac_search.prepare_database(args.items, args.keep_db)
    reader_url = grant_reader_role()
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**stac_search._env(), "GEOPLATFORM_WEB_WORKERS": args.workers, "GEOPLATFORM_WEB_THREADS": "2"}
    reader_env = {**env, "GEOPLATFORM_MODE": "reader", "GEOPLATFORM_DATABASE_READER_URL": reader_url}
    full = common.start_ours(FULL_PORT, env, logs / "reader-search-full.log")
    reader = common.start_ours(READER_PORT, reader_env, logs / "reader-search-reader.log")
    bodies = stac_search.queries()
    path = "/api/stac/search"
    try:
        common.wait_http(FULL_PORT, "/api/stac/")
        common.wait_http(READER_PORT, "/api/stac/")
        before = searches_count()
        for port in (FULL_PORT, READER_PORT):
            stac_search.load(port, path, bodies, 3, args.concurrency)  # warm-up: connections, caches
        results: dict[str, list[dict[str, float]]] = {"reader": [], "full": []}
        for i in range(args.rounds):  # the order alternates: neither always runs first
            for name in ("full", "reader") if i % 2 == 0 else ("reader", "full"):
                port = FULL_PORT if name == "full" else READER_PORT
                results[name].append(stac_search.load(port, path, bodies, args.seconds, args.concurrency))
        # A write as the reader's role fails (permission denied): it would show as errors.
        assert all(r["errors"] == 0 for r in results["reader"]), results["reader"]
    finally:
        common.stop(full)
        common.stop(reader)

    print(
        f"\nPOST /search, bbox 10x10 deg + 6-month datetime, limit 100, {args.items} items,"
        f" concurrency {args.concurrency}, {args.workers} workers x 2 threads each;"
        f" pgstac.searches: {before} rows before, {searches_count()} after (the full platform's)"
    )
    common.print_rounds(results, "full", ours="reader")
    sql_only(reader_url, args.rounds)


if __name__ == "__main__":
    main()
