"""A worker process killed mid-task: the janitor re-queues its task and another worker finishes."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from django.db import connection

from ingest import janitor
from ingest.models import Job, JobEvent, Task, TaskStatus
from tests.conftest import Worker


def _children(pid: int) -> set[str]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.add(entry)
            except (OSError, IndexError, ValueError):
                continue
    return found


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_task_of_a_killed_worker_is_requeued_and_completed(live_worker: Any, auth_client: Any) -> None:
    doomed = Worker(connection.settings_dict["NAME"], processes=1, threads=2)
    try:
        from ingest.models import WorkerHeartbeat

        # Let the doomed worker boot: its worker process shows up with a heartbeat.
        deadline = time.monotonic() + 60
        doomed_pids: set[str] = set()
        while time.monotonic() < deadline:
            doomed_pids = _children(doomed.proc.pid)
            if WorkerHeartbeat.objects.filter(pid__in=[int(p) for p in doomed_pids]).exists():
                break
            time.sleep(0.1)
        job_id = auth_client.post(
            "/api/jobs/submit/hello",
            {"parameters": {"count": 12, "sleep_ms": 1500, "name": "janitor"}},
            format="json",
        ).json()["job_id"]

        # Wait until the doomed worker holds at least one task, then kill it outright.
        deadline = time.monotonic() + 30
        held = []
        while not held and time.monotonic() < deadline:
            running = Task.objects.filter(job_id=job_id, status=TaskStatus.RUNNING).values_list("id", "worker")
            held = [task_id for task_id, worker in running if worker.rsplit(":", 1)[-1] in doomed_pids]
            time.sleep(0.05)
        assert held, "the doomed worker never took a task"
        doomed.kill(signal.SIGKILL)

        # Its tasks stay RUNNING with a stale heartbeat until the janitor re-queues them.
        requeued = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            requeued += janitor.janitor_run()["requeued"]
            if Job.objects.filter(pk=job_id, status__in=["completed", "failed"]).exists():
                break
            time.sleep(0.5)
        job = Job.objects.get(pk=job_id)
        tasks = list(
            Task.objects.filter(job_id=job_id).values_list("stage__index", "unit", "status", "attempts", "worker")
        )
        assert job.status == "completed", (job.error, held, doomed_pids, tasks)
        assert job.result["total"] == sum(n * n for n in range(12))
        assert requeued >= len(held)
        assert JobEvent.objects.filter(job_id=job_id, kind="task_requeued").count() >= len(held)
        for task_id in held:
            task = Task.objects.get(pk=task_id)
            assert task.status == TaskStatus.COMPLETED and task.attempts == 2
    finally:
        doomed.kill(signal.SIGKILL)
