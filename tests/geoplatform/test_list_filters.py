"""List routes filter through django-filter FilterSets: documented in the OpenAPI, strict about
unknown parameters, a 400 naming a bad value."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db

# Every list route with filters, and the query parameters its FilterSet (and paging) accept.
LIST_ROUTES = {
    ("/api/jobs", "jobs_list"): {"status", "job_type", "created_after", "created_before", "limit", "offset"},
    ("/api/platform/approvals", "platform_approvals"): {"status", "limit", "offset"},
}


def _operation(schema: dict[str, Any], path: str) -> dict[str, Any]:
    op: dict[str, Any] = schema["paths"][path]["get"]
    return op


@pytest.mark.parametrize(("route", "params"), LIST_ROUTES.items(), ids=[p for p, _ in LIST_ROUTES])
def test_list_filters_are_in_the_openapi(client: Any, route: tuple[str, str], params: set[str]) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    op = _operation(schema, route[0])
    assert op["operationId"] == route[1]
    documented = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
    assert set(documented) == params
    # a choice filter documents its values, so clients need not guess them
    assert documented["status"]["schema"].get("enum"), documented["status"]


def test_job_list_rejects_unknown_and_bad_parameters(auth_client: Any) -> None:
    resp = auth_client.get("/api/jobs", {"stauts": "queued"})
    assert resp.status_code == 400 and "stauts" in resp.json()["details"]
    resp = auth_client.get("/api/jobs", {"created_after": "yesterday"})
    assert resp.status_code == 400 and "created_after" in resp.json()["details"]
    resp = auth_client.get("/api/jobs", {"status": ""})
    assert resp.status_code == 400 and "status" in resp.json()["details"]
    resp = auth_client.get("/api/jobs", {"offset": -1})
    assert resp.status_code == 400 and "offset" in resp.json()["details"]


def test_approvals_list_rejects_a_bad_status_naming_it(auth_client: Any) -> None:
    resp = auth_client.get("/api/platform/approvals", {"status": "approve"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["success"] is False and body["error_type"] == "ValidationError" and "status" in body["error"]
