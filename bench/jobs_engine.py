"""Engine overhead: one job with a 1,000-task fan-out and a fan-in, vs 1,000 bare Dramatiq messages.

Both run through the same Redis broker with 2 worker processes x 4 threads on this machine,
in the same run. Prints both times and the ratio (target: engine <= 2x bare Dramatiq).

    .venv/bin/python bench/jobs_engine.py [--tasks 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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

DB_NAME = "geoplatform_bench"
BROKER = "redis://127.0.0.1:6379/9"
PROCESSES, THREADS = 2, 4


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "geoplatform.settings.dev",
            "GEOPLATFORM_DATABASE_URL": f"postgresql://root@127.0.0.1:5432/{DB_NAME}",
            "GEOPLATFORM_BROKER_URL": BROKER,
            "GEOPLATFORM_LOG_LEVEL": "WARNING",
            "GEOPLATFORM_STORAGE_BACKEND": "local",
            "GEOPLATFORM_EXTRA_JOB_TYPES": "ingest.jobtypes",  # `hello`: not registered by default
            "BENCH_BROKER_URL": BROKER,
            "dramatiq_worker_timeout": "100",
        }
    )
    env.setdefault("GEOPLATFORM_SECRET_KEY", uuid.uuid4().hex)
    return env


def _bare_round(bare_actors: Any, r: Any, n: int) -> float:
    run = uuid.uuid4().hex
    started = time.perf_counter()
    for i in range(n):
        bare_actors.square.send(i, run)
    while int(r.get(f"bench:bare:{run}:done") or 0) < n:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    r.delete(f"bench:bare:{run}", f"bench:bare:{run}:done")
    return elapsed


def bench_bare(n: int, rounds: int) -> list[float]:
    import redis

    sys.path.insert(0, str(ROOT / "bench"))
    os.environ["BENCH_BROKER_URL"] = BROKER
    import bare_actors

    r = redis.Redis.from_url(BROKER)
    worker = common.start(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "bare_actors",
            "--path",
            "bench",
            "--processes",
            str(PROCESSES),
            "--threads",
            str(THREADS),
        ],
        _env(),
    )
    try:
        time.sleep(3)  # boot
        _bare_round(bare_actors, r, n)  # warm-up, not counted
        return [_bare_round(bare_actors, r, n) for _ in range(rounds)]
    finally:
        common.stop(worker)


def bench_engine(n: int, rounds: int) -> list[float]:
    import django

    os.environ.update(_env())
    django.setup()
    from ingest import services
    from ingest.models import Job

    worker = common.start(
        [sys.executable, "manage.py", "rundramatiq", "--processes", str(PROCESSES), "--threads", str(THREADS)],
        _env(),
    )
    times: list[float] = []
    try:
        from ingest.selectors import workers_live

        deadline = time.monotonic() + 120
        while workers_live().count() < PROCESSES and time.monotonic() < deadline:
            time.sleep(0.2)
        for round_ in range(rounds + 1):  # the first round warms up and is not counted
            started = time.perf_counter()
            job = services.job_submit(job_type="hello", parameters={"count": n, "queue_tag": uuid.uuid4().hex}).job
            while True:
                status = Job.objects.filter(pk=job.id).values_list("status", flat=True).first()
                if status in {"completed", "failed"}:
                    break
                time.sleep(0.01)
            assert status == "completed", Job.objects.get(pk=job.id).error
            if round_:
                times.append(time.perf_counter() - started)
        return times
    finally:
        common.stop(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    subprocess.run([str(ROOT / "scripts" / "db.sh")], env=_env(), check=True)
    bare = bench_bare(args.tasks, args.rounds)
    engine = bench_engine(args.tasks, args.rounds)
    bare_med, engine_med = statistics.median(bare), statistics.median(engine)
    result = {
        "benchmark": "jobs_engine",
        "tasks": args.tasks,
        "workers": f"{PROCESSES} processes x {THREADS} threads",
        "bare_dramatiq_s": [round(t, 3) for t in bare],
        "engine_s": [round(t, 3) for t in engine],
        "bare_median_s": round(bare_med, 3),
        "engine_median_s": round(engine_med, 3),
        "ratio_engine_over_bare": round(engine_med / bare_med, 2),
        "target": "<= 2.0",
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "jobs_engine.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
