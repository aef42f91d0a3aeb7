"""process_raster through the API and a real worker; bad input leaves nothing behind."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from geoplatform import storage
from geoplatform.storage import get_storage, zone_container
from ingest import registry
from ingest.models import JobEvent
from rasters import services
from tests.conftest import FIXTURES, wait_for_job
from tests.rasters.conftest import run_job_inline


def _silver_blobs(collection_id: str, item_id: str) -> list[str]:
    return storage.blob_list(zone_container("silver"), services.item_prefix(collection_id, item_id))


def _item(collection_id: str, item_id: str) -> dict[str, Any] | None:
    from catalog.selectors import item_get

    return item_get(collection_id=collection_id, item_id=item_id)


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_process_raster_end_to_end(
    live_worker: Any, operator_client: Any, upload: Callable[..., str], bronze: str
) -> None:
    name = upload("natural_earth_1_downsampled_cog.tif")
    params = {
        "container_name": bronze,
        "file_name": name,
        "item_id": "e2e-ne",
        "output_tier": "all",
        "title": "Natural Earth",
        "metadata": {"ddh:dataset_id": "DS-42", "ddh:resource_id": "R-7"},
    }
    resp = operator_client.post("/api/jobs/submit/process_raster", {"parameters": params}, format="json")
    assert resp.status_code == 202, resp.content
    job = wait_for_job(resp.json()["job_id"], timeout=120)
    try:
        assert job.status == "completed", job.error
        result = job.result
        assert result["collection_id"] == "system-rasters" and result["item_id"] == "e2e-ne"
        assert result["stac_item_url"] == "/api/stac/collections/system-rasters/items/e2e-ne"
        assert sorted(result["tiers"]) == ["analysis", "archive", "visualization"]
        item = _item("system-rasters", "e2e-ne")
        assert item is not None and item["properties"]["ddh:resource_id"] == "R-7"
        assert item["properties"]["title"] == "Natural Earth"
        assert len(_silver_blobs("system-rasters", "e2e-ne")) == 3
        tile = operator_client.get(result["tile_url_template"].format(z=2, x=2, y=1))
        assert tile.status_code == 200 and tile["Content-Type"] == "image/png"

        # Same file again without overwrite: refused at submit (the item exists).
        again = operator_client.post(
            "/api/jobs/submit/process_raster", {"parameters": {**params, "title": "v2"}}, format="json"
        )
        assert again.status_code == 400 and "overwrite" in str(again.json()["details"])

        # unpublish: a dry run lists, a live run deletes, and a second live run is harmless.
        dry = operator_client.post(
            "/api/jobs/submit/unpublish_raster", {"parameters": {"item_id": "e2e-ne"}}, format="json"
        )
        dry_job = wait_for_job(dry.json()["job_id"], timeout=60)
        assert dry_job.status == "completed" and len(dry_job.result["blobs"]) == 3
        assert dry_job.result["stac_items"] == ["system-rasters/e2e-ne"] and _item("system-rasters", "e2e-ne")
        live = operator_client.post(
            "/api/jobs/submit/unpublish_raster", {"parameters": {"item_id": "e2e-ne", "dry_run": False}}, format="json"
        )
        assert wait_for_job(live.json()["job_id"], timeout=60).status == "completed"
        assert _item("system-rasters", "e2e-ne") is None and _silver_blobs("system-rasters", "e2e-ne") == []
    finally:
        services.raster_unpublish(collection_id="system-rasters", item_id="e2e-ne", dry_run=False)


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_corrupt_raster_fails_the_job_and_leaves_nothing(
    live_worker: Any, operator_client: Any, upload: Callable[..., str], bronze: str
) -> None:
    # Header intact (passes pre-flight), pixel data cut off: COG creation must fail.
    data = (FIXTURES / "natural_earth_1_downsampled_cog.tif").read_bytes()
    name = upload(content=data[: len(data) // 2])
    params = {"container_name": bronze, "file_name": name, "item_id": "e2e-broken", "output_tier": "all"}
    resp = operator_client.post("/api/jobs/submit/process_raster", {"parameters": params}, format="json")
    assert resp.status_code == 202, resp.content
    job = wait_for_job(resp.json()["job_id"], timeout=120)
    assert job.status == "failed"
    assert job.error["code"] == "cog_creation_failed" and "corrupt" in job.error["remediation"]
    assert job.error["stage"] == "cog"
    deadline = time.monotonic() + 30
    while not JobEvent.objects.filter(job_id=job.id, kind="cleaned_up").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert JobEvent.objects.filter(job_id=job.id, kind="cleaned_up").exists()
    assert _silver_blobs("system-rasters", "e2e-broken") == []
    assert _item("system-rasters", "e2e-broken") is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"not a tiff at all, just text", "not a readable GeoTIFF"),
    ],
)
def test_bad_files_are_refused_at_submit(
    operator_client: Any, upload: Callable[..., str], bronze: str, content: bytes, message: str
) -> None:
    name = upload(content=content)
    resp = operator_client.post(
        "/api/jobs/submit/process_raster", {"parameters": {"container_name": bronze, "file_name": name}}, format="json"
    )
    assert resp.status_code == 400, resp.content
    assert message in str(resp.json()["details"]["problems"])


@pytest.mark.django_db
def test_preflight_messages(
    operator_client: Any, upload: Callable[..., str], bronze: str, settings: Any, tmp_path: Any
) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    submit = lambda params: operator_client.post(  # noqa: E731
        "/api/jobs/submit/process_raster", {"parameters": params}, format="json"
    )
    missing = submit({"container_name": bronze, "file_name": "nope/missing.tif"})
    assert missing.status_code == 400 and "No file" in str(missing.json()["details"])
    other = submit({"container_name": "somebody-else", "file_name": "x.tif"})
    assert other.status_code == 400 and "bronze" in str(other.json()["details"])
    bad_tier = submit({"container_name": bronze, "file_name": "x.tif", "output_tier": "best"})
    assert bad_tier.status_code == 400

    # No CRS: refused unless a crs parameter is given.
    path = tmp_path / "nocrs.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint8", transform=from_origin(10, 50, 0.1, 0.1)
    ) as dst:
        dst.write(np.ones((1, 16, 16), dtype="uint8"))
    name = upload(content=path.read_bytes())
    no_crs = submit({"container_name": bronze, "file_name": name})
    assert no_crs.status_code == 400 and "no CRS" in str(no_crs.json()["details"])

    # A large file is processed by windows, which copy pixels: reprojecting it is refused up front.
    settings.GEOPLATFORM_RASTER_LARGE_BYTES = 1000
    large = submit({"container_name": bronze, "file_name": upload("lc.tif"), "crs": "EPSG:3857"})
    assert large.status_code == 400 and "does not reproject" in str(large.json()["details"])

    settings.GEOPLATFORM_RASTER_MAX_BYTES = 1000
    big = submit({"container_name": bronze, "file_name": upload("lc.tif")})
    assert big.status_code == 400 and "above the limit" in str(big.json()["details"])


@pytest.mark.django_db
def test_cleanup_removes_what_a_failed_run_wrote(bronze: str, upload: Callable[..., str]) -> None:
    """Stages that wrote COGs, then cleanup (as the engine calls it on failure): nothing stays."""
    jt = registry.get("process_raster")
    name = upload("olinda_dem_utm25s.tif")
    params = jt.clean_params(
        {"container_name": bronze, "file_name": name, "item_id": "cleanup-me", "output_tier": "all"}
    )
    job_id, _result, _ = run_job_inline("process_raster", params)
    assert len(_silver_blobs("system-rasters", "cleanup-me")) == 3 and _item("system-rasters", "cleanup-me")
    assert jt.cleanup is not None
    jt.cleanup(job_id, params)
    assert _silver_blobs("system-rasters", "cleanup-me") == []
    assert _item("system-rasters", "cleanup-me") is None
    jt.cleanup(job_id, params)  # idempotent


@pytest.mark.django_db
def test_overwrite_replaces_and_removes_the_old_run(bronze: str, upload: Callable[..., str]) -> None:
    first = {"container_name": bronze, "file_name": upload("lc.tif"), "item_id": "overwrite-me"}
    run_job_inline("process_raster", first)
    old_blobs = _silver_blobs("system-rasters", "overwrite-me")
    second = {**first, "file_name": upload("lc.tif"), "overwrite": True, "output_tier": "archive"}
    job_id, _, _ = run_job_inline("process_raster", second)
    try:
        new_blobs = _silver_blobs("system-rasters", "overwrite-me")
        assert len(new_blobs) == 1 and new_blobs[0].endswith(f"{job_id[:16]}/archive.tif")
        assert not set(old_blobs) & set(new_blobs)
        item = _item("system-rasters", "overwrite-me")
        assert item is not None and set(item["assets"]) == {"archive", "thumbnail"}
    finally:
        services.raster_unpublish(collection_id="system-rasters", item_id="overwrite-me", dry_run=False)
    assert get_storage(zone_container("silver")).exists(new_blobs[0]) is False


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_process_large_raster_by_windows(
    live_worker: Any, operator_client: Any, upload: Callable[..., str], bronze: str
) -> None:
    """A 349x352 6-band raster cut into 4 windows of 256 px on the long queue, stitched, identical pixels."""
    import numpy as np
    import rasterio

    from rasters.gdal import open_blob

    name = upload("L7_ETMs.tif")
    params = {
        "container_name": bronze,
        "file_name": name,
        "item_id": "e2e-large",
        "window_size": 256,
        "processing": "windows",
    }
    resp = operator_client.post("/api/jobs/submit/process_raster", {"parameters": params}, format="json")
    assert resp.status_code == 202, resp.content
    job = wait_for_job(resp.json()["job_id"], timeout=120)
    try:
        assert job.status == "completed", job.error
        from ingest.models import Stage, Task

        assert Stage.objects.get(job_id=job.id, name="prepare").tasks_total == 4
        queues = Task.objects.filter(job_id=job.id).values_list("stage__name", "queue")
        assert {stage: q for stage, q in queues if stage in ("prepare", "cog")} == {"prepare": "long", "cog": "long"}
        blobs = _silver_blobs("system-rasters", "e2e-large")
        assert len(blobs) == 1 and blobs[0].endswith("/analysis.tif")  # parts removed
        with open_blob(zone_container("silver"), blobs[0]) as out, rasterio.open(FIXTURES / "L7_ETMs.tif") as src:
            assert (out.width, out.height, out.count) == (src.width, src.height, src.count)
            assert out.transform.almost_equals(src.transform) and out.crs == src.crs
            np.testing.assert_array_equal(out.read(), src.read())
        assert "bidx=3,2,1" in job.result["tile_url_template"]
    finally:
        services.raster_unpublish(collection_id="system-rasters", item_id="e2e-large", dry_run=False)


@pytest.mark.django_db
def test_large_files_go_by_windows_without_being_asked(bronze: str, upload: Callable[..., str], settings: Any) -> None:
    """process_raster (as DDH submits it) on a file at/above the threshold: windows on the long queue."""
    from ingest.models import Task
    from ingest.services import job_submit
    from tests.ingest.inline import run_inline as run_submitted

    settings.GEOPLATFORM_RASTER_LARGE_BYTES = 1000
    small = upload("lc.tif")
    name = upload("L7_ETMs.tif")
    try:
        params = {"container_name": bronze, "file_name": name, "item_id": "auto-large", "window_size": 256}
        job = run_submitted(job_submit(job_type="process_raster", parameters=params).job.id)
        assert job.status == "completed", job.error
        tasks = list(Task.objects.filter(job_id=job.id).values_list("stage__name", "queue"))
        assert tasks.count(("prepare", "long")) == 4 and ("cog", "long") in tasks
        blobs = _silver_blobs("system-rasters", "auto-large")
        assert len(blobs) == 1 and blobs[0].endswith("/analysis.tif")  # parts removed

        # Below the threshold: one prepare task that does nothing, everything on the default queue.
        settings.GEOPLATFORM_RASTER_LARGE_BYTES = 10 * 1024**2
        params = {"container_name": bronze, "file_name": small, "item_id": "auto-small"}
        job = run_submitted(job_submit(job_type="process_raster", parameters=params).job.id)
        assert job.status == "completed", job.error
        tasks = list(Task.objects.filter(job_id=job.id).order_by("stage__index").values_list("stage__name", "queue"))
        assert tasks == [("validate", "default"), ("prepare", "default"), ("cog", "default"), ("register", "default")]
    finally:
        for item_id in ("auto-large", "auto-small"):
            services.raster_unpublish(collection_id="system-rasters", item_id=item_id, dry_run=False)
