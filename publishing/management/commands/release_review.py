"""Approve, reject or revoke a release from the shell (same services as the API and admin).

manage.py release_review approve <release_id> --reviewer alice --clearance ouo [--version-id 2024]
manage.py release_review reject  <release_id> --reviewer alice --reason "blurry"
manage.py release_review revoke  <release_id> --reviewer alice --reason "withdrawn"
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from geoplatform.errors import ApplicationError
from publishing import services


class Command(BaseCommand):
    help = "Approve, reject or revoke a release (runs as the platform: no four-eyes check)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("transition", choices=["approve", "reject", "revoke"])
        parser.add_argument("release_id")
        parser.add_argument("--reviewer", required=True, help="Who decided (recorded in the audit log).")
        parser.add_argument("--clearance", choices=["ouo", "public"], help="Required to approve.")
        parser.add_argument("--version-id", default="")
        parser.add_argument("--reason", default="", help="Required to reject or revoke; notes when approving.")

    def handle(self, *args: Any, **options: Any) -> None:
        transition, release_id, reviewer = options["transition"], options["release_id"], options["reviewer"]
        try:
            if transition == "approve":
                if not options["clearance"]:
                    raise CommandError("--clearance ouo|public is required to approve.")
                release = services.release_approve(
                    release_id=release_id,
                    user=None,
                    reviewer=reviewer,
                    clearance_state=options["clearance"],
                    version_id=options["version_id"],
                    notes=options["reason"],
                )
            elif transition == "reject":
                release = services.release_reject(
                    release_id=release_id, user=None, reviewer=reviewer, reason=options["reason"]
                )
            else:
                release = services.release_revoke(
                    release_id=release_id, user=None, reviewer=reviewer, reason=options["reason"]
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{release.id}: {release.approval_state} ({release.clearance_state}, {release.version_id})")
