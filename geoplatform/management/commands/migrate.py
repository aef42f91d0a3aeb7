"""``migrate`` as the owner role when ``GEOPLATFORM_DATABASE_OWNER_URL`` is set.

Web and workers run as the application role, which may not change the schema; whoever
runs ``manage.py migrate`` (scripts/db.sh, an operator, a deploy step) gets the owner
without having to swap URLs by hand.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate

from geoplatform.dbroles import use_owner_connection


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Runs as GEOPLATFORM_DATABASE_OWNER_URL's role when that is set."

    def handle(self, *args: Any, **options: Any) -> None:
        if options["database"] == "default" and use_owner_connection() and options["verbosity"] >= 2:
            self.stdout.write("Migrating as the owner role (GEOPLATFORM_DATABASE_OWNER_URL).")
        super().handle(*args, **options)
