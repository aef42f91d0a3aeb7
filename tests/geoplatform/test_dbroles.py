"""Least privilege: scripts/db.sh on a fresh database, then what the application role may do.

The suite itself runs as the superuser that pytest-django creates the test database with;
this test builds its own database and roles exactly as `make run` does.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings

from tests.platform_db import ROOT, platform_database
from tests.platform_db import admin_connection as _admin
from tests.platform_db import db_url as _url


@pytest.fixture(scope="module")
def roles_db() -> Iterator[dict[str, str]]:
    """A database set up by the real scripts/db.sh: roles, grants, migrations as the owner."""
    with platform_database("gp_roles") as (names, env):
        # Rerunnable: the role steps find everything in place (migrate already is).
        for step in ("prepare", "grant"):
            again = subprocess.run(
                [".venv/bin/python", "-m", "geoplatform.dbroles", step],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            assert again.returncode == 0, again.stderr
        yield {**names, "app_url": env["GEOPLATFORM_DATABASE_URL"], "env": json.dumps(env)}


def _as_app(roles_db: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(roles_db["app_url"], autocommit=True, options="-c search_path=public,pgstac")


def _refused(conn: psycopg.Connection, statement: str) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        conn.execute(statement)
    return str(info.value)


@pytest.mark.django_db
def test_migrations_ran_as_the_owner(roles_db: dict[str, str]) -> None:
    with _admin() as admin:
        db_owner = admin.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [roles_db["db"]]
        ).fetchone()
    assert db_owner == (roles_db["owner"],)
    with psycopg.connect(_url(settings.DATABASES["default"]["USER"], roles_db["db"])) as conn:
        owners = dict(
            conn.execute(
                "SELECT tablename, tableowner FROM pg_tables WHERE tablename IN ('django_migrations', 'ingest_job')"
            ).fetchall()
        )
        schemas = dict(
            conn.execute(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN ('geo', 'pgstac')"
            ).fetchall()
        )
        (supers,) = conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s) AND rolsuper", [roles_db["owner"], roles_db["app"]]
        ).fetchone()
    assert owners == {"django_migrations": roles_db["owner"], "ingest_job": roles_db["owner"]}
    assert schemas == {"geo": roles_db["owner"], "pgstac": "pgstac_admin"}
    assert supers == 0


@pytest.mark.django_db
def test_the_app_role_works_but_cannot_change_the_structure(roles_db: dict[str, str]) -> None:
    with _as_app(roles_db) as conn:
        # Django tables: read and write.
        (group_id,) = conn.execute("INSERT INTO auth_group (name) VALUES ('roles-test') RETURNING id").fetchone()
        conn.execute("UPDATE auth_group SET name = 'roles-test-2' WHERE id = %s", [group_id])
        conn.execute("DELETE FROM auth_group WHERE id = %s", [group_id])
        assert conn.execute("SELECT count(*) FROM ingest_job").fetchone() == (0,)
        # Its own dataset tables inside geo, as the vector ETL makes them.
        conn.execute("CREATE TABLE geo.roles_test (id bigint PRIMARY KEY, geom geometry(MultiPoint, 4326))")
        conn.execute("CREATE INDEX roles_test_geom ON geo.roles_test USING gist (geom)")
        conn.execute("ALTER TABLE geo.roles_test RENAME TO roles_test_2")
        conn.execute("ANALYZE geo.roles_test_2")
        conn.execute("DROP TABLE geo.roles_test_2")
        # pgSTAC through its functions (pgstac_ingest).
        conn.execute(
            "SELECT create_collection(%s::jsonb)",
            [
                json.dumps(
                    {
                        "id": "roles-test",
                        "type": "Collection",
                        "stac_version": "1.0.0",
                        "description": "t",
                        "license": "proprietary",
                        "links": [],
                        "extent": {
                            "spatial": {"bbox": [[-180, -90, 180, 90]]},
                            "temporal": {"interval": [[None, None]]},
                        },
                    }
                )
            ],
        )
        item = {
            "id": "i1",
            "type": "Feature",
            "stac_version": "1.0.0",
            "collection": "roles-test",
            "geometry": {"type": "Point", "coordinates": [1, 2]},
            "bbox": [1, 2, 1, 2],
            "properties": {"datetime": "2024-01-01T00:00:00Z"},
            "links": [],
            "assets": {},
        }
        conn.execute("SELECT create_item(%s::jsonb)", [json.dumps(item)])
        (found,) = conn.execute("SELECT search(%s::jsonb)", [json.dumps({"collections": ["roles-test"]})]).fetchone()
        assert [f["id"] for f in found["features"]] == ["i1"]
        conn.execute("SELECT delete_item('i1', 'roles-test')")
        # The H3 grid (rows) and its statistics tables (made by the aggregation jobs).
        conn.execute("INSERT INTO h3.cell (cell, res, parent) VALUES (1, 2, NULL)")
        conn.execute("DELETE FROM h3.cell WHERE cell = 1")
        conn.execute("CREATE TABLE h3.stat_roles_test (res smallint, cell bigint, mean double precision)")
        conn.execute("DROP TABLE h3.stat_roles_test")
        # ... and nothing that changes the structure of business data or the platform.
        assert "must be owner of schema h3" in _refused(conn, "DROP SCHEMA h3 CASCADE")
        assert "must be owner of table cell" in _refused(conn, "DROP TABLE h3.cell")
        assert "must be owner of schema geo" in _refused(conn, "DROP SCHEMA geo CASCADE")
        assert "must be owner of schema pgstac" in _refused(conn, "DROP SCHEMA pgstac CASCADE")
        assert "must be owner of table items" in _refused(conn, "ALTER TABLE pgstac.items ADD COLUMN x int")
        assert "must be owner" in _refused(conn, "DROP TABLE pgstac.collections")
        assert "must be owner of table ingest_job" in _refused(conn, "ALTER TABLE ingest_job ADD COLUMN x int")
        assert "must be owner" in _refused(conn, "DROP TABLE publishing_releaseaudit")
        assert "permission denied" in _refused(conn, "CREATE TABLE public.x (id int)")
        assert "permission denied" in _refused(conn, "CREATE SCHEMA other")
        assert "permission denied to create role" in _refused(conn, "CREATE ROLE intruder")
        assert "permission denied to create database" in _refused(conn, "CREATE DATABASE intruder")


@pytest.mark.django_db
def test_operator_commands_under_the_roles(roles_db: dict[str, str]) -> None:
    """clear_app_state runs as the app role; rebuild_app_tables switches to the owner, and the
    tables it makes are at once usable by the app role (default privileges)."""
    env = json.loads(roles_db["env"])
    for command in ("clear_app_state", "rebuild_app_tables"):
        result = subprocess.run(
            [".venv/bin/python", "manage.py", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
    with psycopg.connect(_url(settings.DATABASES["default"]["USER"], roles_db["db"])) as conn:
        (owner,) = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'ingest_job'").fetchone()
    assert owner == roles_db["owner"]
    with _as_app(roles_db) as conn:
        conn.execute(
            "INSERT INTO ingest_job (id, job_type, parameters, status, stage_index, stage_count, error_history,"
            " warnings, runs, callback_url, created_at, updated_at)"
            " VALUES ('j', 't', '{}', 'completed', 0, 0, '[]', '[]', 1, '', now(), now())"
        )
        conn.execute("DELETE FROM ingest_job WHERE id = 'j'")


def test_migrate_refuses_an_owner_url_for_another_database(settings: Any) -> None:
    from django.core.management import CommandError, call_command

    settings.GEOPLATFORM_DATABASE_OWNER_URL = "postgresql://someone@127.0.0.1:5432/another_database"
    with pytest.raises(CommandError, match="point both at the same database"):
        call_command("migrate", "--plan", verbosity=0)


@pytest.mark.django_db
def test_the_reader_role_reads_everything_and_writes_nothing(roles_db: dict[str, str]) -> None:
    """GEOPLATFORM_DATABASE_READER_URL (a reader deployment): SELECT on the Django tables, on
    datasets and STAC partitions the other roles make later, and pgSTAC search() with
    pgstac.readonly; every write refused, pgSTAC's caches included."""
    env = json.loads(roles_db["env"])
    collection = {
        "id": "reader-test",
        "type": "Collection",
        "stac_version": "1.0.0",
        "description": "t",
        "license": "proprietary",
        "links": [],
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
    }
    item = {
        "id": "r1",
        "type": "Feature",
        "stac_version": "1.0.0",
        "collection": "reader-test",
        "geometry": {"type": "Point", "coordinates": [1, 2]},
        "bbox": [1, 2, 1, 2],
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "links": [],
        "assets": {},
    }
    with _as_app(roles_db) as app:  # made after db.sh: reached by default privileges
        app.execute("CREATE TABLE geo.reader_test (id bigint PRIMARY KEY)")
        app.execute("INSERT INTO geo.reader_test VALUES (1)")
        app.execute("SELECT create_collection(%s::jsonb)", [json.dumps(collection)])
        app.execute("SELECT create_item(%s::jsonb)", [json.dumps(item)])
    options = "-c search_path=public,pgstac -c pgstac.readonly=true"
    try:
        with psycopg.connect(env["GEOPLATFORM_DATABASE_READER_URL"], autocommit=True, options=options) as conn:
            assert conn.execute("SELECT count(*) FROM geo.reader_test").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM ingest_job").fetchone() == (0,)
            (searches,) = conn.execute("SELECT count(*) FROM pgstac.searches").fetchone()
            (found,) = conn.execute(
                "SELECT search(%s::jsonb)", [json.dumps({"collections": ["reader-test"]})]
            ).fetchone()
            assert [f["id"] for f in found["features"]] == ["r1"]
            assert conn.execute("SELECT count(*) FROM pgstac.searches").fetchone() == (searches,)  # nothing recorded
            for statement in (
                "INSERT INTO auth_group (name) VALUES ('reader')",
                "DELETE FROM geo.reader_test",
                "CREATE TABLE geo.reader_own (id int)",
                "INSERT INTO pgstac.searches (search) VALUES ('{}'::jsonb)",
                "SELECT delete_item('r1', 'reader-test')",
                "SELECT delete_collection('reader-test')",
            ):
                assert "permission denied" in _refused(conn, statement), statement
    finally:
        with _as_app(roles_db) as app:
            app.execute("DROP TABLE geo.reader_test")
            app.execute("SELECT delete_collection('reader-test')")


