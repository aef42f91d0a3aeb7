"""Raster fixtures: files in the bronze container, and items published without a worker.

``publish`` runs process_raster in this process with the engine's own functions
(``tests.ingest.inline``: same TaskContext, fan-out and fan-in, earlier stages' results),
so API tests stay fast; the worker path is covered by test_e2e.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files import File

from geoplatform.storage import get_storage, zone_container
from ingest import messages
from ingest.models import Job, JobStatus
from rasters import selectors, services
from tests.conftest import FIXTURES
from tests.ingest.inline import submit_inline


@pytest.fixture
def bronze() -> str:
    return zone_container("bronze")


@pytest.fixture
def upload(bronze: str) -> Iterator[Callable[..., str]]:
    """Copy a fixture (or raw bytes) into the bronze container under a unique name."""
    names: list[str] = []

    def _upload(fixture: str | None = None, *, content: bytes | None = None, suffix: str = ".tif") -> str:
        name = f"tests/{uuid.uuid4().hex[:10]}-{fixture or 'raw' + suffix}"
        storage = get_storage(bronze)
        if content is not None:
            from django.core.files.base import ContentFile

            storage.save(name, ContentFile(content))
        else:
            with open(FIXTURES / str(fixture), "rb") as fh:
                storage.save(name, File(fh, name=name))
        names.append(name)
        return name

    yield _upload
    storage = get_storage(bronze)
    for name in names:
        storage.delete(name)


def run_job_inline(job_type: str, parameters: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """(job_id, result, warnings) of a job submitted and run stage by stage in this process by
    the engine's own functions (see tests/ingest/inline.py)."""
    # Also used by the session fixture below, set up before the autouse fixture that keeps
    # task messages off the broker: keep them off here too.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(messages, "task_messages_send", lambda *args, **kwargs: None)
        job = submit_inline(job_type, parameters)
    assert job.status == JobStatus.COMPLETED, job.error
    return job.id, job.result or {}, list(job.warnings)


def _upload_fixture(fixture: str) -> str:
    bronze = zone_container("bronze")
    name = f"tests/{uuid.uuid4().hex[:10]}-{fixture}"
    with open(FIXTURES / fixture, "rb") as fh:
        get_storage(bronze).save(name, File(fh, name=name))
    return name


def _publisher(*, keep_jobs: bool = True) -> tuple[Callable[..., dict[str, Any]], Callable[[], None]]:
    """``keep_jobs=False``: the job rows are deleted once the item is published (committed
    session items must leave no jobs behind for tests that count them)."""
    published: list[tuple[str, str]] = []
    uploaded: list[str] = []

    def _publish(fixture: str, **params: Any) -> dict[str, Any]:
        name = _upload_fixture(fixture)
        uploaded.append(name)
        params.setdefault("item_id", f"t-{uuid.uuid4().hex[:10]}")
        bronze = zone_container("bronze")
        job_id, result, warnings = run_job_inline(
            "process_raster", {"container_name": bronze, "file_name": name, **params}
        )
        if not keep_jobs:
            Job.objects.filter(pk=job_id).delete()
        published.append((result["collection_id"], result["item_id"]))
        return {**result, "warnings": warnings}

    def _cleanup() -> None:
        for collection_id, item_id in published:
            services.raster_unpublish(collection_id=collection_id, item_id=item_id, dry_run=False)
        storage = get_storage(zone_container("bronze"))
        for name in uploaded:
            storage.delete(name)
        selectors.item_cache_clear()

    return _publish, _cleanup


@pytest.fixture
def publish(db: Any) -> Iterator[Callable[..., dict[str, Any]]]:
    """Publish inside the test's transaction (rolled back); blobs removed afterwards."""
    selectors.item_cache_clear()
    _publish, _cleanup = _publisher()
    yield _publish
    _cleanup()


@pytest.fixture(scope="session")
def published(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, dict[str, Any]]]:
    """Items published once per session, committed (read-only tests share them)."""
    with django_db_blocker.unblock():
        selectors.item_cache_clear()
        _publish, _cleanup = _publisher(keep_jobs=False)
        items = {
            "dem": _publish("olinda_dem_utm25s.tif"),
            "rgb": _publish(
                "natural_earth_1_downsampled_cog.tif", output_tier="all", metadata={"ddh:dataset_id": "DS-1"}
            ),
            "lc": _publish("lc.tif"),
            "l7": _publish("L7_ETMs.tif"),
        }
    yield items
    with django_db_blocker.unblock():
        _cleanup()
