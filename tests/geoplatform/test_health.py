from __future__ import annotations

from typing import Any

import pytest

from ingest.models import WorkerHeartbeat


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_healthy_with_a_live_worker(live_worker: Any, api_client: Any) -> None:
    resp = api_client.get("/api/health")
    body = resp.json()
    assert resp.status_code == 200, body
    assert body["status"] == "healthy" and body["failing"] == []
    components = body["components"]
    assert set(components) >= {"database", "postgis", "pgstac", "broker", "workers", "storage"}
    assert components["postgis"]["version"].startswith("3.")
    assert components["pgstac"]["version"] == "0.10.0"
    assert components["workers"]["live"] >= 1
    assert resp["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_unhealthy_names_the_failing_components(api_client: Any, settings: Any) -> None:
    WorkerHeartbeat.objects.all().delete()
    settings.GEOPLATFORM_BROKER_URL = "redis://127.0.0.1:1/0"
    resp = api_client.get("/api/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unhealthy"
    assert set(body["failing"]) == {"broker", "workers"}
    assert "no live worker" in body["components"]["workers"]["error"]
    assert body["components"]["database"]["status"] == "ok"
