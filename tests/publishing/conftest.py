"""Test-only job types standing in for the domain apps, and helpers to run jobs in-process.

Publishing submits job types by name; tests point its kinds (publishing.kinds) at these small
job types (through the real ingest engine), so they never depend on features/rasters.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from ingest import registry
from ingest.errors import PermanentError
from tests.ingest.inline import run_inline

VECTOR_PARAMS = [
    registry.Param("container_name", str, required=True),
    registry.Param("file_name", str, required=True),
    registry.Param("table_name", str, required=True),
    *[
        registry.Param(name, str)
        for name in (
            "layer_name",
            "lat_column",
            "lon_column",
            "wkt_column",
            "crs",
            "temporal_property",
            "title",
            "description",
        )
    ],
    registry.Param("create_stac", bool, default=False),
    registry.Param("overwrite", bool, default=False),
    registry.Param("publish", bool, default=True),
]
RASTER_PARAMS = [
    registry.Param("container_name", str, required=True),
    registry.Param("file_name", str, required=True),
    registry.Param("collection_id", str, required=True),
    registry.Param("item_id", str, required=True),
    registry.Param("output_tier", str, default="analysis", choices=("visualization", "analysis", "archive", "all")),
    registry.Param("raster_type", str, default="auto"),
    registry.Param("crs", str),
    registry.Param("overwrite", bool, default=False),
    registry.Param("title", str),
    registry.Param("description", str),
    registry.Param("metadata", dict),
    registry.Param("publish", bool, default=True),
]


def _vector(ctx: registry.TaskContext) -> dict[str, Any]:
    if ctx.params["file_name"].startswith("broken"):
        raise PermanentError("The file has no geometry column.", code="no_geometry", remediation="Give wkt_column.")
    if ctx.params["file_name"].startswith("warn"):
        ctx.warn("3 rows without geometry were skipped")
    # The metadata row the real process_vector writes (the data itself is not loaded):
    # approval and revoke show and hide it through the features app.
    from features.models import VectorDataset

    VectorDataset.objects.update_or_create(
        collection_id=ctx.params["table_name"],
        defaults={"geometry_type": "MultiPoint", "feature_count": 3, "published": ctx.params["publish"]},
    )
    result: dict[str, Any] = {"table_name": ctx.params["table_name"], "feature_count": 3}
    if ctx.params["file_name"].startswith("export"):  # a processed artifact in the silver zone
        from django.core.files.base import ContentFile

        from geoplatform.storage import zone_storage

        name = f"exports/{ctx.params['table_name']}.parquet"
        zone_storage("silver").save(name, ContentFile(b"PAR1" + ctx.params["table_name"].encode() * 100))
        result["silver_blobs"] = [name]
    return result


def _raster(ctx: registry.TaskContext) -> dict[str, Any]:
    p = ctx.params
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": p["item_id"],
        "collection": p["collection_id"],
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "assets": {"data": {"href": f"silver/{p['item_id']}.tif", "type": "image/tiff"}},
        "links": [],
    }
    if p["file_name"].startswith("nostac"):
        return {"cog_blob": f"{p['item_id']}.tif"}
    return {"cog_blob": f"{p['item_id']}.tif", "stac_item": item, "output_tier": p["output_tier"]}


def _first(ctx: registry.FinalizeContext) -> dict[str, Any]:
    return dict(ctx.stage_results[0][0])


def _noop(ctx: registry.TaskContext) -> dict[str, Any]:
    return {"deleted": True}


registry.register(
    registry.JobType("test_process_vector", [registry.Stage("load", _vector)], params=VECTOR_PARAMS, finalize=_first)
)
registry.register(
    registry.JobType("test_process_raster", [registry.Stage("cog", _raster)], params=RASTER_PARAMS, finalize=_first)
)
registry.register(
    registry.JobType(
        "test_unpublish_vector",
        [registry.Stage("drop", _noop)],
        params=[registry.Param("collection_id", str, required=True), registry.Param("dry_run", bool, default=True)],
    )
)
registry.register(
    registry.JobType(
        "test_unpublish_raster",
        [registry.Stage("drop", _noop)],
        params=[
            registry.Param("collection_id", str, required=True),
            registry.Param("item_id", str),
            registry.Param("dry_run", bool, default=True),
        ],
    )
)


def use_job_types(monkeypatch: pytest.MonkeyPatch, data_type: str, process: str = "", unpublish: str = "") -> None:
    """Point a kind's processing / unpublish job type at another job type for one test."""
    from publishing import kinds

    kind = kinds.KINDS[data_type]
    monkeypatch.setitem(
        kinds.KINDS,
        data_type,
        dataclasses.replace(
            kind,
            process_job_type=process or kind.process_job_type,
            unpublish_job_type=unpublish or kind.unpublish_job_type,
        ),
    )


@pytest.fixture(autouse=True)
def test_job_types(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    if "live_worker" in request.fixturenames:
        return  # end-to-end through the real worker with the real job types

    use_job_types(monkeypatch, "vector", "test_process_vector", "test_unpublish_vector")
    use_job_types(monkeypatch, "raster", "test_process_raster", "test_unpublish_raster")
    use_job_types(monkeypatch, "raster_collection", "test_missing_collection_job")
    use_job_types(monkeypatch, "zarr", "test_missing_zarr_job")  # the climate app is tested in tests/climate


# Run a job's tasks in this process with the real engine, stage after stage.
run_job = run_inline


@pytest.fixture
def ddh(db: Any) -> Any:
    """DDH's service account: a token in the platform-clients group (submit + review)."""
    from django.contrib.auth.models import Group

    from ingest.accounts import service_account_ensure
    from publishing.models import Platform
    from publishing.signals import PLATFORM_CLIENT_GROUP, groups_ensure

    groups_ensure()
    # Transactional tests flush the tables, seeded rows included: recreate what the data migration made.
    Platform.objects.get_or_create(code="ddh", defaults={"name": "Data Hub (DDH)"})
    account = service_account_ensure(name="ddh-test")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="ddh-test")
    user.groups.add(Group.objects.get(name=PLATFORM_CLIENT_GROUP))
    return user, account.token


@pytest.fixture
def ddh_client(ddh: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ddh[1]}")
    return client


@pytest.fixture
def ddh_user(ddh: Any) -> Any:
    return ddh[0]


def submit_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataset_id": "ds-1",
        "resource_id": "res-1",
        "container_name": "pub-bronze",
        "file_name": "points.geojson",
        "title": "Points",
    }
    body.update(overrides)
    return body


def poll_status(client: APIClient, url: str, timeout: float = 120) -> dict[str, Any]:
    """Poll a DDH status URL the way DDH does, until it stops answering 202 (with Retry-After)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = client.get(url)
        if resp.status_code != 202:
            assert resp.status_code == 200, resp.json()
            return dict(resp.json())
        assert int(resp["Retry-After"]) > 0
        time.sleep(0.3)
    raise AssertionError(f"{url} still processing after {timeout}s")
