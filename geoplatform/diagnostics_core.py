"""The core's diagnostics: versions, database, storage and the maintenance log.

Registered by :class:`geoplatform.apps.GeoPlatformConfig`; domain apps add their own
sections (see :mod:`geoplatform.diagnostics`).
"""

from __future__ import annotations

import functools
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from . import diagnostics
from .diagnostics import Param, diag_cursor, exclusively_locked, rows
from .models import MaintenanceRecord
from .storage import ZONES, container_probe, zone_container

# --- versions ---------------------------------------------------------------------------


@functools.cache
def _library_versions() -> dict[str, str | None]:
    """Versions fixed for the life of the process (read once)."""
    found: dict[str, str | None] = {}
    try:
        import rasterio  # the GDAL wheel bundled with rasterio

        found["gdal_rasterio"] = rasterio.__gdal_version__
        found["rasterio"] = rasterio.__version__
    except ImportError:
        found["gdal_rasterio"] = None
    try:
        import pyogrio  # the GDAL wheel bundled with pyogrio

        found["gdal_pyogrio"] = pyogrio.__gdal_version_string__
        found["pyogrio"] = pyogrio.__version__
    except ImportError:
        found["gdal_pyogrio"] = None
    try:
        from django.contrib.gis.gdal import gdal_full_version  # the system libgdal GeoDjango loads

        found["gdal_system"] = gdal_full_version().decode()
    except Exception:  # no system GDAL: GeoDjango would fail earlier, but say so rather than 500
        found["gdal_system"] = None
    try:
        import pyproj

        found["proj"] = pyproj.proj_version_str
    except ImportError:
        found["proj"] = None
    return found


def versions() -> dict[str, Any]:
    with diag_cursor() as cur:
        cur.execute("SHOW server_version")
        (pg,) = cur.fetchone()
        cur.execute("SELECT extname, extversion FROM pg_extension")
        extensions = dict(cur.fetchall())
        postgis_full = None
        if "postgis" in extensions:
            cur.execute("SELECT postgis_full_version()")
            (postgis_full,) = cur.fetchone()
        pgstac = None
        cur.execute("SELECT to_regproc('pgstac.get_version') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT pgstac.get_version()")
            (pgstac,) = cur.fetchone()
    return {
        "platform": str(settings.SPECTACULAR_SETTINGS["VERSION"]),
        "django": django.get_version(),
        "python": platform.python_version(),
        "postgresql": pg,
        "postgis": extensions.get("postgis"),
        "postgis_full": postgis_full,
        "pgstac": pgstac,
        "extensions": extensions,
        **_library_versions(),
    }


# --- database ---------------------------------------------------------------------------

_PG_STAT_STATEMENTS_MISSING = (
    "pg_stat_statements is not installed in this database: add it to shared_preload_libraries"
    " and run CREATE EXTENSION pg_stat_statements to see the slowest statements."
)


