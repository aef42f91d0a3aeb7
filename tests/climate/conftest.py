"""Climate fixtures: series uploaded to the bronze container, datasets virtualized without a
worker (the engine's own functions in this process; see tests/ingest/inline.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files import File
from django.core.files.base import ContentFile

from climate import datasets, services
from geoplatform import storage
from geoplatform.storage import get_storage, zone_container
from ingest import messages
from ingest.models import Job, JobStatus
from tests.conftest import FIXTURES
from tests.ingest.inline import submit_inline

CLIMATE = FIXTURES / "climate"
SERIES = sorted(p.name for p in (CLIMATE / "cmip6").glob("tas_*.nc"))


def run_job(job_type: str, parameters: dict[str, Any]) -> Job:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(messages, "task_messages_send", lambda *args, **kwargs: None)
        return submit_inline(job_type, parameters)


def run_ok(job_type: str, parameters: dict[str, Any]) -> dict[str, Any]:
    job = run_job(job_type, parameters)
    assert job.status == JobStatus.COMPLETED, job.error
    return {**(job.result or {}), "job_id": job.id, "warnings": list(job.warnings)}


class Uploader:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.bronze = zone_container("bronze")

    def file(self, fixture: str, *, prefix: str | None = None, name: str | None = None) -> str:
        prefix = prefix or f"tests/{uuid.uuid4().hex[:10]}"
        target = f"{prefix}/{name or fixture.rsplit('/', 1)[-1]}"
        with open(CLIMATE / fixture, "rb") as fh:
            get_storage(self.bronze).save(target, File(fh, name=target))
        self.names.append(target)
        return target

    def raw(self, content: bytes, name: str, *, prefix: str | None = None) -> str:
        prefix = prefix or f"tests/{uuid.uuid4().hex[:10]}"
        target = f"{prefix}/{name}"
        get_storage(self.bronze).save(target, ContentFile(content))
        self.names.append(target)
        return target

    def series(self, names: list[str] | None = None) -> tuple[str, list[str]]:
        prefix = f"tests/{uuid.uuid4().hex[:10]}"
        return prefix, [self.file(f"cmip6/{n}", prefix=prefix) for n in (names or SERIES)]

    def cleanup(self) -> None:
        storage = get_storage(self.bronze)
        for name in self.names:
            if storage.exists(name):
                storage.delete(name)


@pytest.fixture
def upload() -> Iterator[Uploader]:
    uploader = Uploader()
    yield uploader
    uploader.cleanup()


def remove_dataset(collection_id: str, item_id: str) -> None:
    silver = zone_container("silver")
    for name in storage.blob_list(silver, services.item_prefix(collection_id, item_id)):
        storage.blob_delete(silver, name)


@pytest.fixture
def virtualize(db: Any, upload: Uploader) -> Iterator[Callable[..., dict[str, Any]]]:
    """Virtualize the CMIP6 fixture series (or given files) inline; blobs removed afterwards."""
    made: list[tuple[str, str]] = []
    datasets.dataset_cache_clear()

    def _virtualize(files: list[str] | None = None, **params: Any) -> dict[str, Any]:
        if files is None:
            _, files = upload.series()
        params.setdefault("item_id", f"t-{uuid.uuid4().hex[:10]}")
        result = run_ok("virtualize_climate", {"container_name": upload.bronze, "files": files, **params})
        made.append((result["collection_id"], result["item_id"]))
        return result

    yield _virtualize
    for collection_id, item_id in made:
        remove_dataset(collection_id, item_id)
    datasets.dataset_cache_clear()


@pytest.fixture
def ddh_client(db: Any) -> Any:
    """DDH's service account (platform-clients group: submit + review), as in tests/publishing."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    from ingest.accounts import service_account_ensure
    from publishing.models import Platform
    from publishing.signals import PLATFORM_CLIENT_GROUP, groups_ensure

    groups_ensure()
    Platform.objects.get_or_create(code="ddh", defaults={"name": "Data Hub (DDH)"})
    account = service_account_ensure(name="ddh-climate-test")
    user = get_user_model().objects.get(username="ddh-climate-test")
    user.groups.add(Group.objects.get(name=PLATFORM_CLIENT_GROUP))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {account.token}")
    return client
