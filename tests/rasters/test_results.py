"""The raster jobs' results have exactly the keys rasters.results declares (publishing reads
them back as a release's outputs)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import get_type_hints

import pytest
from django.core.files.base import ContentFile

from geoplatform.storage import get_storage
from rasters import services
from rasters.results import (
    RasterCollectionJobResult,
    RasterCollectionUnpublishResult,
    RasterJobResult,
    RasterUnpublishResult,
)
from tests.rasters.conftest import run_job_inline

pytestmark = pytest.mark.django_db

RASTER_KEYS = set(get_type_hints(RasterJobResult))
COLLECTION_KEYS = set(get_type_hints(RasterCollectionJobResult))


def test_raster_job_results_match_their_type(upload: Callable[..., str], bronze: str) -> None:
    name = upload("lc.tif")
    item_id = f"t-{uuid.uuid4().hex[:10]}"
    params = {"container_name": bronze, "file_name": name, "item_id": item_id}
    try:
        _, reviewed, _ = run_job_inline("process_raster", {**params, "publish": False})
        assert set(reviewed) == RASTER_KEYS  # the item rides along for approval
        _, published, _ = run_job_inline("process_raster", {**params, "overwrite": True})
        assert set(published) == RASTER_KEYS - {"stac_item"}
    finally:
        gone = services.raster_unpublish(collection_id=services.SYSTEM_COLLECTION, item_id=item_id, dry_run=False)
        assert set(gone) == set(get_type_hints(RasterUnpublishResult))


def test_raster_collection_job_result_matches_its_type(upload: Callable[..., str], bronze: str) -> None:
    name = upload("lc.tif")
    manifest = f"tests/manifest-{uuid.uuid4().hex[:10]}.json"
    get_storage(bronze).save(manifest, ContentFile(json.dumps({"files": [name]}).encode()))
    collection_id = f"test-typed-{uuid.uuid4().hex[:8]}"
    params = {"container_name": bronze, "manifest": manifest, "collection_id": collection_id, "publish": False}
    try:
        _, result, _ = run_job_inline("process_raster_collection", params)
        assert set(result) == COLLECTION_KEYS  # the collection rides along for approval
    finally:
        get_storage(bronze).delete(manifest)
        gone = services.raster_collection_unpublish(collection_id=collection_id, dry_run=False)
        assert set(gone) == set(get_type_hints(RasterCollectionUnpublishResult))
