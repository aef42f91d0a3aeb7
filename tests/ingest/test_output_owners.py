"""One token may not destroy another client's data through the generic job API.

Every service account holds ``ingest.submit_job``. Before this rule any of them could, through
``POST /api/jobs/submit``, delete (``unpublish_*``) or replace (``process_*`` with
``overwrite=true``) a table or STAC item that another client had loaded outside a release.
Now an existing output is replaced or deleted there only by the account that submitted the
job that made it, or by an operator holding ``ingest.override_submit_guards``. Joining the
same job later (same type and parameters) lets a client read it, not destroy its outputs.
Data is loaded through the real API and its jobs run in this process with the real engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files import File
from rest_framework.test import APIClient

from catalog import selectors as catalog_selectors
from features import sql
from features.models import VectorDataset
from geoplatform.storage import zone_container, zone_storage
from ingest.accounts import service_account_ensure
from ingest.models import Job, Task, TaskStatus
from rasters import services as raster_services
from rasters.models import PendingItem
from tests.ingest.inline import run_inline

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SYSTEM_RASTERS = raster_services.SYSTEM_COLLECTION


def _client(name: str, *perms: str) -> APIClient:
    account = service_account_ensure(name=name)
    if perms:
        user = get_user_model().objects.get(username=name)
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="ingest", codename__in=perms))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {account.token}")
    return client


@pytest.fixture
def client_a(db: Any) -> APIClient:
    return _client("owner-a")


@pytest.fixture
def client_b(db: Any) -> APIClient:
    return _client("other-b")


@pytest.fixture
def operator(db: Any) -> APIClient:
    return _client("operator-o", "override_submit_guards")


_run = run_inline


def _submit(client: APIClient, job_type: str, parameters: dict[str, Any]) -> Any:
    return client.post(f"/api/jobs/submit/{job_type}", {"parameters": parameters}, format="json")


def _done(client: APIClient, job_type: str, parameters: dict[str, Any]) -> Job:
    resp = _submit(client, job_type, parameters)
    assert resp.status_code in (200, 202), resp.content
    job = _run(resp.json()["job_id"])
    assert job.status == "completed", job.error
    return job


def _not_owner(resp: Any, name: str) -> None:
    assert resp.status_code == 403, resp.content
    body = resp.json()
    assert body["code"] == "not_output_owner", body
    message = body["message"]
    # who may do it and how
    assert name in message and "'ingest.override_submit_guards'" in message, message
    assert "own token" in message and "/api/platform/" in message, message


@pytest.fixture
def uploaded() -> Iterator[Callable[[str], str]]:
    storage = zone_storage("bronze")
    names: list[str] = []

    def put(fixture: str) -> str:
        with open(FIXTURES / fixture, "rb") as fh:
            names.append(storage.save(f"owners/{uuid.uuid4().hex[:8]}-{Path(fixture).name}", File(fh)))
        return names[-1]

    yield put
    for name in names:
        storage.delete(name)


@pytest.fixture
def vector(uploaded: Callable[[str], str]) -> Iterator[dict[str, Any]]:
    """Parameters of a hidden (preview-only) CSV load into a fresh table; the table goes after."""
    table = f"owned_{uuid.uuid4().hex[:8]}"
    yield {
        "container_name": zone_container("bronze"),
        "file_name": uploaded("features/airports.csv"),
        "lat_column": "Latitude",
        "lon_column": "Longitude",
        "table_name": table,
        "publish": False,
    }
    from features.services import dataset_unpublish

    dataset_unpublish(collection_id=table, dry_run=False)


def test_another_client_cannot_overwrite_or_unpublish_a_vector_table(
    client_a: APIClient, client_b: APIClient, vector: dict[str, Any]
) -> None:
    table = vector["table_name"]
    made = _done(client_a, "process_vector", vector)  # a first load to a new name is free
    jobs_before = Job.objects.count()

    _not_owner(_submit(client_b, "process_vector", {**vector, "overwrite": True}), table)
    _not_owner(_submit(client_b, "unpublish_vector", {"collection_id": table, "dry_run": False}), table)

    assert Job.objects.count() == jobs_before  # nothing started
    assert sql.table_exists(table)
    assert VectorDataset.objects.get(pk=table).job_id == made.id
    # A dry run only reports: anyone may ask.
    assert _submit(client_b, "unpublish_vector", {"collection_id": table, "dry_run": True}).status_code == 202


def test_the_owner_overwrites_and_unpublishes_its_own_vector_table(client_a: APIClient, vector: dict[str, Any]) -> None:
    table = vector["table_name"]
    _done(client_a, "process_vector", vector)
    again = _done(client_a, "process_vector", {**vector, "overwrite": True})
    assert VectorDataset.objects.get(pk=table).job_id == again.id
    _done(client_a, "unpublish_vector", {"collection_id": table, "dry_run": False})
    assert not sql.table_exists(table) and not VectorDataset.objects.filter(pk=table).exists()


def test_a_client_that_joined_the_load_may_read_it_but_not_replace_it(
    client_a: APIClient, client_b: APIClient, vector: dict[str, Any]
) -> None:
    """Anyone who can guess a load's parameters can join it (the job id is their hash):
    joining gives the job to read and a callback, never the right to destroy the data."""
    done = _done(client_a, "process_vector", vector)
    joined = _submit(client_b, "process_vector", vector)
    assert joined.status_code == 200 and joined.json()["joined"] is True, joined.content
    assert client_b.get(f"/api/jobs/status/{done.id}").status_code == 200
    refused = _submit(client_b, "process_vector", {**vector, "overwrite": True})
    assert refused.status_code == 403 and refused.json()["code"] == "not_output_owner", refused.content
    assert (
        _submit(client_b, "unpublish_vector", {"collection_id": vector["table_name"], "dry_run": False}).status_code
        == 403
    )
    assert VectorDataset.objects.get(pk=vector["table_name"]).job_id == done.id


def test_an_operator_may_replace_anyone_s_table(
    client_a: APIClient, operator: APIClient, vector: dict[str, Any]
) -> None:
    _done(client_a, "process_vector", vector)
    replaced = _done(operator, "process_vector", {**vector, "overwrite": True})
    assert VectorDataset.objects.get(pk=vector["table_name"]).job_id == replaced.id


def test_a_table_no_job_made_is_only_an_operator_s(client_b: APIClient, operator: APIClient) -> None:
    """A table loaded by hand (no metadata row, no job) has no client owner."""
    table = f"by_hand_{uuid.uuid4().hex[:8]}"
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f'CREATE TABLE {sql.SCHEMA}."{table}" (id int)')
    _not_owner(_submit(client_b, "unpublish_vector", {"collection_id": table, "dry_run": False}), table)
    assert sql.table_exists(table)
    assert _submit(operator, "unpublish_vector", {"collection_id": table, "dry_run": False}).status_code == 202


def test_overwrite_to_a_new_name_is_a_first_load(client_b: APIClient) -> None:
    """Nothing exists yet: nothing to protect (pre-flight decides the rest)."""
    name = f"fresh_{uuid.uuid4().hex[:8]}"
    params = {"file_name": "missing.csv", "table_name": name, "overwrite": True, "publish": False}
    resp = _submit(client_b, "process_vector", params)
    assert resp.status_code == 400 and resp.json()["code"] == "preflight_failed", resp.content
    item = {"collection_id": SYSTEM_RASTERS, "item_id": name, "dry_run": False}
    assert _submit(client_b, "unpublish_raster", item).status_code == 202


def _raster(uploaded: Callable[[str], str], item_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "container_name": zone_container("bronze"),
        "file_name": uploaded("lc.tif"),
        "item_id": item_id,
        **extra,
    }


@pytest.fixture
def item_id() -> Iterator[str]:
    item = f"owned-{uuid.uuid4().hex[:8]}"
    yield item
    raster_services.raster_unpublish(collection_id=SYSTEM_RASTERS, item_id=item, dry_run=False)


def test_another_client_cannot_overwrite_or_unpublish_a_raster_item(
    client_a: APIClient, client_b: APIClient, operator: APIClient, uploaded: Callable[[str], str], item_id: str
) -> None:
    """The STAC item names its job (``geoplatform:job_id``); A may publish at once here."""
    Permission.objects.get(codename="publish_without_review").user_set.add(
        get_user_model().objects.get(username="owner-a")
    )
    params = _raster(uploaded, item_id)
    made = _done(client_a, "process_raster", params)
    item = catalog_selectors.item_get(collection_id=SYSTEM_RASTERS, item_id=item_id)
    assert item is not None and item["properties"]["geoplatform:job_id"] == made.id

    target = f"{SYSTEM_RASTERS}/{item_id}"
    _not_owner(_submit(client_b, "process_raster", {**params, "overwrite": True, "publish": False}), target)
    unpublish = {"collection_id": SYSTEM_RASTERS, "item_id": item_id, "dry_run": False}
    _not_owner(_submit(client_b, "unpublish_raster", unpublish), target)
    assert catalog_selectors.item_get(collection_id=SYSTEM_RASTERS, item_id=item_id) == item

    # The owner may; so may an operator.
    assert _submit(client_a, "process_raster", {**params, "overwrite": True}).status_code == 202
    assert _submit(operator, "unpublish_raster", {**unpublish, "run_tag": "op"}).status_code == 202
    _done(client_a, "unpublish_raster", unpublish)
    assert catalog_selectors.item_get(collection_id=SYSTEM_RASTERS, item_id=item_id) is None


def test_a_raster_item_awaiting_review_is_its_loader_s(
    client_a: APIClient, client_b: APIClient, uploaded: Callable[[str], str], item_id: str
) -> None:
    """A hidden load (publish=false) keeps its item as a PendingItem that names its job."""
    params = _raster(uploaded, item_id, publish=False)
    made = _done(client_a, "process_raster", params)
    assert PendingItem.objects.get(collection_id=SYSTEM_RASTERS, item_id=item_id).job_id == made.id
    unpublish = {"collection_id": SYSTEM_RASTERS, "item_id": item_id, "dry_run": False}
    _not_owner(_submit(client_b, "unpublish_raster", unpublish), f"{SYSTEM_RASTERS}/{item_id}")
    _not_owner(_submit(client_b, "process_raster", {**params, "overwrite": True}), f"{SYSTEM_RASTERS}/{item_id}")
    assert PendingItem.objects.filter(collection_id=SYSTEM_RASTERS, item_id=item_id).exists()
    _done(client_a, "unpublish_raster", unpublish)
    assert not PendingItem.objects.filter(collection_id=SYSTEM_RASTERS, item_id=item_id).exists()


def test_another_client_cannot_unpublish_a_raster_collection(
    client_a: APIClient, client_b: APIClient, uploaded: Callable[[str], str]
) -> None:
    collection = f"owned-col-{uuid.uuid4().hex[:8]}"
    params = {
        "container_name": zone_container("bronze"),
        "files": [uploaded("lc.tif")],
        "collection_id": collection,
        "publish": False,
    }
    try:
        _done(client_a, "process_raster_collection", params)
        assert PendingItem.objects.filter(collection_id=collection).exists()
        _not_owner(
            _submit(client_b, "unpublish_raster_collection", {"collection_id": collection, "dry_run": False}),
            collection,
        )
        _not_owner(_submit(client_b, "process_raster_collection", {**params, "overwrite": True}), collection)
        assert PendingItem.objects.filter(collection_id=collection).exists()
        resp = _submit(client_a, "unpublish_raster_collection", {"collection_id": collection, "dry_run": False})
        assert resp.status_code == 202, resp.content
    finally:
        raster_services.raster_collection_unpublish(collection_id=collection, dry_run=False)


def test_a_retry_is_held_to_the_same_rule(client_a: APIClient, vector: dict[str, Any]) -> None:
    """B's overwrite, asked before A loaded the table and failed since, cannot be retried over A's table."""
    from ingest.services import job_submit

    retrier = _client("other-b-ops", "operate_job")
    b_user = get_user_model().objects.get(username="other-b-ops")
    job = job_submit(job_type="process_vector", parameters={**vector, "overwrite": True}, user=b_user).job
    Job.objects.filter(pk=job.id).update(status="failed")
    Task.objects.filter(job_id=job.id).update(status=TaskStatus.FAILED)
    _done(client_a, "process_vector", vector)
    _not_owner(retrier.post(f"/api/jobs/{job.id}/retry"), vector["table_name"])
    assert Job.objects.get(pk=job.id).status == "failed"


def test_job_types_say_which_submissions_replace_existing_data(client_b: APIClient) -> None:
    body = client_b.get("/api/jobs/types").json()
    for name in ("process_vector", "unpublish_vector", "process_raster", "unpublish_raster_collection"):
        assert body[name]["replaces_existing"]["override_permission"] == "ingest.override_submit_guards"
    assert body["externalize_release"]["replaces_existing"] is None
