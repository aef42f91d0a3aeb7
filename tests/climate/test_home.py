"""Climate datasets on the catalogue home page: published ones for everyone, pending ones for
reviewers only, with links to the viewer, the EDR collection and the STAC item."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from climate.models import ClimateDataset

pytestmark = pytest.mark.django_db


def _rows(client: Any, query: str = "") -> dict[str, str]:
    html = client.get("/" + query).content.decode()
    return {part.split('"', 1)[0]: part for part in html.split('data-dataset="')[1:]}


def _dataset(item_id: str, *, published: bool) -> None:
    ClimateDataset.objects.create(
        collection_id="cmip6",
        item_id=item_id,
        item={"bbox": [-180, -90, 180, 90], "properties": {"title": f"Air temperature {item_id}"}},
        published=published,
        refs_blob=f"climate/{item_id}.json",
        refs_etag="x",
        source_container="bronze",
    )


def test_home_lists_climate_datasets_and_hides_pending_ones() -> None:
    _dataset("tas-live", published=True)
    _dataset("tas-pending", published=False)
    rows = _rows(Client(), "?kind=climate")
    assert list(rows) == ["cmip6/tas-live"]
    row = rows["cmip6/tas-live"]
    assert "/api/xarray/cmip6/tas-live/viewer" in row and "/api/edr/collections/cmip6~tas-live" in row
    assert "/api/stac/collections/cmip6/items/tas-live" in row

    reviewer = User.objects.create_user("climate-reviewer")
    reviewer.user_permissions.add(
        Permission.objects.get(codename="preview_unpublished", content_type__app_label="climate")
    )
    client = Client()
    client.force_login(reviewer)
    assert set(_rows(client, "?kind=climate")) == {"cmip6/tas-live", "cmip6/tas-pending"}