@pytest.mark.django_db
@pytest.mark.slow
def test_a_reader_server_as_the_reader_role(roles_db: dict[str, str]) -> None:
    """`make run`'s reader (GEOPLATFORM_READER_BIND): gunicorn in reader mode with the production
    settings, connected as the reader role of a database built by scripts/db.sh."""
    import http.client
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **json.loads(roles_db["env"]),
        "GEOPLATFORM_MODE": "reader",
        "GEOPLATFORM_WRITER_URL": "http://writer.example",
        "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
        "GEOPLATFORM_SECURE_COOKIES": "false",
        "GEOPLATFORM_ALLOWED_HOSTS": "127.0.0.1",
    }
    cmd = [".venv/bin/gunicorn", "geoplatform.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def call(method: str, path: str, body: str | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(
            method, path, body=body, headers={"Content-Type": "application/json", "Accept": "application/json"}
        )
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, data[:500]

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = call("GET", "/api/health/live")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    server.stderr.read() if server.stderr else ""
                )
                time.sleep(0.2)
        assert call("GET", "/api/health") == (200, {"status": "ok"})
        assert call("GET", "/api/features/collections")[0] == 200
        status, page = call("POST", "/api/stac/search", json.dumps({"limit": 5}))
        assert status == 200 and page["type"] == "FeatureCollection", page
        assert call("GET", "/api/stac/search?limit=5")[0] == 200
        status, body = call("POST", "/api/jobs/submit/process_vector", "{}")
        assert status == 404 and body["details"] == {"writer_url": "http://writer.example"}
        assert call("DELETE", "/api/stac/collections/x")[0] == 405
    finally:
        server.terminate()
        server.wait(timeout=30)
