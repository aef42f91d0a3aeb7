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


def test_too_big_uploads_are_refused_before_they_fill_the_disk(auth_client: Any, settings: Any, tmp_path: Any) -> None:
    """A Content-Length over the limit is a 413 before the body is read; without a truthful
    length, spooling stops at the limit and the temporary file is removed."""
    from django.core.files.uploadhandler import TemporaryFileUploadHandler
    from django.test import RequestFactory

    from geoplatform.errors import PayloadTooLarge
    from ingest.uploads import LimitedUploadHandler

    container = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
    settings.GEOPLATFORM_UPLOAD_MAX_BYTES = 1000
    resp = auth_client.post(
        f"/api/storage/{container}/upload", {"file": SimpleUploadedFile("big.txt", b"x" * 200_000)}, format="multipart"
    )
    assert resp.status_code == 413
    assert resp.json()["message"].startswith("The request is ") and "limit is 1000 bytes" in resp.json()["message"]

    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    handler = LimitedUploadHandler(RequestFactory().post("/"), limit=1000)
    handler.new_file("file", "big.txt", "text/plain", None)
    assert isinstance(handler, TemporaryFileUploadHandler)
    assert handler.receive_data_chunk(b"x" * 600, 0) is None
    assert len(list(tmp_path.iterdir())) == 1  # spooled to a temporary file, as Django does
    with pytest.raises(PayloadTooLarge, match="more than 1000 bytes"):
        handler.receive_data_chunk(b"x" * 600, 600)
    assert list(tmp_path.iterdir()) == []  # and that file is gone


def test_storage_backend_is_the_configured_one(settings: Any) -> None:
    """make test runs storage on Azurite; this guards against silently testing local files only."""
    import os

    storage = get_storage(settings.GEOPLATFORM_UPLOAD_CONTAINERS[0])
    expected = os.environ.get("GEOPLATFORM_STORAGE_BACKEND", "local")
    assert type(storage).__name__ == {"azure": "AzureStorage", "local": "FileSystemStorage"}[expected]
