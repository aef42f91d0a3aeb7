"""Uploads into bronze storage — on Azurite when the suite runs with the azure backend."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from geoplatform.storage import get_storage

pytestmark = pytest.mark.django_db


def test_upload_stores_the_file_and_returns_its_name_and_checksum(auth_client: Any, settings: Any) -> None:
    container = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
    data = b'{"type": "FeatureCollection", "features": []}'
    resp = auth_client.post(
        f"/api/storage/{container}/upload",
        {"file": SimpleUploadedFile("empty.geojson", data), "name": "tests/upload-1.geojson"},
        format="multipart",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body == {
        "container": container,
        "name": "tests/upload-1.geojson",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    storage = get_storage(container)
    with storage.open("tests/upload-1.geojson", "rb") as fh:
        assert fh.read() == data
    storage.delete("tests/upload-1.geojson")


def test_upload_rejects_unsafe_names_unknown_containers_and_big_files(auth_client: Any, settings: Any) -> None:
    container = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
    for bad in ["../escape.txt", "/abs.txt", "a/../../b.txt", "sp ace.txt", ".hidden"]:
        resp = auth_client.post(
            f"/api/storage/{container}/upload",
            {"file": SimpleUploadedFile("x.txt", b"x"), "name": bad},
            format="multipart",
        )
        assert resp.status_code == 400, bad
        assert resp.json()["code"] == "invalid_input"
    resp = auth_client.post("/api/storage/not-a-bronze/upload", {"file": SimpleUploadedFile("x.txt", b"x")})
    assert resp.status_code == 404 and resp.json()["code"] == "unknown_container"
    resp = auth_client.post(f"/api/storage/{container}/upload", {}, format="multipart")
    assert resp.status_code == 400 and resp.json()["code"] == "missing_file"
    settings.GEOPLATFORM_UPLOAD_MAX_BYTES = 10
    resp = auth_client.post(
        f"/api/storage/{container}/upload", {"file": SimpleUploadedFile("big.txt", b"x" * 11)}, format="multipart"
    )
    assert resp.status_code == 413 and "limit is 10 bytes" in resp.json()["message"]
    assert not get_storage(container).exists("big.txt")


def test_too_big_or_unsized_uploads_are_refused_before_the_body_is_read(auth_client: Any, settings: Any) -> None:
    """A Content-Length over the limit is a 413 before the body is read (Django never reads past
    the Content-Length, so nothing bigger reaches the disk); a chunked body (no length), which
    Django would read as empty, is a 411 instead of a confusing 'no file'."""
    container = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
    settings.GEOPLATFORM_UPLOAD_MAX_BYTES = 1000
    resp = auth_client.post(
        f"/api/storage/{container}/upload", {"file": SimpleUploadedFile("big.txt", b"x" * 200_000)}, format="multipart"
    )
    assert resp.status_code == 413
    message = resp.json()["message"]
    assert message.startswith("The request is ") and message.endswith("bytes; the limit is 1000 bytes.")
    resp = auth_client.generic(
        "POST", f"/api/storage/{container}/upload", b"", content_type="multipart/form-data; boundary=x",
        HTTP_TRANSFER_ENCODING="chunked",
    )  # fmt: skip
    assert resp.status_code == 411 and resp.json()["code"] == "length_required"


def test_storage_backend_is_the_configured_one(settings: Any) -> None:
    """make test runs storage on Azurite; this guards against silently testing local files only."""
    import os

    storage = get_storage(settings.GEOPLATFORM_UPLOAD_CONTAINERS[0])
    expected = os.environ.get("GEOPLATFORM_STORAGE_BACKEND", "local")
    assert type(storage).__name__ == {"azure": "AzureStorage", "local": "FileSystemStorage"}[expected]
