"""A NetCDF series through the platform like any release: submit -> virtualize_climate ->
pending (previewable, not public) -> approve (public) -> external copy whose references read
the external zone -> revoke -> unpublish."""

from __future__ import annotations

import json
from typing import Any

import pytest
import xarray as xr

from catalog import selectors as catalog_selectors
from climate import datasets, gpstore, services
from climate.errors import DatasetNotFound
from geoplatform import storage
from geoplatform.storage import get_storage, zone_container
from tests.climate.conftest import Uploader, remove_dataset
from tests.ingest.inline import run_inline

pytestmark = pytest.mark.django_db

ITEM = "it-tas-v1"


def _external_blobs() -> list[str]:
    return storage.blob_list(zone_container("external"), services.item_prefix("system-zarr", ITEM))


def test_release_cycle(ddh_client: Any, upload: Uploader) -> None:
    _, files = upload.series()
    body = {"dataset_id": "it", "resource_id": "tas", "container_name": upload.bronze, "file_name": files}
    r = ddh_client.post("/api/platform/submit", body, format="json")
    assert r.status_code == 202, r.json()
    try:
        job = run_inline(r.json()["job_id"])
        assert job.status == "completed", job.error
        assert job.parameters["files"] == files and job.parameters["publish"] is False
        # Awaiting review: not public, previewable.
        assert catalog_selectors.item_get(collection_id="system-zarr", item_id=ITEM) is None
        with pytest.raises(DatasetNotFound):
            datasets.dataset_open("system-zarr", ITEM)
        assert datasets.dataset_open("system-zarr", ITEM, include_pending=True).sizes["time"] == 60

        r = ddh_client.post(
            "/api/platform/approve", {"job_id": job.id, "reviewer": "alice", "clearance_state": "public"}, format="json"
        )
        assert r.status_code == 200, r.json()
        assert r.json()["services"]["stac_item"].endswith(f"/api/stac/collections/system-zarr/items/{ITEM}")
        assert r.json()["services"]["preview"].endswith(f"/api/xarray/system-zarr/{ITEM}/viewer")
        assert catalog_selectors.item_get(collection_id="system-zarr", item_id=ITEM) is not None
        datasets.dataset_cache_clear()
        assert datasets.dataset_open("system-zarr", ITEM).sizes["time"] == 60

        status = ddh_client.get(f"/api/platform/status/{job.id}").json()
        external = run_inline(status["external"]["job_id"])
        assert external.status == "completed", external.error
        copied = _external_blobs()
        assert len(copied) == 7 and any(b.endswith("public/refs.json") for b in copied)
        # The external references read the external copies only.
        ext = zone_container("external")
        refs_name = next(b for b in copied if b.endswith("refs.json"))
        with get_storage(ext).open(refs_name, "rb") as fh:
            refs = json.load(fh)
        urls = {v[0] for v in refs["refs"].values() if isinstance(v, list)}
        assert urls and all(u.startswith(f"gpstore://{ext}/") for u in urls)
        ds = xr.open_dataset(
            "reference://",
            engine="zarr",
            backend_kwargs={
                "consolidated": False,
                "storage_options": {"fo": refs, "remote_protocol": gpstore.PROTOCOL},
            },
            decode_times=False,
        )
        assert float(ds.tas.isel(time=59, latitude=3, longitude=3)) > 200

        r = ddh_client.post(
            "/api/platform/revoke", {"job_id": job.id, "reviewer": "bob", "reason": "test"}, format="json"
        )
        assert r.status_code == 200, r.json()
        assert catalog_selectors.item_get(collection_id="system-zarr", item_id=ITEM) is None
        removal = ddh_client.get(f"/api/platform/status/{job.id}").json()["external"].get("job_id")
        if removal:
            run_inline(removal)
        assert _external_blobs() == []

        r = ddh_client.post(
            "/api/platform/unpublish", {"job_id": job.id, "dry_run": False, "force_approved": True}, format="json"
        )
        assert r.status_code == 202, r.json()
        assert run_inline(r.json()["job_id"]).status == "completed"
        assert storage.blob_list(zone_container("silver"), services.item_prefix("system-zarr", ITEM)) == []
    finally:
        remove_dataset("system-zarr", ITEM)
        services.climate_unpublish(collection_id="system-zarr", item_id=ITEM, dry_run=False)
        for name in _external_blobs():
            get_storage(zone_container("external")).delete(name)


def test_unsupported_submissions_are_400(ddh_client: Any, upload: Uploader) -> None:
    _, files = upload.series()
    base = {"dataset_id": "it", "resource_id": "bad", "container_name": upload.bronze, "file_name": files}
    r = ddh_client.post("/api/platform/submit", {**base, "processing_options": {"chunks": {"time": 10}}}, format="json")
    assert r.status_code == 400 and "chunks" in json.dumps(r.json())
    no_file = {k: v for k, v in base.items() if k != "file_name"}
    r = ddh_client.post("/api/platform/submit", {**no_file, "source_url": "https://example.org/x.zarr"}, format="json")
    assert r.status_code == 400 and "source_url" in json.dumps(r.json())
    r = ddh_client.post("/api/platform/submit", {**base, "processing_options": {"tile_size": 5}}, format="json")
    assert r.status_code == 400 and "tile_size" in json.dumps(r.json())
    r = ddh_client.post("/api/platform/submit", {**base, "file_name": [*files, "tests/missing.nc"]}, format="json")
    assert r.status_code == 400 and "missing.nc" in json.dumps(r.json())


def test_reviewers_and_platform_clients_may_preview_pending_datasets(ddh_client: Any) -> None:
    from django.contrib.auth.models import Group

    from publishing.signals import PLATFORM_CLIENT_GROUP, REVIEWER_GROUP

    for name in (PLATFORM_CLIENT_GROUP, REVIEWER_GROUP):
        codenames = set(Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename"))
        assert ("climate", "preview_unpublished") in codenames
