import contextlib
import logging
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from ingest.janitor import janitor_run, retention_purge

logger = logging.getLogger("ingest.janitor")

_LOCK_KEY = 727_001  # pg advisory lock: one janitor at a time, however many are started
_PURGE_EVERY_SECONDS = 3600.0  # retention works in days: once an hour is plenty
_MAX_ERROR_BACKOFF_SECONDS = 60.0


class Command(BaseCommand):
    help = (
        "Re-queue tasks whose worker vanished, re-send lost messages, purge finished jobs past "
        "GEOPLATFORM_RETENTION_DAYS. --loop keeps running (one active instance, locked in the DB) "
        "and survives database and broker outages."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["loop"]:
            self.stdout.write(str(janitor_run()))
            self.stdout.write(str(retention_purge()))
            return
        interval = float(settings.GEOPLATFORM_JANITOR_INTERVAL_SECONDS)
        failures = 0
        next_purge = 0.0
        while True:
            try:
                if self._locked():
                    outcome = janitor_run()
                    if any(outcome.values()):
                        self.stdout.write(str(outcome))
                    if time.monotonic() >= next_purge:
                        retention_purge()
                        next_purge = time.monotonic() + _PURGE_EVERY_SECONDS
                if failures:
                    logger.warning("janitor recovered after %d failed pass(es)", failures)
                failures = 0
            except Exception:
                # The database or the broker is down (restart, failover, network): log, drop
                # the connection (and with it the advisory lock: another janitor may take
                # over), and try again, backing off. The janitor is what re-queues the work
                # such an outage strands, so it must outlive it.
                failures += 1
                logger.exception("janitor pass failed (%d in a row); trying again", failures)
                with contextlib.suppress(Exception):
                    connection.close()
            delay = interval if not failures else min(interval * 2**failures, max(interval, _MAX_ERROR_BACKOFF_SECONDS))
            time.sleep(delay)

    def _locked(self) -> bool:
        """Take (or confirm) the session-level advisory lock; a new connection after an
        outage takes it again."""
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
            (locked,) = cur.fetchone()
        return bool(locked)