def database(top: int, long_query_seconds: float) -> dict[str, Any]:
    with diag_cursor() as cur:
        # Sizes open each relation (ACCESS SHARE): skip the ones exclusively locked, and name them.
        cur.execute(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'm', 'i', 't') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        )
        locked = exclusively_locked(cur, [r[0] for r in cur.fetchall()])
        skip = list(locked) or [0]
        schemas = rows(
            cur,
            "SELECT n.nspname AS schema, sum(pg_total_relation_size(c.oid))::bigint AS bytes, count(*) AS tables"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%%' AND c.oid <> ALL(%s)"
            " GROUP BY 1 ORDER BY 2 DESC",
            [skip],
        )
        tables = rows(
            cur,
            "SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS bytes,"
            " pg_relation_size(c.oid) AS table_bytes, c.reltuples::bigint AS estimated_rows"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND c.oid <> ALL(%s) ORDER BY pg_total_relation_size(c.oid) DESC LIMIT %s",
            [skip, top],
        )
        indexes = rows(
            cur,
            "SELECT n.nspname AS schema, c.relname AS name, t.relname AS table, pg_relation_size(c.oid) AS bytes"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class t ON t.oid = i.indrelid"
            " WHERE c.relkind = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND c.oid <> ALL(%s) AND t.oid <> ALL(%s) ORDER BY pg_relation_size(c.oid) DESC LIMIT %s",
            [skip, skip, top],
        )
        dead = rows(
            cur,
            "SELECT schemaname AS schema, relname AS name, n_live_tup AS live, n_dead_tup AS dead,"
            " round(n_dead_tup::numeric / greatest(n_live_tup + n_dead_tup, 1), 4)::float AS dead_ratio,"
            " last_autovacuum, last_vacuum FROM pg_stat_user_tables WHERE n_dead_tup > 0"
            " ORDER BY n_dead_tup DESC LIMIT %s",
            [top],
        )
        long_running = rows(
            cur,
            "SELECT pid, usename AS role, state, wait_event_type, wait_event,"
            " extract(epoch FROM clock_timestamp() - query_start)::float AS seconds, left(query, 500) AS query"
            " FROM pg_stat_activity WHERE state IS NOT NULL AND state <> 'idle' AND pid <> pg_backend_pid()"
            " AND clock_timestamp() - query_start > make_interval(secs => %s) ORDER BY query_start LIMIT %s",
            [long_query_seconds, top],
        )
        blocked = rows(
            cur,
            "SELECT pid, pg_blocking_pids(pid) AS blocked_by, usename AS role, wait_event_type,"
            " extract(epoch FROM clock_timestamp() - query_start)::float AS seconds, left(query, 500) AS query"
            " FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0 LIMIT %s",
            [top],
        )
        exclusive = rows(
            cur,
            "SELECT l.pid, l.relation::regclass::text AS relation, l.granted,"
            " left(a.query, 200) AS query FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT %s",
            [top],
        )
        connections = rows(
            cur,
            "SELECT coalesce(state, backend_type) AS state, count(*) AS count FROM pg_stat_activity"
            " WHERE datname = current_database() OR datname IS NULL GROUP BY 1 ORDER BY 2 DESC",
        )
        cur.execute("SHOW max_connections")
        (max_connections,) = cur.fetchone()
        cur.execute(
            "SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') FROM pg_roles"
            " WHERE rolname = current_user"
        )
        (sees_all,) = cur.fetchone()
        statements = _statements(cur, top)
    return {
        "schemas": schemas,
        "largest_tables": tables,
        "largest_indexes": indexes,
        "dead_tuples": dead,
        "long_running": long_running,
        "long_query_seconds": long_query_seconds,
        "blocked": blocked,
        "exclusive_locks": exclusive,
        "skipped_locked": sorted(r["relation"] for r in exclusive if r["granted"]),
        "connections": connections,
        "max_connections": int(max_connections),
        # Without pg_read_all_stats other roles' queries read "<insufficient privilege>".
        "sees_all_sessions": bool(sees_all),
        "slowest_statements": statements,
    }


def _statements(cur: Any, top: int) -> dict[str, Any]:
    cur.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_stat_statements'"
    )
    found = cur.fetchone()
    if found is None:
        return {"available": False, "reason": _PG_STAT_STATEMENTS_MISSING}
    try:
        cur.execute("SAVEPOINT diag_statements")
        statements = rows(
            cur,
            f"SELECT calls, round(mean_exec_time::numeric, 2)::float AS mean_ms,"
            f" round(total_exec_time::numeric, 1)::float AS total_ms, rows, left(query, 500) AS query"
            f' FROM "{found[0]}".pg_stat_statements ORDER BY mean_exec_time DESC LIMIT %s',
            [top],
        )
        cur.execute("RELEASE SAVEPOINT diag_statements")
    except Exception as exc:  # installed but not preloaded: the view raises
        cur.execute("ROLLBACK TO SAVEPOINT diag_statements")
        return {"available": False, "reason": f"pg_stat_statements is installed but unusable: {exc}"}
    return {"available": True, "statements": statements}


# --- storage ----------------------------------------------------------------------------

_storage_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_storage_lock = threading.Lock()


def _count_local(container: str, limit: int) -> dict[str, Any]:
    root = Path(settings.GEOPLATFORM_STORAGE_ROOT) / container
    objects = size = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if objects >= limit:
                return {"objects": objects, "bytes": size, "truncated": True}
            objects += 1
            size += (Path(folder) / name).stat().st_size
    return {"objects": objects, "bytes": size, "truncated": False}


