"""Worker liveness: each worker process refreshes a heartbeat row while it runs."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from typing import Any

import dramatiq
from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)


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
        queues = sorted(getattr(worker, "queues", None) or broker.get_declared_queues())
        started = timezone.now()

        def beat() -> None:
            # Imported here: the settings build the broker with this middleware, before any app is loaded.
            from .models import WorkerHeartbeat

            interval = float(settings.GEOPLATFORM_HEARTBEAT_SECONDS)
            try:
                while True:
                    try:
                        WorkerHeartbeat.objects.update_or_create(
                            worker_id=worker_id,
                            defaults={
                                "hostname": socket.gethostname(),
                                "pid": os.getpid(),
                                "queues": queues,
                                "started_at": started,
                                "last_seen": timezone.now(),
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
