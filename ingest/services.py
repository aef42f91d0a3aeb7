"""Every change to job state: submit, run a task, fan-in, retry, fail, cancel, janitor.

The API, the admin, management commands and actors all call these functions.

Fan-in ("the last task turns out the lights"): a task's completion and the decrement
of its stage's ``tasks_remaining`` happen in one transaction holding the stage row
lock, so exactly one task sees zero and advances the job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from psycopg.types.json import Jsonb

from geoplatform.errors import Forbidden, InvalidInput
from geoplatform.logging import log_context
from geoplatform.postgis.cursors import server_bound_cursor

from . import registry
from .dispatch import send_many
from .errors import JobNotFound, JobNotRunnable, RetryableError, classify
from .models import CallbackDelivery, Job, JobEvent, JobStatus, JobSubscriber, Stage, Task, TaskStatus

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
_ACTIVE_TASK = {TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.RETRYING}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def job_id_for(job_type: str, parameters: dict[str, Any]) -> str:
    """SHA-256 of the job type and the canonical (defaults applied) parameters."""
    return hashlib.sha256(canonical_json({"job_type": job_type, "parameters": parameters}).encode()).hexdigest()


def task_id_for(job_id: str, stage_index: int, unit: int) -> str:
    return hashlib.sha256(f"{job_id}:{stage_index}:{unit}".encode()).hexdigest()


@dataclass
class SubmitOutcome:
    job: Job
    outcome: str  # created | existing | in_progress | restarted
    # The submitter joined a job another client had started (same type and parameters):
    # it may read the job from now on, and its own callback_url is called.
    joined: bool = False

    @property
    def created(self) -> bool:
        return self.outcome in {"created", "restarted"}


def event_record(job_id: str, kind: str, message: str = "", *, task_id: str | None = None, **data: Any) -> None:
    JobEvent.objects.create(job_id=job_id, task_id=task_id, kind=kind, message=message, data=data)


# --- submit ------------------------------------------------------------------------------


def job_submit(
    *,
    job_type: str,
    parameters: dict[str, Any],
    user: Any = None,
    callback_url: str = "",
    force: bool = False,
    gate: bool = False,
) -> SubmitOutcome:
    """Validate and start a job, or return the existing one with the same id.

    ``gate``: a client's submission through the generic API, held to :func:`job_submit_gate`.
    Services that own a workflow (publishing's state machine) submit ungated.
    """
    from .callbacks import callback_url_check

    jt = registry.get(job_type)
    params = jt.clean_params(parameters)
    if gate:
        job_submit_gate(job_type=jt, params=params, user=user)
    if callback_url:
        callback_url_check(callback_url, user)
    job_id = job_id_for(job_type, params)

    if Job.objects.filter(pk=job_id).exists():
        # Under the job row lock: a job finishing meanwhile reads its subscribers after
        # this commits (its callbacks include this client's), or we see it finished.
        with transaction.atomic():
            found = Job.objects.select_for_update().filter(pk=job_id).first()
            reused = _reused(found, force) if found is not None else ""
            if found is not None and reused:
                return SubmitOutcome(found, reused, _subscribe(found, user, callback_url))

    problems: list[str] = []
    for validator in jt.validators:
        problems.extend(validator(params))
    if problems:
        raise InvalidInput(
            f"Pre-flight checks failed for {job_type!r}.",
            code="preflight_failed",
            details={"problems": problems},
            remediation="Fix each problem listed and submit again.",
        )

    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            job = Job.objects.create(
                id=job_id,
                job_type=job_type,
                parameters=params,
                stage_count=len(jt.stages),
                callback_url=callback_url,
                submitted_by=user if getattr(user, "is_authenticated", False) else None,
            )
            event_record(job_id, "submitted", f"{job_type} submitted")
            _subscribe(job, user, callback_url)
            _stage_start(job, jt, 0, [])
            return SubmitOutcome(job, "created")
        # Another submit may have won the race while we validated.
        reused = _reused(job, force)
        if reused:
            return SubmitOutcome(job, reused, _subscribe(job, user, callback_url))
        if callback_url and job.submitted_by_id == getattr(user, "pk", None):
            job.callback_url = callback_url
        _job_restart(job, jt, reason="forced re-run" if job.status == JobStatus.COMPLETED else "resubmitted")
        return SubmitOutcome(job, "restarted", _subscribe(job, user, callback_url))


def _reused(job: Job, force: bool) -> str:
    """'existing' / 'in_progress' when a submission returns this job as it is, else ''."""
    if job.status == JobStatus.COMPLETED and not force:
        return "existing"
    if job.status in {JobStatus.QUEUED, JobStatus.RUNNING}:
        return "in_progress"
    return ""


def _subscribe(job: Job, user: Any, callback_url: str) -> bool:
    """Make ``user`` a subscriber of ``job`` (its latest callback_url wins); True when it
    joined a job another client started."""
    if not getattr(user, "is_authenticated", False):
        return False  # the platform itself (management commands, system jobs)
    sub, created = JobSubscriber.objects.get_or_create(
        job=job,
        user=user,
        defaults={"callback_url": callback_url, "joined": job.submitted_by_id != user.pk},
    )
    if not created and callback_url and sub.callback_url != callback_url:
        JobSubscriber.objects.filter(pk=sub.pk).update(callback_url=callback_url)
    if created and sub.joined:
        event_record(job.id, "joined", "another client submitted the same job", user_id=user.pk)
    return sub.joined


def job_submit_gate(*, job_type: registry.JobType, params: dict[str, Any], user: Any) -> None:
    """The generic API's rules: the job type may be submitted through it, the account holds
    the permission the type names, no submit guard protects an output it would replace or
    delete (unless the account may override the guards), and it does not make data public
    without a review (unless the account may publish without one)."""
    jt = job_type
    if not jt.api_submit:
        raise Forbidden(
            f"{jt.name} is started by {jt.started_by}.",
            code="job_type_not_submittable",
            remediation=f"{jt.name} cannot be submitted through /api/jobs/submit.",
        )
    if user is None or not user.has_perm(jt.submit_permission):
        raise Forbidden(
            f"Your account lacks the permission {jt.submit_permission!r} needed to submit {jt.name}.",
            code="permission_denied",
        )
    _params_check(jt, params, user)


def _params_check(jt: registry.JobType, params: dict[str, Any], user: Any) -> None:
    """What the parameters would do, held to the generic API's rules (submit and retry).
    Guards first: a protected output's refusal names the route for that very release."""
    _guards_check(jt, params, user)
    _publish_check(jt, params, user)


def _publish_check(jt: registry.JobType, params: dict[str, Any], user: Any) -> None:
    if jt.publishes is None or not jt.publishes(params):
        return
    permission = registry.PUBLISH_WITHOUT_REVIEW_PERMISSION
    if user is not None and user.has_perm(permission):
        return
    preview = dict(jt.preview_params or {})
    hidden = ", ".join(f"{name}={json.dumps(value)}" for name, value in preview.items())
    route = registry.review_route()
    todo = f"Pass {hidden} to load it for preview only (hidden from the public)"
    todo += f", or submit it through {route} to have it reviewed and published on approval." if route else "."
    raise Forbidden(
        f"{jt.name} with these parameters makes the data public without a review, which needs the "
        f"permission {permission!r} (operators). {todo}",
        code="publish_needs_review",
        details={"permission": permission, "preview_parameters": preview, "review_route": route or None},
        remediation=todo,
    )


def _guards_check(jt: registry.JobType, params: dict[str, Any], user: Any) -> None:
    outputs = list(jt.replaces(params)) if jt.replaces is not None else []
    if not outputs or (user is not None and user.has_perm(registry.OVERRIDE_GUARDS_PERMISSION)):
        return
    refusals = [refusal for guard in registry.submit_guards() for refusal in guard(outputs)]
    if refusals:
        raise Forbidden(
            " ".join(refusals),
            code="protected_output",
            details={"problems": refusals},
            remediation=(
                "Use the route named above; an operator holding "
                f"{registry.OVERRIDE_GUARDS_PERMISSION!r} may submit it here."
            ),
        )
    _owners_check(outputs, user)


def _owners_check(outputs: list[registry.Output], user: Any) -> None:
    """One token may not destroy another client's data: an existing output is replaced or
    deleted through the generic API only by the account that submitted every job that made
    it (the apps owning each kind say which jobs those are). Joining a job (submitting the
    same type and parameters later, which anyone who guesses them can) gives it to read, not
    its outputs to destroy. Checked after the guards, so that a release's data names
    /api/platform/* first."""
    made_by = {output: registry.output_owner_jobs(output) for output in outputs}
    job_ids = {job_id for jobs in made_by.values() if jobs for job_id in jobs}
    mine: set[str] = set()
    if job_ids and getattr(user, "is_authenticated", False):
        mine = set(Job.objects.filter(pk__in=job_ids, submitted_by=user).values_list("pk", flat=True))
    foreign = [o for o, jobs in made_by.items() if jobs is not None and (not jobs or not set(jobs) <= mine)]
    if not foreign:
        return
    permission = registry.OVERRIDE_GUARDS_PERMISSION
    refusals = [
        f"{o.kind.replace('_', ' ')} {o.id!r} exists and was not made by a job your account submitted: "
        "only the account that loaded it (with its own token) or an operator holding "
        f"{permission!r} may replace or delete it through /api/jobs/submit."
        for o in foreign
    ]
    raise Forbidden(
        " ".join(refusals) + " Data loaded through a release changes through /api/platform/* "
        "(POST /api/platform/submit, /api/platform/revoke, /api/platform/unpublish).",
        code="not_output_owner",
        details={"problems": refusals, "outputs": [o.id for o in foreign], "permission": permission},
        remediation=(
            "Load your own copy under another name (table_name, item_id or collection_id), or ask the "
            f"account that loaded it, or an operator holding {permission!r}."
        ),
    )


def _job_restart(job: Job, jt: registry.JobType, *, reason: str) -> None:
    """Reset a finished job (row locked by the caller) and run it from the first stage."""
    if job.error:
        job.error_history = [*job.error_history, {**job.error, "run": job.runs}]
    Task.objects.filter(job=job).delete()
    Stage.objects.filter(job=job).delete()
    job.status = JobStatus.QUEUED
    job.result = None
    job.error = None
    job.warnings = []
    job.runs += 1
    job.stage_index = 0
    job.stage_count = len(jt.stages)
    job.started_at = None
    job.finished_at = None
    job.save()
    event_record(job.id, "restarted", f"run {job.runs}: {reason}")
    _stage_start(job, jt, 0, [])


def _stage_start(job: Job, jt: registry.JobType, index: int, previous: list[dict[str, Any]]) -> None:
    """Create stage ``index`` and its tasks; enqueue them once the transaction commits."""
    spec = jt.stages[index]
    task_params = spec.tasks(job.parameters, previous)
    now = timezone.now()
    stage = Stage.objects.create(
        job=job,
        index=index,
        name=spec.name,
        status=JobStatus.RUNNING,
        tasks_total=len(task_params),
        tasks_remaining=len(task_params),
        started_at=now,
    )
    Job.objects.filter(pk=job.pk).update(stage_index=index)
    job.stage_index = index
    if index > 0 and job.status == JobStatus.QUEUED:  # e.g. a first stage with no tasks
        Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
        job.status = JobStatus.RUNNING
    event_record(job.id, "stage_started", f"stage {index} {spec.name}: {len(task_params)} task(s)", stage=index)
    if not task_params:
        _stage_finish(job.id, stage)
        return
    tasks = [
        Task(id=task_id_for(job.id, index, unit), job=job, stage=stage, unit=unit, params=p, queue=spec.task_queue(p))
        for unit, p in enumerate(task_params)
    ]
    Task.objects.bulk_create(tasks, batch_size=1000)
    by_queue: dict[str, list[str]] = {}
    for t in tasks:
        by_queue.setdefault(t.queue, []).append(t.id)
    for queue, ids in by_queue.items():
        transaction.on_commit(partial(_enqueue_or_leave_to_janitor, ids, queue))


def _enqueue_or_leave_to_janitor(task_ids: list[str], queue: str) -> None:
    """A new stage's first send. The tasks are committed: if the broker is down now, the
    submit (or the fan-in) still succeeds and the janitor sends them once it is back."""
    try:
        _enqueue(task_ids, queue)
    except Exception:
        logger.exception("could not send %d task(s) to queue %s; the janitor will send them", len(task_ids), queue)


def _enqueue(task_ids: list[str], queue: str, delay_ms: int | None = None) -> None:
    due = timezone.now() + dt.timedelta(milliseconds=delay_ms or 0)
    # Sent first: when the broker is down the send raises and enqueued_at keeps its old
    # value, so the janitor re-sends on its first pass after the broker is back.
    _send(task_ids, queue, delay_ms)
    Task.objects.filter(id__in=task_ids).update(enqueued_at=due)


def _send(task_ids: list[str], queue: str, delay_ms: int | None = None) -> None:
    """Put the tasks' messages on the broker."""
    from .actors import task_actor

    actor = task_actor(queue)
    if delay_ms:
        for task_id in task_ids:
            actor.send_with_options(args=(task_id,), delay=delay_ms)
        return
    send_many(actor, [(task_id,) for task_id in task_ids])


# --- running a task ----------------------------------------------------------------------


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
        Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=timezone.now()
        )
    task = StartedTask(task_id, job_id, stage_id, stage_index, stage_name, unit, queue, attempts)
    with log_context(job_id=job_id, task_id=task_id):
        started = timezone.now()
        ctx = registry.TaskContext(
            job_id=job_id,
            task_id=task_id,
            stage_index=stage_index,
            stage_name=stage_name,
            params=json.loads(params),
            task_params=_json(task_params),
            attempt=attempts,
            load_previous=partial(_stage_results, job_id, stage_index - 1),
            load_stage=partial(_stage_results, job_id),
        )
        try:
            spec = _stage_spec(job_type, stage_index)
            with _running.running(task_id):
                result = spec.handler(ctx) or {}
        except Exception as exc:
            if not connection.in_atomic_block and not connection.is_usable():
                connection.close()  # the handler broke it; reconnect to record the failure
            _task_failed(task, exc, ctx.warnings)
            return
        task_complete(task_id=task_id, result=result, warnings=ctx.warnings, started_at=started)


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


