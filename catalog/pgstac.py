"""The one module that talks to pgSTAC (installed and upgraded by pypgstac).

pgSTAC functions use unqualified names; the Django connection's search_path includes
``pgstac`` (see settings), and pypgstac's own connection sets it too.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper


def dsn_for(conn: BaseDatabaseWrapper) -> str:
    """A libpq DSN for the same database as a Django connection."""
    s = conn.settings_dict
    parts = {"dbname": s["NAME"], "user": s["USER"], "password": s["PASSWORD"], "host": s["HOST"], "port": s["PORT"]}
    return " ".join(f"{k}='{v}'" for k, v in parts.items() if v)


def migrate(conn: BaseDatabaseWrapper | None = None) -> str:
    """Install or upgrade pgSTAC (needs a superuser: it creates extensions and roles)."""
    from pypgstac.db import PgstacDB
    from pypgstac.migrate import Migrate

    db = PgstacDB(dsn=dsn_for(conn or connection))
    try:
        return str(Migrate(db).run_migration())
    finally:
        db.close()


def version() -> str | None:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regproc('pgstac.get_version') IS NOT NULL")
        (installed,) = cur.fetchone()
        if not installed:
            return None
        cur.execute("SELECT pgstac.get_version()")
        (value,) = cur.fetchone()
    return str(value)


def health() -> dict[str, Any]:
    from geoplatform.health import Unhealthy

    found = version()
    if found is None:
        raise Unhealthy("pgSTAC is not installed (run `manage.py migrate`)")
    return {"version": found}
