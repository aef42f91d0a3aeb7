"""Ingest's diagnostics: jobs, workers, queues, callbacks, and the maintenance actions
(re-queue stuck tasks, purge finished jobs, re-send a callback). Registered from
:class:`ingest.apps.IngestConfig`; see :mod:`geoplatform.diagnostics`."""

from __future__ import annotations

import datetime as dt
import json
import socket
from typing import Any

import dramatiq
from django.conf import settings
from django.db.models import Avg, Count, F, Max, Q, Sum, Window
from django.utils import timezone

from geoplatform import diagnostics
from geoplatform.diagnostics import Param, diag_cursor, rows
from geoplatform.errors import InvalidInput, NotFound

from .callbacks import CALLBACK_ACTOR
from .janitor import janitor_run, retention_purge
from .messages import actor_send
from .models import CallbackDelivery, Job, JobStatus, Stage, Task, TaskStatus, WorkerHeartbeat
from .selectors import workers_live

_ACTIVE = [JobStatus.QUEUED, JobStatus.RUNNING]
_FINISHED = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
# Up to this many jobs in the window, their tasks are looked up by the jobs' ids.
_ID_LIST_MAX = 2_000


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _age(value: dt.datetime | None, now: dt.datetime) -> float | None:
    return round((now - value).total_seconds(), 1) if value else None


# --- jobs -------------------------------------------------------------------------------


def jobs(window_hours: float, stuck_minutes: float, failures: int, top: int) -> dict[str, Any]:
    now = timezone.now()
    since = now - dt.timedelta(hours=window_hours)
    stuck_before = now - dt.timedelta(minutes=stuck_minutes)
    counts: dict[str, dict[str, int]] = {}
    for row in Job.objects.filter(created_at__gte=since).values("job_type", "status").annotate(n=Count("id")):
        counts.setdefault(row["job_type"], {})[row["status"]] = row["n"]
    stuck = [
        {
            "job_id": s.job_id,
            "job_type": s.job.job_type,
            "stage": s.name,
            "stage_index": s.index,
            "stage_started_at": _iso(s.started_at),
            "seconds_in_stage": _age(s.started_at, now),
            "tasks_remaining": s.tasks_remaining,
            "tasks_total": s.tasks_total,
        }
        for s in Stage.objects.filter(status=JobStatus.RUNNING, started_at__lt=stuck_before, job__status__in=_ACTIVE)
        .select_related("job")
        .order_by("started_at")[:top]
    ]
    # Queued jobs whose first stage never started count as stuck too (no worker took them).
    waiting = [
        {
            "job_id": j.id,
            "job_type": j.job_type,
            "stage": None,
            "queued_at": _iso(j.created_at),
            "seconds_waiting": _age(j.created_at, now),
        }
        for j in Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=stuck_before).order_by("created_at")[:top]
    ]
    failed = [
        {
            "job_id": j.id,
            "job_type": j.job_type,
            "finished_at": _iso(j.finished_at),
            "runs": j.runs,
            "error": j.error,
            "earlier_errors": len(j.error_history or []),
        }
        for j in Job.objects.filter(status=JobStatus.FAILED).order_by(F("finished_at").desc(nulls_last=True))[:failures]
    ]
    # Tasks have no index but their keys (see Task.Meta). A short window's jobs are few: their
    # tasks are found through task.job_id's index by the job ids (13 ms for ~330 jobs where the
    # join's plan scans every task); a long window's through the join (one scan, ~100 ms).
    window_jobs = list(Job.objects.filter(created_at__gte=since).values_list("id", flat=True)[: _ID_LIST_MAX + 1])
    tasks = (
        Task.objects.filter(job_id__in=window_jobs)
        if len(window_jobs) <= _ID_LIST_MAX
        else Task.objects.filter(job__created_at__gte=since)
    )
    # One scan gives both the top N and the totals (window aggregates over every retried task).
    top_retried = list(
        tasks.filter(attempts__gt=1)
        .annotate(total=Window(Count("id")), extra=Window(Sum(F("attempts") - 1)))
        .order_by("-attempts")
        .values("id", "job_id", "queue", "attempts", "status", "error", "total", "extra")[:top]
    )
    retry_totals = {
        "tasks": top_retried[0]["total"] if top_retried else 0,
        "extra_attempts": top_retried[0]["extra"] if top_retried else 0,
    }
    most_retried = [
        {
            "task_id": t["id"],
            "job_id": t["job_id"],
            "queue": t["queue"],
            "attempts": t["attempts"],
            "status": t["status"],
            "error": t["error"],
        }
        for t in top_retried
    ]
    with diag_cursor() as cur:
        slowest = rows(
            cur,
            f"SELECT j.job_type, s.name AS stage, count(*) AS runs,"
            f" round(avg(extract(epoch FROM s.finished_at - s.started_at))::numeric, 2)::float AS mean_seconds,"
            f" round(max(extract(epoch FROM s.finished_at - s.started_at))::numeric, 2)::float AS max_seconds"
            f" FROM {Stage._meta.db_table} s JOIN {Job._meta.db_table} j ON j.id = s.job_id"
            f" WHERE j.created_at >= %s AND s.finished_at IS NOT NULL AND s.started_at IS NOT NULL"
            f" GROUP BY 1, 2 ORDER BY max_seconds DESC LIMIT %s",
            [since, top],
        )
    return {
        "window_hours": window_hours,
        "counts": counts,
        "stuck_minutes": stuck_minutes,
        "stuck": stuck,
        "waiting": waiting,
        "failures": failed,
        "retries": {
            "tasks_retried": retry_totals["tasks"] or 0,
            "extra_attempts": retry_totals["extra_attempts"] or 0,
            "jobs_rerun": Job.objects.filter(created_at__gte=since, runs__gt=1).count(),
            "most_retried": most_retried,
        },
        "slowest_stages": slowest,
    }


