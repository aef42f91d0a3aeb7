"""Reads of job state: progress, lists, events, worker liveness."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from geoplatform.health import Unhealthy

from .errors import JobNotFound
from .models import CallbackDelivery, Job, JobEvent, JobStatus, JobSubscriber, Stage, Task, TaskStatus, WorkerHeartbeat

# Operators see every client's jobs; everyone else the jobs they submitted or joined.
VIEW_ALL_JOBS = "ingest.view_all_jobs"


def jobs_visible(*, user: Any = None) -> QuerySet[Job]:
    """The jobs ``user`` may see (all of them when ``user`` is None: the platform itself)."""
    if user is None or user.has_perm(VIEW_ALL_JOBS):
        return Job.objects.all()
    if not user.is_authenticated:
        return Job.objects.none()
    subscribed = JobSubscriber.objects.filter(job=OuterRef("pk"), user=user)
    return Job.objects.filter(Q(submitted_by=user) | Exists(subscribed))


def job_get(*, job_id: str, user: Any = None) -> Job:
    """The job, if ``user`` may see it; another client's job is 404 like a missing one (its
    id does not leak)."""
    job = jobs_visible(user=user).filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(f"No job {job_id!r}.", remediation="Check the job id returned by the submit call.")
    return job


def job_list(*, user: Any = None) -> QuerySet[Job]:
    """The jobs ``user`` may see, newest first (the API filters them with ``ingest.filters.JobFilter``)."""
    return jobs_visible(user=user).order_by("-created_at")


def job_progress(*, job: Job) -> dict[str, Any]:
    """Per-stage task counts and percent complete, from two queries."""
    stages = list(Stage.objects.filter(job=job).order_by("index"))
    counts: dict[int, dict[str, int]] = {}
    for row in Task.objects.filter(job=job).values("stage_id", "status").annotate(n=Count("id")):
        counts.setdefault(row["stage_id"], {})[row["status"]] = row["n"]
    stage_rows = []
    fraction = 0.0
    tasks_total = tasks_done = 0
    for stage in stages:
        c = counts.get(stage.pk, {})
        done = c.get(TaskStatus.COMPLETED, 0)
        tasks_total += stage.tasks_total
        tasks_done += done
        if stage.status == JobStatus.COMPLETED:
            fraction += 1.0
        elif stage.tasks_total:
            fraction += done / stage.tasks_total
        stage_rows.append(
            {
                "index": stage.index,
                "name": stage.name,
                "status": stage.status,
                "tasks_total": stage.tasks_total,
                "tasks": {status: c.get(status, 0) for status in TaskStatus.values},
                "started_at": stage.started_at,
                "finished_at": stage.finished_at,
            }
        )
    percent = 100.0 if job.status == JobStatus.COMPLETED else round(100.0 * fraction / max(job.stage_count, 1), 1)
    current = stages[-1].name if stages else None
    return {
        "stage": current,
        "stage_index": job.stage_index,
        "stage_count": job.stage_count,
        "tasks_total": tasks_total,
        "tasks_done": tasks_done,
        "percent_complete": percent,
        "stages": stage_rows,
    }


def job_status(*, job_id: str, user: Any = None) -> dict[str, Any]:
    job = job_get(job_id=job_id, user=user)
    return job_status_of(job)


def job_status_of(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "job_type": job.job_type,
        "status": job.status,
        "parameters": job.parameters,
        "progress": job_progress(job=job),
        "result": job.result,
        "error": job.error,
        "error_history": job.error_history,
        "warnings": job.warnings,
        "runs": job.runs,
        "request_id": job.request_id,
        "preflight": job.preflight,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def job_events(*, job_id: str, user: Any = None) -> QuerySet[JobEvent]:
    job_get(job_id=job_id, user=user)
    events = JobEvent.objects.filter(job_id=job_id).order_by("created_at", "id")
    if user is not None and not user.has_perm(VIEW_ALL_JOBS):
        # A callback event names one client's URL: shown to that client only.
        events = events.exclude(Q(kind="callback") & ~Q(data__user_id=user.pk))
    return events


def callback_deliveries(*, job_id: str) -> QuerySet[CallbackDelivery]:
    return CallbackDelivery.objects.filter(job_id=job_id).order_by("created_at", "id")


def task_backlog() -> dict[str, int]:
    """Tasks waiting for a worker, per queue.

    Through the job's status index: the few queued or running jobs, then their tasks by the
    job key. Task.status has no index on purpose (claim, heartbeat and completion stay HOT
    updates, see Task.Meta), so filtering tasks on status alone reads the whole task table,
    which only grows with history."""
    rows = (
        Task.objects.filter(
            job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING], status__in=[TaskStatus.QUEUED, TaskStatus.RETRYING]
        )
        .values("queue")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["queue"]: row["n"] for row in rows}


def workers_live() -> QuerySet[WorkerHeartbeat]:
    horizon = timezone.now() - dt.timedelta(seconds=3 * float(settings.GEOPLATFORM_HEARTBEAT_SECONDS) + 5)
    return WorkerHeartbeat.objects.filter(last_seen__gte=horizon).order_by("worker_id")


def workers_health() -> dict[str, Any]:
    live = list(workers_live().values("worker_id", "queues", "last_seen"))
    if not live:
        raise Unhealthy("no live worker (start one with `manage.py rundramatiq`)")
    queued = Task.objects.filter(
        job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING], status__in=[TaskStatus.QUEUED, TaskStatus.RETRYING]
    ).count()
    return {"live": len(live), "workers": live, "tasks_waiting": queued}


def blob_reference_q(field: str, *, container: str, name: str) -> Q:
    """Rows whose JSON parameters ``field`` name a blob: ``file_name``, or ``files`` (a list of
    names or of ``{"file_name": ...}`` objects, as raster collections take)."""
    return Q(**{f"{field}__container_name": container}) & (
        Q(**{f"{field}__file_name": name})
        | Q(**{f"{field}__files__contains": [name]})
        | Q(**{f"{field}__files__contains": [{"file_name": name}]})
    )


def jobs_reading_blob(*, container: str, name: str) -> QuerySet[Job]:
    """Queued or running jobs whose parameters name the blob (they read it, maybe right now)."""
    return Job.objects.filter(
        blob_reference_q("parameters", container=container, name=name),
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
    ).order_by("created_at")
