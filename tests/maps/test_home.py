"""The catalogue home page: vector and raster datasets with links, text/extent/kind search,
datasets awaiting review for reviewers only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from catalog import datasets
from catalog.home import thumbnail_box
from rasters.models import PendingItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def nc(put_fixture: Any, submit_inline: Any) -> str:
    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_home", title="North Carolina counties")
    assert job.status == "completed", job.error
    return "nc_home"


def _rows(client: Any, query: str = "") -> dict[str, str]:
    html = client.get("/" + query).content.decode()
    return {part.split('"', 1)[0]: part for part in html.split('data-dataset="')[1:]}


def test_home_lists_vector_and_raster_datasets(client: Any, nc: str, published: dict[str, Any]) -> None:
    rows = _rows(client)
    assert "nc_home" in rows and "/api/features/collections/nc_home/items?f=html" in rows["nc_home"]
    dem = published["dem"]
    key = f"{dem['collection_id']}/{dem['item_id']}"
    assert key in rows and f"/api/raster/{key}/viewer" in rows[key] and "/api/stac/collections/" in rows[key]
    assert 'data-kind="raster"' in rows[key] and "<svg" in rows[key]  # extent thumbnail
    html = client.get("/").content.decode()
    assert "/api/docs/" in html and "/admin/" in html and "geoplatform-basemap" in html


def test_search_by_text_kind_and_extent(client: Any, nc: str, published: dict[str, Any]) -> None:
    assert list(_rows(client, "?q=carolina+counties")) == ["nc_home"]
    assert "nc_home" not in _rows(client, "?kind=raster")
    assert all(k != "nc_home" for k in _rows(client, "?kind=raster"))
    # North Carolina (-84..-75, 33..37) vs Olinda, Brazil (-35, -8).
    assert "nc_home" in _rows(client, "?bbox=-90,30,-70,40")
    assert "nc_home" not in _rows(client, "?bbox=-40,-10,-30,0")
    dem = published["dem"]
    assert f"{dem['collection_id']}/{dem['item_id']}" in _rows(client, "?bbox=-40,-10,-30,0")
    assert "bbox must be" in client.get("/?bbox=nonsense").content.decode()


def test_pending_rasters_only_for_reviewers(client: Any) -> None:
    item = {
        "type": "Feature", "id": "waiting", "collection": "system-rasters", "bbox": [0, 0, 1, 1],
        "properties": {"title": "Awaiting review", "geoplatform:raster_type": "dem"}, "assets": {},
    }  # fmt: skip
    PendingItem.objects.create(collection_id="system-rasters", item_id="waiting", item=item)
    assert "system-rasters/waiting" not in _rows(client)
    reviewer = User.objects.create_user("reviewer-home")
    reviewer.user_permissions.add(
        Permission.objects.get(codename="preview_unpublished", content_type__app_label="rasters")
    )
    client.force_login(reviewer)
    row = _rows(client)["system-rasters/waiting"]
    assert "awaiting review" in row and "/api/raster/system-rasters/waiting/viewer" in row


def test_registry_and_thumbnail() -> None:
    assert {"vector", "raster"} <= {k.kind for k in datasets.kinds()}
    world = thumbnail_box((-180, -85.05, 180, 85.05))
    assert world is not None and abs(world["w"] - 256) < 0.01 and abs(world["h"] - 256) < 0.1
    point = thumbnail_box((10, 10, 10, 10))
    assert point is not None and point["w"] == 3.0
