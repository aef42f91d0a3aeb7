from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from geoplatform.errors import InvalidInput
from ingest.accounts import service_account_ensure


class Command(BaseCommand):
    help = "Create (or show) a service account and print its API token and webhook secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--rotate", action="store_true", help="Issue a new token and webhook secret.")
        parser.add_argument("--token-only", action="store_true", help="Print only the token (for scripts).")
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            help="Also join this existing group (repeatable), e.g. platform-clients for DDH.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            account = service_account_ensure(name=options["name"], rotate=options["rotate"], groups=options["group"])
        except InvalidInput as exc:
            raise CommandError(exc.message) from exc
        if options["token_only"]:
            self.stdout.write(account.token)
            return
        state = "created" if account.created else "existing"
        self.stdout.write(f"service account: {account.username} ({state})")
        self.stdout.write(f"token: {account.token}")
        self.stdout.write(f"webhook secret: {account.webhook_secret}")
        self.stdout.write("use: curl -H 'Authorization: Token <token>' ...")