def _stage_results(job_id: str, stage_index: int) -> list[dict[str, Any]]:
    if stage_index < 0:
        return []
    return [
        r or {}
        for r in Task.objects.filter(job_id=job_id, stage__index=stage_index)
        .order_by("unit")
        .values_list("result", flat=True)
    ]


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


def stage_advance(*, stage_id: int) -> bool:
    """Finish a stage whose tasks are all done and start the next (idempotent).

    Called by the fan-in winner, and by the janitor for a stage whose winner died
    between its completion and this call.
    """
    with transaction.atomic():
        stage = Stage.objects.select_for_update().get(pk=stage_id)
        if stage.status != JobStatus.RUNNING or stage.tasks_remaining > 0:
            return False
        _stage_finish(stage.job_id, stage)
        return True


def _job_add_warnings(job_id: str, warnings: list[str]) -> None:
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {Job._meta.db_table} SET warnings = warnings || %s::jsonb WHERE id = %s",
            [json.dumps(warnings), job_id],
        )


def _stage_finish(job_id: str, stage: Stage) -> None:
    """The stage is done: start the next one or finalise the job (inside the caller's transaction)."""
    Stage.objects.filter(pk=stage.pk).update(status=JobStatus.COMPLETED, finished_at=timezone.now())
    job = Job.objects.select_for_update().get(pk=job_id)
    if job.status not in {JobStatus.QUEUED, JobStatus.RUNNING}:
        return
    event_record(job.id, "stage_completed", f"stage {stage.index} {stage.name} completed", stage=stage.index)
    jt = registry.get(job.job_type)
    next_index = stage.index + 1
    results: list[dict[str, Any]] = [
        r or {} for r in Task.objects.filter(stage=stage).order_by("unit").values_list("result", flat=True)
    ]
    try:
        if next_index < len(jt.stages):
            _stage_start(job, jt, next_index, results)
            return
        result = _job_result(job, jt)
    except Exception as exc:
        error, _ = classify(exc)
        logger.exception("job %s could not advance past stage %s", job.id, stage.index)
        _job_fail_locked(job, {**error, "stage": stage.name})
        return
    job.status = JobStatus.COMPLETED
    job.result = result
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "finished_at", "updated_at"])
    event_record(job.id, "completed", f"{job.job_type} completed")
    _after_commit_notify(job, "job.completed")


