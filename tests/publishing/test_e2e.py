"""The whole release cycle through HTTP and the real worker process, on real services.

DDH submits a vector file and a raster file -> polls status (202 + Retry-After while
processing) -> approves both as public -> services, external copies and the public STAC
item appear -> revokes -> services withdrawn, STAC item gone, external copies removed ->
unpublish (dry run, then live) -> nothing left.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from rest_framework.test import APIClient

from catalog import selectors as catalog_selectors
from features import sql as features_sql
from geoplatform.storage import zone_container, zone_storage
from tests.conftest import wait_for_job

from .conftest import poll_status, use_job_types

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _upload(path: Path) -> str:
    with open(path, "rb") as fh:
        return zone_storage("bronze").save(f"publishing-e2e/{path.name}", File(fh))


def _poll_external(client: APIClient, url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = dict(client.get(url).json())
        external = status.get("external") or {}
        if external.get("copies"):
            return status
        time.sleep(0.3)
    from ingest.models import Job

    job_id = (status.get("external") or {}).get("job_id")
    job = Job.objects.filter(pk=job_id).values("status", "error").first() if job_id else None
    raise AssertionError(f"no external copies for {url} after {timeout}s: {status.get('external')} job={job}")


def test_whole_cycle_through_the_worker(
    live_worker: Any, ddh_client: APIClient, api_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for kind, name in (("vector", "vector"), ("raster", "raster")):
        use_job_types(monkeypatch, kind, f"process_{name}", f"unpublish_{name}")

    bronze = zone_container("bronze")
    submitted = {}
    for resource, path in (("counties", FIXTURES / "features" / "nc.gpkg"), ("landcover", FIXTURES / "lc.tif")):
        body = {"dataset_id": "e2e", "resource_id": resource, "container_name": bronze, "file_name": _upload(path)}
        resp = ddh_client.post("/api/platform/submit", body, format="json")
        assert resp.status_code == 202, resp.json()
        submitted[resource] = resp.json()

    done = {name: poll_status(ddh_client, s["monitor_url"]) for name, s in submitted.items()}
    for status in done.values():
        assert status["release"]["processing_status"] == "completed", status
        assert status["release"]["approval_state"] == "pending_review"
        assert "services" not in status and status["approval"]["approve_url"]
    table = done["counties"]["outputs"]["table_name"]
    item_id = done["landcover"]["release"]["release_id"] and "e2e-landcover-v1"
    items_url = f"/api/features/collections/{table}/items"
    assert api_client.get(items_url).status_code == 404  # not public before approval
    assert catalog_selectors.item_get(collection_id="system-rasters", item_id=item_id) is None
    # Reviewers (DDH here) preview the raster before approval; the public cannot, and no
    # shared cache may keep the preview.
    tilejson = done["landcover"]["outputs"]["tilejson_url"]
    assert api_client.get(tilejson).status_code == 404
    preview = ddh_client.get(tilejson)
    assert preview.status_code == 200, preview.content
    assert preview["Cache-Control"] == "private, no-store"

    for status in done.values():
        resp = ddh_client.post(
            "/api/platform/approve",
            {"request_id": status["request_id"], "reviewer": "alice", "clearance_state": "public"},
            format="json",
        )
        assert resp.status_code == 200, resp.json()
    approved = {name: _poll_external(ddh_client, s["monitor_url"]) for name, s in submitted.items()}
    for status in approved.values():
        assert status["release"]["approval_state"] == "approved"
        assert status["services"]["service_url"]
        assert all(copy["url"] for copy in status["external"]["copies"])
    assert api_client.get(items_url).status_code == 200
    assert api_client.get(f"/api/stac/collections/system-rasters/items/{item_id}").status_code == 200
    external = zone_storage("external")
    copies = [c["blob"] for s in approved.values() for c in s["external"]["copies"]]
    assert copies and all(external.exists(blob) for blob in copies)

    for status in approved.values():
        resp = ddh_client.post(
            "/api/platform/revoke",
            {"request_id": status["request_id"], "reviewer": "bob", "reason": "superseded"},
            format="json",
        )
        assert resp.status_code == 200, resp.json()
    assert api_client.get(items_url).status_code == 404
    assert api_client.get(f"/api/stac/collections/system-rasters/items/{item_id}").status_code == 404
    deadline = time.monotonic() + 60
    while any(external.exists(blob) for blob in copies) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not any(external.exists(blob) for blob in copies), "external copies outlived the revoke"
    for submit in submitted.values():
        assert "services" not in ddh_client.get(submit["monitor_url"]).json()

    for status in approved.values():
        dry = ddh_client.post("/api/platform/unpublish", {"request_id": status["request_id"]}, format="json")
        assert dry.status_code == 200 and dry.json()["dry_run"] is True, dry.json()
        live = ddh_client.post(
            "/api/platform/unpublish", {"request_id": status["request_id"], "dry_run": False}, format="json"
        )
        assert live.status_code == 202, live.json()
        assert wait_for_job(live.json()["job_id"], timeout=60).status == "completed"
    assert not features_sql.table_exists(table)
    silver = zone_storage("silver")
    leftovers = [blob for blob in copies if silver.exists(blob)]
    assert leftovers == [], "unpublish left processed files in silver"
    assert catalog_selectors.item_get(collection_id="system-rasters", item_id=item_id) is None
