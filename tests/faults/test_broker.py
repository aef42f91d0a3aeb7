"""The broker restarted with messages in flight, on a private redis-server without persistence
(a restart loses every queued message): the janitor, which keeps going while the broker is down,
re-sends the tasks that were enqueued but never started, and the job completes."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from ingest import services
from ingest.models import Job, JobEvent
from tests.conftest import _worker_env
from tests.faults.conftest import Broker, Proc, Stack, free_port, redis_only, wait_until


class PrivateRedis:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: Proc | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = Proc(f"redis-{secrets.token_hex(2)}", cmd, {}, self.log_dir)
        wait_until(lambda: "Ready to accept connections" in self.proc.log(), 20, "redis-server")  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()


@pytest.fixture
def private_redis(fault_dir: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = PrivateRedis(fault_dir)
    redis.start()
    yield redis
    redis.stop()


@redis_only
def test_broker_restart_loses_queued_messages_and_the_janitor_resends_them(
    private_redis: PrivateRedis, fault_dir: Path, transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = Broker(f"redis://127.0.0.1:{private_redis.port}/0", "geoplatform-faults")
    monkeypatch.setattr(services, "_send", broker.send)
    env = {
        **_worker_env(connection.settings_dict["NAME"]),
        **broker.env,
        "GEOPLATFORM_JANITOR_INTERVAL_SECONDS": "0.5",
        "GEOPLATFORM_TASK_STALE_SECONDS": "2",
        "GEOPLATFORM_TASK_LOST_SECONDS": "3",
    }
    stack = Stack(env, fault_dir)
    try:
        stack.worker("worker")
        janitor = stack.manage("janitor", "janitor", "--loop")
        job = services.job_submit(job_type="hello", parameters={"count": 6, "sleep_ms": 1000, "name": "broker"}).job
        wait_until(
            lambda: Job.objects.get(pk=job.pk).stage_index == 1 and job.tasks.filter(status="running").exists(),
            60,
            "the fan-out stage to run",
        )
        # Messages in flight: one task running, the others queued in Redis (or prefetched).
        private_redis.stop()
        # While the broker is down the janitor's re-sends fail: it logs them and keeps going.
        wait_until(lambda: "janitor pass failed" in janitor.log() or not janitor.alive, 30, "a failed janitor pass")
        assert janitor.alive, janitor.log()[-3000:]
        # A job submitted while the broker is down is accepted; the janitor sends its tasks later.
        late = services.job_submit(job_type="hello", parameters={"count": 2, "name": "broker-down"}).job
        private_redis.start()  # empty: every queued message is gone

        done = wait_until(
            lambda: Job.objects.filter(pk=job.pk, status__in=["completed", "failed"]).first(), 120, "the job"
        )
        assert done.status == "completed", done.error
        assert done.result["total"] == sum(n * n for n in range(6))
        assert JobEvent.objects.filter(job_id=job.pk, kind="task_resent").exists()
        late_done = wait_until(
            lambda: Job.objects.filter(pk=late.pk, status__in=["completed", "failed"]).first(), 60, "the late job"
        )
        assert late_done.status == "completed" and late_done.result["total"] == 1, late_done.error
        assert janitor.alive
    finally:
        stack.stop()
