"""``manage.py clear_app_state [--dry-run] [--force]``: delete the job engine's rows.

Jobs, stages, tasks, events, callback deliveries, worker heartbeats go; ``geo``, pgSTAC,
releases and their audit, storage and service accounts stay (see ingest/appstate.py).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from geoplatform.errors import ApplicationError
from ingest.appstate import app_state_clear


class Command(BaseCommand):
    help = "Delete application state (jobs, tasks, events, deliveries); business data stays. --dry-run first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print what would be deleted; change nothing.")
        parser.add_argument("--force", action="store_true", help="Also when jobs are queued or running.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = app_state_clear(dry_run=options["dry_run"], force=options["force"])
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.remediation}".strip()) from exc
        for line in report.lines():
            self.stdout.write(line)
        if report.dry_run:
            self.stdout.write("dry run: nothing changed")
