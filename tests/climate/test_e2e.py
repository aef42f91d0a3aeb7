"""virtualize_climate through the API and a real worker: references only in silver, the
dataset readable at once, unpublish (dry run, then real; sources kept)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from climate import datasets, services
from geoplatform import storage
from geoplatform.storage import blob_exists, blob_size, zone_container
from tests.climate.conftest import Uploader, remove_dataset
from tests.conftest import wait_for_job


def _silver(collection_id: str, item_id: str) -> list[str]:
    return storage.blob_list(zone_container("silver"), services.item_prefix(collection_id, item_id))


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_virtualize_end_to_end(live_worker: Any, operator_client: Any, upload: Uploader) -> None:
    prefix, files = upload.series()
    item_id = f"e2e-{uuid.uuid4().hex[:8]}"
    params = {"container_name": upload.bronze, "prefix": prefix, "file_pattern": "tas_*.nc", "item_id": item_id}
    resp = operator_client.post("/api/jobs/submit/virtualize_climate", {"parameters": params}, format="json")
    assert resp.status_code == 202, resp.content
    try:
        job = wait_for_job(resp.json()["job_id"], timeout=120)
        assert job.status == "completed", job.error
        result = job.result
        assert result["files"] == 6 and result["variables"] == ["tas"]
        # The silver zone holds the references only: one small JSON, far below the sources' size.
        silver = _silver("system-zarr", item_id)
        assert silver == [result["references_blob"]]
        refs_size = blob_size(zone_container("silver"), silver[0])
        sources_size = sum(blob_size(upload.bronze, f) for f in files)
        assert refs_size < 64 * 1024 and refs_size < sources_size / 20
        datasets.dataset_cache_clear()
        ds = datasets.dataset_open("system-zarr", item_id)
        assert ds.sizes["time"] == 60 and float(ds.tas.isel(time=0, latitude=0, longitude=0)) > 200

        again = operator_client.post(
            "/api/jobs/submit/virtualize_climate", {"parameters": {**params, "title": "v2"}}, format="json"
        )
        assert again.status_code == 400 and "overwrite" in str(again.json()["details"])

        dry = operator_client.post(
            "/api/jobs/submit/unpublish_zarr", {"parameters": {"item_id": item_id}}, format="json"
        )
        dry_job = wait_for_job(dry.json()["job_id"], timeout=60)
        assert dry_job.status == "completed" and dry_job.result["blobs"] == silver
        assert dry_job.result["stac_items"] == [f"system-zarr/{item_id}"] and _silver("system-zarr", item_id)
        live = operator_client.post(
            "/api/jobs/submit/unpublish_zarr", {"parameters": {"item_id": item_id, "dry_run": False}}, format="json"
        )
        assert wait_for_job(live.json()["job_id"], timeout=60).status == "completed"
        assert _silver("system-zarr", item_id) == []
        assert all(blob_exists(upload.bronze, f) for f in files)  # sources never deleted unless asked
    finally:
        remove_dataset("system-zarr", item_id)
        services.climate_unpublish(collection_id="system-zarr", item_id=item_id, dry_run=False)
