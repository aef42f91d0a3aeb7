"""Bad input at submit: each gives a 4xx saying what to fix, and leaves nothing behind
(no job row, no table, no stored upload)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from features import sql
from geoplatform.errors import ApplicationError
from geoplatform.storage import get_storage, zone_container
from ingest.models import Job
from ingest.services import job_submit
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db


def _put(name: str, data: bytes) -> str:
    container = zone_container("bronze")
    storage = get_storage(container)
    if storage.exists(name):
        storage.delete(name)
    storage.save(name, ContentFile(data))
    return name


def _refused(job_type: str, **params: Any) -> list[str]:
    """Submit; expect a 400 listing problems (or one message), with no job and no table written."""
    params.setdefault("container_name", zone_container("bronze"))
    with pytest.raises(ApplicationError) as err:
        job_submit(job_type=job_type, parameters=params)
    assert err.value.status_code == 400, err.value.message
    assert not Job.objects.exists()
    if params.get("table_name"):
        assert not sql.table_exists(params["table_name"])
    details = err.value.details if isinstance(err.value.details, dict) else {}
    return list(details.get("problems") or [err.value.message])


def test_an_empty_file_is_refused_at_upload_and_at_submit(auth_client: Any) -> None:
    container = zone_container("bronze")
    if get_storage(container).exists("input-tests/empty-upload.geojson"):  # left by an older run
        get_storage(container).delete("input-tests/empty-upload.geojson")
    resp = auth_client.post(
        f"/api/storage/{container}/upload",
        {"file": SimpleUploadedFile("empty.geojson", b""), "name": "input-tests/empty-upload.geojson"},
        format="multipart",
    )
    assert resp.status_code == 400 and resp.json()["code"] == "empty_file", resp.content
    assert not get_storage(container).exists("input-tests/empty-upload.geojson")
    name = _put("input-tests/empty.geojson", b"")  # put there by other means
    problems = _refused("process_vector", file_name=name, table_name="input_empty")
    assert any("empty (0 bytes)" in p for p in problems), problems
    from rasters.stages import check_file

    tif = _put("input-tests/empty.tif", b"")
    params = {"container_name": container, "file_name": tif, "collection_id": "system-rasters", "overwrite": True}
    assert any("empty (0 bytes)" in p for p in check_file(params)), check_file(params)


def test_a_5_gb_content_length_is_refused_before_the_body_is_read(auth_client: Any) -> None:
    container = zone_container("bronze")
    five_gb = str(5 * 1024**3)
    resp = auth_client.generic(
        "POST", f"/api/storage/{container}/upload", b"--x--", content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=five_gb,
    )  # fmt: skip
    assert resp.status_code == 413, resp.content
    assert "5368709120 bytes" in resp.json()["message"] and "limit" in resp.json()["message"]
    assert not Job.objects.exists()


def test_a_zip_with_two_shapefiles_names_both(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(FIXTURES / "features" / "cities_shp.zip") as src, zipfile.ZipFile(buffer, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, data)
            dst.writestr("copy/" + info.filename.replace("naturalearth", "other"), data)
    name = _put("input-tests/two.zip", buffer.getvalue())
    problems = _refused("process_vector", file_name=name, table_name="input_two")
    assert any("exactly one .shp" in p and "naturalearth_cities.shp" in p and "other_cities.shp" in p for p in problems)


def test_a_geotiff_without_crs_asks_for_one(tmp_path: Path) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from rasters.stages import check_file

    path = tmp_path / "nocrs.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8", transform=from_origin(0, 8, 1, 1)
    ) as ds:
        ds.write(np.ones((1, 8, 8), "uint8"))
    name = _put("input-tests/nocrs.tif", path.read_bytes())
    params = {"container_name": zone_container("bronze"), "file_name": name, "collection_id": "system-rasters"}
    problems = check_file({**params, "overwrite": True})
    assert problems == ["The raster has no CRS; pass the 'crs' parameter (e.g. 'EPSG:4326')."], problems
    assert check_file({**params, "overwrite": True, "crs": "EPSG:32625"}) == []


def test_a_netcdf_sent_as_vector_is_refused_with_the_route_to_use(tmp_path: Path) -> None:
    data = (FIXTURES / "tiny.nc").read_bytes()
    name = _put("input-tests/t.nc", data)
    problems = _refused("process_vector", file_name=name, table_name="input_nc")
    assert any("Unsupported file extension '.nc'" in p and "GeoPackage" in p for p in problems), problems
    renamed = _put("input-tests/t-nc.geojson", data)  # the right bytes under the wrong extension
    problems = _refused("process_vector", file_name=renamed, table_name="input_nc_geojson")
    assert any("not UTF-8" in p or "Cannot read the file as geojson" in p for p in problems), problems


def test_unsafe_and_unicode_names_are_refused_with_a_suggestion(auth_client: Any) -> None:
    container = zone_container("bronze")
    problems = _refused("process_vector", file_name="../../etc/passwd.geojson", table_name="input_escape")
    assert any("Invalid file name" in p for p in problems), problems
    resp = auth_client.post(
        f"/api/storage/{container}/upload",
        {"file": SimpleUploadedFile("données été.geojson", b'{"type": "FeatureCollection", "features": []}')},
        format="multipart",
    )
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["details"]["suggested_name"] == "donnees-ete.geojson"
    assert "ASCII letters" in body["remediation"] and "'donnees-ete.geojson'" in body["remediation"]
    assert not get_storage(container).exists("donnees-ete.geojson")
    resp = auth_client.post(
        f"/api/storage/{container}/upload",
        {"file": SimpleUploadedFile("x.geojson", b"{}"), "name": "../escape.geojson"},
        format="multipart",
    )
    assert resp.status_code == 400 and "suggested_name" not in (resp.json().get("details") or {})


def test_a_csv_with_10000_columns_is_refused_naming_the_limit() -> None:
    header = ["lat", "lon", *(f"c{i}" for i in range(9998))]
    rows = [",".join(header), ",".join(["1", "2", *["0"] * 9998])]
    name = _put("input-tests/wide.csv", ("\n".join(rows) + "\n").encode())
    problems = _refused("process_vector", file_name=name, table_name="input_wide", lat_column="lat", lon_column="lon")
    assert any("10000 columns" in p and "at most 1597" in p for p in problems), problems
