"""The API's shared surface: JSON errors everywhere, OpenAPI documents, request ids."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_unknown_api_route_is_a_json_404(client: Any) -> None:
    resp = client.get("/api/does-not-exist")
    assert resp.status_code == 404
    assert resp["Content-Type"] == "application/json"
    assert resp.json()["code"] == "not_found"


def test_wrong_method_is_a_json_405(auth_client: Any) -> None:
    resp = auth_client.get("/api/jobs/submit/hello")
    assert resp.status_code == 405 and resp.json()["code"] == "method_not_allowed"


def test_malformed_json_is_a_json_400(auth_client: Any) -> None:
    resp = auth_client.generic("POST", "/api/jobs/submit/hello", "{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.json()["code"] == "parse_error"


def test_request_id_is_echoed_or_made(client: Any) -> None:
    assert client.get("/api/health", HTTP_X_REQUEST_ID="abc-123")["X-Request-Id"] == "abc-123"
    made = client.get("/api/health", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-Id"]
    assert len(made) == 32 and " " not in made


def test_openapi_schema_swagger_and_redoc(client: Any) -> None:
    resp = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert resp.status_code == 200
    schema = resp.json()
    assert schema["openapi"].startswith("3.0")
    assert "/api/jobs/submit/{job_type}" in schema["paths"]
    submit = schema["paths"]["/api/jobs/submit/{job_type}"]["post"]
    assert {"200", "202", "400", "401", "403"} <= set(submit["responses"])
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/redoc/").status_code == 200


def test_schema_generates_without_warnings() -> None:
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", "/dev/null", stdout=StringIO())


def test_no_missing_migrations() -> None:
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


@pytest.mark.django_db
def test_home_page_links_docs_and_admin(client: Any) -> None:
    html = client.get("/").content.decode()
    assert "/api/docs/" in html and "/admin/" in html


def test_trailing_slash_redirect_is_absolute(client: Any) -> None:
    """QGIS 3.22 does not resolve a relative Location: '.../api/features' typed without '/'."""
    r = client.get("/api/features?f=json")
    assert r.status_code == 301 and r["Location"] == "http://testserver/api/features/?f=json"
    assert client.get(r["Location"]).status_code == 200


@pytest.mark.django_db
def test_an_unknown_format_is_a_400_naming_the_supported_ones(api_client: Any, auth_client: Any) -> None:
    """DRF answered ``?format=xml`` with 404 "Not found." on a route that exists."""
    resp = auth_client.get("/api/jobs/types?format=xml")
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["code"] == "unknown_format"
    assert "'xml'" in body["message"] and "json" in body["message"]
    assert body["details"]["supported"] == ["json"]
    # a format the route has still works, and the schema keeps its own formats
    assert auth_client.get("/api/jobs/types?format=json").status_code == 200
    assert api_client.get("/api/schema/?format=json").status_code == 200
    assert api_client.get("/api/stac/?format=nope").status_code == 400
