"""Health checks: a registry that apps add to in ``AppConfig.ready()``.

Two audiences, two answers:

- **readiness** (``GET /api/health``, anonymous, polled every second by load balancers):
  runs only the components registered with a ``probe`` (database ``SELECT 1``, broker
  ping, storage reachability by a read) and answers a bare status. The result is kept
  ``GEOPLATFORM_HEALTH_CACHE_SECONDS`` per process so a burst of probes costs one round.
- **details** (``GET /api/health/details`` for operators, ``/api/platform/health`` for
  DDH): every component's ``check`` (versions, counts, errors). Checks only read: no
  probe blob is written in any storage zone.

The core registers database, PostGIS, broker and storage; ``ingest`` adds live
workers and ``catalog`` adds pgSTAC, so this module imports no domain app.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from .storage import ZONES, container_probe, zone_container

logger = logging.getLogger(__name__)

Check = Callable[[], dict[str, Any]]
Probe = Callable[[], None]


@dataclass(frozen=True)
class Component:
    name: str
    check: Check  # detailed, read-only: returns what operators see (versions, counts)
    probe: Probe | None  # cheap readiness test; None: not part of readiness
    writer: bool = False  # only the full platform needs it (broker, workers): a reader skips it


_components: dict[str, Component] = {}
_ready_lock = threading.Lock()
_ready_cache: tuple[float, bool] | None = None  # (monotonic time, ready)


class Unhealthy(Exception):
    """Raised by a check whose component is not usable."""


def register(name: str, check: Check, *, probe: Probe | None = None, writer: bool = False) -> None:
    """Add a component; give ``probe`` only if the web cannot serve without it; ``writer``
    when only job submission or work needs it (a reader deployment neither checks nor probes it)."""
    _components[name] = Component(name=name, check=check, probe=probe, writer=writer)


def _active() -> list[Component]:
    reader = getattr(settings, "GEOPLATFORM_MODE", "full") == "reader"
    return [c for c in _components.values() if not (reader and c.writer)]


def run_checks(*, detail: bool = True) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Every component's check. ``detail=False`` keeps only each status (no versions, no
    error text) for clients that are not operators; failures are logged either way."""
    components: dict[str, dict[str, Any]] = {}
    healthy = True
    for component in _active():
        name = component.name
        started = time.perf_counter()
        try:
            info = component.check()
            components[name] = {"status": "ok", **(info if detail else {})}
        except Exception as exc:  # a health check reports every failure, it never raises
            healthy = False
            components[name] = {"status": "error"}
            if detail:
                components[name]["error"] = str(exc) or type(exc).__name__
            logger.warning("health check %s failed: %s", name, exc, extra={"error_source": "platform"})
        components[name]["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return healthy, components


def ready() -> bool:
    """Readiness: every probe passes. Cached briefly per process (see module docstring)."""
    global _ready_cache
    ttl = float(settings.GEOPLATFORM_HEALTH_CACHE_SECONDS)
    with _ready_lock:  # one probe round at a time; concurrent callers reuse its answer
        now = time.monotonic()
        if _ready_cache is not None and now - _ready_cache[0] < ttl:
            return _ready_cache[1]
        ok = True
        for component in _active():
            if component.probe is None:
                continue
            try:
                component.probe()
            except Exception as exc:  # readiness answers a status, the log keeps the reason
                ok = False
                logger.warning("readiness probe %s failed: %s", component.name, exc, extra={"error_source": "platform"})
        _ready_cache = (time.monotonic(), ok)
        return ok


def reset_cache() -> None:
    global _ready_cache
    with _ready_lock:
        _ready_cache = None


# --- core components ---------------------------------------------------------------------


def _database_probe() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")


def _database() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        (version,) = cur.fetchone()
        cur.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, superuser = cur.fetchone()
    # Operators see whether least privilege is in force (see docs/operations.md).
    return {"version": version, "role": user, "superuser": bool(superuser)}


def _postgis() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
        row = cur.fetchone()
    if row is None:
        raise Unhealthy("the postgis extension is not installed")
    return {"version": row[0]}


_redis_clients: dict[str, Any] = {}


def _broker_probe() -> None:
    url = settings.GEOPLATFORM_BROKER_URL
    if url.startswith("amqp"):
        # Imported here: the configured broker's client only.
        import pika

        params = pika.URLParameters(url)
        params.socket_timeout = 3
        params.blocked_connection_timeout = 3
        pika.BlockingConnection(params).close()
        return
    # Imported here: the configured broker's client only.
    import redis

    # One client (and connection pool) per URL: a client per probe would leave a pool behind.
    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    client.ping()


def _broker() -> dict[str, Any]:
    _broker_probe()
    return {"kind": "rabbitmq" if settings.GEOPLATFORM_BROKER_URL.startswith("amqp") else "redis"}


def _storage_probe() -> None:
    for zone in ZONES:
        container_probe(zone_container(zone))


def _storage() -> dict[str, Any]:
    zones = {zone: {"container": zone_container(zone), **container_probe(zone_container(zone))} for zone in ZONES}
    return {"backend": settings.GEOPLATFORM_STORAGE_BACKEND, "zones": zones}


def register_core_checks() -> None:
    register("database", _database, probe=_database_probe)
    register("postgis", _postgis)
    register("broker", _broker, probe=_broker_probe, writer=True)
    register("storage", _storage, probe=_storage_probe)
