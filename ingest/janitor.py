"""The janitor and retention: what keeps the engine honest when processes die.

The janitor re-queues tasks whose worker vanished (no heartbeat), advances stages whose
fan-in winner died, and re-sends messages the broker lost; retention purges finished
jobs' rows past their age. Both run from ``manage.py janitor``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from functools import partial

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from . import registry
from .events import event_record
from .messages import tasks_enqueue
from .models import CallbackDelivery, Job, JobEvent, JobStatus, Stage, Task, TaskStatus, WorkerHeartbeat
from .services import job_fail_locked, stage_advance

logger = logging.getLogger(__name__)


# --- janitor ------------------------------------------------------------------------------


def janitor_run(*, stale_seconds: float | None = None, lost_seconds: float | None = None) -> dict[str, int]:
    """Re-queue tasks whose worker vanished (no heartbeat); fail them past the retry limit.
    The thresholds default to the settings (the diagnostics' re-queue action passes its own)."""
    if stale_seconds is None:
        stale_seconds = float(settings.GEOPLATFORM_TASK_STALE_SECONDS)
    stale_before = timezone.now() - dt.timedelta(seconds=stale_seconds)
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
                    transaction.on_commit(partial(tasks_enqueue, [task.id], task.queue))
        else:
            with transaction.atomic():
                job = Job.objects.select_for_update().get(pk=task.job_id)
                moved = Task.objects.filter(pk=task.pk, status=TaskStatus.RUNNING).update(
                    status=TaskStatus.FAILED, error=error, finished_at=timezone.now(), attempts=F("attempts") + 1
                )
                if moved:
                    failed += 1
                    job_fail_locked(job, {**error, "stage": task.stage.name, "task_id": task.id})
    for stage_id in Stage.objects.filter(
        status=JobStatus.RUNNING, tasks_remaining__lte=0, tasks_total__gt=0, job__status=JobStatus.RUNNING
    ).values_list("id", flat=True):
        stage_advance(stage_id=stage_id)
    resent = _janitor_resend_lost(lost_seconds)
    WorkerHeartbeat.objects.filter(last_seen__lt=timezone.now() - dt.timedelta(hours=1)).delete()
    return {"requeued": requeued, "failed": failed, "resent": resent}


def _janitor_resend_lost(lost_seconds: float | None = None) -> int:
    """Re-send messages of tasks that waited far longer than any backlog should.

    A worker that dies holding prefetched messages loses them until the broker itself
    redelivers; a duplicate message is harmless (the claim is atomic).
    """
    if lost_seconds is None:
        lost_seconds = float(settings.GEOPLATFORM_TASK_LOST_SECONDS)
    lost_before = timezone.now() - dt.timedelta(seconds=lost_seconds)
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
        tasks_enqueue([task_id for task_id, _ in tasks], queue)  # raises while the broker is down
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
