"""Run a job in the test's own process, the way the engine runs it.

``run_inline(job_id)`` executes a submitted job's tasks with the engine's own functions:
:func:`ingest.execution.task_execute` claims and runs each task, records its result and
(in the task that empties its stage) advances the job through the state machine, which
creates the next stage's tasks from the previous stage's results; handlers read earlier
stages through the same ``TaskContext`` loaders a worker gives them. A retried task is run
again at once (the engine would wait its back-off); once the job has failed or been
cancelled, :func:`ingest.services.job_cleanup` runs as the cleanup actor would.

Messages are not sent (see the autouse fixture in tests/conftest.py), so tests stay fast
and need no worker; the worker path is covered by the ``live_worker`` tests.
"""

from __future__ import annotations

import time
from typing import Any

from ingest import services
from ingest.execution import task_execute
from ingest.models import Job, JobStatus, Task, TaskStatus


def run_inline(job_id: str, *, timeout: float = 120) -> Job:
    """Run ``job_id``'s tasks here, stage after stage, until the job ends; returns the job.

    In transactional tests a live worker may claim some tasks first (claims are atomic, so
    each task still runs once): then this waits for it.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Job.objects.get(pk=job_id).is_terminal:
            break
        pending = list(
            Task.objects.filter(job_id=job_id, status__in=[TaskStatus.QUEUED, TaskStatus.RETRYING])
            .order_by("stage__index", "unit")
            .values_list("id", flat=True)
        )
        if not pending:
            time.sleep(0.05)
            continue
        for task_id in pending:
            task_execute(task_id=task_id)
    job = Job.objects.get(pk=job_id)
    if job.status in {JobStatus.FAILED, JobStatus.CANCELLED}:
        services.job_cleanup(job_id=job_id)
    return job


def submit_inline(job_type: str, parameters: dict[str, Any], **submit: Any) -> Job:
    """Submit through the real service (pre-flight validators included) and run the job here."""
    outcome = services.job_submit(job_type=job_type, parameters=parameters, **submit)
    return run_inline(outcome.job.id)
