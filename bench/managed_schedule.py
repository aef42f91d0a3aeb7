"""The scheduler's tick: claiming N due managed sources, against its floor.

- ours: ``managed.scheduler.scheduler_tick`` over N due sources (SELECT ... FOR UPDATE SKIP
  LOCKED, the next slot + jitter of each through croniter, one bulk UPDATE), starting nothing
  (``run`` is a no-op: the dispatch is one Dramatiq message per source, measured elsewhere);
- floor: the least a claim can cost, one ``UPDATE ... SET next_run_at = now() + 1 day WHERE
  next_run_at <= now() RETURNING id`` (no cron, no jitter, no lock ordering).

N = 1,000 is the tick after a long downtime of a large registry (every source due at once;
a tick claims at most 500, so it takes two ticks); a normal 02:00 tick claims the few sources
whose jitter falls in that minute. Same database, same run; prints per-round times and the
ratio ours / floor.

    .venv/bin/python bench/managed_schedule.py [--sources 1000] [--rounds 5]

It uses its own database, geoplatform_bench_managed (created and migrated if missing; another
with GEOPLATFORM_DATABASE_URL); the benchmark's rows are removed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402

DB_NAME = "geoplatform_bench_managed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoplatform.settings.dev")
    os.environ.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    os.environ.setdefault("GEOPLATFORM_LOG_LEVEL", "WARNING")
    if "GEOPLATFORM_DATABASE_URL" not in os.environ:
        os.environ["GEOPLATFORM_DATABASE_URL"] = common.database_ready(DB_NAME, dict(os.environ))
    import django

    django.setup()
    from django.db import connection, transaction

    from managed.models import ManagedSource
    from managed.scheduler import scheduler_tick

    prefix = "bench-sched-"
    schedules = ["0 2 * * *", "30 3 * * *", "0 */6 * * *", "*/15 * * * *", "0 4 * * Mon"]

    def reset(past: dt.datetime) -> None:
        ManagedSource.objects.filter(name__startswith=prefix).update(next_run_at=past)

    ManagedSource.objects.filter(name__startswith=prefix).delete()
    ManagedSource.objects.bulk_create(
        [
            ManagedSource(
                name=f"{prefix}{i:05d}",
                handler="http_file",
                location=f"http://127.0.0.1:9/{i}",
                collection_id=f"bench_sched_{i:05d}",
                schedule=schedules[i % len(schedules)],
            )
            for i in range(args.sources)
        ]
    )
    ours: list[float] = []
    floor: list[float] = []
    try:
        for round_ in range(args.rounds + 1):  # the first round warms up and is not counted
            now = dt.datetime.now(dt.UTC)
            reset(now - dt.timedelta(days=2))
            started = time.perf_counter()
            claimed = 0
            while True:  # at most 500 a tick: a downtime's backlog takes several ticks
                result = scheduler_tick(now=now, run=lambda pk: None)
                claimed += len(result.due)
                if not result.due:
                    break
            elapsed = time.perf_counter() - started
            assert claimed == args.sources, claimed
            reset(now - dt.timedelta(days=2))
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(
                    "UPDATE managed_managedsource SET next_run_at = now() + interval '1 day' "
                    "WHERE enabled AND next_run_at <= now() AND name LIKE %s RETURNING id",
                    [prefix + "%"],
                )
                assert len(cur.fetchall()) == args.sources
            floor_elapsed = time.perf_counter() - started
            if round_:
                ours.append(elapsed)
                floor.append(floor_elapsed)
    finally:
        ManagedSource.objects.filter(name__startswith=prefix).delete()
    print(f"{args.sources} due sources, {args.rounds} rounds (load average {os.getloadavg()[0]:.1f})")
    print("| round | tick ms | floor ms |")
    print("|---|---|---|")
    for i, (a, b) in enumerate(zip(ours, floor, strict=True), 1):
        print(f"| {i} | {a * 1000:.1f} | {b * 1000:.1f} |")
    mean_ours, mean_floor = statistics.mean(ours), statistics.mean(floor)
    print(
        f"mean: tick {mean_ours * 1000:.1f} ms ({mean_ours / args.sources * 1e6:.0f} us/source), "
        f"floor {mean_floor * 1000:.1f} ms; ratio {mean_ours / mean_floor:.2f}x"
    )


if __name__ == "__main__":
    main()
