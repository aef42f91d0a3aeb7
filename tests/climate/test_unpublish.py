"""unpublish_zarr in process: dry run lists, live run deletes, sources only when asked."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.selectors import item_get
from climate.models import ClimateDataset
from geoplatform.storage import blob_exists
from tests.climate.conftest import Uploader, run_ok

pytestmark = pytest.mark.django_db


def test_dry_run_then_delete_keeps_sources(virtualize: Any, upload: Uploader) -> None:
    _, files = upload.series()
    made = virtualize(files)
    c, i = made["collection_id"], made["item_id"]
    dry = run_ok("unpublish_zarr", {"collection_id": c, "item_id": i})
    assert dry["dry_run"] and dry["blobs"] == [made["references_blob"]] and dry["source_blobs"] == []
    assert item_get(collection_id=c, item_id=i) is not None
    live = run_ok("unpublish_zarr", {"collection_id": c, "item_id": i, "dry_run": False})
    assert live["blobs"] == [made["references_blob"]]
    assert item_get(collection_id=c, item_id=i) is None and not ClimateDataset.objects.filter(item_id=i).exists()
    assert all(blob_exists(upload.bronze, f) for f in files)
    again = run_ok("unpublish_zarr", {"collection_id": c, "item_id": i, "dry_run": False, "run_tag": "2"})
    assert again["blobs"] == [] and again["stac_items"] == []


def test_delete_sources_when_asked(virtualize: Any, upload: Uploader) -> None:
    _, files = upload.series()
    made = virtualize(files)
    dry = run_ok(
        "unpublish_zarr", {"collection_id": made["collection_id"], "item_id": made["item_id"], "delete_sources": True}
    )
    assert dry["source_blobs"] == files and all(blob_exists(upload.bronze, f) for f in files)
    run_ok(
        "unpublish_zarr",
        {"collection_id": made["collection_id"], "item_id": made["item_id"], "delete_sources": True, "dry_run": False},
    )
    assert not any(blob_exists(upload.bronze, f) for f in files)
