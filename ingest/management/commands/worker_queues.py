"""``manage.py worker_queues [--except long ...]``: the queues the platform's actors use, one
line each. scripts/run.sh starts its main pool on all of them but ``long`` (served by its own
pool), so a queue an app adds later is served without editing the script."""

from __future__ import annotations

from typing import Any

import dramatiq
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Print the queues declared by the platform's actors (minus --except ones), one a line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--except", dest="excluded", action="append", default=[], help="Leave this queue out.")

    def handle(self, *args: Any, **options: Any) -> None:
        declared = {q for q in dramatiq.get_broker().get_declared_queues() if not q.endswith((".DQ", ".XQ"))}
        unknown = sorted(set(options["excluded"]) - declared)
        if unknown:
            raise CommandError(f"unknown queue(s): {', '.join(unknown)}; queues are {', '.join(sorted(declared))}")
        for queue in sorted(declared - set(options["excluded"])):
            self.stdout.write(queue)
