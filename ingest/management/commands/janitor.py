import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from ingest.services import janitor_run

_LOCK_KEY = 727_001  # pg advisory lock: one janitor at a time, however many are started


class Command(BaseCommand):
    help = "Re-queue tasks whose worker vanished. --loop keeps running (one active instance, locked in the DB)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["loop"]:
            self.stdout.write(str(janitor_run()))
            return
        interval = float(settings.GEOPLATFORM_JANITOR_INTERVAL_SECONDS)
        while True:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
                (locked,) = cur.fetchone()
            if locked:
                outcome = janitor_run()
                if outcome["requeued"] or outcome["failed"]:
                    self.stdout.write(str(outcome))
            time.sleep(interval)
