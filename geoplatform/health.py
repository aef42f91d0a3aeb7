"""Health checks: a registry that apps add to in ``AppConfig.ready()``.

The core registers database, PostGIS, broker and storage; ``ingest`` adds live
workers and ``catalog`` adds pgSTAC, so this module imports no domain app.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection

logger = logging.getLogger(__name__)

Check = Callable[[], dict[str, Any]]
_checks: dict[str, Check] = {}


class Unhealthy(Exception):
    """Raised by a check whose component is not usable."""


def register(name: str, check: Check) -> None:
    _checks[name] = check


def run_checks() -> tuple[bool, dict[str, dict[str, Any]]]:
    components: dict[str, dict[str, Any]] = {}
    healthy = True
    for name, check in _checks.items():
        started = time.perf_counter()
        try:
            info = check()
            components[name] = {"status": "ok", **info}
        except Exception as exc:  # a health check reports every failure, it never raises
            healthy = False
            components[name] = {"status": "error", "error": str(exc) or type(exc).__name__}
            logger.warning("health check %s failed: %s", name, exc, extra={"error_source": "platform"})
        components[name]["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return healthy, components


def _database() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        (version,) = cur.fetchone()
    return {"version": version}


def _postgis() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
        row = cur.fetchone()
    if row is None:
        raise Unhealthy("the postgis extension is not installed")
    return {"version": row[0]}


def _broker() -> dict[str, Any]:
    url = settings.GEOPLATFORM_BROKER_URL
    if url.startswith("amqp"):
        import pika

        params = pika.URLParameters(url)
        params.socket_timeout = 3
        params.blocked_connection_timeout = 3
        conn = pika.BlockingConnection(params)
        conn.close()
        return {"kind": "rabbitmq"}
    import redis

    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    client.ping()
    return {"kind": "redis"}


def _storage() -> dict[str, Any]:
    from .storage import ZONES, zone_storage

    probe = f"_health/{secrets.token_hex(8)}.txt"
    for zone in ZONES:
        storage = zone_storage(zone)
        storage.save(probe, ContentFile(b"ok"))
        storage.delete(probe)
    return {"backend": settings.GEOPLATFORM_STORAGE_BACKEND, "zones": list(ZONES)}


def register_core_checks() -> None:
    register("database", _database)
    register("postgis", _postgis)
    register("broker", _broker)
    register("storage", _storage)