# --- workers ----------------------------------------------------------------------------


def _rss_bytes(hb: WorkerHeartbeat) -> int | None:
    """Resident memory of a worker process: the heartbeat's figure when it carries one,
    else read from /proc when the worker runs on this host."""
    for name in ("rss_bytes", "memory_rss", "rss"):
        value = getattr(hb, name, None)
        if isinstance(value, int):
            return value
    if hb.hostname != socket.gethostname():
        return None
    try:
        with open(f"/proc/{hb.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # the process exited since its last heartbeat
        return None
    return None


def _memory_settings() -> dict[str, Any]:
    """The settings that bound a worker's memory (whichever this deployment defines)."""
    keys = ("MEMORY", "GDAL_CACHE", "MAX_TASKS", "POOL", "RSS", "CONCURRENCY", "PROCESSES", "THREADS")
    return {
        name: getattr(settings, name)
        for name in dir(settings)
        if name.startswith(("GEOPLATFORM_WORKER", "GEOPLATFORM_GDAL", "GEOPLATFORM_DATASET_POOL", "GEOPLATFORM_LONG"))
        and any(k in name for k in keys)
    }


def workers() -> dict[str, Any]:
    now = timezone.now()
    live = list(workers_live())
    current: dict[str, list[dict[str, Any]]] = {}
    for t in (
        Task.objects.filter(status=TaskStatus.RUNNING, worker__in=[hb.worker_id for hb in live])
        .values("id", "job_id", "job__job_type", "stage__name", "queue", "worker", "started_at", "heartbeat_at")
        .order_by("started_at")
    ):
        current.setdefault(t["worker"], []).append(
            {
                "task_id": t["id"],
                "job_id": t["job_id"],
                "job_type": t["job__job_type"],
                "stage": t["stage__name"],
                "queue": t["queue"],
                "running_seconds": _age(t["started_at"], now),
            }
        )
    listed = []
    per_queue: dict[str, list[str]] = {}
    for hb in live:
        listed.append(
            {
                "worker_id": hb.worker_id,
                "hostname": hb.hostname,
                "pid": hb.pid,
                "queues": hb.queues,
                "started_at": _iso(hb.started_at),
                "heartbeat_age_seconds": _age(hb.last_seen, now),
                "rss_bytes": _rss_bytes(hb),
                "current_tasks": current.get(hb.worker_id, []),
            }
        )
        for queue in hb.queues:
            per_queue.setdefault(queue, []).append(hb.worker_id)
    stale = WorkerHeartbeat.objects.exclude(worker_id__in=[hb.worker_id for hb in live]).count()
    return {
        "live": len(listed),
        "per_queue": {q: {"workers": len(ids), "worker_ids": ids} for q, ids in sorted(per_queue.items())},
        "workers": listed,
        "total_rss_bytes": sum(w["rss_bytes"] or 0 for w in listed),
        "stale_heartbeats": stale,
        "heartbeat_seconds": settings.GEOPLATFORM_HEARTBEAT_SECONDS,
        "memory_settings": _memory_settings(),
    }


# --- queues -----------------------------------------------------------------------------


def _message_age(data: bytes | str | None, now_ms: float) -> float | None:
    if not data:
        return None
    try:
        stamp = json.loads(data)["message_timestamp"]
    except (ValueError, KeyError, TypeError):
        return None
    return round((now_ms - float(stamp)) / 1000, 1)


def _canonical(names: set[str]) -> list[str]:
    return sorted({n.removesuffix(".DQ").removesuffix(".XQ") for n in names})


def redis_queues(client: Any, namespace: str, queues: list[str]) -> dict[str, Any]:
    """Depth, oldest message age, in-flight and dead-lettered counts from Dramatiq's keys
    (``ns:q`` a list of ids, ``ns:q.msgs`` the bodies, ``ns:q.XQ`` the dead letters)."""
    now_ms = timezone.now().timestamp() * 1000
    found: dict[str, Any] = {}
    for queue in queues:
        key = f"{namespace}:{queue}"
        pipe = client.pipeline()
        pipe.llen(key)
        pipe.lindex(key, 0)
        pipe.hlen(f"{key}.msgs")
        pipe.llen(f"{key}.DQ")
        pipe.zcard(f"{key}.XQ")
        depth, head, stored, delayed, dead = pipe.execute()
        oldest = client.hget(f"{key}.msgs", head) if head is not None else None
        found[queue] = {
            "depth": depth,
            "oldest_age_seconds": _message_age(oldest, now_ms),
            "in_flight": max(stored - depth, 0),  # fetched by a worker, not yet acknowledged
            "delayed": delayed,
            "dead_lettered": dead,
        }
    return found


def rabbitmq_queues(url: str, queues: list[str]) -> dict[str, Any]:
    """Depth (passive declare) and the oldest message's age: the head message is read with
    ``basic_get`` and handed back at once (nack + requeue), so nothing is consumed."""
    # Imported here: the configured broker's client only.
    import pika

    params = pika.URLParameters(url)
    params.socket_timeout = 3
    params.blocked_connection_timeout = 3
    now_ms = timezone.now().timestamp() * 1000
    found: dict[str, Any] = {}
    connection = pika.BlockingConnection(params)
    try:
        for queue in queues:
            entry: dict[str, Any] = {}
            for suffix, field in (("", "depth"), (".DQ", "delayed"), (".XQ", "dead_lettered")):
                channel = connection.channel()  # a failed passive declare closes its channel
                try:
                    entry[field] = channel.queue_declare(queue + suffix, passive=True).method.message_count
                except pika.exceptions.ChannelClosedByBroker:
                    entry[field] = None  # not declared yet: no worker has ever served it
                    continue
                if suffix == "" and entry[field]:
                    method, _props, body = channel.basic_get(queue, auto_ack=False)
                    if method is not None:
                        entry["oldest_age_seconds"] = _message_age(body, now_ms)
                        channel.basic_nack(method.delivery_tag, requeue=True)
                channel.close()
            entry.setdefault("oldest_age_seconds", None)
            found[queue] = entry
    finally:
        connection.close()
    return found


def queues() -> dict[str, Any]:
    broker = dramatiq.get_broker()
    names = _canonical(set(broker.get_declared_queues()))
    url = settings.GEOPLATFORM_BROKER_URL
    if url.startswith("amqp"):
        return {"broker": "rabbitmq", "queues": rabbitmq_queues(url, names)}
    return {"broker": "redis", "queues": redis_queues(broker.client, broker.namespace, names)}  # type: ignore[attr-defined]


# --- callbacks --------------------------------------------------------------------------


def callbacks(window_hours: float, top: int) -> dict[str, Any]:
    """Job callbacks whose latest attempt failed: retrying (attempts left) or given up."""
    since = timezone.now() - dt.timedelta(hours=window_hours)
    max_attempts = int(settings.GEOPLATFORM_CALLBACK_MAX_ATTEMPTS)
    table = CallbackDelivery._meta.db_table
    with diag_cursor() as cur:
        latest = rows(
            cur,
            f"SELECT * FROM (SELECT DISTINCT ON (delivery_id) delivery_id, job_id, event, url, attempt,"
            f" status_code, ok, error, created_at FROM {table} WHERE created_at >= %s"
            f" ORDER BY delivery_id, created_at DESC, id DESC) d WHERE NOT ok ORDER BY created_at DESC LIMIT %s",
            [since, top],
        )
    for row in latest:
        row["state"] = "retrying" if row["attempt"] < max_attempts else "failed"
        row["created_at"] = _iso(row["created_at"])
    totals = CallbackDelivery.objects.filter(created_at__gte=since).aggregate(
        attempts=Count("id"),
        failed_attempts=Count("id", filter=Q(ok=False)),
        mean_attempt=Avg("attempt"),
        highest_attempt=Max("attempt"),
    )
    return {"window_hours": window_hours, "max_attempts": max_attempts, "totals": totals, "failing": latest}


# --- actions ----------------------------------------------------------------------------


def requeue_stuck(*, dry_run: bool, stale_seconds: float, lost_seconds: float) -> dict[str, Any]:
    """The janitor's pass with the given thresholds; a dry run counts what it would touch."""
    if not dry_run:
        return dict(janitor_run(stale_seconds=stale_seconds, lost_seconds=lost_seconds))
    now = timezone.now()
    orphans = Task.objects.filter(
        job__status__in=_ACTIVE,
        status=TaskStatus.RUNNING,
        heartbeat_at__lt=now - dt.timedelta(seconds=stale_seconds),
    )
    lost_before = now - dt.timedelta(seconds=lost_seconds)
    lost = Task.objects.filter(
        Q(enqueued_at__lt=lost_before) | Q(enqueued_at__isnull=True, created_at__lt=lost_before),
        status__in=[TaskStatus.QUEUED, TaskStatus.RETRYING],
        job__status__in=_ACTIVE,
    )
    return {
        "would_requeue": orphans.count(),
        "would_resend": lost.count(),
        "tasks": list(orphans.values_list("id", flat=True)[:100]) + list(lost.values_list("id", flat=True)[:100]),
    }


def purge_finished(*, dry_run: bool, older_than_days: float) -> dict[str, Any]:
    """Retention with the given age: finished jobs (and their history) older than it."""
    older_than = dt.timedelta(days=older_than_days)
    if not dry_run:
        return dict(retention_purge(older_than=older_than))
    finished = Job.objects.filter(status__in=_FINISHED, finished_at__lt=timezone.now() - older_than)
    return {
        "would_purge_jobs_at_most": finished.count(),
        "by_status": dict(finished.values_list("status").annotate(n=Count("id")).values_list("status", "n")),
        "note": "jobs another app still references keep their row; only their history goes",
    }


def resend_callback(*, dry_run: bool, delivery_id: str) -> dict[str, Any]:
    """Send a job callback again, under the same delivery id (clients de-duplicate by it),
    with a fresh run of attempts."""
    if not delivery_id:
        raise InvalidInput(
            "delivery_id is required.", code="invalid_parameter", details={"delivery_id": ["This field is required."]}
        )
    last = CallbackDelivery.objects.filter(delivery_id=delivery_id).order_by("-created_at", "-id").first()
    if last is None:
        raise NotFound(f"No callback delivery {delivery_id!r}.", code="unknown_delivery")
    plan = {
        "job_id": last.job_id,
        "event": last.event,
        "url": last.url,
        "delivery_id": delivery_id,
        "last_attempt": last.attempt,
        "last_ok": last.ok,
    }
    if not dry_run:
        actor_send(CALLBACK_ACTOR, last.job_id, last.event, 1, delivery_id, last.subscriber_id)
    return {**plan, "sent": not dry_run}


def register() -> None:
    top = Param(int, 10, "How many rows each list shows.", 1, 100)
    window = Param(float, 24.0, "Time window in hours.", 0.01, 24 * 365)
    diagnostics.register(
        "jobs",
        jobs,
        source="ingest",
        params={
            "window_hours": window,
            "stuck_minutes": Param(float, 60.0, "A stage running longer than this is stuck.", 0, 10 * 24 * 60),
            "failures": Param(int, 20, "How many of the last failures to show.", 1, 500),
            "top": top,
        },
    )
    diagnostics.register("workers", workers, source="ingest")
    diagnostics.register("queues", queues, source="ingest")
    diagnostics.register("deliveries", callbacks, source="ingest", params={"window_hours": window, "top": top})
    diagnostics.register_action(
        "requeue_stuck_tasks",
        requeue_stuck,
        source="ingest",
        description="Re-queue running tasks whose worker stopped sending heartbeats and re-send lost messages.",
        params={
            "stale_seconds": Param(
                float,
                float(settings.GEOPLATFORM_TASK_STALE_SECONDS),
                "Heartbeat older than this: the worker is gone.",
                1,
                10 * 86400,
            ),
            "lost_seconds": Param(
                float,
                float(settings.GEOPLATFORM_TASK_LOST_SECONDS),
                "Queued longer than this: the message was lost.",
                1,
                10 * 86400,
            ),
        },
    )
    diagnostics.register_action(
        "purge_finished_jobs",
        purge_finished,
        source="ingest",
        description="Delete finished jobs older than an age, with their tasks, events and deliveries.",
        params={
            "older_than_days": Param(
                float,
                float(settings.GEOPLATFORM_RETENTION_DAYS) or 90.0,
                "Finished before this many days ago.",
                0,
                36500,
            )
        },
    )
    diagnostics.register_action(
        "resend_callback",
        resend_callback,
        source="ingest",
        description="Send a job callback delivery again (same delivery id, fresh attempts).",
        params={"delivery_id": Param(str, "", "The delivery id (X-GeoPlatform-Delivery).")},
    )
