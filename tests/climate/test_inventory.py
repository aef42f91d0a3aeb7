"""inventory_climate: metadata only, series, combinable or why not; writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from geoplatform import storage
from geoplatform.storage import zone_container
from tests.climate import corpus
from tests.climate.conftest import Uploader, run_ok

pytestmark = pytest.mark.django_db


def test_inventory_reports_series_metadata_and_problems(upload: Uploader) -> None:
    prefix, _ = upload.series()
    upload.file("bcsd_obs_1999.nc", prefix=prefix)
    upload.raw(
        corpus.to_bytes(corpus.dataset(start=3, calendar="noleap")),
        "tas_Amon_M_e_r1i1p1f1_gn_200004-200006.nc",
        prefix=prefix,
    )
    upload.raw(corpus.good(0), "tas_Amon_M_e_r1i1p1f1_gn_200001-200003.nc", prefix=prefix)
    upload.raw(corpus.good(0)[:2000], "broken_Amon_M_e_r1i1p1_gn_2000.nc", prefix=prefix)
    silver_before = storage.blob_list(zone_container("silver"), "climate")
    report = run_ok("inventory_climate", {"container_name": upload.bronze, "prefix": prefix, "file_pattern": "*.nc"})
    assert storage.blob_list(zone_container("silver"), "climate") == silver_before  # writes nothing
    files = {f["file"].rsplit("/", 1)[-1]: f for f in report["files"]}
    assert len(files) == 10
    first = files["tas_Ayr_HadCM3_sresa1b_r1i1p1f1_gn_1860-1869.nc"]
    assert first["format"] == "hdf5" and first["cmip6"]["experiment_id"] == "sresa1b"
    tas = first["variables"]["tas"]
    assert tas["units"] == "K" and tas["chunks"] == [1, 37, 49] and tas["dims"] == ["time", "latitude", "longitude"]
    assert first["variables"]["time"]["calendar"] == "360_day"
    bcsd = files["bcsd_obs_1999.nc"]
    assert (
        bcsd["format"] == "netcdf3"
        and "cmip6" not in bcsd
        and bcsd["variables"]["pr"]["fill_value"] == pytest.approx(1e20)
    )
    broken = files["broken_Amon_M_e_r1i1p1_gn_2000.nc"]
    assert "error" in broken and "r1i1p1" in broken["name_problem"]
    series_by_id = {s["id"]: s for s in report["series"]}
    hadcm3 = series_by_id["tas_Ayr_HadCM3_sresa1b_r1i1p1f1_gn"]
    assert hadcm3["combinable"] and len(hadcm3["files"]) == 6 and hadcm3["time_issues"] == []
    mixed = series_by_id["tas_Amon_M_e_r1i1p1f1_gn"]
    assert not mixed["combinable"] and any("calendar" in p for p in mixed["problems"])
    assert series_by_id["pr+tas"]["combinable"]
    assert [e["file"] for e in report["errors"]] == [broken["file"]]


def test_inventory_of_one_file(upload: Uploader) -> None:
    name = upload.file("bcsd_obs_1999.nc")
    report: dict[str, Any] = run_ok("inventory_climate", {"container_name": upload.bronze, "file_name": name})
    assert report["files"][0]["dims"] == {"time": 12, "latitude": 33, "longitude": 81}
    assert report["series"][0]["combinable"]
