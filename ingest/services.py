"""The job state machine: submit, stage start and fan-in, completion, fail, cancel, retry.

The API, the admin, management commands and actors all call these functions. The
per-task hot path is :mod:`ingest.execution`; the janitor and retention are
:mod:`ingest.janitor`; both call into this module, never the other way round.

Fan-in ("the last task turns out the lights"): a task's completion and the decrement
of its stage's ``tasks_remaining`` happen in one transaction holding the stage row
lock, so exactly one task sees zero and advances the job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from geoplatform import metrics
from geoplatform.errors import ApplicationError, Forbidden, InvalidInput
from geoplatform.logging import current_context

from . import preflight, registry
from .callbacks import callback_schedule, callback_url_check
from .errors import JobNotFound, JobNotRunnable, classify
from .events import event_record
from .messages import actor_send, tasks_enqueue
from .models import Job, JobStatus, JobSubscriber, Stage, Task, TaskStatus

logger = logging.getLogger(__name__)

# The actor undoing a failed or cancelled job's writes (declared in actors.py).
JOB_CLEANUP_ACTOR = "ingest.job_cleanup"


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
    # Every pre-flight check that ran (ingest/preflight.py); [] when an existing job was returned.
    preflight: list[dict[str, Any]] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.outcome in {"created", "restarted"}


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
    jt = registry.get(job_type)
    started = time.perf_counter()
    try:
        params = jt.clean_params(parameters)
    except ApplicationError as exc:
        took_ms = (time.perf_counter() - started) * 1000
        preflight.attach(exc, [preflight.parameters_report(took_ms, preflight.problems_of(exc), None)])
        raise
    report = [preflight.parameters_report((time.perf_counter() - started) * 1000, [], params)]
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

    try:
        checks, problems = preflight.run(jt, params)
    except ApplicationError as exc:
        preflight.attach(exc, [*report, *preflight.report_of(exc)])
        raise
    report += checks
    if problems:
        raise InvalidInput(
            f"Pre-flight checks failed for {job_type!r}.",
            code="preflight_failed",
            details={"problems": problems, "preflight": report},
            remediation="Fix each problem listed and submit again.",
        )
    ids = current_context()

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
                request_id=ids.get("request_id") or "",
                traceparent=ids.get("traceparent") or "",
                preflight=report,
            )
            event_record(job_id, "submitted", f"{job_type} submitted")
            _subscribe(job, user, callback_url)
            _stage_start(job, jt, 0, [])
            metrics.job_event(job_type, "submitted")
            return SubmitOutcome(job, "created", preflight=report)
        # Another submit may have won the race while we validated.
        reused = _reused(job, force)
        if reused:
            return SubmitOutcome(job, reused, _subscribe(job, user, callback_url))
        if callback_url and job.submitted_by_id == getattr(user, "pk", None):
            job.callback_url = callback_url
        # The new run belongs to this request: its tasks and callbacks log this request's id.
        job.request_id, job.traceparent = ids.get("request_id") or "", ids.get("traceparent") or ""
        job.preflight = report
        _job_restart(job, jt, reason="forced re-run" if job.status == JobStatus.COMPLETED else "resubmitted")
        metrics.job_event(job_type, "submitted")
        return SubmitOutcome(job, "restarted", _subscribe(job, user, callback_url), preflight=report)


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
    metrics.stage_event(jt.name, spec.name, "started")
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
        tasks_enqueue(task_ids, queue)
    except Exception:
        logger.exception("could not send %d task(s) to queue %s; the janitor will send them", len(task_ids), queue)


def stage_results(job_id: str, stage_index: int) -> list[dict[str, Any]]:
    """The results of stage ``stage_index``'s tasks, in unit order ([] before the first stage)."""
    if stage_index < 0:
        return []
    return [
        r or {}
        for r in Task.objects.filter(job_id=job_id, stage__index=stage_index)
        .order_by("unit")
        .values_list("result", flat=True)
    ]


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


def _stage_finish(job_id: str, stage: Stage) -> None:
    """The stage is done: start the next one or finalise the job (inside the caller's transaction)."""
    finished = timezone.now()
    Stage.objects.filter(pk=stage.pk).update(status=JobStatus.COMPLETED, finished_at=finished)
    job = Job.objects.select_for_update().get(pk=job_id)
    if job.status not in {JobStatus.QUEUED, JobStatus.RUNNING}:
        return
    since = stage.started_at or finished
    metrics.stage_event(job.job_type, stage.name, "completed", (finished - since).total_seconds())
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
        job_fail_locked(job, {**error, "stage": stage.name})
        return
    job.status = JobStatus.COMPLETED
    job.result = result
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "finished_at", "updated_at"])
    event_record(job.id, "completed", f"{job.job_type} completed")
    metrics.job_event(job.job_type, "completed", (job.finished_at - job.created_at).total_seconds())
    _after_commit_notify(job, "job.completed")


def _job_result(job: Job, jt: registry.JobType) -> dict[str, Any]:
    by_stage = registry.LazyStageResults(len(jt.stages), partial(stage_results, job.id))
    if jt.finalize is None:
        return {"stages": {spec.name: by_stage[i] for i, spec in enumerate(jt.stages)}}
    return jt.finalize(registry.FinalizeContext(job_id=job.id, params=job.parameters, stage_results=by_stage))


def job_fail_locked(job: Job, error: dict[str, Any]) -> None:
    if job.is_terminal:
        return
    job.status = JobStatus.FAILED
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at", "updated_at"])
    _cancel_waiting_tasks(job)
    event_record(job.id, "failed", error.get("message", ""), error=error)
    metrics.job_event(job.job_type, "failed", (job.finished_at - job.created_at).total_seconds())
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
    callback_schedule(job_id=job_id, event=event)


def _after_commit_cleanup(job: Job) -> None:
    jt = registry.all_types().get(job.job_type)
    if jt is not None and jt.cleanup is not None:
        job_id = job.id
        transaction.on_commit(lambda: _cleanup_enqueue(job_id))


def _cleanup_enqueue(job_id: str) -> None:
    actor_send(JOB_CLEANUP_ACTOR, job_id, 0)


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
        metrics.job_event(job.job_type, "cancelled", (job.finished_at - job.created_at).total_seconds())
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
