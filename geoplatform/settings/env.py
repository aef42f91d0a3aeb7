"""The one place that reads environment variables (all prefixed ``GEOPLATFORM_``).

Values are typed here; settings modules only consume them. A ``.env`` file at the
project root (written by ``make run`` on first start, never committed) is loaded
first, without overriding variables already set in the environment.

Kept rather than django-environ (not installed; one more runtime dependency to replace ~100
lines): its ``bool()`` reads any unknown word (``GEOPLATFORM_DEBUG=flase``) as False where
:func:`get_bool` refuses it, its ``int()`` lets a bare ValueError out that names no variable,
and its ``db()`` would still need our engine (``geoplatform.postgis``) and connection OPTIONS
passed in. Every error here names the variable and what it takes.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PREFIX = "GEOPLATFORM_"


def _load_dotenv(path: Path) -> None:
    if not path.is_file():
        return
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        value = value.strip().strip('"').strip("'")
        os.environ.setdefault(key, value)


_load_dotenv(Path(os.environ.get(PREFIX + "ENV_FILE", str(BASE_DIR / ".env"))))


def get_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(PREFIX + name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"Environment variable {PREFIX}{name} is required (see .env.example).")
        return default
    return value


def get_optional(name: str) -> str | None:
    value = os.environ.get(PREFIX + name)
    return value or None


def get_bool(name: str, default: bool) -> bool:
    value = os.environ.get(PREFIX + name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{PREFIX}{name} must be true or false, not {value!r}.")


def get_int(name: str, default: int) -> int:
    value = os.environ.get(PREFIX + name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{PREFIX}{name} must be an integer, not {value!r}.") from exc


def get_float(name: str, default: float) -> float:
    value = os.environ.get(PREFIX + name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{PREFIX}{name} must be a number, not {value!r}.") from exc


def get_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(PREFIX + name)
    if value is None or value == "":
        return default
    if value.lower() not in choices:
        raise ImproperlyConfigured(f"{PREFIX}{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value.lower()


def get_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(PREFIX + name)
    if value is None or value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str, *, pgstac_readonly: bool = False) -> dict[str, object]:
    """Turn ``postgresql://user:pass@host:port/name`` into a Django DATABASES entry.

    ``pgstac_readonly``: pgSTAC's search() then neither records searches (pgstac.searches)
    nor caches counts (pgstac.search_wheres): a reader's role may only SELECT.
    """
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "postgis"}:
        raise ImproperlyConfigured(f"{PREFIX}DATABASE_URL must be a postgresql:// URL, not {parsed.scheme!r}.")
    return {
        "ENGINE": "geoplatform.postgis",  # PostGIS, with a health check without a round trip
        "NAME": unquote(parsed.path.lstrip("/")),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        # pgSTAC's SQL functions use unqualified names. JIT and parallel plans cost
        # 10-30 ms of set-up per query: measured on OGC items pages and STAC searches, they
        # made every API request slower (many small queries, not few large ones).
        "OPTIONS": {
            "options": "-c search_path=public,pgstac -c jit=off -c max_parallel_workers_per_gather=0"
            + (" -c pgstac.readonly=true" if pgstac_readonly else ""),
            # Statements run with server-side parameters (OGC items pages) are prepared after
            # 5 runs on a connection; Django's own cursors bind on the client and never are.
            # Off for a transaction-mode pooler without prepared statement support.
            "prepare_threshold": 5 if get_bool("DB_PREPARED_STATEMENTS", True) else None,
        },
        "CONN_MAX_AGE": get_int("DB_CONN_MAX_AGE", 60),
        # Check a kept connection before reusing it in each request/message, so the first
        # request after a database restart is not a 500. geoplatform.postgis makes the check
        # a look at the socket, not a query (no round trip).
        "CONN_HEALTH_CHECKS": get_bool("DB_CONN_HEALTH_CHECKS", True),
    }
