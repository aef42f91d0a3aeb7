"""/api/managed/: who may read and write, bad input, and the routes end to end (in-process jobs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from managed.models import ManagedSource, SourceVersion, VersionStatus

from .conftest import V1, V2, geojson, run_update

PATH = "/data/places.geojson"
BASE = "/api/managed/sources"


def _body(url: str, **fields: Any) -> dict[str, Any]:
    return {"name": "places", "handler": "http_file", "location": url, "collection_id": "places", **fields}


@pytest.mark.django_db
def test_anonymous_and_unprivileged_callers_are_refused(
    api_client: Any, plain_user_client: Any, viewer_client: Any, operator_client: Any
) -> None:
    assert api_client.get(BASE).status_code == 401
    assert plain_user_client.get(BASE).status_code == 403
    assert operator_client.get(BASE).status_code == 403  # job operators are not source managers
    assert viewer_client.get(BASE).status_code == 200
    body = _body("http://127.0.0.1:9/x.geojson")
    assert api_client.post(BASE, body, format="json").status_code == 401
    assert viewer_client.post(BASE, body, format="json").status_code == 403
    assert not ManagedSource.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"schedule": "every night"}, "schedule", "cron"),
        ({"schedule": "0 2 * *"}, "schedule", "cron"),
        ({"handler": "ftp"}, None, "http_file"),
        ({"settings": {"colour": "red"}}, None, "colour"),
        ({"settings": {"file_name": "../x.geojson"}}, None, "settings.file_name"),
        ({"collection_id": "Places!"}, "collection_id", "lowercase"),
        ({"collection_id": "a__v1"}, "collection_id", "reserved"),
        ({"location": "file:///etc/passwd"}, "location", "http(s) URL"),
        ({"credentials_setting": "abc-secret-token"}, "credentials_setting", "NAME"),
        # Any other secret of the deployment could be sent to a server of the operator's choice.
        ({"credentials_setting": "SECRET_KEY"}, "credentials_setting", "GEOPLATFORM_MANAGED_CREDENTIALS"),
        ({"credentials_setting": "GEOPLATFORM_DATABASE_URL"}, "credentials_setting", "GEOPLATFORM_MANAGED_CREDENTIALS"),
        ({"thresholds": {"rows": 5}}, "thresholds.rows", "unknown"),
        ({"thresholds": {"count_change_pct": -1}}, "thresholds.count_change_pct", "0 or more"),
        ({"target_kind": "grid"}, "target_kind", "valid choice"),
        ({"handler": "fathom_flood"}, "target_kind", "loads"),  # a raster collection handler, a vector source
        ({"extra": 1}, "extra", "Unknown field"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    manager_client: Any, change: dict[str, Any], field: str | None, says: str
) -> None:
    response = manager_client.post(BASE, {**_body("http://127.0.0.1:9/x.geojson"), **change}, format="json")
    assert response.status_code == 400, response.content
    assert says in str(response.json())
    if field:
        assert field in str(response.json())
    assert not ManagedSource.objects.exists()


@pytest.mark.django_db
def test_create_get_change_enable_disable_delete(manager_client: Any, viewer_client: Any) -> None:
    created = manager_client.post(BASE, _body("http://127.0.0.1:9/x.geojson", schedule="30 3 * * 1"), format="json")
    assert created.status_code == 201, created.content
    doc = created.json()
    assert doc["schedule"] == "30 3 * * 1" and doc["next_run_at"] and doc["freshness"]["stale"] is True
    assert doc["versions"] == [] and doc["live_version"] is None
    assert manager_client.post(BASE, _body("http://127.0.0.1:9/y.geojson"), format="json").status_code == 409
    other = _body("http://127.0.0.1:9/y.geojson", name="other")
    assert manager_client.post(BASE, other, format="json").status_code == 409  # collection_id taken
    assert viewer_client.get(f"{BASE}/places").json()["name"] == "places"
    assert viewer_client.put(f"{BASE}/places", {"title": "x"}, format="json").status_code == 403
    changed = manager_client.put(f"{BASE}/places", {"title": "Places", "review_policy": "review"}, format="json")
    assert changed.status_code == 200 and changed.json()["title"] == "Places"
    assert manager_client.put(f"{BASE}/places", {"name": "renamed"}, format="json").status_code == 400
    assert manager_client.post(f"{BASE}/places/disable").json()["enabled"] is False
    assert manager_client.post(f"{BASE}/places/enable").json()["enabled"] is True
    assert manager_client.get(f"{BASE}/nope").status_code == 404
    assert manager_client.delete(f"{BASE}/places").status_code == 200
    assert not ManagedSource.objects.exists()


@pytest.mark.django_db
def test_trigger_history_rollback_through_the_api(manager_client: Any, source_server: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    assert manager_client.post(BASE, _body(url), format="json").status_code == 201
    source = ManagedSource.objects.get(name="places")
    run_update(source)
    unchanged = manager_client.post(f"{BASE}/places/update", {}, format="json")
    assert unchanged.status_code == 200 and unchanged.json()["outcome"] == "unchanged"
    assert unchanged.json()["requests"] <= 3
    source_server.put(PATH, geojson(V2))
    submitted = manager_client.post(f"{BASE}/places/update", {"force": False}, format="json")
    assert submitted.status_code == 202 and submitted.json()["version"]["number"] == 2
    running = manager_client.post(f"{BASE}/places/update", {}, format="json")
    assert running.json()["outcome"] == "running"
    assert manager_client.post(f"{BASE}/places/update", {"force": "maybe"}, format="json").status_code == 400
    history = manager_client.get(f"{BASE}/places/history").json()
    assert [v["number"] for v in history] == [2, 1] and history[0]["status"] == "downloading"
    # Finish version 2 here, then roll it back through the API.
    from managed import services
    from tests.ingest.inline import run_inline

    version = SourceVersion.objects.get(source=source, number=2)
    run_inline(version.job_ids["update"])
    version.refresh_from_db()
    run_inline(version.job_ids["ingest"])
    services.version_advance(version_id=version.pk)
    assert manager_client.get(f"{BASE}/places").json()["live_version"]["number"] == 2
    rolled = manager_client.post(f"{BASE}/places/rollback")
    assert rolled.status_code == 200 and rolled.json()["number"] == 1
    assert manager_client.post(f"{BASE}/places/rollback").status_code == 409


@pytest.mark.django_db
def test_held_version_approved_through_the_api(manager_client: Any, source_server: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    manager_client.post(BASE, _body(url, review_policy="review"), format="json")
    source = ManagedSource.objects.get(name="places")
    held = run_update(source).version
    assert held.status == VersionStatus.HELD
    assert manager_client.post(f"{BASE}/places/versions/9/approve", {}, format="json").status_code == 404
    ok = manager_client.post(f"{BASE}/places/versions/1/approve", {"note": "fine"}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "live"
    assert manager_client.post(f"{BASE}/places/versions/1/reject", {}, format="json").status_code == 409


@pytest.mark.django_db
def test_check_failure_is_a_502_and_recorded(manager_client: Any, source_server: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    manager_client.post(BASE, _body(url), format="json")
    run_update(ManagedSource.objects.get(name="places"))
    source_server.fail(PATH, 503)
    response = manager_client.post(f"{BASE}/places/update", {}, format="json")
    assert response.status_code == 502 and "503" in response.json()["message"]
    assert manager_client.get(f"{BASE}/places").json()["last_error"]["stage"] == "check"


@pytest.mark.django_db
def test_stale_source_shows_in_health_and_diagnostics(staff_client: Any, source_server: Any, make_source: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    source = make_source(url, schedule="0 2 * * *")
    run_update(source)
    health = staff_client.get("/api/health/details").json()
    assert health["components"]["managed"]["stale"] == []
    ManagedSource.objects.filter(pk=source.pk).update(last_success_at=timezone.now() - dt.timedelta(days=3))
    managed = staff_client.get("/api/health/details").json()["components"]["managed"]
    assert managed["status"] == "ok" and managed["stale"] == ["src"] and "src" in managed["warning"]
    section = staff_client.get("/api/diagnostics/managed/").json()
    stale = section["sources"]["managed"]["stale"]
    assert [s["source"] for s in stale] == ["src"]
    assert stale[0]["expected_cadence_seconds"] == 2 * 86400
