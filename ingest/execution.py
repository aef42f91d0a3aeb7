"""The per-task hot path: run a task, keep its heartbeat, complete, retry or fail it.

Two statements per task, both prepared (server-side parameters): reading the task, and
completing it with the decrement of its stage. The task that empties its stage hands over
to the state machine (:func:`ingest.services.stage_advance`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg.types.json import Jsonb

from geoplatform import metrics, tracing
from geoplatform.logging import current_context, log_context
from geoplatform.postgis.cursors import server_bound_cursor

from . import registry
from .backoff import retry_delay_seconds
from .errors import RetryableError, classify
from .events import event_record
from .messages import tasks_enqueue
from .models import Job, JobStatus, Stage, Task, TaskStatus
from .services import job_fail_locked, stage_advance, stage_results

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
_ACTIVE_TASK = {TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.RETRYING}


class _RunningTasks:
    """Tasks running in this process; one thread refreshes all their heartbeats.

    One UPDATE per interval for the whole process instead of a thread and a database
    connection per task.
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def running(self, task_id: str) -> Iterator[None]:
        with self._lock:
            self._ids.add(task_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="task-heartbeats", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._ids.discard(task_id)

    def _beat(self) -> None:
        """Runs while tasks run; exits (closing its connection) when none is left."""
        interval = float(settings.GEOPLATFORM_HEARTBEAT_SECONDS)
        try:
            while True:
                time.sleep(interval)
                with self._lock:
                    ids = list(self._ids)
                    if not ids:
                        self._thread = None
                        return
                try:
                    now = timezone.now()
                    # A task still running after one interval is marked 'running' (the
                    # janitor watches those); shorter tasks go straight to 'completed'.
                    Task.objects.filter(
                        pk__in=ids, status__in=[TaskStatus.QUEUED, TaskStatus.RETRYING, TaskStatus.RUNNING]
                    ).update(status=TaskStatus.RUNNING, heartbeat_at=now, worker=WORKER_ID)
                    Task.objects.filter(pk__in=ids, started_at__isnull=True).update(started_at=now)
                except Exception:  # the janitor copes with a missed beat
                    logger.exception("task heartbeat failed")
                    connection.close()
        finally:
            connection.close()


_running = _RunningTasks()


@dataclass
class StartedTask:
    id: str
    job_id: str
    stage_id: int
    stage_index: int
    stage_name: str
    unit: int
    queue: str
    attempts: int


# Starting a task reads it; it writes nothing. A task only becomes 'running' in the
# database once it has run for one heartbeat interval (see _RunningTasks): a short task
# goes from 'queued' straight to 'completed' with one write. A worker that dies during a
# short task leaves its message unacknowledged, and the broker delivers it again.
_START_SQL = f"""
SELECT job_id, stage_id, unit, queue, attempts, params, status FROM {Task._meta.db_table} WHERE id = %s
"""
_RUNNABLE = ("queued", "retrying")


@functools.lru_cache(maxsize=1024)
def _job_definition(job_id: str) -> tuple[str, str]:
    """(job type, parameters as JSON): immutable for a job id, so cached per process."""
    job_type, parameters = Job.objects.filter(pk=job_id).values_list("job_type", "parameters").get()
    return job_type, json.dumps(parameters)


@functools.lru_cache(maxsize=1024)
def _job_origin(job_id: str) -> tuple[str, str]:
    """(request id, traceparent) of the request that started the job. Read only when the
    message did not carry them (sent outside a request, or a janitor's re-send); a re-run's
    messages carry their own request's."""
    row = Job.objects.filter(pk=job_id).values_list("request_id", "traceparent").first()
    return (row[0], row[1]) if row else ("", "")


@functools.lru_cache(maxsize=4096)
def _stage_definition(stage_id: int) -> tuple[int, str]:
    index, name = Stage.objects.filter(pk=stage_id).values_list("index", "name").get()
    return index, name


def task_execute(*, task_id: str) -> None:
    """Run one task: read it, call its handler, then complete, retry or fail it.

    Completion is conditional (a task counts once, however many deliveries ran it), so
    a duplicate message costs a wasted run at worst; handlers are idempotent.
    """
    row = _hot_statement(_START_SQL, [task_id])
    if row is None or row[6] not in _RUNNABLE:
        logger.info("task %s is not runnable (finished, cancelled or gone)", task_id)
        return
    job_id, stage_id, unit, queue, attempts, task_params, _ = row
    attempts += 1  # this run
    job_type, params = _job_definition(job_id)
    stage_index, stage_name = _stage_definition(stage_id)
    if stage_index == 0 and unit == 0:  # the job's first task: the job is running now
        if Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=timezone.now()
        ):
            metrics.job_event(job_type, "started")
    task = StartedTask(task_id, job_id, stage_id, stage_index, stage_name, unit, queue, attempts)
    carried = current_context()  # from the message (geoplatform.tracing.ContextMiddleware)
    request_id, traceparent = carried.get("request_id", ""), carried.get("traceparent", "")
    if not request_id:
        request_id, traceparent = _job_origin(job_id)
    with (
        log_context(job_id=job_id, task_id=task_id, request_id=request_id or None),
        tracing.span(
            f"task {job_type}/{stage_name}",
            traceparent=traceparent,
            attributes={"geoplatform.job_id": job_id, "geoplatform.task_id": task_id, "geoplatform.unit": unit},
        ),
    ):
        started = timezone.now()
        clock = time.perf_counter()
        metrics.task_event(job_type, stage_name, queue, "started")
        ctx = registry.TaskContext(
            job_id=job_id,
            task_id=task_id,
            stage_index=stage_index,
            stage_name=stage_name,
            params=json.loads(params),
            task_params=_json(task_params),
            attempt=attempts,
            load_previous=partial(stage_results, job_id, stage_index - 1),
            load_stage=partial(stage_results, job_id),
        )
        try:
            spec = _stage_spec(job_type, stage_index)
            with _running.running(task_id):
                result = spec.handler(ctx) or {}
        except Exception as exc:
            if not connection.in_atomic_block and not connection.is_usable():
                connection.close()  # the handler broke it; reconnect to record the failure
            outcome = _task_failed(task, exc, ctx.warnings)
            metrics.task_event(job_type, stage_name, queue, outcome, time.perf_counter() - clock)
            return
        task_complete(task_id=task_id, result=result, warnings=ctx.warnings, started_at=started)
        metrics.task_event(job_type, stage_name, queue, "completed", time.perf_counter() - clock)


