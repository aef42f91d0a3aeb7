"""Uploads never silently replace a file: 409 unless overwrite is asked, never one a job reads."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from geoplatform.storage import get_storage
from ingest.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def _upload(client: Any, container: str, name: str, data: bytes, query: str = "", **form: Any) -> Any:
    return client.post(
        f"/api/storage/{container}/upload{query}",
        {"file": SimpleUploadedFile("x.geojson", data), "name": name, **form},
        format="multipart",
    )


def _content(container: str, name: str) -> bytes:
    with get_storage(container).open(name, "rb") as fh:
        return bytes(fh.read())


def test_an_existing_file_is_replaced_only_when_asked(auth_client: Any, settings: Any) -> None:
    container = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
    name = "overwrite-tests/a.geojson"
    storage = get_storage(container)
    if storage.exists(name):
        storage.delete(name)
    assert _upload(auth_client, container, name, b"one").status_code == 201
    resp = _upload(auth_client, container, name, b"two")
    assert resp.status_code == 409, resp.content
    assert resp.json()["code"] == "blob_exists" and "overwrite=true" in resp.json()["remediation"]
    assert _content(container, name) == b"one"
    resp = _upload(auth_client, container, name, b"two", "?overwrite=true")
    assert resp.status_code == 201, resp.content
    assert _content(container, name) == b"two"
    resp = _upload(auth_client, container, name, b"three", overwrite="true")  # the form field works too
    assert resp.status_code == 201 and _content(container, name) == b"three"
    resp = _upload(auth_client, container, name, b"four", "?overwrite=perhaps")
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_overwrite"
    assert _content(container, name) == b"three"
    storage.delete(name)


def test_a_file_a_running_job_reads_is_never_replaced(auth_client: Any, settings: Any) -> None:
    container = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
    name = "overwrite-tests/in-use.geojson"
    storage = get_storage(container)
    if storage.exists(name):
        storage.delete(name)
    assert _upload(auth_client, container, name, b"source").status_code == 201
    job = Job.objects.create(
        id="j" * 64,
        job_type="process_vector",
        parameters={"container_name": container, "file_name": name, "table_name": "in_use"},
        status=JobStatus.RUNNING,
    )
    resp = _upload(auth_client, container, name, b"new", "?overwrite=true")
    assert resp.status_code == 409, resp.content
    body = resp.json()
    assert body["code"] == "blob_in_use" and job.id in body["message"] and "process_vector" in body["message"]
    assert _content(container, name) == b"source"
    Job.objects.filter(pk=job.id).update(status=JobStatus.COMPLETED)  # finished: the file may change
    assert _upload(auth_client, container, name, b"new", "?overwrite=true").status_code == 201
    storage.delete(name)


def test_upload_schema_documents_overwrite_and_409(auth_client: Any) -> None:
    schema = auth_client.get("/api/schema/?format=json").json()
    op = schema["paths"]["/api/storage/{container}/upload"]["post"]
    assert any(p["name"] == "overwrite" and p["in"] == "query" for p in op["parameters"])
    assert "409" in op["responses"]
    props = op["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert "overwrite" in props
