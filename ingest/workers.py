"""Worker liveness: each worker process refreshes a heartbeat row while it runs, with its
memory (resident now, peak) and the tasks it has run; :class:`MemoryCeilingMiddleware` makes
a process leave once it passes its pool's ceiling (scripts/pool.sh starts it again)."""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import sys
import threading
from typing import Any

import dramatiq
from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """This process's resident memory now (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The most resident memory this process has held (ru_maxrss is KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def memory_now() -> tuple[int, int]:
    """(resident now, peak) in bytes; the peak read last, so never below the figure now."""
    rss = rss_bytes()
    return rss, max(rss, peak_rss_bytes())


class _Counters:
    """Tasks this process has finished (any outcome), shared by both middlewares."""

    tasks_done = 0
    lock = threading.Lock()

    @classmethod
    def add(cls) -> int:
        with cls.lock:
            cls.tasks_done += 1
            return cls.tasks_done


class WorkerHeartbeatMiddleware(dramatiq.Middleware):
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # Worker threads mix CPU (handlers) and I/O (database, broker). With the default
        # 5 ms GIL switch interval a thread back from I/O queues behind busy ones (the
        # "convoy effect"): sending a 1,000-task fan-out took over a second. 0.5 ms
        # hands the GIL over sooner.
        sys.setswitchinterval(float(settings.GEOPLATFORM_WORKER_SWITCH_INTERVAL))
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        # The queues it consumes: its --queues (Dramatiq's consumer whitelist), else all.
        queues = sorted(getattr(worker, "consumer_whitelist", None) or broker.get_declared_queues())
        started = timezone.now()

        def beat() -> None:
            # Imported here: the settings build the broker with this middleware, before any app is loaded.
            from .models import WorkerHeartbeat

            interval = float(settings.GEOPLATFORM_HEARTBEAT_SECONDS)
            try:
                while True:
                    try:
                        rss, peak = memory_now()
                        WorkerHeartbeat.objects.update_or_create(
                            worker_id=worker_id,
                            defaults={
                                "hostname": socket.gethostname(),
                                "pid": os.getpid(),
                                "queues": queues,
                                "started_at": started,
                                "last_seen": timezone.now(),
                                "pool": str(settings.GEOPLATFORM_WORKER_POOL),
                                "rss_bytes": rss,
                                "peak_rss_bytes": peak,
                                "tasks_done": _Counters.tasks_done,
                                "max_rss_mb": int(settings.GEOPLATFORM_WORKER_MAX_RSS_MB),
                                "max_tasks": int(settings.GEOPLATFORM_WORKER_MAX_TASKS),
                            },
                        )
                    except Exception:
                        logger.exception("worker heartbeat failed")
                        connection.close()
                    if self._stop.wait(interval):
                        break
                WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
            except Exception:
                logger.exception("worker heartbeat stopped")
            finally:
                connection.close()

        self._thread = threading.Thread(target=beat, name="worker-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class MemoryCeilingMiddleware(dramatiq.Middleware):
    """Leave the process after the task that took it past ``GEOPLATFORM_WORKER_MAX_RSS_MB``
    resident, or after ``GEOPLATFORM_WORKER_MAX_TASKS`` tasks (0: no limit).

    Memory a GDAL conversion or a pandas frame freed is often not given back to the system
    (allocator arenas, fragmentation), so a long-lived worker only grows; a fresh process is
    the reliable way back. The process stops as on SIGTERM: its other threads finish their
    current task, prefetched messages go back on the queue, then it exits and its supervisor
    (scripts/pool.sh) starts another one.
    """

    def __init__(self) -> None:
        self._leaving = False
        self._lock = threading.Lock()
        self._worker: Any = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._worker = worker

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._count_and_check()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._count_and_check()

    def _count_and_check(self) -> None:
        done = _Counters.add()
        reason = leave_reason(tasks_done=done, rss=rss_bytes())
        if reason is None:
            return
        with self._lock:
            if self._leaving:
                return  # a second SIGTERM would kill the process mid-task
            self._leaving = True
        logger.warning("worker %s leaves after this task: %s; its supervisor starts a new one", os.getpid(), reason)
        # Its threads take no further message (each finishes the one it has) ...
        for thread in getattr(self._worker, "workers", ()):
            thread.stop()
        # ... and the process stops as on SIGTERM: the messages it holds go back on their queue.
        os.kill(os.getpid(), signal.SIGTERM)


def leave_reason(*, tasks_done: int, rss: int) -> str | None:
    """Why a worker process that has run ``tasks_done`` tasks and holds ``rss`` bytes should
    leave now, or None to keep going."""
    max_tasks = int(settings.GEOPLATFORM_WORKER_MAX_TASKS)
    max_rss_mb = int(settings.GEOPLATFORM_WORKER_MAX_RSS_MB)
    if max_tasks and tasks_done >= max_tasks:
        return f"{tasks_done} tasks run (GEOPLATFORM_WORKER_MAX_TASKS={max_tasks})"
    if max_rss_mb and rss >= max_rss_mb * 1024**2:
        return f"resident memory {rss // 1024**2} MiB (GEOPLATFORM_WORKER_MAX_RSS_MB={max_rss_mb})"
    return None
