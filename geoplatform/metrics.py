"""Prometheus metrics with prometheus-client, correct across processes.

Several gunicorn workers and several Dramatiq processes each count in their own process;
prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set before the first
import of ``prometheus_client``: scripts/run.sh and the test settings do) has every process
write its values to memory-mapped files in that folder, and a scrape of ``/metrics`` in any
web process sums them all. Without the variable each process serves only its own values
(one ``runserver``).

Why not django-prometheus: it wraps the database by replacing ``ENGINE`` with its own
backend, which would replace ours (``geoplatform.postgis``: the health check without a round
trip), and labels views by name where we want the route pattern. Why not Dramatiq's
Prometheus middleware: it starts its own HTTP exporter on a port per worker host, wipes the
multiprocess folder when the worker starts (the web processes' counts with it) and labels by
actor only, where the job type and stage are what operators ask about. Both would be
hand-rolled around anyway; these are prometheus-client's own counters and histograms.

Route labels are URL patterns (``api/jobs/status/<str:job_id>``), never raw paths: one
series per route, not per job id or tile.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_WORK_BUCKETS = (0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)

HTTP_REQUESTS = Counter(
    "geoplatform_http_requests",
    "HTTP requests answered, by route pattern, method and status.",
    ["route", "method", "status"],
)
HTTP_ERRORS = Counter(
    "geoplatform_http_errors",
    "HTTP requests answered with a 5xx or an unhandled exception, by route.",
    ["route", "method"],
)
HTTP_LATENCY = Histogram(
    "geoplatform_http_request_duration_seconds",
    "Time to answer a request, by route pattern.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
DB_TIME = Histogram(
    "geoplatform_http_db_duration_seconds",
    "Database time spent by one request, by route pattern.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
DB_QUERIES = Counter("geoplatform_http_db_queries", "SQL statements run by requests, by route pattern.", ["route"])

JOBS = Counter(
    "geoplatform_jobs", "Jobs by type and event (started, completed, failed, cancelled).", ["job_type", "event"]
)
JOB_DURATION = Histogram(
    "geoplatform_job_duration_seconds",
    "From submit to the end of a job, by type and outcome.",
    ["job_type", "status"],
    buckets=_WORK_BUCKETS,
)
STAGES = Counter(
    "geoplatform_stages", "Stages by job type, stage and event (started, completed).", ["job_type", "stage", "event"]
)
STAGE_DURATION = Histogram(
    "geoplatform_stage_duration_seconds",
    "Duration of completed stages, by job type and stage.",
    ["job_type", "stage"],
    buckets=_WORK_BUCKETS,
)
TASKS = Counter(
    "geoplatform_tasks",
    "Task runs by job type, stage, queue and event (started, completed, retried, failed).",
    ["job_type", "stage", "queue", "event"],
)
TASK_DURATION = Histogram(
    "geoplatform_task_duration_seconds",
    "Duration of task runs, by job type, stage and outcome.",
    ["job_type", "stage", "outcome"],
    buckets=_WORK_BUCKETS,
)
CALLBACKS = Counter(
    "geoplatform_callback_deliveries", "Callback delivery attempts by event and outcome.", ["event", "outcome"]
)


def enabled() -> bool:
    return bool(getattr(settings, "GEOPLATFORM_METRICS_ENABLED", True))


def _safe(fn: Callable[[], None]) -> None:
    """Counting never breaks the work it counts."""
    try:
        if enabled():
            fn()
    except Exception:  # pragma: no cover - a metrics bug must not fail a task
        logger.exception("metrics update failed")


# --- hooks the ingest engine calls ------------------------------------------------------------


def job_event(job_type: str, event: str, seconds: float | None = None) -> None:
    def do() -> None:
        JOBS.labels(job_type, event).inc()
        if seconds is not None:
            JOB_DURATION.labels(job_type, event).observe(seconds)

    _safe(do)


def stage_event(job_type: str, stage: str, event: str, seconds: float | None = None) -> None:
    def do() -> None:
        STAGES.labels(job_type, stage, event).inc()
        if seconds is not None:
            STAGE_DURATION.labels(job_type, stage).observe(seconds)

    _safe(do)


def task_event(job_type: str, stage: str, queue: str, event: str, seconds: float | None = None) -> None:
    def do() -> None:
        TASKS.labels(job_type, stage, queue, event).inc()
        if seconds is not None:
            TASK_DURATION.labels(job_type, stage, event).observe(seconds)

    _safe(do)


def callback_event(event: str, ok: bool) -> None:
    _safe(lambda: CALLBACKS.labels(event, "delivered" if ok else "failed").inc())


# --- per request --------------------------------------------------------------------------------

# SQL statements of the current request when GEOPLATFORM_DEBUG_MODE is on (geoplatform/debug.py).
request_sql: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "geoplatform_request_sql", default=None
)


class _DbTimer:
    """``connection.execute_wrapper``: time (and, in debug mode, text) of each statement."""

    __slots__ = ("count", "seconds", "sql")

    def __init__(self, keep_sql: bool) -> None:
        self.seconds = 0.0
        self.count = 0
        self.sql: list[dict[str, Any]] | None = [] if keep_sql else None

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - start
            self.seconds += took
            self.count += 1
            if self.sql is not None and len(self.sql) < 200:
                self.sql.append({"sql": sql[:2000], "ms": round(took * 1000, 2)})


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    return f"/{route}" if route else "unmatched"


class MetricsMiddleware:
    """Requests, latency, errors and database time per route pattern."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not enabled() and not getattr(settings, "GEOPLATFORM_DEBUG_MODE", False):
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.count = enabled()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timer = _DbTimer(keep_sql=bool(getattr(settings, "GEOPLATFORM_DEBUG_MODE", False)))
        request.db_timer = timer  # type: ignore[attr-defined]  # read by the request's span
        token = request_sql.set(timer.sql)
        start = time.perf_counter()
        status = 500
        try:
            with connection.execute_wrapper(timer):
                response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            request_sql.reset(token)
            if self.count and request.path != "/metrics":
                self._observe(request, status, time.perf_counter() - start, timer)

    @staticmethod
    def _observe(request: HttpRequest, status: int, seconds: float, timer: _DbTimer) -> None:
        route, method = route_of(request), request.method or "?"
        HTTP_REQUESTS.labels(route, method, str(status)).inc()
        HTTP_LATENCY.labels(route, method).observe(seconds)
        if status >= 500:
            HTTP_ERRORS.labels(route, method).inc()
        DB_TIME.labels(route).observe(timer.seconds)
        if timer.count:
            DB_QUERIES.labels(route).inc(timer.count)


