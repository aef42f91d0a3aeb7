"""A worker killed with SIGKILL in the middle of a vector load chunk and of a COG conversion:
the janitor re-queues the task, a new worker finishes the job, and nothing is lost or doubled
(exact row count, unique ids; exactly the expected blobs in silver)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.db import connection

from geoplatform import storage
from geoplatform.storage import get_storage, zone_container
from ingest import janitor, services
from ingest.models import Job, JobEvent, Task
from rasters import services as raster_services
from tests.conftest import FIXTURES
from tests.faults.conftest import Stack, kill_at, redis_only, wait_until

ROWS, CHUNK = 250, 100


def _finish(job_id: str, timeout: float = 120) -> Job:
    """Run the janitor (this process, the janitor's own code) until the job has finished."""
    return wait_until(
        lambda: Job.objects.filter(pk=job_id, status__in=["completed", "failed", "cancelled"]).first(),
        timeout,
        f"job {job_id} to finish",
        tick=janitor.janitor_run,
    )


def _fast_janitor(settings: Any) -> None:
    # A killed worker's task is stale after 2 s without a heartbeat (beats every 0.5 s); its
    # prefetched messages, lost with it, are re-sent after 3 s.
    settings.GEOPLATFORM_TASK_STALE_SECONDS = 2.0
    settings.GEOPLATFORM_TASK_LOST_SECONDS = 3.0


@redis_only
def test_worker_killed_mid_vector_chunk(stack: Stack, fault_dir: Path, settings: Any) -> None:
    _fast_janitor(settings)
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [i / 10, i / 20]}, "properties": {"n": i}}
        for i in range(ROWS)
    ]
    name = "faults/kill-points.geojson"
    bronze = get_storage(zone_container("bronze"))
    if bronze.exists(name):
        bronze.delete(name)
    bronze.save(name, ContentFile(json.dumps({"type": "FeatureCollection", "features": features}).encode()))
    silver_before = set(get_storage(zone_container("silver")).listdir("")[1])
    job = services.job_submit(
        job_type="process_vector",
        parameters={"file_name": name, "table_name": "faults_kill_points", "chunk_rows": CHUNK, "overwrite": True},
    ).job
    try:
        # The doomed worker loads a chunk, commits its rows, and is killed before the task is recorded.
        held = kill_at(stack, fault_dir, "features.load_chunk.copied")
        stack.worker("worker")
        done = _finish(job.id)
        assert done.status == "completed", done.error
        with connection.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT id), count(DISTINCT n) FROM geo.faults_kill_points")
            assert cur.fetchone() == (ROWS, ROWS, ROWS)
        requeued = JobEvent.objects.filter(job_id=job.id, kind="task_requeued").values_list("task_id", flat=True)
        assert list(requeued) == [held]
        assert Task.objects.get(pk=held).attempts == 2  # the killed run counts as one attempt
        assert set(get_storage(zone_container("silver")).listdir("")[1]) == silver_before  # no blob written
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS geo.faults_kill_points")


@redis_only
def test_worker_killed_mid_cog_conversion(stack: Stack, fault_dir: Path, settings: Any) -> None:
    _fast_janitor(settings)
    name = "faults/kill-ne.tif"
    bronze = get_storage(zone_container("bronze"))
    if bronze.exists(name):
        bronze.delete(name)
    bronze.save(name, ContentFile((FIXTURES / "natural_earth_1_downsampled_cog.tif").read_bytes()))
    item = "faults-kill-ne"
    job = services.job_submit(
        job_type="process_raster",
        parameters={
            "container_name": zone_container("bronze"),
            "file_name": name,
            "item_id": item,
            "output_tier": "all",
            "overwrite": True,
        },
    ).job
    try:
        # The doomed worker writes one tier's COG to silver and is killed before the task is recorded.
        held = kill_at(stack, fault_dir, "rasters.cog.stored")
        stack.worker("worker")
        done = _finish(job.id)
        assert done.status == "completed", done.error
        requeued = JobEvent.objects.filter(job_id=job.id, kind="task_requeued").values_list("task_id", flat=True)
        assert list(requeued) == [held]
        blobs = storage.blob_list(zone_container("silver"), raster_services.item_prefix("system-rasters", item))
        prefix = raster_services.run_prefix("system-rasters", item, job.id)
        assert sorted(blobs) == [f"{prefix}/{tier}.tif" for tier in ("analysis", "archive", "visualization")]
    finally:
        raster_services.raster_unpublish(collection_id="system-rasters", item_id=item, dry_run=False)
