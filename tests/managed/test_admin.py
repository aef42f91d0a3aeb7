"""The admin pages of managed sources and versions: forms validate through the services,
actions call them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from managed.models import ManagedSource, SourceVersion, VersionStatus

from .conftest import V1, V2, geojson, run_update

pytestmark = pytest.mark.django_db

PATH = "/data/places.geojson"
SOURCES = "/admin/managed/managedsource/"
VERSIONS = "/admin/managed/sourceversion/"


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.org", "pw-for-tests-only"))
    return client


def _form(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "places",
        "handler": "http_file",
        "location": url,
        "collection_id": "places",
        "schedule": "0 2 * * *",
        "enabled": "on",
        "target_kind": "vector",
        "review_policy": "automatic",
        "settings": "{}",
        "thresholds": "{}",
        "style": "null",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        **fields,
    }


def test_add_form_refuses_bad_cron_and_creates_a_valid_source(admin_client_: Client, source_server: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    bad = admin_client_.post(SOURCES + "add/", _form(url, schedule="nightly"))
    assert bad.status_code == 200 and "5-field cron" in bad.content.decode()
    assert not ManagedSource.objects.exists()
    good = admin_client_.post(SOURCES + "add/", _form(url))
    assert good.status_code == 302, good.content.decode()[:2000]
    source = ManagedSource.objects.get(name="places")
    assert source.next_run_at is not None
    assert admin_client_.get(SOURCES).status_code == 200
    assert admin_client_.get(f"{SOURCES}{source.pk}/change/").status_code == 200


def test_actions_update_and_rollback_and_approve(admin_client_: Client, source_server: Any, make_source: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    source = make_source(url)
    run_update(source)
    page = admin_client_.post(SOURCES, {"action": "update_now", "_selected_action": [source.pk]}, follow=True)
    assert "unchanged" in page.content.decode()
    source_server.put(PATH, geojson(V2, extra="iucn"))  # a schema change: held
    run_update(source)
    held = SourceVersion.objects.get(source=source, number=2)
    assert held.status == VersionStatus.HELD
    admin_client_.post(VERSIONS, {"action": "approve", "_selected_action": [held.pk]}, follow=True)
    held.refresh_from_db()
    assert held.status == VersionStatus.LIVE and held.reviewed_by is not None
    page = admin_client_.post(SOURCES, {"action": "rollback", "_selected_action": [source.pk]}, follow=True)
    assert "version 1 is live again" in page.content.decode()
    assert admin_client_.get(f"{VERSIONS}{held.pk}/change/").status_code == 200
