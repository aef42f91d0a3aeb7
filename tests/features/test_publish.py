"""Collections awaiting review: hidden from everyone but reviewers until published."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from catalog import selectors as catalog_selectors
from features import services
from features.models import VectorDataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def hidden(put_fixture: Callable[[str], str], submit_inline: Callable[..., Any]) -> str:
    name = put_fixture("nc.gpkg")
    job = submit_inline(file_name=name, table_name="nc_hidden", create_stac=True, publish=False)
    assert job.status == "completed", job.error
    return "nc_hidden"


def _reviewer() -> APIClient:
    user = get_user_model().objects.create_user("reviewer-preview", password="x")
    user.user_permissions.add(
        Permission.objects.get(codename="preview_unpublished", content_type__app_label="features")
    )
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_unpublished_collection_is_hidden_then_published(hidden: str, api_client: APIClient) -> None:
    assert VectorDataset.objects.get(pk=hidden).published is False
    assert api_client.get(f"/api/features/collections/{hidden}").status_code == 404
    assert api_client.get(f"/api/features/collections/{hidden}/items").status_code == 404
    listed = api_client.get("/api/features/collections", HTTP_ACCEPT="application/json").json()
    assert hidden not in [c["id"] for c in listed["collections"]]
    assert catalog_selectors.item_get(collection_id="system-vectors", item_id=hidden) is None

    # A reviewer previews it; the response must not be kept by shared caches.
    preview = _reviewer().get(f"/api/features/collections/{hidden}/items", HTTP_ACCEPT="application/geo+json")
    assert preview.status_code == 200
    assert preview["Cache-Control"].startswith("private")

    services.dataset_publish_set(collection_id=hidden, published=True)
    assert api_client.get(f"/api/features/collections/{hidden}").status_code == 200
    assert catalog_selectors.item_get(collection_id="system-vectors", item_id=hidden) is not None

    services.dataset_publish_set(collection_id=hidden, published=False)  # revoke
    services.dataset_publish_set(collection_id=hidden, published=False)  # idempotent
    assert api_client.get(f"/api/features/collections/{hidden}").status_code == 404
    assert catalog_selectors.item_get(collection_id="system-vectors", item_id=hidden) is None


def test_geoparquet_export(hidden: str) -> None:
    import geopandas

    from geoplatform.storage import local_copy, zone_container

    name = services.dataset_export_geoparquet(collection_id=hidden)
    assert name == f"exports/{hidden}.parquet"
    with local_copy(zone_container("silver"), name) as path:
        frame = geopandas.read_parquet(path)
    assert len(frame) == 100 and frame.crs.to_string() in {"OGC:CRS84", "EPSG:4326"}
    assert {"name", "geometry"} <= set(frame.columns) and frame.geometry.geom_type.unique().tolist() == ["MultiPolygon"]
    assert frame.columns[0] == "id" and frame["id"].tolist() == list(range(1, 101))  # the OGC API's feature ids