def _count_azure(container: str, limit: int) -> dict[str, Any]:
    # Imported here: the Azure SDK is loaded only with the azure storage backend.
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import ContainerClient

    client = ContainerClient.from_connection_string(
        settings.GEOPLATFORM_AZURE_CONNECTION_STRING or "", container, retry_total=0, connection_timeout=3
    )
    objects = size = 0
    try:
        for blob in client.list_blobs(results_per_page=min(limit, 5000)):
            if objects >= limit:
                return {"objects": objects, "bytes": size, "truncated": True}
            objects += 1
            size += int(blob.size or 0)
    except ResourceNotFoundError:  # created by the first write
        return {"objects": 0, "bytes": 0, "truncated": False, "exists": False}
    return {"objects": objects, "bytes": size, "truncated": False}


def _zone_counts(container: str, refresh: bool) -> dict[str, Any]:
    """Object count and bytes of a container: listed at most once per cache period and
    at most ``GEOPLATFORM_DIAGNOSTICS_STORAGE_MAX_OBJECTS`` objects (then ``truncated``)."""
    backend = settings.GEOPLATFORM_STORAGE_BACKEND
    key = (backend, container)
    ttl = float(settings.GEOPLATFORM_DIAGNOSTICS_STORAGE_CACHE_SECONDS)
    now = time.time()
    with _storage_lock:
        cached = _storage_cache.get(key)
    if cached is not None and not refresh and now - cached[0] < ttl:
        return {**cached[1], "cached_seconds_ago": round(now - cached[0], 1)}
    limit = int(settings.GEOPLATFORM_DIAGNOSTICS_STORAGE_MAX_OBJECTS)
    counts = _count_local(container, limit) if backend == "local" else _count_azure(container, limit)
    with _storage_lock:
        _storage_cache[key] = (now, counts)
    return {**counts, "cached_seconds_ago": 0.0}


def storage(refresh: bool) -> dict[str, Any]:
    zones: dict[str, Any] = {}
    for zone in ZONES:
        container = zone_container(zone)
        entry: dict[str, Any] = {"container": container}
        try:
            entry.update(container_probe(container))
            entry["reachable"] = True
            entry.update(_zone_counts(container, refresh))
        except Exception as exc:  # one zone down: the others are still reported
            entry.update(reachable=False, error=f"{type(exc).__name__}: {exc}")
        zones[zone] = entry
    return {
        "backend": settings.GEOPLATFORM_STORAGE_BACKEND,
        "cache_seconds": settings.GEOPLATFORM_DIAGNOSTICS_STORAGE_CACHE_SECONDS,
        "max_objects": settings.GEOPLATFORM_DIAGNOSTICS_STORAGE_MAX_OBJECTS,
        "zones": zones,
    }


def storage_cache_clear() -> None:
    with _storage_lock:
        _storage_cache.clear()


# --- maintenance log --------------------------------------------------------------------


def maintenance(limit: int) -> dict[str, Any]:
    records = MaintenanceRecord.objects.order_by("-created_at", "-id")[:limit]
    return {
        "records": [
            {
                "id": r.id,
                "action": r.action,
                "dry_run": r.dry_run,
                "ok": r.ok,
                "params": r.params,
                "result": r.result,
                "user": r.username,
                "at": r.created_at.isoformat(),
            }
            for r in records
        ]
    }


def register() -> None:
    top = Param(int, 10, "How many rows each list shows.", 1, 100)
    diagnostics.register("versions", versions, source="core")
    diagnostics.register(
        "database",
        database,
        source="core",
        params={
            "top": top,
            "long_query_seconds": Param(float, 30.0, "A query running longer than this is listed.", 0, 86400),
        },
    )
    diagnostics.register(
        "storage",
        storage,
        source="core",
        params={"refresh": Param(bool, False, "List the containers now instead of the cached counts.")},
    )
    diagnostics.register(
        "maintenance", maintenance, source="core", params={"limit": Param(int, 20, "Last N actions.", 1, 500)}
    )
