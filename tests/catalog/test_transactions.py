"""The STAC Transactions extension: operators with catalog.manage_stac, audited, never over
the platform's own collections."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import DatabaseError, transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog import selectors, services
from catalog.errors import AlreadyExists
from catalog.models import StacTransaction

from .conftest import make_collection, make_item

pytestmark = pytest.mark.django_db
API = "/api/stac/"


@pytest.fixture
def manager_client(db: Any) -> APIClient:
    """A token holding catalog.manage_stac (and nothing else)."""
    user = get_user_model().objects.create_user("stac-manager")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="catalog", codename="manage_stac"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _log() -> list[tuple[str, str, str, str]]:
    return list(StacTransaction.objects.values_list("action", "kind", "collection_id", "item_id"))


def test_collection_and_item_lifecycle_is_audited(manager_client: APIClient) -> None:
    r = manager_client.post(API + "collections", make_collection("ops-grid"), format="json")
    assert r.status_code == 201, r.content
    assert r["Location"].endswith("/api/stac/collections/ops-grid")
    assert {lk["rel"] for lk in r.json()["links"]} >= {"self", "items"}
    assert manager_client.post(API + "collections", make_collection("ops-grid"), format="json").status_code == 409

    items = API + "collections/ops-grid/items"
    r = manager_client.post(items, make_item("a", 1, 1, "2020-01-01T00:00:00Z", cloud=5), format="json")
    assert r.status_code == 201 and r["Content-Type"] == "application/geo+json"
    assert r.json()["properties"]["cloud"] == 5
    put = make_item("a", 2, 2, "2020-01-02T00:00:00Z", other="x")
    assert manager_client.put(f"{items}/a", put, format="json").status_code == 204
    patch = {"properties": {"other": None, "added": 1}}
    assert manager_client.patch(f"{items}/a", patch, format="json").status_code == 204
    item = selectors.item_get(collection_id="ops-grid", item_id="a")
    assert item is not None
    assert item["properties"]["added"] == 1 and "other" not in item["properties"] and "cloud" not in item["properties"]
    assert item["properties"]["datetime"].startswith("2020-01-02")

    r = manager_client.patch(API + "collections/ops-grid", {"title": "Operators' grid"}, format="json")
    assert r.status_code == 204
    assert selectors.collection_get(collection_id="ops-grid")["title"] == "Operators' grid"
    assert manager_client.delete(f"{items}/a").status_code == 204
    assert manager_client.delete(f"{items}/a").status_code == 204  # idempotent, not audited twice
    assert manager_client.get(f"{items}/a").status_code == 404
    assert manager_client.delete(API + "collections/ops-grid").status_code == 204
    assert manager_client.get(API + "collections/ops-grid").status_code == 404

    assert _log() == [
        ("create", "collection", "ops-grid", ""),
        ("create", "item", "ops-grid", "a"),
        ("replace", "item", "ops-grid", "a"),
        ("update", "item", "ops-grid", "a"),
        ("update", "collection", "ops-grid", ""),
        ("delete", "item", "ops-grid", "a"),
        ("delete", "collection", "ops-grid", ""),
    ]
    replace = StacTransaction.objects.get(action="replace")
    assert replace.actor == "stac-manager" and replace.actor_user is not None
    assert replace.before["properties"]["cloud"] == 5 and replace.after["properties"]["other"] == "x"


def test_feature_collection_is_created_all_or_none(manager_client: APIClient) -> None:
    manager_client.post(API + "collections", make_collection("ops-bulk"), format="json")
    items = API + "collections/ops-bulk/items"
    batch = {
        "type": "FeatureCollection",
        "features": [make_item(f"b{i}", i, i, "2020-01-01T00:00:00Z") for i in range(3)],
    }
    r = manager_client.post(items, batch, format="json")
    assert r.status_code == 201 and len(r.json()["features"]) == 3
    again = {
        "type": "FeatureCollection",
        "features": [make_item("new", 0, 0, "2020-01-01T00:00:00Z"), batch["features"][0]],
    }
    r = manager_client.post(items, again, format="json")
    assert r.status_code == 409 and "b0" in r.json()["description"]
    assert selectors.item_get(collection_id="ops-bulk", item_id="new") is None


def test_platform_collections_are_refused_with_409(manager_client: APIClient, stac_collection: Any) -> None:
    platform = stac_collection("pipeline-grid", n=1)  # written by the platform (services), not a transaction
    before = _log()
    for method, path, body in [
        ("post", f"collections/{platform}/items", make_item("x", 0, 0, "2020-01-01T00:00:00Z")),
        ("put", f"collections/{platform}/items/item-000", make_item("item-000", 0, 0, "2020-01-01T00:00:00Z")),
        ("patch", f"collections/{platform}/items/item-000", {"properties": {"a": 1}}),
        ("delete", f"collections/{platform}/items/item-000", None),
        ("put", f"collections/{platform}", make_collection(platform)),
        ("delete", "collections/system-rasters", None),
        ("post", "collections", make_collection("system-vectors")),
    ]:
        r = getattr(manager_client, method)(API + path, body, format="json")
        assert r.status_code == 409, (method, path, r.content)
        assert "jobs" in r.json()["description"], r.json()
    assert _log() == before
    assert selectors.item_get(collection_id=platform, item_id="item-000") is not None
    assert selectors.item_get(collection_id=platform, item_id="x") is None


def test_pipelines_cannot_overwrite_a_transaction_collection(manager_client: APIClient) -> None:
    manager_client.post(API + "collections", make_collection("ops-owned"), format="json")
    with pytest.raises(AlreadyExists):
        services.collection_upsert(collection=make_collection("ops-owned"))
    assert services.collection_delete(collection_id="ops-owned") is False  # a job's cleanup leaves it
    assert selectors.collection_get(collection_id="ops-owned") is not None


def test_bad_documents_are_400_and_leave_nothing(manager_client: APIClient) -> None:
    bad_collections: list[Any] = [[1], {"id": "no-extent", "description": "d", "license": "x"}, {"id": "a/b"}]
    for body in bad_collections:
        r = manager_client.post(API + "collections", body, format="json")
        assert r.status_code == 400, (body, r.content)
        assert set(r.json()) == {"code", "description"}
    manager_client.post(API + "collections", make_collection("ops-strict"), format="json")
    items = API + "collections/ops-strict/items"
    no_datetime = make_item("n", 0, 0, "2020-01-01T00:00:00Z")
    no_datetime["properties"] = {}
    for body in [no_datetime, {**make_item("w", 0, 0, "2020-01-01T00:00:00Z"), "collection": "elsewhere"}]:
        assert manager_client.post(items, body, format="json").status_code == 400
    r = manager_client.put(f"{items}/one", make_item("two", 0, 0, "2020-01-01T00:00:00Z"), format="json")
    assert r.status_code == 400 and "URL" in r.json()["description"]
    assert (
        manager_client.put(
            f"{items}/absent", make_item("absent", 0, 0, "2020-01-01T00:00:00Z"), format="json"
        ).status_code
        == 404
    )
    assert (
        manager_client.post(
            API + "collections/nowhere/items", make_item("z", 0, 0, "2020-01-01T00:00:00Z"), format="json"
        ).status_code
        == 404
    )
    assert _log() == [("create", "collection", "ops-strict", "")]


def test_transactions_need_the_permission(
    api_client: APIClient, plain_user_client: APIClient, operator_client: APIClient, auth_client: APIClient
) -> None:
    body = make_collection("ops-denied")
    assert api_client.post(API + "collections", body, format="json").status_code == 401
    for client in (plain_user_client, operator_client, auth_client):
        r = client.post(API + "collections", body, format="json")
        assert r.status_code == 403 and "manage_stac" in r.json()["description"]
    assert selectors.collection_get(collection_id="ops-denied") is None and not _log()


def test_the_audit_log_is_append_only(manager_client: APIClient) -> None:
    manager_client.post(API + "collections", make_collection("ops-log"), format="json")
    row = StacTransaction.objects.get()
    with pytest.raises(Exception, match="append-only"):
        row.save()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StacTransaction.objects.filter(pk=row.pk).update(actor="someone else")


def test_the_log_is_readable_in_the_admin(manager_client: APIClient, admin_client: Any) -> None:
    manager_client.post(API + "collections", make_collection("ops-admin"), format="json")
    row = StacTransaction.objects.get()
    page = admin_client.get("/admin/catalog/stactransaction/")
    assert page.status_code == 200 and b"ops-admin" in page.content
    detail = admin_client.get(f"/admin/catalog/stactransaction/{row.pk}/change/")
    assert detail.status_code == 200 and b"CC-BY-4.0" in detail.content
    assert admin_client.post(f"/admin/catalog/stactransaction/{row.pk}/delete/", {"post": "yes"}).status_code == 403