def _hot_statement(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """Run one of the two per-task statements with server-side parameters, so that it is
    prepared: PostgreSQL plans it once per connection instead of once per task."""
    with server_bound_cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()  # type: ignore[no-any-return]


def _stage_spec(job_type: str, stage_index: int) -> registry.Stage:
    """The stage's declaration. A worker that does not know the job type (its code is older
    than the web's, mid-deploy) fails the task as retryable: a newer worker may take it."""
    known = registry.all_types().get(job_type)
    if known is None:
        raise RetryableError(
            f"This worker ({WORKER_ID}) does not know job type {job_type!r}.",
            code="unknown_job_type_on_worker",
            remediation="Deploy the same code to every worker.",
        )
    return known.stages[stage_index]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# One statement, one round trip: complete the task (only if it is still running) and
# decrement its stage. The stage row lock serialises concurrent completions, so exactly
# one statement returns 0. Asynchronous commit: the lock is released without waiting for
# the WAL flush; a crash can only lose the newest completions, each whole (the task is
# then still 'running' and the janitor re-runs it; handlers are idempotent).
_COMPLETE_SQL = f"""
WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true)),
done AS (
    UPDATE {Task._meta.db_table}
       SET status = 'completed', result = %s, error = NULL, finished_at = now(), attempts = attempts + 1,
           started_at = coalesce(started_at, %s), worker = %s
     WHERE id = %s AND status IN ('queued', 'retrying', 'running')
 RETURNING job_id, stage_id
)
UPDATE {Stage._meta.db_table} s SET tasks_remaining = s.tasks_remaining - 1
  FROM done, cfg
 WHERE s.id = done.stage_id
RETURNING done.job_id, s.id, s.tasks_remaining
"""


def task_complete(
    *, task_id: str, result: dict[str, Any], warnings: list[str] | None = None, started_at: Any = None
) -> bool:
    """Record a task's result; the task that empties its stage advances the job.

    Returns True when this call advanced the job (the fan-in winner).
    """
    row = _hot_statement(_COMPLETE_SQL, [Jsonb(result), started_at or timezone.now(), WORKER_ID, task_id])
    if row is None:  # cancelled meanwhile, or a duplicate delivery
        return False
    job_id, stage_id, remaining = row
    if warnings:
        _job_add_warnings(job_id, warnings)
    if remaining > 0:
        return False
    return stage_advance(stage_id=stage_id)


def _job_add_warnings(job_id: str, warnings: list[str]) -> None:
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {Job._meta.db_table} SET warnings = warnings || %s::jsonb WHERE id = %s",
            [json.dumps(warnings), job_id],
        )


def _task_failed(task: StartedTask, exc: BaseException, warnings: list[str]) -> str:
    """Retry or fail the task; returns which ("retried" or "failed")."""
    error, retryable = classify(exc)
    error["attempt"] = task.attempts
    max_attempts = 1 + int(settings.GEOPLATFORM_TASK_MAX_RETRIES)
    with log_context(job_id=task.job_id, task_id=task.id, error_source=error.get("error_source")):
        if retryable and task.attempts < max_attempts:
            delay = retry_delay_seconds(task.attempts)
            with transaction.atomic():
                moved = Task.objects.filter(pk=task.id, status__in=_ACTIVE_TASK).update(
                    status=TaskStatus.RETRYING, error=error, attempts=F("attempts") + 1
                )
                if moved:
                    event_record(
                        task.job_id,
                        "task_retry",
                        f"task {task.unit} of stage {task.stage_name} failed ({error['message']}); "
                        f"retry {task.attempts}/{max_attempts - 1} in {delay:.1f}s",
                        task_id=task.id,
                        error=error,
                    )
                    transaction.on_commit(lambda: tasks_enqueue([task.id], task.queue, int(delay * 1000)))
            logger.warning("task failed, will retry: %s", error["message"])
            return "retried"
        logger.error("task failed permanently: %s", error["message"])
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=task.job_id)
            Task.objects.filter(pk=task.id, status__in=_ACTIVE_TASK).update(
                status=TaskStatus.FAILED, error=error, finished_at=timezone.now(), attempts=F("attempts") + 1
            )
            if warnings:
                _job_add_warnings(task.job_id, warnings)
            job_fail_locked(job, {**error, "stage": task.stage_name, "task_id": task.id})
    return "failed"
