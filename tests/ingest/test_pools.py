"""Worker pools (EN6): two pools standing in for two hosts (their own temporary folders and
queue sets, one broker and one database) share one job; one pool is killed mid-job and the
other finishes it. Also the memory ceiling: a worker past it leaves after its task."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.conf import settings

from ingest import janitor, services
from ingest.models import Job, Task, TaskStatus, WorkerHeartbeat
from ingest.workers import leave_reason
from tests.conftest import Worker

pytestmark = pytest.mark.broker


def _redis_only() -> None:
    if not settings.GEOPLATFORM_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
        # The pools get a broker of their own through a Redis key namespace, so the session's
        # shared worker (which consumes every queue) cannot take their tasks. RabbitMQ would
        # need a virtual host per test run; there, unacknowledged messages of a dead
        # connection come back at once, which is Redis's heartbeat-timeout case made shorter.
        pytest.skip("pool isolation uses a Redis namespace; not set up for RabbitMQ")


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> str:
    """A broker key space for this test alone, used by the test process and its pools."""
    _redis_only()
    ns = f"pools-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(dramatiq.get_broker(), "namespace", ns)
    return ns


def _pool_env(ns: str, name: str, tmp: Path, **extra: str) -> dict[str, str]:
    (tmp / name).mkdir()
    return {
        "GEOPLATFORM_BROKER_NAMESPACE": ns,
        "GEOPLATFORM_WORKER_POOL": name,
        "TMPDIR": str(tmp / name),
        "CPL_TMPDIR": str(tmp / name),
        # A pool silent for 2 s is dead: its unacknowledged messages go back on the queue
        # (checked on 1 broker command in 5 here; 1 in 1,000 and 60 s in production).
        "GEOPLATFORM_BROKER_HEARTBEAT_TIMEOUT_MS": "2000",
        "GEOPLATFORM_BROKER_MAINTENANCE_CHANCE": "200000",
        **extra,
    }


def _wait_pools(*names: str, timeout: float = 60) -> dict[str, WorkerHeartbeat]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beats = {b.pool: b for b in WorkerHeartbeat.objects.filter(pool__in=names)}
        if set(beats) == set(names):
            return beats
        time.sleep(0.1)
    raise AssertionError(f"pools {names} did not start; found {list(WorkerHeartbeat.objects.values('pool', 'pid'))}")


def _pid(worker_id: str | None) -> int:
    return int((worker_id or ":0").rsplit(":", 1)[-1])


def test_two_pools_share_a_job_and_the_survivor_finishes_it(
    worker_pools: Callable[..., Worker], namespace: str, tmp_path: Path, settings: Any
) -> None:
    settings.GEOPLATFORM_TASK_STALE_SECONDS = 2.0
    a = worker_pools("pool-a", queues=["default", "etl"], env=_pool_env(namespace, "pool-a", tmp_path))
    worker_pools("pool-b", queues=["default", "webhooks"], env=_pool_env(namespace, "pool-b", tmp_path))
    beats = _wait_pools("pool-a", "pool-b")
    assert sorted(beats["pool-a"].queues) == ["default", "etl"]
    assert sorted(beats["pool-b"].queues) == ["default", "webhooks"]
    pid_a, pid_b = beats["pool-a"].pid, beats["pool-b"].pid

    count = 16
    job = services.job_submit(
        job_type="hello", parameters={"count": count, "sleep_ms": 1200, "queue_tag": namespace}
    ).job

    # Both pools work on the job: each has run or is running square tasks.
    deadline = time.monotonic() + 60
    by_pool: dict[int, int] = {}
    while time.monotonic() < deadline and not (by_pool.get(pid_a) and by_pool.get(pid_b)):
        by_pool = {}
        for worker in Task.objects.filter(job=job, stage__index=1).exclude(worker="").values_list("worker", flat=True):
            by_pool[_pid(worker)] = by_pool.get(_pid(worker), 0) + 1
        time.sleep(0.05)
    assert by_pool.get(pid_a) and by_pool.get(pid_b), f"the pools did not share the job: {by_pool}"

    # Kill pool A outright (no graceful stop), mid-job.
    held = list(
        Task.objects.filter(job=job, worker__endswith=f":{pid_a}", status=TaskStatus.RUNNING).values_list(
            "id", flat=True
        )
    )
    a.kill(signal.SIGKILL)
    assert not Job.objects.get(pk=job.pk).finished_at

    # Pool B finishes: Redis gives it pool A's unacknowledged messages once A's heartbeat is
    # stale, the janitor re-queues the tasks A was running (as `make run`'s janitor loop does).
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        janitor.janitor_run()
        if Job.objects.filter(pk=job.pk, status__in=["completed", "failed"]).exists():
            break
        time.sleep(0.5)
    job.refresh_from_db()
    assert job.status == "completed", (job.status, job.error)
    assert job.result is not None and job.result["total"] == sum(n * n for n in range(count))
    squares = Task.objects.filter(job=job, stage__index=1)
    assert squares.count() == count and not squares.exclude(status=TaskStatus.COMPLETED).exists()
    # What A held when it died was finished by B.
    for task_id in held:
        assert _pid(Task.objects.get(pk=task_id).worker) == pid_b
    # The last stage ran after A was gone.
    assert _pid(Task.objects.get(job=job, stage__index=2).worker) == pid_b


def test_a_worker_past_its_task_ceiling_leaves_after_the_task(
    worker_pools: Callable[..., Worker], namespace: str, tmp_path: Path
) -> None:
    """GEOPLATFORM_WORKER_MAX_TASKS (the memory ceiling works the same way): the process
    finishes its task, records it, and exits cleanly for its supervisor to start a new one."""
    pool = worker_pools(
        "capped",
        queues=["default"],
        threads=1,
        env=_pool_env(namespace, "capped", tmp_path, GEOPLATFORM_WORKER_MAX_TASKS="2"),
    )
    beat = _wait_pools("capped")["capped"]
    assert beat.max_tasks == 2 and beat.rss_bytes > 0 and beat.peak_rss_bytes >= beat.rss_bytes

    job = services.job_submit(job_type="hello", parameters={"count": 3, "queue_tag": namespace}).job
    assert pool.proc.wait(timeout=60) == 0  # left on its own, cleanly
    tasks = Task.objects.filter(job=job)
    assert tasks.filter(status=TaskStatus.COMPLETED).count() == 2  # greet + one square, no more
    assert not tasks.filter(status=TaskStatus.RUNNING).exists()


def test_leave_reason(settings: Any) -> None:
    settings.GEOPLATFORM_WORKER_MAX_TASKS = 0
    settings.GEOPLATFORM_WORKER_MAX_RSS_MB = 0
    assert leave_reason(tasks_done=10**6, rss=10**12) is None
    settings.GEOPLATFORM_WORKER_MAX_RSS_MB = 100
    assert leave_reason(tasks_done=1, rss=99 * 1024**2) is None
    assert "MAX_RSS_MB=100" in (leave_reason(tasks_done=1, rss=100 * 1024**2) or "")
    settings.GEOPLATFORM_WORKER_MAX_TASKS = 5
    assert "5 tasks" in (leave_reason(tasks_done=5, rss=0) or "")


@pytest.mark.django_db
def test_work_past_the_long_threshold_goes_to_the_long_queue(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """``Stage.work_bytes``: tasks declaring at least GEOPLATFORM_LONG_WORK_BYTES go to 'long'."""
    from ingest import registry

    settings.GEOPLATFORM_LONG_WORK_BYTES = 100
    jt = registry.JobType(
        name="test_work_bytes",
        stages=[
            registry.Stage(
                "work",
                lambda ctx: {},
                tasks=lambda params, previous: [{"n": n} for n in range(4)],
                queue="etl",
                work_bytes=lambda task_params: 40 * task_params["n"],
            ),
            registry.Stage("fixed", lambda ctx: {}, work_bytes=100),
        ],
    )
    monkeypatch.setitem(registry._registry, jt.name, jt)
    job = services.job_submit(job_type=jt.name, parameters={}).job
    queues = dict(Task.objects.filter(job=job, stage__index=0).values_list("unit", "queue"))
    assert queues == {0: "etl", 1: "etl", 2: "etl", 3: "long"}
    assert jt.stages[1].task_queue({}) == "long"


def test_a_raster_decoding_past_the_threshold_is_converted_on_the_long_pool(settings: Any) -> None:
    """process_raster's COG stage declares the source's decoded size: a file converted whole
    (not by windows) still goes to the long pool when it decodes to 1 GiB or more."""
    from ingest import registry

    cog = next(s for s in registry.get("process_raster").stages if s.name == "cog")
    settings.GEOPLATFORM_LONG_WORK_BYTES = 1024**3
    big = {"facts": {"width": 20_000, "height": 20_000, "count": 3, "dtype": "uint8"}, "tier": "analysis"}
    small = {"facts": {"width": 2_000, "height": 2_000, "count": 1, "dtype": "float32"}, "tier": "analysis"}
    assert cog.task_work_bytes(big) == 1_200_000_000 and cog.task_queue(big) == "long"
    assert cog.task_queue(small) == "default"
    assert cog.task_queue({**small, "parts": []}) == "long"  # windows: long whatever the size


def test_worker_queues_lists_every_queue_but_the_excluded() -> None:
    """scripts/run.sh's main pool: every declared queue but long (an app's new queue included)."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("worker_queues", "--except", "long", stdout=out)
    queues = out.getvalue().split()
    assert "long" not in queues and {"default", "etl", "webhooks"} <= set(queues)
    with pytest.raises(CommandError, match="unknown queue"):
        call_command("worker_queues", "--except", "lng", stdout=StringIO())
