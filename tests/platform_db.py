"""A database set up exactly as `make run` sets it up: scripts/db.sh with its own owner and
application roles (migrations as the owner), dropped with its roles afterwards.

The suite's own test database is created and migrated by pytest-django as a superuser, and
only once: first-run bugs (a permission missing after the first `migrate`) and privilege
bugs show only on a database built this way.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def db_url(user: str, dbname: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgresql://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}"


def admin_connection() -> psycopg.Connection[Any]:
    db: dict[str, Any] = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 5432),
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


@contextmanager
def platform_database(prefix: str) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Run the real scripts/db.sh for a new database and two new roles; yield the names
    (``db``, ``owner``, ``app``) and the environment `make run` would give the processes."""
    suffix = secrets.token_hex(4)
    names = {
        "db": f"{prefix}_{suffix}",
        "owner": f"{prefix}_owner_{suffix}",
        "app": f"{prefix}_app_{suffix}",
        "reader": f"{prefix}_reader_{suffix}",  # the reader deployment's read-only role
    }
    env = {
        **os.environ,
        "GEOPLATFORM_ENV_FILE": "/nonexistent",  # never a developer's .env
        "DJANGO_SETTINGS_MODULE": "geoplatform.settings.prod",  # what scripts/run.sh serves with
        "GEOPLATFORM_SECRET_KEY": secrets.token_urlsafe(50),
        "GEOPLATFORM_DATABASE_ADMIN_URL": db_url(settings.DATABASES["default"]["USER"], "postgres"),
        "GEOPLATFORM_DATABASE_OWNER_URL": db_url(names["owner"], names["db"]),
        "GEOPLATFORM_DATABASE_URL": db_url(names["app"], names["db"]),
        "GEOPLATFORM_DATABASE_READER_URL": db_url(names["reader"], names["db"]),
        "GEOPLATFORM_LOG_FORMAT": "text",
    }
    try:
        result = subprocess.run(["scripts/db.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        yield names, env
    finally:
        with admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{names["db"]}" WITH (FORCE)')
            for role in (names["reader"], names["app"], names["owner"]):
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')
