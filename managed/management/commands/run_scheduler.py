"""``manage.py run_scheduler``: the deployment's one scheduler (``make run`` starts it).

dramatiq-crontab's scheduler (APScheduler, cron entries from managed/tasks.py) sends the
tick; this command adds what dramatiq-crontab lacks for this platform: its lock is a Redis
key (none at all on RabbitMQ), ours is a PostgreSQL advisory lock held by a dedicated
connection, so any broker works and the database decides which process ticks. A process
that does not get the lock waits as a standby and retries; the one holding it checks the
lock's connection every few seconds and stops (to be restarted by scripts/supervise.sh) when
it has gone, since another process may then hold the lock.

``--once`` runs one tick here and now (the due updates go to the workers as the daemon's
do) and prints what it claimed: for a deployment that drives the tick from an external cron.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import time
from typing import Any

import psycopg
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from django.core.management.base import CommandParser
from django.db import connection
from dramatiq_crontab import scheduler as crontab_scheduler
from dramatiq_crontab.management.commands.crontab import Command as CrontabCommand

from managed.scheduler import SCHEDULER_LOCK_KEY, scheduler_tick


class DatabaseLock:
    """A session-level pg advisory lock on its own autocommit connection (not Django's:
    that one is closed between requests and is per thread)."""

    def __init__(self, key: int) -> None:
        self.key = key
        self.conn: psycopg.Connection[Any] | None = None
        self.mutex = threading.Lock()

    def acquire(self) -> bool:
        with self.mutex:
            if self.conn is None or self.conn.closed:
                params = connection.get_connection_params()
                params.pop("cursor_factory", None)
                params.pop("context", None)
                self.conn = psycopg.connect(**params, autocommit=True)
            row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
            return bool(row and row[0])

    def held(self) -> bool:
        """Whether this session still holds the lock (False when its connection broke)."""
        with self.mutex:
            if self.conn is None or self.conn.closed:
                return False
            try:
                row = self.conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND objid = %s AND granted",
                    [self.key],
                ).fetchone()
            except psycopg.Error:
                return False
            return bool(row and row[0])

    def release(self) -> None:
        with self.mutex:
            if self.conn is not None and not self.conn.closed:
                with contextlib.suppress(psycopg.Error):
                    self.conn.close()  # closing the session releases its advisory locks
            self.conn = None


class Command(CrontabCommand):
    help = (
        "Run the scheduler of managed datasets (one active per deployment, locked in the database; "
        "others wait as standbys). --once: one tick now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One tick now; print what it started (JSON).")
        parser.add_argument(
            "--standby-seconds",
            type=float,
            default=float(settings.GEOPLATFORM_SCHEDULER_STANDBY_SECONDS),
            help="How often a standby tries to take the lock.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            result = scheduler_tick()
            self.stdout.write(json.dumps(result.__dict__, sort_keys=True))
            return
        lock = DatabaseLock(SCHEDULER_LOCK_KEY)
        announced = False
        while not lock.acquire():
            if not announced:
                self.stdout.write("Another scheduler holds the lock; standing by.")
                announced = True
            time.sleep(options["standby_seconds"])
        try:
            # Our cron entries only (dramatiq-crontab's own heartbeat actor is not one the
            # workers load); an error in them fails here, not silently.
            importlib.import_module("managed.tasks")
            self.stdout.write("Lock taken: this process is the scheduler.")
            crontab_scheduler.add_job(
                _check_lock,
                IntervalTrigger(seconds=float(settings.GEOPLATFORM_SCHEDULER_LOCK_CHECK_SECONDS)),
                args=(lock,),
                name="managed.scheduler.lock_check",
            )
            self.launch_scheduler(_NoLock(), crontab_scheduler)
        finally:
            lock.release()


class _NoLock:
    """dramatiq-crontab's launch_scheduler extends a Redis lock; ours is checked by _check_lock."""

    def extend(self, *args: Any, **kwargs: Any) -> bool:
        return True


def _check_lock(lock: DatabaseLock) -> None:
    if not lock.held():
        # Another process may hold the lock now: stop ticking (supervise.sh restarts us as a standby).
        crontab_scheduler.shutdown(wait=False)
        raise RuntimeError("the scheduler's database lock was lost; stopping")