def _job_result(job: Job, jt: registry.JobType) -> dict[str, Any]:
    by_stage = registry.LazyStageResults(len(jt.stages), partial(_stage_results, job.id))
    if jt.finalize is None:
        return {"stages": {spec.name: by_stage[i] for i, spec in enumerate(jt.stages)}}
    return jt.finalize(registry.FinalizeContext(job_id=job.id, params=job.parameters, stage_results=by_stage))


def retry_delay_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1), capped."""
    base = float(settings.GEOPLATFORM_RETRY_BASE_SECONDS)
    cap = float(settings.GEOPLATFORM_RETRY_CAP_SECONDS)
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return float(delay * random.uniform(0.8, 1.0))


def _task_failed(task: StartedTask, exc: BaseException, warnings: list[str]) -> None:
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
                    transaction.on_commit(lambda: _enqueue([task.id], task.queue, int(delay * 1000)))
            logger.warning("task failed, will retry: %s", error["message"])
            return
        logger.error("task failed permanently: %s", error["message"])
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=task.job_id)
            Task.objects.filter(pk=task.id, status__in=_ACTIVE_TASK).update(
                status=TaskStatus.FAILED, error=error, finished_at=timezone.now(), attempts=F("attempts") + 1
            )
            if warnings:
                _job_add_warnings(task.job_id, warnings)
            _job_fail_locked(job, {**error, "stage": task.stage_name, "task_id": task.id})


def _job_fail_locked(job: Job, error: dict[str, Any]) -> None:
    if job.is_terminal:
        return
    job.status = JobStatus.FAILED
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at", "updated_at"])
    _cancel_waiting_tasks(job)
    event_record(job.id, "failed", error.get("message", ""), error=error)
    _after_commit_cleanup(job)
    _after_commit_notify(job, "job.failed")


def _cancel_waiting_tasks(job: Job) -> None:
    """Cancel the job's queued/retrying tasks. Rows locked by a completing task are skipped
    (they are running, not waiting), so this never waits on, or deadlocks with, a fan-in."""
    waiting = (
        Task.objects.select_for_update(skip_locked=True)
        .filter(job=job, status__in=[TaskStatus.QUEUED, TaskStatus.RETRYING])
        .values_list("id", flat=True)
    )
    Task.objects.filter(id__in=list(waiting)).update(status=TaskStatus.CANCELLED, finished_at=timezone.now())


def _after_commit_notify(job: Job, event: str) -> None:
    # Subscribers are read once the end is committed: one that joined meanwhile is included.
    job_id = job.id
    transaction.on_commit(lambda: _callback_enqueue(job_id, event))


def _callback_enqueue(job_id: str, event: str) -> None:
    from .callbacks import callback_schedule

    callback_schedule(job_id=job_id, event=event)


def _after_commit_cleanup(job: Job) -> None:
    jt = registry.all_types().get(job.job_type)
    if jt is not None and jt.cleanup is not None:
        job_id = job.id
        transaction.on_commit(lambda: _cleanup_enqueue(job_id))


def _cleanup_enqueue(job_id: str) -> None:
    from .actors import job_cleanup_actor

    job_cleanup_actor.send(job_id, 0)


def job_cleanup(*, job_id: str, round_: int = 0) -> bool:
    """Undo what a failed or cancelled job wrote, once none of its tasks still runs.

    Returns False (and the actor tries again later) while a task is still running.
    """
    job = Job.objects.get(pk=job_id)
    if job.status not in {JobStatus.FAILED, JobStatus.CANCELLED}:
        return True
    if Task.objects.filter(job=job, status=TaskStatus.RUNNING).exists() and round_ < 60:
        return False
    jt = registry.get(job.job_type)
    if jt.cleanup is not None:
        jt.cleanup(job.id, job.parameters)
        event_record(job.id, "cleaned_up", "removed what the job had written")
    return True


# --- operator actions ---------------------------------------------------------------------


def _locked_job(job_id: str) -> Job:
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(f"No job {job_id!r}.")
    return job


def job_cancel(*, job_id: str, user: Any = None) -> Job:
    with transaction.atomic():
        job = _locked_job(job_id)
        if job.is_terminal:
            raise JobNotRunnable(
                f"Job {job_id} is already {job.status}; only a queued or running job can be cancelled."
            )
        job.status = JobStatus.CANCELLED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at", "updated_at"])
        _cancel_waiting_tasks(job)
        event_record(job.id, "cancelled", f"cancelled by {user or 'system'}")
        _after_commit_cleanup(job)
        _after_commit_notify(job, "job.cancelled")
    return job


def job_retry(*, job_id: str, user: Any = None, gate: bool = False) -> Job:
    """Re-run a failed or cancelled job. ``gate`` (the generic API): a retry that would replace
    or delete protected outputs, or publish without a review, is refused like such a submission."""
    with transaction.atomic():
        job = _locked_job(job_id)
        if job.status not in {JobStatus.FAILED, JobStatus.CANCELLED}:
            raise JobNotRunnable(f"Job {job_id} is {job.status}; only a failed or cancelled job can be retried.")
        jt = registry.get(job.job_type)
        if gate:
            _params_check(jt, job.parameters, user)
        _job_restart(job, jt, reason=f"retried by {user or 'system'}")
    return job


# --- janitor ------------------------------------------------------------------------------


def janitor_run() -> dict[str, int]:
    """Re-queue tasks whose worker vanished (no heartbeat); fail them past the retry limit."""
    from .models import WorkerHeartbeat

    stale_before = timezone.now() - dt.timedelta(seconds=float(settings.GEOPLATFORM_TASK_STALE_SECONDS))
    max_attempts = 1 + int(settings.GEOPLATFORM_TASK_MAX_RETRIES)
    requeued = failed = 0
    orphans = Task.objects.filter(
        job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING], status=TaskStatus.RUNNING, heartbeat_at__lt=stale_before
    ).select_related("stage")
    for task in orphans:
        error = {
            "message": f"The worker running this task ({task.worker}) stopped sending heartbeats.",
            "code": "worker_lost",
            "category": "infrastructure",
            "remediation": "None needed when retried; check worker logs if it repeats.",
            "user_fixable": False,
            "error_source": "platform",
            "attempt": task.attempts + 1,
        }
        if task.attempts + 1 < max_attempts:  # the lost run counts as an attempt
            with transaction.atomic():
                moved = Task.objects.filter(
                    pk=task.pk, status=TaskStatus.RUNNING, heartbeat_at=task.heartbeat_at
                ).update(status=TaskStatus.RETRYING, error=error, attempts=F("attempts") + 1)
                if moved:
                    requeued += 1
                    event_record(task.job_id, "task_requeued", str(error["message"]), task_id=task.id)
                    transaction.on_commit(partial(_enqueue, [task.id], task.queue))
        else:
            with transaction.atomic():
                job = Job.objects.select_for_update().get(pk=task.job_id)
                moved = Task.objects.filter(pk=task.pk, status=TaskStatus.RUNNING).update(
                    status=TaskStatus.FAILED, error=error, finished_at=timezone.now(), attempts=F("attempts") + 1
                )
                if moved:
                    failed += 1
                    _job_fail_locked(job, {**error, "stage": task.stage.name, "task_id": task.id})
    for stage_id in Stage.objects.filter(
        status=JobStatus.RUNNING, tasks_remaining__lte=0, tasks_total__gt=0, job__status=JobStatus.RUNNING
    ).values_list("id", flat=True):
        stage_advance(stage_id=stage_id)
    resent = _janitor_resend_lost()
    WorkerHeartbeat.objects.filter(last_seen__lt=timezone.now() - dt.timedelta(hours=1)).delete()
    return {"requeued": requeued, "failed": failed, "resent": resent}


def _janitor_resend_lost() -> int:
    """Re-send messages of tasks that waited far longer than any backlog should.

    A worker that dies holding prefetched messages loses them until the broker itself
    redelivers; a duplicate message is harmless (the claim is atomic).
    """
    lost_before = timezone.now() - dt.timedelta(seconds=float(settings.GEOPLATFORM_TASK_LOST_SECONDS))
    lost = list(
        Task.objects.filter(
            # Never sent at all: the process that committed the task died (or the broker
            # was down) before its on-commit send.
            models.Q(enqueued_at__lt=lost_before) | models.Q(enqueued_at__isnull=True, created_at__lt=lost_before),
            status__in=[TaskStatus.QUEUED, TaskStatus.RETRYING],
            job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        ).values_list("id", "queue", "job_id")
    )
    by_queue: dict[str, list[tuple[str, str]]] = {}
    for task_id, queue, job_id in lost:
        by_queue.setdefault(queue, []).append((task_id, job_id))
    for queue, tasks in by_queue.items():
        _enqueue([task_id for task_id, _ in tasks], queue)  # raises while the broker is down
        for task_id, job_id in tasks:
            event_record(job_id, "task_resent", "message re-sent: no worker took it in time", task_id=task_id)
    return len(lost)


# --- retention ----------------------------------------------------------------------------

_FINISHED = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
# Rows of a job's history that retention removes even when the job row itself is kept.
_HISTORY: tuple[type[models.Model], ...] = (JobEvent, CallbackDelivery, Task)


def _job_relations() -> list[models.ForeignObjectRel]:
    """Every foreign key to Job, ``related_name="+"`` ones included (hidden from
    ``_meta.related_objects``). Found from the model graph: ingest knows no other app."""
    return [f for f in Job._meta.get_fields(include_hidden=True) if isinstance(f, models.ForeignObjectRel)]


def _job_references() -> list[models.ForeignObjectRel]:
    """Foreign keys to Job whose rows would not simply go with the job (another app's
    SET_NULL/PROTECT, e.g. a release whose outputs are read from its job's result)."""
    return [rel for rel in _job_relations() if rel.on_delete is not models.CASCADE]


def _referenced(references: list[models.ForeignObjectRel]) -> models.Q:
    q = models.Q()
    for rel in references:
        column = rel.field.attname  # type: ignore[union-attr]
        q |= models.Q(pk__in=rel.related_model._base_manager.filter(**{f"{column}__isnull": False}).values(column))
    return q


def _rows_delete(model: type[models.Model], column: str, ids: list[str]) -> int:
    with connection.cursor() as cur:
        cur.execute(f'DELETE FROM {model._meta.db_table} WHERE "{column}" = ANY(%s)', [ids])
        return int(cur.rowcount)


def retention_purge(
    *, older_than: dt.timedelta | None = None, batch_size: int = 100, max_batches: int = 1000
) -> dict[str, int]:
    """Delete finished jobs (completed, failed, cancelled) older than the retention period,
    with their tasks, stages, events and callback deliveries, in batches of ``batch_size``
    jobs (one short transaction each). A queued or running job is never touched.

    A job that another app still references (a release reads its outputs from the job's
    result), and a completed job of a type that ``makes_outputs`` (its row and subscribers
    say which account owns the tables and items it made), keep their row, stages and
    subscribers; only their tasks, events and deliveries go.
    Returns the number of rows deleted per kind.
    """
    if older_than is None:
        days = float(settings.GEOPLATFORM_RETENTION_DAYS)
        if days <= 0:  # retention off: keep everything
            return {"jobs": 0, "tasks": 0, "events": 0, "deliveries": 0}
        older_than = dt.timedelta(days=days)
    cutoff = timezone.now() - older_than
    finished = Job.objects.filter(status__in=_FINISHED, finished_at__lt=cutoff)
    # Kept as records (history purged): jobs another app references, and completed jobs
    # whose outputs name them as their maker (the ownership rule of the generic API).
    makers = [name for name, jt in registry.all_types().items() if jt.makes_outputs]
    referenced = _referenced(_job_references()) | models.Q(status=JobStatus.COMPLETED, job_type__in=makers)
    counts = {"jobs": 0, "tasks": 0, "events": 0, "deliveries": 0}
    names = {JobEvent: "events", CallbackDelivery: "deliveries", Task: "tasks"}

    def batches(qs: models.QuerySet[Job]) -> Iterator[list[str]]:
        for _ in range(max_batches):
            candidates = list(qs.order_by("finished_at").values_list("pk", flat=True)[:batch_size])
            if not candidates:
                return
            with transaction.atomic():
                # Locked and checked again: a job restarted meanwhile (retry, forced
                # submit) is running and keeps everything; one being restarted is skipped.
                ids = list(
                    qs.filter(pk__in=candidates).select_for_update(skip_locked=True).values_list("pk", flat=True)
                )
                if not ids:
                    return
                yield ids

    for ids in batches(finished.exclude(referenced) if referenced else finished):
        for rel in _job_relations():  # every CASCADE child: tasks, stages, events, deliveries, ...
            if rel.on_delete is not models.CASCADE:
                continue
            n = _rows_delete(rel.related_model, rel.field.attname, ids)  # type: ignore[union-attr, arg-type]
            if rel.related_model in names:
                counts[names[rel.related_model]] += n
        counts["jobs"] += _rows_delete(Job, "id", ids)
    if referenced:
        has_history = models.Q()
        for model in _HISTORY:
            has_history |= models.Q(Exists(model._base_manager.filter(job_id=OuterRef("pk"))))
        for ids in batches(finished.filter(referenced).filter(has_history)):
            for model in _HISTORY:
                counts[names[model]] += _rows_delete(model, "job_id", ids)
    if any(counts.values()):
        logger.info("retention purge (finished before %s): %s", cutoff.isoformat(), counts)
    return counts
