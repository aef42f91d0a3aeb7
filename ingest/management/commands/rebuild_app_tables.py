"""``manage.py rebuild_app_tables [--dry-run] [--force]``: drop and recreate the job tables.

For job tables whose structure or contents went wrong: they are dropped and created again
from ingest's migrations in one transaction, as the owner role (GEOPLATFORM_DATABASE_OWNER_URL
when set). ``geo``, pgSTAC, releases and their audit, storage and service accounts stay;
jobs that a release references are kept as records (see ingest/appstate.py).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from geoplatform.dbroles import use_owner_connection
from geoplatform.errors import ApplicationError
from ingest.appstate import app_tables_rebuild


class Command(BaseCommand):
    help = "Drop and recreate the application tables (jobs, tasks, events, deliveries); business data stays."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print what would be rebuilt; change nothing.")
        parser.add_argument("--force", action="store_true", help="Also when jobs are queued or running.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["dry_run"]:
            use_owner_connection()  # DDL: the application role may not drop tables
        try:
            report = app_tables_rebuild(dry_run=options["dry_run"], force=options["force"])
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.remediation}".strip()) from exc
        for line in report.lines():
            self.stdout.write(line)
        self.stdout.write("dry run: nothing changed" if report.dry_run else "application tables rebuilt")
