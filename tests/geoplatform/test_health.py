"""Health: anonymous readiness/liveness (status only, no writes) and the operators' report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from geoplatform import health
from geoplatform.storage import ZONES, reset_cache, zone_container
from ingest.models import WorkerHeartbeat

azure_only = pytest.mark.skipif(
    django_settings.GEOPLATFORM_STORAGE_BACKEND != "azure", reason="checks Azurite's containers"
)


@pytest.fixture
def operator_client(db: Any) -> APIClient:
    """A token holding only geoplatform.view_health (not a superuser)."""
    user = get_user_model().objects.create_user("health-operator", password="x")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="geoplatform", codename="view_health"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _blob_listing() -> dict[str, list[tuple[str, Any]]]:
    """Every blob (name, last modified) of every zone container, straight from Azurite."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(django_settings.GEOPLATFORM_AZURE_CONNECTION_STRING)
    listing = {}
    for zone in ZONES:
        container = service.get_container_client(zone_container(zone))
        if not container.exists():
            container.create_container()
        listing[zone] = sorted((b.name, b.last_modified) for b in container.list_blobs())
    return listing


def _read_only_connection_string() -> str:
    """The same Azurite account through a SAS that may only read and list."""
    from azure.storage.blob import AccountSasPermissions, BlobServiceClient, ResourceTypes, generate_account_sas

    service = BlobServiceClient.from_connection_string(django_settings.GEOPLATFORM_AZURE_CONNECTION_STRING)
    sas = generate_account_sas(
        service.account_name,
        service.credential.account_key,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    return f"BlobEndpoint={service.url.rstrip('/')};SharedAccessSignature={sas}"


@azure_only
@pytest.mark.django_db
def test_readiness_is_anonymous_status_only_and_writes_no_blob(api_client: Any, settings: Any) -> None:
    before = _blob_listing()
    resp = api_client.get("/api/health")
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"status": "ok"}  # no versions, components or error text
    assert resp["Cache-Control"] == "no-store"
    assert _blob_listing() == before
    # A storage account that refuses every write still passes: probes only read.
    settings.GEOPLATFORM_AZURE_CONNECTION_STRING = _read_only_connection_string()
    reset_cache()
    try:
        assert api_client.get("/api/health").json() == {"status": "ok"}
    finally:
        reset_cache()
    assert _blob_listing() == before


@azure_only
@pytest.mark.django_db
def test_details_read_storage_only(operator_client: APIClient, settings: Any) -> None:
    before = _blob_listing()
    settings.GEOPLATFORM_AZURE_CONNECTION_STRING = _read_only_connection_string()
    reset_cache()
    try:
        body = operator_client.get("/api/health/details").json()
    finally:
        reset_cache()
    storage = body["components"]["storage"]
    assert storage["status"] == "ok", storage
    assert set(storage["zones"]) == set(ZONES) and storage["zones"]["external"]["exists"] is True
    assert _blob_listing() == before


@pytest.mark.django_db
def test_readiness_unavailable_names_nothing(api_client: Any, settings: Any) -> None:
    settings.GEOPLATFORM_BROKER_URL = "redis://127.0.0.1:1/0"
    resp = api_client.get("/api/health")
    assert resp.status_code == 503
    assert resp.json() == {"status": "unavailable"}


@pytest.mark.django_db
def test_readiness_is_cached_per_process(api_client: Any, settings: Any) -> None:
    settings.GEOPLATFORM_HEALTH_CACHE_SECONDS = 3600
    health.reset_cache()
    try:
        assert api_client.get("/api/health").status_code == 200
        settings.GEOPLATFORM_BROKER_URL = "redis://127.0.0.1:1/0"
        assert api_client.get("/api/health").status_code == 200  # the cached answer
        health.reset_cache()
        assert api_client.get("/api/health").status_code == 503
    finally:
        health.reset_cache()


@pytest.mark.django_db
def test_liveness_touches_no_dependency(api_client: Any, settings: Any, django_assert_num_queries: Any) -> None:
    settings.GEOPLATFORM_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.GEOPLATFORM_STORAGE_BACKEND = "nope"
    with django_assert_num_queries(0):
        resp = api_client.get("/api/health/live")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


@pytest.mark.django_db
def test_details_need_a_token_with_the_permission(api_client: Any, plain_user_client: Any) -> None:
    assert api_client.get("/api/health/details").status_code == 401
    resp = plain_user_client.get("/api/health/details")
    assert resp.status_code == 403
    assert "geoplatform.view_health" in resp.json()["message"]


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_details_with_a_live_worker(live_worker: Any, operator_client: APIClient) -> None:
    resp = operator_client.get("/api/health/details")
    body = resp.json()
    assert resp.status_code == 200, body
    assert body["status"] == "healthy" and body["failing"] == []
    components = body["components"]
    assert set(components) >= {"database", "postgis", "pgstac", "broker", "workers", "storage"}
    assert components["postgis"]["version"].startswith("3.")
    assert components["pgstac"]["version"] == "0.10.0"
    assert components["database"]["version"] and "superuser" in components["database"]
    assert components["workers"]["live"] >= 1
    assert body["versions"]["django"].startswith("5.")
    assert resp["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_details_name_the_failing_components_and_their_errors(operator_client: APIClient, settings: Any) -> None:
    WorkerHeartbeat.objects.all().delete()
    settings.GEOPLATFORM_BROKER_URL = "redis://127.0.0.1:1/0"
    resp = operator_client.get("/api/health/details")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unhealthy"
    assert set(body["failing"]) == {"broker", "workers"}
    assert "no live worker" in body["components"]["workers"]["error"]
    assert body["components"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_platform_health_keeps_the_contract_and_shows_details_only_to_operators(
    plain_user_client: Any, operator_client: APIClient, settings: Any
) -> None:
    settings.GEOPLATFORM_BROKER_URL = "redis://127.0.0.1:1/0"
    body = plain_user_client.get("/api/platform/health").json()
    assert body["status"] == "degraded" and "broker" in body["failing"]  # DDH-CONTRACT.md
    assert isinstance(body["queue_backlog"], dict)
    assert set(body["components"]["broker"]) == {"status", "duration_ms"}  # no error text
    assert set(body["components"]["postgis"]) == {"status", "duration_ms"}  # no version
    detailed = operator_client.get("/api/platform/health").json()
    assert "error" in detailed["components"]["broker"] and "version" in detailed["components"]["postgis"]
