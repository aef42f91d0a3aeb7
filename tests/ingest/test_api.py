"""Jobs API through HTTP: auth (401/403), validation, status, list, events, retry/cancel."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from ingest import services
from ingest.models import Job

pytestmark = pytest.mark.django_db


def test_every_write_needs_auth_401_then_permission_403(api_client: Any, plain_user_client: Any) -> None:
    for url in ["/api/jobs/submit/hello", "/api/jobs/x/retry", "/api/jobs/x/cancel", "/api/storage/bronze/upload"]:
        resp = api_client.post(url, {}, format="json")
        assert resp.status_code == 401, url
        assert resp["Content-Type"] == "application/json"
        assert resp.json()["code"] == "not_authenticated"
        assert resp["WWW-Authenticate"].startswith("Token")
        resp = plain_user_client.post(url, {}, format="json")
        assert resp.status_code == 403, url
        assert resp.json()["code"] == "permission_denied"


def test_operator_reads_need_auth(api_client: Any) -> None:
    for url in ["/api/jobs", "/api/jobs/types", "/api/jobs/status/abc", "/api/jobs/abc/events"]:
        assert api_client.get(url).status_code == 401, url


def test_invalid_token_is_401(api_client: Any) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    resp = api_client.get("/api/jobs")
    assert resp.status_code == 401 and resp.json()["code"] == "authentication_failed"


def test_unknown_job_type_is_400_with_the_valid_types(auth_client: Any) -> None:
    resp = auth_client.post("/api/jobs/submit/nope", {"parameters": {}}, format="json")
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "unknown_job_type"
    assert "hello" in body["details"]["valid_job_types"]
    assert body["request_id"] == resp["X-Request-Id"]


def test_unknown_body_field_and_bad_parameters_are_400(auth_client: Any) -> None:
    resp = auth_client.post("/api/jobs/submit/hello", {"parameters": {}, "priority": 1}, format="json")
    assert resp.status_code == 400 and "priority" in resp.json()["details"]
    resp = auth_client.post("/api/jobs/submit/hello", {"parameters": {"count": -1, "x": 1}}, format="json")
    assert resp.status_code == 400
    problems = resp.json()["details"]["problems"]
    assert "Unknown parameter 'x'." in problems and any("at least 0" in p for p in problems)


def test_submit_then_status_with_progress(auth_client: Any) -> None:
    resp = auth_client.post("/api/jobs/submit/hello", {"parameters": {"count": 4}}, format="json")
    assert resp.status_code == 202
    body = resp.json()
    assert body["outcome"] == "created" and body["status"] == "queued"
    assert body["status_url"].endswith(f"/api/jobs/status/{body['job_id']}")
    status = auth_client.get(f"/api/jobs/status/{body['job_id']}").json()
    assert status["job_type"] == "hello"
    assert status["parameters"]["count"] == 4
    assert status["progress"]["stage"] == "greet"
    assert status["progress"]["percent_complete"] == 0.0
    assert status["progress"]["stages"][0]["tasks"]["queued"] == 1
    events = auth_client.get(f"/api/jobs/{body['job_id']}/events").json()
    assert [e["kind"] for e in events] == ["submitted", "stage_started"]


def test_status_of_unknown_job_is_json_404(auth_client: Any) -> None:
    resp = auth_client.get("/api/jobs/status/" + "0" * 64)
    assert resp.status_code == 404 and resp.json()["code"] == "job_not_found"


def test_list_filters_and_paging(auth_client: Any, service_account: Any) -> None:
    user = get_user_model().objects.get(username=service_account.username)
    for n in range(3):
        services.job_submit(job_type="hello", parameters={"count": n}, user=user)
    Job.objects.filter(parameters__count=0).update(status="failed")
    body = auth_client.get("/api/jobs", {"status": "queued", "limit": 1}).json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["has_more"] is True
    assert auth_client.get("/api/jobs", {"job_type": "other"}).json()["count"] == 0
    assert auth_client.get("/api/jobs", {"created_after": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    assert auth_client.get("/api/jobs", {"status": "weird"}).status_code == 400
    assert auth_client.get("/api/jobs", {"limit": 100000}).status_code == 400


def test_retry_and_cancel_are_for_operators(auth_client: Any, staff_client: Any) -> None:
    job_id = auth_client.post("/api/jobs/submit/hello", {"parameters": {"count": 1}}, format="json").json()["job_id"]
    assert auth_client.post(f"/api/jobs/{job_id}/cancel").status_code == 403
    resp = staff_client.post(f"/api/jobs/{job_id}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert staff_client.post(f"/api/jobs/{job_id}/cancel").status_code == 409
    resp = staff_client.post(f"/api/jobs/{job_id}/retry")
    assert resp.status_code == 202 and resp.json()["status"] == "queued"
    assert staff_client.post(f"/api/jobs/{job_id}/retry").status_code == 409
    assert staff_client.post("/api/jobs/nope/retry").status_code == 404


def test_job_types_document_their_parameters(auth_client: Any) -> None:
    body = auth_client.get("/api/jobs/types").json()
    assert body["hello"]["parameters"]["count"] == {
        "type": "integer",
        "default": 3,
        "minimum": 0,
        "maximum": 100000,
        "description": "Tasks in the fan-out stage.",
    }
    assert body["hello"]["stages"] == ["greet", "square", "sum"]
