"""The diagnostics API against the live stack: access, parameters, versions, database, storage."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from geoplatform import diagnostics, diagnostics_core
from geoplatform.storage import blob_save, get_storage, zone_container

pytestmark = pytest.mark.django_db


def test_anonymous_is_401_and_no_permission_is_403(api_client: Any, plain_user_client: Any) -> None:
    for path in ("/api/diagnostics/", "/api/diagnostics/versions/"):
        assert api_client.get(path).status_code == 401
        assert plain_user_client.get(path).status_code == 403
    assert api_client.post("/api/diagnostics/actions/purge_finished_jobs/", {}, format="json").status_code == 401


def test_viewer_reads_but_may_not_run_maintenance(viewer_client: Any) -> None:
    assert viewer_client.get("/api/diagnostics/versions/").status_code == 200
    response = viewer_client.post("/api/diagnostics/actions/purge_finished_jobs/", {}, format="json")
    assert response.status_code == 403
    assert "run_maintenance" in response.json()["message"]


def test_index_lists_every_section_and_action(viewer_client: Any) -> None:
    body = viewer_client.get("/api/diagnostics/").json()
    assert {"versions", "database", "queues", "jobs", "workers", "storage", "catalog", "deliveries"} <= set(
        body["sections"]
    )
    assert set(body["sections"]["catalog"]["sources"]) == {"catalog", "features", "h3grid.grid"}
    assert {"requeue_stuck_tasks", "purge_finished_jobs", "resend_callback", "resend_webhook"} <= set(body["actions"])
    assert body["sections"]["jobs"]["params"]["window_hours"]["type"] == "float"


def test_bad_parameters_are_400_naming_them(viewer_client: Any) -> None:
    response = viewer_client.get("/api/diagnostics/jobs/?window_hours=soon")
    assert response.status_code == 400 and "window_hours" in response.json()["details"]
    response = viewer_client.get("/api/diagnostics/jobs/?windowhours=3")
    assert response.status_code == 400 and "windowhours" in response.json()["details"]
    response = viewer_client.get("/api/diagnostics/database/?top=100000")
    assert response.status_code == 400 and "top" in response.json()["details"]
    assert viewer_client.get("/api/diagnostics/nothing/").status_code == 404


def test_a_failing_contributor_is_reported_in_its_section(viewer_client: Any) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("contributor exploded")

    diagnostics.register("versions", broken, source="test-broken")
    try:
        response = viewer_client.get("/api/diagnostics/versions/")
    finally:
        diagnostics._sections["versions"] = [e for e in diagnostics._sections["versions"] if e.source != "test-broken"]
    assert response.status_code == 200
    sources = response.json()["sources"]
    assert sources["core"]["status"] == "ok"
    assert sources["test-broken"] == {
        "status": "error",
        "error": "RuntimeError: contributor exploded",
        "duration_ms": sources["test-broken"]["duration_ms"],
    }


def test_versions_name_every_component(viewer_client: Any) -> None:
    core = viewer_client.get("/api/diagnostics/versions/").json()["sources"]["core"]
    for key in (
        "platform",
        "django",
        "python",
        "postgresql",
        "postgis",
        "pgstac",
        "gdal_rasterio",
        "gdal_pyogrio",
        "gdal_system",
        "proj",
    ):
        assert core[key], key
    assert core["gdal_system"].startswith("GDAL ")
    assert "PROJ" in core["postgis_full"]


def test_database_sizes_activity_and_statements(viewer_client: Any) -> None:
    core = viewer_client.get("/api/diagnostics/database/?top=5").json()["sources"]["core"]
    assert core["status"] == "ok", core
    assert {s["schema"] for s in core["schemas"]} >= {"public", "pgstac"}
    assert len(core["largest_tables"]) == 5 and core["largest_tables"][0]["bytes"] > 0
    assert core["largest_indexes"] and core["connections"] and core["max_connections"] > 0
    statements = core["slowest_statements"]
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        installed = cur.fetchone() is not None
    if not installed:  # said so, rather than an empty list
        assert statements["available"] is False and "pg_stat_statements" in statements["reason"]


@pytest.fixture
def locked_table() -> Iterator[str]:
    """A table in ``geo`` held ACCESS EXCLUSIVE by another session, and a third session
    blocked behind it (committed from their own connections: the test's transaction
    would not see them otherwise)."""
    db = settings.DATABASES["default"]
    kwargs = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"] or None,
        "dbname": db["NAME"],
        "autocommit": True,
    }
    holder = psycopg.connect(**kwargs)
    holder.execute("CREATE SCHEMA IF NOT EXISTS geo")
    holder.execute("CREATE TABLE IF NOT EXISTS geo.diag_locked (id int)")
    holder.autocommit = False
    holder.execute("LOCK TABLE geo.diag_locked IN ACCESS EXCLUSIVE MODE")
    waiter = psycopg.connect(**kwargs)
    blocked = threading.Thread(target=lambda: _quietly(waiter, "SELECT count(*) FROM geo.diag_locked"), daemon=True)
    blocked.start()
    time.sleep(0.3)
    try:
        yield "geo.diag_locked"
    finally:
        holder.rollback()
        blocked.join(timeout=10)
        holder.autocommit = True
        holder.execute("DROP TABLE IF EXISTS geo.diag_locked")
        holder.close()
        waiter.close()


def _quietly(conn: psycopg.Connection, query: str) -> None:
    try:
        conn.execute(query)
    except psycopg.Error:
        pass


def test_locked_tables_are_named_not_waited_on(viewer_client: Any, locked_table: str) -> None:
    started = time.perf_counter()
    core = viewer_client.get("/api/diagnostics/database/?long_query_seconds=0").json()["sources"]["core"]
    features = viewer_client.get("/api/diagnostics/catalog/").json()["sources"]["features"]
    assert time.perf_counter() - started < 5
    assert core["status"] == "ok", core
    assert locked_table in core["skipped_locked"]
    assert any(
        b["query"].startswith("SELECT count(*) FROM geo.diag_locked") and b["blocked_by"] for b in core["blocked"]
    )
    assert any("diag_locked" in (q["query"] or "") for q in core["long_running"])
    assert features["status"] == "ok", features
    assert locked_table in features["locked"]


def test_storage_counts_are_cached_and_capped(viewer_client: Any, settings: Any) -> None:
    diagnostics_core.storage_cache_clear()
    bronze = zone_container("bronze")
    run = uuid.uuid4().hex[:8]  # Azurite keeps blobs between runs: new names each time
    blob_save(bronze, f"diag-{run}/a.txt", b"12345", size=5, overwrite=True)
    first = viewer_client.get("/api/diagnostics/storage/").json()["sources"]["core"]
    zone = first["zones"]["bronze"]
    assert zone["reachable"] and zone["objects"] >= 1 and zone["bytes"] >= 5 and zone["cached_seconds_ago"] == 0
    blob_save(bronze, f"diag-{run}/b.txt", b"678", size=3, overwrite=True)
    cached = viewer_client.get("/api/diagnostics/storage/").json()["sources"]["core"]["zones"]["bronze"]
    assert cached["objects"] == zone["objects"]  # from the cache: no listing
    fresh = viewer_client.get("/api/diagnostics/storage/?refresh=true").json()["sources"]["core"]["zones"]["bronze"]
    assert fresh["objects"] == zone["objects"] + 1 and fresh["bytes"] == zone["bytes"] + 3
    settings.GEOPLATFORM_DIAGNOSTICS_STORAGE_MAX_OBJECTS = 1
    capped = viewer_client.get("/api/diagnostics/storage/?refresh=true").json()["sources"]["core"]["zones"]["bronze"]
    assert capped["objects"] == 1 and capped["truncated"] is True
    diagnostics_core.storage_cache_clear()
    for name in ("a.txt", "b.txt"):
        get_storage(bronze).delete(f"diag-{run}/{name}")


def test_the_migration_makes_both_groups() -> None:
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group

    migration = importlib.import_module("geoplatform.migrations.0002_maintenance_record")
    Group.objects.filter(name__in=migration.GROUPS).delete()  # a transactional test may have flushed them anyway
    migration.groups_create(apps, None)
    perms = {
        g.name: sorted(g.permissions.values_list("codename", flat=True))
        for g in Group.objects.filter(name__in=["diagnostics-viewers", "maintenance-operators"])
    }
    assert perms == {
        "diagnostics-viewers": ["view_diagnostics"],
        "maintenance-operators": ["run_maintenance", "view_diagnostics", "view_maintenancerecord"],
    }
