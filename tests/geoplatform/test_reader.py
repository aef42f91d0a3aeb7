"""The reader deployment (GEOPLATFORM_MODE=reader, F3.3): read APIs only, as a read-only role.

Most tests here run in the reader pass of scripts/test.sh (``GEOPLATFORM_MODE=reader pytest
-m "reader and not writer"``): the URL configuration and middleware are built at start-up
from the mode, and tests/conftest.py runs each test body as the reader's role.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from catalog import services as catalog_services
from geoplatform.settings import env
from tests.catalog.conftest import make_collection, make_item

READER = settings.GEOPLATFORM_MODE == "reader"
in_reader_pass = pytest.mark.skipif(not READER, reason="runs in the reader pass (GEOPLATFORM_MODE=reader)")


def test_reader_settings_turn_pgstac_readonly_on(monkeypatch: pytest.MonkeyPatch) -> None:
    options = env.database_from_url("postgresql://u@h:5432/d", pgstac_readonly=True)["OPTIONS"]
    assert "-c pgstac.readonly=true" in options["options"]  # type: ignore[index]
    assert "pgstac.readonly" not in env.database_from_url("postgresql://u@h:5432/d")["OPTIONS"]["options"]  # type: ignore[index]
    monkeypatch.setenv("GEOPLATFORM_MODE", "writer")
    with pytest.raises(Exception, match="GEOPLATFORM_MODE must be one of full, reader"):
        env.get_choice("MODE", ("full", "reader"), "full")


def test_a_production_reader_connects_only_as_the_reader_role() -> None:
    from tests.geoplatform.test_settings import _prod

    code = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        " d = s.DATABASES['default']; print(json.dumps([d['USER'], d['OPTIONS']['options'], s.GEOPLATFORM_MODE]))"
    )
    app = {"GEOPLATFORM_DATABASE_URL": "postgresql://app@127.0.0.1:1/geo", "GEOPLATFORM_MODE": "reader"}
    missing = _prod(app, code)
    assert missing.returncode != 0 and "GEOPLATFORM_DATABASE_READER_URL is required" in missing.stderr
    reader = _prod({**app, "GEOPLATFORM_DATABASE_READER_URL": "postgresql://ro@127.0.0.1:1/geo"}, code)
    assert reader.returncode == 0, reader.stderr
    user, options, mode = json.loads(reader.stdout.strip().splitlines()[-1])
    assert (user, mode) == ("ro", "reader") and options.endswith("-c pgstac.readonly=true")


@pytest.mark.django_db
@pytest.mark.skipif(READER, reason="the full platform's routes")
def test_the_full_platform_serves_writer_routes(api_client: APIClient) -> None:
    assert api_client.get("/api/jobs").status_code == 401  # a route, asking for a token
    assert api_client.post("/api/features/collections", {}).status_code == 401


@pytest.fixture
def stac(db: Any) -> str:
    catalog_services.collection_upsert(collection=make_collection("reader-grid"))
    for i in range(3):
        item = make_item(f"r-{i}", float(i), float(i), f"2020-01-0{i + 1}T00:00:00Z")
        catalog_services.item_upsert(collection_id="reader-grid", item=item)
    return "reader-grid"


@pytest.fixture
def health_client(db: Any) -> APIClient:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_superuser("reader-op", "op@example.org", "pw-for-tests-only")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


reader_tests = [pytest.mark.reader, pytest.mark.django_db, in_reader_pass]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/admin/"),
        ("get", "/admin/login/"),
        ("get", "/api/jobs"),
        ("post", "/api/jobs/submit/hello"),
        ("post", "/api/storage/bronze/upload"),
        ("get", "/api/platform"),
        ("post", "/api/platform/submit"),
        ("post", "/api/platform/approve"),
    ],
)
@pytest.mark.reader
@pytest.mark.django_db
@in_reader_pass
def test_writer_routes_are_404_naming_the_writer(api_client: APIClient, method: str, path: str, settings: Any) -> None:
    settings.GEOPLATFORM_WRITER_URL = "https://writer.example.org"
    resp = getattr(api_client, method)(path)
    assert resp.status_code == 404, resp.content
    body = resp.json()
    assert body["code"] == "read_only_deployment"
    assert body["details"] == {"writer_url": "https://writer.example.org"}
    assert "https://writer.example.org" in body["remediation"]


@pytest.mark.reader
@pytest.mark.django_db
@in_reader_pass
def test_writes_are_405_with_allow(api_client: APIClient, stac: str) -> None:
    resp = api_client.post("/api/features/collections", {}, format="json")
    assert resp.status_code == 405 and resp["Allow"] == "GET, HEAD, OPTIONS"
    assert resp.json()["code"] == "method_not_allowed"
    resp = api_client.delete(f"/api/stac/collections/{stac}")
    assert resp.status_code == 405 and "DELETE" not in resp["Allow"]
    resp = api_client.put("/api/stac/search", {}, format="json")
    assert resp.status_code == 405 and resp["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert api_client.options("/api/features/collections").status_code == 200


@pytest.mark.reader
@pytest.mark.django_db
@in_reader_pass
def test_stac_post_search_works_and_records_nothing(api_client: APIClient, stac: str) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT current_user, current_setting('pgstac.readonly')")
        assert cur.fetchone() == ("geoplatform_reader_test", "true")
        cur.execute("SELECT count(*) FROM pgstac.searches")
        (before,) = cur.fetchone()
    resp = api_client.post("/api/stac/search", {"collections": [stac], "bbox": [0, 0, 1.5, 1.5]}, format="json")
    assert resp.status_code == 200, resp.content
    assert sorted(f["id"] for f in resp.json()["features"]) == ["r-0", "r-1"]
    get = api_client.get("/api/stac/search", {"collections": stac, "limit": "2"})
    assert get.status_code == 200 and len(get.json()["features"]) == 2
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pgstac.searches")
        assert cur.fetchone() == (before,)


@pytest.mark.reader
@pytest.mark.django_db
@in_reader_pass
def test_health_leaves_out_writer_checks(api_client: APIClient, health_client: APIClient) -> None:
    assert api_client.get("/api/health").status_code == 200
    resp = health_client.get("/api/health/details")
    assert resp.status_code == 200, resp.content
    components = resp.json()["components"]
    assert "database" in components and "storage" in components and "pgstac" in components
    assert "broker" not in components and "workers" not in components
    assert components["database"]["role"] == "geoplatform_reader_test"


@pytest.mark.reader
@pytest.mark.django_db
@in_reader_pass
def test_a_write_as_the_reader_role_fails(stac: str) -> None:
    for statement in (
        "INSERT INTO auth_group (name) VALUES ('reader-write')",
        f"SELECT pgstac.delete_collection('{stac}')",
        "CREATE TABLE geo.reader_write (id int)",
        'SELECT pgstac.search_query(\'{"collections": ["x"]}\'::jsonb, false, \'{"n": 1}\'::jsonb)',
    ):
        with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cur:
            cur.execute(statement)
            if "search_query" in statement:
                # readonly: nothing stored; without the setting this INSERT would be refused.
                cur.execute("INSERT INTO pgstac.searches (search) VALUES ('{}'::jsonb)")
        assert isinstance(info.value.__cause__, psycopg.errors.InsufficientPrivilege), statement


@pytest.mark.reader
@pytest.mark.django_db
@in_reader_pass
def test_the_reader_openapi_lists_only_read_operations(api_client: APIClient) -> None:
    resp = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert resp.status_code == 200
    paths = json.loads(resp.content)["paths"]
    assert paths and not any(p.startswith(("/api/jobs", "/api/platform", "/api/storage")) for p in paths)
    writes = sorted(
        (path, method) for path, ops in paths.items() for method in ops if method not in ("get", "head", "options")
    )
    assert all(method == "post" for _, method in writes), writes
    assert {path for path, _ in writes} <= {
        "/api/stac/search",
        "/api/raster/{collection_id}/{item_id}/clip",
        "/api/raster/{collection_id}/{item_id}/clip.{fmt}",
    }, writes
