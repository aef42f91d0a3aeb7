"""Bad files at POST /api/platform/submit: a 4xx in the DDH envelope, nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from geoplatform.storage import get_storage, zone_container, zone_storage
from ingest.models import Job
from publishing.models import Asset, Release

from .conftest import submit_body

pytestmark = pytest.mark.django_db

# A SQLite header followed by garbage: GDAL picks the GPKG driver, then cannot read it.
CORRUPT_GPKG = b"SQLite format 3\x00" + b"\x07garbage" * 512


def test_corrupt_geopackage_is_a_400_in_the_envelope_and_leaves_nothing(ddh_client: APIClient) -> None:
    name = zone_storage("bronze").save("publishing-tests/corrupt.gpkg", ContentFile(CORRUPT_GPKG))
    body = submit_body(container_name=zone_container("bronze"), file_name=name)
    for query in ("", "?dry_run=true"):
        resp = ddh_client.post(f"/api/platform/submit{query}", body, format="json")
        assert resp.status_code == 400, resp.content
        err = resp.json()
        assert err["success"] is False and err["error_type"] == "InvalidInput"
        assert "cannot be read as a GeoPackage" in err["error"] and "corrupt.gpkg" in err["error"]
        assert "valid GeoPackage" in err["remediation"]
        assert "/vsiaz/" not in resp.content.decode()  # no server-side paths leak
        assert resp["Cache-Control"] == "no-store"
    assert not Asset.objects.exists() and not Release.objects.exists() and not Job.objects.exists()
    zone_storage("bronze").delete(name)


def test_missing_geopackage_is_left_to_the_job_type_preflight(ddh_client: APIClient) -> None:
    body = submit_body(container_name=zone_container("bronze"), file_name="publishing-tests/nowhere.gpkg")
    resp = ddh_client.post("/api/platform/submit?dry_run=true", body, format="json")
    assert resp.status_code != 500, resp.content


def test_generic_submit_of_a_corrupt_geopackage_is_a_400_naming_the_format(auth_client: Any) -> None:
    name = zone_storage("bronze").save("publishing-tests/corrupt-generic.gpkg", ContentFile(CORRUPT_GPKG))
    resp = auth_client.post(
        "/api/jobs/submit/process_vector",
        {
            "parameters": {
                "container_name": zone_container("bronze"),
                "file_name": name,
                "table_name": "corrupt_generic",
                "publish": False,  # a service account loads hidden through /api/jobs
            }
        },
        format="json",
    )
    assert resp.status_code == 400, resp.content
    problems = resp.json()["details"]["problems"]
    assert any("Cannot read the file as gpkg" in p and "Check the file is complete" in p for p in problems), problems
    assert not Job.objects.exists()
    zone_storage("bronze").delete(name)


def test_uploads_never_replace_the_file_a_release_stands_on(auth_client: Any, ddh_user: Any, settings: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from publishing import services

    from .helpers import submitted

    container = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
    name = "publishing-tests/released.geojson"

    def upload(data: bytes) -> Any:
        return auth_client.post(
            f"/api/storage/{container}/upload?overwrite=true",
            {"file": SimpleUploadedFile("x.geojson", data), "name": name},
            format="multipart",
        )

    assert upload(b"v1").status_code == 201
    release = submitted(ddh_user, container_name=container, file_name=name)
    services.release_approve(release_id=release.id, user=ddh_user, reviewer="alice", clearance_state="ouo")
    resp = upload(b"v2")
    assert resp.status_code == 409, resp.content
    assert resp.json()["code"] == "blob_in_use" and release.id in resp.json()["message"]
    assert "approved" in resp.json()["message"]
    services.release_revoke(release_id=release.id, user=ddh_user, reviewer="alice", reason="replaced")
    assert upload(b"v2").status_code == 201  # revoked: the file may be replaced
    get_storage(container).delete(name)


def test_a_5_gb_content_length_at_submit_is_a_413_envelope(ddh_client: APIClient) -> None:
    resp = ddh_client.generic(
        "POST", "/api/platform/submit", b"{}", content_type="application/json", CONTENT_LENGTH=str(5 * 1024**3)
    )
    assert resp.status_code == 413, resp.content
    assert resp.json()["success"] is False
    assert not Job.objects.exists() and not Release.objects.exists()


def test_bad_files_at_platform_submit_are_400s(ddh_client: APIClient, tmp_path: Any) -> None:
    """An empty GeoPackage, a NetCDF renamed .gpkg, a name escaping the container."""
    from tests.conftest import FIXTURES

    bronze = zone_storage("bronze")
    for name, data in (
        ("publishing-tests/empty.gpkg", b""),
        ("publishing-tests/nc.gpkg", (FIXTURES / "tiny.nc").read_bytes()),
    ):
        if bronze.exists(name):
            bronze.delete(name)
        bronze.save(name, ContentFile(data))
        body = submit_body(container_name=zone_container("bronze"), file_name=name)
        resp = ddh_client.post("/api/platform/submit", body, format="json")
        assert resp.status_code == 400, resp.content
        assert "cannot be read as a GeoPackage" in resp.json()["error"]
        bronze.delete(name)
    body = submit_body(container_name=zone_container("bronze"), file_name="../other/x.gpkg")
    resp = ddh_client.post("/api/platform/submit", body, format="json")
    assert resp.status_code == 400 and "Invalid file name" in resp.json()["error"], resp.content
    assert not Asset.objects.exists() and not Release.objects.exists() and not Job.objects.exists()
