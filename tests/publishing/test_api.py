"""The DDH contract over HTTP: conventions, every route, the error envelope."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from publishing.models import Asset, Release

from .conftest import run_job, submit_body

pytestmark = pytest.mark.django_db

P = "/api/platform"


def _submit(client: APIClient, **overrides: Any) -> Any:
    return client.post(f"{P}/submit", submit_body(**overrides), format="json")


def _envelope(response: Any, status: int, error_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["error"] and body["error_type"]
    if error_type:
        assert body["error_type"] == error_type, body
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Request-Id"]
    return dict(body)


def test_auth_401_and_403(api_client: APIClient, auth_client: APIClient) -> None:
    body = _envelope(api_client.get(f"{P}/approvals"), 401, "AuthenticationRequired")
    assert "Token" in body["remediation"]
    _envelope(api_client.post(f"{P}/submit", {}, format="json", HTTP_AUTHORIZATION="Token nope"), 401)
    # A token without publishing.submit_release / review_release
    _envelope(_submit(auth_client), 403, "PermissionDenied")
    _envelope(auth_client.post(f"{P}/approve", {"release_id": "x"}, format="json"), 403)


def test_strict_validation_names_the_field(ddh_client: APIClient) -> None:
    body = _envelope(_submit(ddh_client, colour="blue"), 400, "ValidationError")
    assert "colour" in body["error"]
    body = _envelope(_submit(ddh_client, dataset_id="../etc"), 400, "ValidationError")
    assert "dataset_id" in body["error"]
    body = _envelope(_submit(ddh_client, processing_options={"tabel_name": "x"}), 400, "InvalidInput")
    assert "tabel_name" in body["error"] and body["remediation"]
    body = _envelope(ddh_client.get(f"{P}/approvals?sort=x"), 400, "InvalidInput")
    assert "sort" in body["error"]
    assert not Release.objects.exists()


def test_conventions_request_id_cache_head_406(ddh_client: APIClient) -> None:
    r = ddh_client.get(P)
    assert r.status_code == 200 and r["Cache-Control"] == "private, no-cache" and len(r["X-Request-Id"]) >= 16
    assert any(route["path"] == "/api/platform/submit" for route in r.json()["routes"])
    assert ddh_client.head(P).status_code == 200
    assert ddh_client.head(f"{P}/approvals").status_code == 200
    _envelope(ddh_client.get(P, HTTP_ACCEPT="text/html"), 406, "NotAcceptable")
    assert ddh_client.get(P, HTTP_ACCEPT="text/html, application/json;q=0.5").status_code == 200
    r = _submit(ddh_client)
    assert r.status_code == 202 and r["Cache-Control"] == "no-store"
    assert r["X-Request-Id"] == r.json()["request_id"]


def test_submit_dry_run_writes_nothing(ddh_client: APIClient) -> None:
    r = ddh_client.post(f"{P}/submit?dry_run=true", submit_body(version_id="v9"), format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["valid"] and body["dry_run"] and body["would_create_job_type"] == "test_process_vector"
    assert body["data_type"] == "vector" and len(body["asset_id"]) == 32 and len(body["request_id"]) == 32
    assert not Asset.objects.exists() and not Release.objects.exists()


def test_submit_status_review_cycle(ddh_client: APIClient) -> None:
    r = _submit(ddh_client, version_id="2024-01")
    assert r.status_code == 202, r.content
    sub = r.json()
    assert sub["monitor_url"].endswith(f"/api/platform/status/{sub['request_id']}")
    assert set(sub) >= {"success", "request_id", "job_id", "job_type", "monitor_url", "message"}

    r = ddh_client.get(f"{P}/status/{sub['request_id']}")
    assert r.status_code == 202 and r["Retry-After"] and r["Cache-Control"] == "private, no-cache"
    assert "progress" in r.json() and "services" not in r.json()

    run_job(sub["job_id"])
    for ident in (sub["request_id"], sub["job_id"], sub["release_id"], sub["asset_id"]):
        r = ddh_client.get(f"{P}/status/{ident}")
        assert r.status_code == 200, ident
    body = r.json()
    assert body["release"]["processing_status"] == "completed"
    assert body["outputs"]["table_name"] == "ds_1_res_1_v1"
    assert "services" not in body  # only once approved
    assert body["approval"]["approve_url"].endswith("/api/platform/approve")
    assert body["versions"][0]["release_id"] == sub["release_id"]

    r = ddh_client.post(
        f"{P}/approve",
        {"request_id": sub["request_id"], "reviewer": "alice", "clearance_state": "OUO", "version_id": "2024"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["approval_state"] == "approved" and r.json()["version_id"] == "2024"
    body = ddh_client.get(f"{P}/status/{sub['release_id']}").json()
    assert body["services"]["service_url"].endswith("/api/features/collections/ds_1_res_1_v1/items")
    assert "approval" not in body

    # the same version again -> 409 envelope with the existing release
    body = _envelope(_submit(ddh_client, version_id="2024-01"), 409, "ReleaseExistsError")
    assert body["existing_release"]["release_id"] == sub["release_id"]
    # approving twice -> 409
    _envelope(
        ddh_client.post(
            f"{P}/approve", {"release_id": sub["release_id"], "reviewer": "a", "clearance_state": "ouo"}, format="json"
        ),
        409,
        "InvalidTransition",
    )
    r = ddh_client.post(
        f"{P}/revoke", {"dataset_id": "ds-1", "resource_id": "res-1", "reviewer": "b", "reason": "x"}, format="json"
    )
    assert r.status_code == 200 and r.json()["approval_state"] == "revoked"


def test_reject_needs_reason_and_lookups(ddh_client: APIClient) -> None:
    sub = _submit(ddh_client).json()
    run_job(sub["job_id"])
    _envelope(ddh_client.post(f"{P}/reject", {"release_id": sub["release_id"], "reviewer": "a"}, format="json"), 400)
    r = ddh_client.post(f"{P}/reject", {"job_id": sub["job_id"], "reviewer": "a", "reason": "blurry"}, format="json")
    assert r.status_code == 200 and r.json()["approval_state"] == "rejected"
    _envelope(ddh_client.get(f"{P}/status/unknown-id"), 404, "ReleaseNotFound")
    r = ddh_client.get(f"{P}/status?dataset_id=ds-1&resource_id=res-1")
    assert r.status_code == 200 and r.json()["release"]["approval_state"] == "rejected"
    r = ddh_client.get(f"{P}/status?limit=1")
    assert r.status_code == 200 and len(r.json()["releases"]) == 1 and r.json()["has_more"] is False
    _envelope(ddh_client.get(f"{P}/status?limit=501"), 400)


def test_approvals_filters_and_status(ddh_client: APIClient) -> None:
    a = _submit(ddh_client, resource_id="a").json()
    b = _submit(ddh_client, resource_id="b").json()
    run_job(a["job_id"])
    run_job(b["job_id"])
    ddh_client.post(
        f"{P}/approve", {"release_id": a["release_id"], "reviewer": "r", "clearance_state": "public"}, format="json"
    )
    r = ddh_client.get(f"{P}/approvals?status=approved")
    assert r.status_code == 200 and r["Cache-Control"] == "private, no-cache"
    assert [x["release_id"] for x in r.json()["approvals"]] == [a["release_id"]]
    r = ddh_client.get(f"{P}/approvals?status=pending_review&limit=1&offset=0")
    assert [x["release_id"] for x in r.json()["approvals"]] == [b["release_id"]] and not r.json()["has_more"]
    assert ddh_client.get(f"{P}/approvals?limit=1").json()["has_more"] is True
    r = ddh_client.get(f"{P}/approvals/{a['release_id']}")
    assert r.status_code == 200 and r.json()["approval_state"] == "approved"
    r = ddh_client.get(f"{P}/approvals/status?table_names=ds_1_a_v1,ds_1_b_v1,none")
    tables = r.json()["tables"]
    assert tables["ds_1_a_v1"]["is_public"] and not tables["ds_1_b_v1"]["is_public"] and tables["none"] is None


def test_unpublish_default_dry_run_then_live_then_idempotent(ddh_client: APIClient) -> None:
    sub = _submit(ddh_client).json()
    run_job(sub["job_id"])
    r = ddh_client.post(f"{P}/unpublish", {"release_id": sub["release_id"]}, format="json")
    assert r.status_code == 200 and r.json()["dry_run"] is True
    # The stand-in job writes the metadata row only (no table): the dry run lists what exists.
    assert r.json()["would_delete"]["collections"] == ["ds_1_res_1_v1"] and r.json()["would_delete"]["tables"] == []
    r = ddh_client.post(f"{P}/unpublish", {"release_id": sub["release_id"], "dry_run": False}, format="json")
    assert r.status_code == 202, r.content
    job_id = r.json()["job_id"]
    r = ddh_client.post(f"{P}/unpublish", {"release_id": sub["release_id"], "dry_run": False}, format="json")
    assert r.status_code == 200 and r.json()["job_id"] == job_id


def test_catalog_lookups(ddh_client: APIClient) -> None:
    sub = _submit(ddh_client).json()
    _envelope(ddh_client.get(f"{P}/catalog/lookup?dataset_id=ds-1&resource_id=res-1"), 404)
    run_job(sub["job_id"])
    ddh_client.post(
        f"{P}/approve", {"release_id": sub["release_id"], "reviewer": "r", "clearance_state": "ouo"}, format="json"
    )
    r = ddh_client.get(f"{P}/catalog/lookup?dataset_id=ds-1&resource_id=res-1")
    assert r.status_code == 200 and r["Cache-Control"] == "private, max-age=60"
    assert r.json()["release"]["version_id"] == "v1"
    assert ddh_client.get(f"{P}/catalog/lookup?dataset_id=ds-1&resource_id=res-1&version_id=v1").status_code == 200
    assert ddh_client.get(f"{P}/catalog/asset/{sub['asset_id']}").json()["latest"]["release"]["version_id"] == "v1"
    assert ddh_client.get(f"{P}/catalog/dataset/ds-1").json()["resources"][0]["asset"]["resource_id"] == "res-1"
    _envelope(ddh_client.get(f"{P}/catalog/item/c/i"), 404)
    _envelope(ddh_client.get(f"{P}/catalog/lookup?dataset_id=ds-1"), 400)


def test_unavailable_processing(ddh_client: APIClient) -> None:
    body = _envelope(_submit(ddh_client, file_name="cube.nc"), 400, "ZarrNotAvailable")
    assert "zarr processing is not available yet" in body["error"]
    zarr = {k: v for k, v in submit_body(source_url="https://example.org/cube.zarr").items() if k != "file_name"}
    _envelope(ddh_client.post(f"{P}/submit", zarr, format="json"), 400, "ZarrNotAvailable")
    body = _envelope(_submit(ddh_client, file_name=["a.tif", "b.tif"]), 400, "ProcessingUnavailable")
    assert "raster_collection" in body["error"]


def test_health_and_failures(ddh_client: APIClient) -> None:
    r = ddh_client.get(f"{P}/health")
    assert r["Cache-Control"] == "private, no-cache"
    body = r.json()
    assert body["status"] in {"healthy", "degraded"} and "database" in body["components"]
    assert isinstance(body["queue_backlog"], dict)
    sub = _submit(ddh_client, file_name="broken.geojson").json()
    run_job(sub["job_id"])
    body = ddh_client.get(f"{P}/status/{sub['request_id']}").json()
    assert body["error"]["code"] == "no_geometry" and body["error"]["user_fixable"] is True
    r = ddh_client.get(f"{P}/failures?hours=1&limit=5")
    assert r.status_code == 200
    failures = r.json()
    assert failures["failures"][0]["release_id"] == sub["release_id"]
    assert failures["patterns"] == [{"code": "no_geometry", "count": 1}]


def test_unknown_platform_route_and_method_use_the_envelope(ddh_client: APIClient) -> None:
    body = _envelope(ddh_client.get(f"{P}/nope"), 404, "NotFound")
    assert "/api/platform/nope" in body["error"]
    _envelope(ddh_client.get(f"{P}/submit"), 405, "MethodNotAllowed")
    _envelope(ddh_client.post(f"{P}/submit", "{not json", content_type="application/json"), 400, "ParseError")


def test_lists_do_not_query_per_row(ddh_client: APIClient, django_assert_max_num_queries: Any) -> None:
    for i in range(5):
        _submit(ddh_client, resource_id=f"r{i}")
    with django_assert_max_num_queries(6):
        r = ddh_client.get(f"{P}/approvals?limit=5")
    assert len(r.json()["approvals"]) == 5
    with django_assert_max_num_queries(6):
        ddh_client.get(f"{P}/status?limit=5")


def test_submit_verbose_returns_the_preflight_report(ddh_client: APIClient) -> None:
    r = ddh_client.post(f"{P}/submit?dry_run=true&verbose=true", submit_body(version_id="v8"), format="json")
    assert r.status_code == 200, r.content
    assert isinstance(r.json()["preflight"], list)
    r = ddh_client.post(f"{P}/submit?verbose=true", submit_body(version_id="v8"), format="json")
    assert r.status_code == 202, r.content
    assert r.json()["preflight"][0]["name"] == "parameters"
    assert "preflight" not in _submit(ddh_client, dataset_id="other-ds").json()
