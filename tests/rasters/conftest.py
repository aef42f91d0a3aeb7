"""Raster fixtures: files in the bronze container, and items published without a worker.

``publish`` runs the process_raster stage handlers in this process, in order, exactly as
the engine would (same TaskContext, same fan-out), so API tests stay fast; the worker
path is covered by test_e2e.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files import File

from geoplatform.storage import get_storage, zone_container
from ingest import registry
from ingest.services import job_id_for
from rasters import selectors, services
from tests.conftest import FIXTURES


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
    """(job_id, result, warnings) of a job run stage by stage in this process."""
    jt = registry.get(job_type)
    params = jt.clean_params(parameters)
    problems = [p for v in jt.validators for p in v(params)]
    assert not problems, problems
    job_id = job_id_for(job_type, params)
    previous: list[dict[str, Any]] = []
    all_results: list[list[dict[str, Any]]] = []
    warnings: list[str] = []
    for index, stage in enumerate(jt.stages):
        results = []
        for unit, task_params in enumerate(stage.tasks(params, previous)):
            ctx = registry.TaskContext(
                job_id=job_id,
                task_id=f"{job_id}:{index}:{unit}",
                stage_index=index,
                stage_name=stage.name,
                params=params,
                task_params=task_params,
                attempt=1,
                load_previous=lambda prev=previous: prev,
            )
            results.append(stage.handler(ctx) or {})
            warnings.extend(ctx.warnings)
        all_results.append(results)
        previous = results
    assert jt.finalize is not None
    result = jt.finalize(registry.FinalizeContext(job_id=job_id, params=params, stage_results=all_results))
    return job_id, result, warnings


def _upload_fixture(fixture: str) -> str:
    bronze = zone_container("bronze")
    name = f"tests/{uuid.uuid4().hex[:10]}-{fixture}"
    with open(FIXTURES / fixture, "rb") as fh:
        get_storage(bronze).save(name, File(fh, name=name))
    return name


def _publisher() -> tuple[Callable[..., dict[str, Any]], Callable[[], None]]:
    published: list[tuple[str, str]] = []
    uploaded: list[str] = []

    def _publish(fixture: str, **params: Any) -> dict[str, Any]:
        name = _upload_fixture(fixture)
        uploaded.append(name)
        params.setdefault("item_id", f"t-{uuid.uuid4().hex[:10]}")
        bronze = zone_container("bronze")
        _, result, warnings = run_job_inline("process_raster", {"container_name": bronze, "file_name": name, **params})
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
        _publish, _cleanup = _publisher()
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
