"""A raster collection kept current: versions load hidden (pending items), the swap moves the
item documents into the stable STAC collection (its mosaic search stays), rollback moves them back."""

from __future__ import annotations

from typing import Any

import pytest

from catalog import selectors as catalog_selectors
from geoplatform import storage
from managed import services
from managed.models import SourceVersion, VersionStatus
from rasters.models import PendingItem
from tests.conftest import FIXTURES

from .conftest import run_update

PATH = "/tiles/lc.tif"


def _hrefs(collection_id: str) -> list[str]:
    ids = catalog_selectors.collection_item_ids_list(collection_id=collection_id)
    items = [catalog_selectors.item_get(collection_id=collection_id, item_id=i) for i in ids]
    return sorted(a["href"] for i in items if i for a in i["assets"].values() if a.get("roles") == ["data"])


@pytest.mark.django_db
def test_raster_collection_versions_swap_and_roll_back(source_server: Any, make_source: Any) -> None:
    body = (FIXTURES / "lc.tif").read_bytes()
    url = source_server.put(PATH, body)
    source = make_source(url, target_kind="raster_collection", collection_id="managed_tiles")
    first = run_update(source).version
    assert first.status == VersionStatus.LIVE, first.error
    assert first.counts == {"items": 1} and first.bbox
    assert catalog_selectors.item_get(collection_id="managed_tiles", item_id="lc") is not None
    assert not PendingItem.objects.filter(collection_id="managed_tiles__v1").exists()
    searches = catalog_selectors.collection_searches_list(collection_id="managed_tiles")
    assert searches  # the stable mosaic
    v1_hrefs = _hrefs("managed_tiles")
    assert v1_hrefs and all("managed_tiles__v1" in h for h in v1_hrefs)

    source_server.put(PATH, body + b"\0")  # new bytes, same raster (GDAL ignores the trailing byte)
    second = run_update(source).version
    assert second.status == VersionStatus.LIVE, second.error
    assert all("managed_tiles__v2" in h for h in _hrefs("managed_tiles"))
    assert PendingItem.objects.filter(collection_id="managed_tiles__v1").count() == 1  # kept for rollback
    assert catalog_selectors.collection_searches_list(collection_id="managed_tiles") == searches

    back = services.version_rollback(source=source)
    assert back.number == 1 and _hrefs("managed_tiles") == v1_hrefs
    assert SourceVersion.objects.get(source=source, number=2).status == VersionStatus.ROLLED_BACK
    silver = storage.zone_container("silver")
    assert storage.blob_list(silver, "rasters/managed_tiles__v2") == []  # the rolled-back COGs went

    services.source_delete(source=source)
    assert not catalog_selectors.collection_exists(collection_id="managed_tiles")
    assert storage.blob_list(silver, "rasters/managed_tiles__v1") == []
