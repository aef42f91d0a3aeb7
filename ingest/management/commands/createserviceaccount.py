from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ingest.accounts import service_account_ensure


class Command(BaseCommand):
    help = "Create (or show) a service account and print its API token and webhook secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--rotate", action="store_true", help="Issue a new token and webhook secret.")
        parser.add_argument("--token-only", action="store_true", help="Print only the token (for scripts).")

    def handle(self, *args: Any, **options: Any) -> None:
        account = service_account_ensure(name=options["name"], rotate=options["rotate"])
        if options["token_only"]:
            self.stdout.write(account.token)
            return
        state = "created" if account.created else "existing"
        self.stdout.write(f"service account: {account.username} ({state})")
        self.stdout.write(f"token: {account.token}")
        self.stdout.write(f"webhook secret: {account.webhook_secret}")
        self.stdout.write("use: curl -H 'Authorization: Token <token>' ...")