# --- scrape -------------------------------------------------------------------------------------


class QueueDepthCollector(Collector):
    """Messages waiting per broker queue, read from the broker at scrape time (a gauge kept
    by workers would be stale, and wrong once a worker dies)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "geoplatform_queue_depth",
            "Messages waiting in each broker queue (delayed: retries and backoff).",
            labels=["queue", "kind"],
        )
        try:
            for queue, kind, count in queue_depths():
                depth.add_metric([queue, kind], count)
        except Exception:
            logger.warning("queue depth unavailable", exc_info=True)
        yield depth


def queue_depths() -> list[tuple[str, str, int]]:
    """(queue, ready|delayed|dead, count) for every queue the broker declares."""
    import dramatiq

    broker: Any = dramatiq.get_broker()
    out: list[tuple[str, str, int]] = []
    queues = sorted(q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ")))
    if hasattr(broker, "get_queue_message_counts"):  # RabbitMQ
        for queue in queues:
            ready, delayed, dead = broker.get_queue_message_counts(queue)
            out += [(queue, "ready", ready), (queue, "delayed", delayed), (queue, "dead", dead)]
        return out
    client, ns = broker.client, broker.namespace  # Redis: one list per queue, delayed ones under .DQ
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(f"{ns}:{queue}")
        pipe.llen(f"{ns}:{queue}.DQ")
        pipe.zcard(f"{ns}:{queue}.XQ")
    counts = pipe.execute()
    for i, queue in enumerate(queues):
        out += [
            (queue, "ready", counts[3 * i]),
            (queue, "delayed", counts[3 * i + 1]),
            (queue, "dead", counts[3 * i + 2]),
        ]
    return out


def exposition() -> tuple[bytes, str]:
    """The text every process's values sum to (multiprocess mode), plus the queue depths."""
    scrape = CollectorRegistry()
    scrape.register(QueueDepthCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(scrape)
        return generate_latest(scrape), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY) + generate_latest(scrape), CONTENT_TYPE_LATEST  # this process's own
