"""Pre-flight of virtualize_climate: series that cannot be combined are refused at submit
(400) naming the files and the field; warnings for chunk sizes and names."""

from __future__ import annotations

from typing import Any

import pytest

from climate import stages
from geoplatform.errors import InvalidInput
from ingest import services as ingest_services
from tests.climate import corpus
from tests.climate.conftest import Uploader

pytestmark = pytest.mark.django_db

NAME = "tas_Amon_MODEL_historical_r1i1p1f1_gn_{}.nc"


def _series(upload: Uploader, second: bytes, *, first: bytes | None = None) -> list[str]:
    prefix = upload.series([])[0]
    return [
        upload.raw(first or corpus.good(0), NAME.format("200001-200003"), prefix=prefix),
        upload.raw(second, NAME.format("200004-200006"), prefix=prefix),
    ]


def _problems(upload: Uploader, files: list[str], **params: Any) -> list[str]:
    return stages.preflight(
        {"container_name": upload.bronze, "files": files, "collection_id": "system-zarr", "item_id": "", **params}
    )


def _changed(**encoding: Any) -> bytes:
    return corpus.to_bytes(corpus.dataset(start=3), encoding={"tas": encoding})


@pytest.mark.parametrize(
    ("second", "field"),
    [
        (lambda: _changed(scale_factor=0.01, add_offset=273.0, dtype="int16", _FillValue=-32768), "scale_factor"),
        (lambda: _changed(chunksizes=(3, 2, 5)), "chunk shapes"),
        (lambda: _changed(zlib=True, complevel=4), "codecs"),
        (lambda: _changed(_FillValue=-999.0), "fill value"),
        (lambda: corpus.to_bytes(corpus.dataset(start=3, calendar="noleap")), "calendar"),
        (lambda: corpus.to_bytes(corpus.dataset(start=3, units="degC")), "units"),
        (lambda: corpus.to_bytes(corpus.dataset(start=3, nx=6)), "grid"),
        (lambda: corpus.to_bytes(corpus.dataset(start=3).rename({"tas": "pr"})), "variables"),
    ],
)
def test_mixed_series_is_refused_naming_file_and_field(upload: Uploader, second: Any, field: str) -> None:
    files = _series(upload, second())
    problems = _problems(upload, files)
    assert problems, field
    assert any(field in p and "200004-200006" in p for p in problems), problems


def test_good_series_passes(upload: Uploader) -> None:
    files = _series(upload, corpus.good(3))
    assert _problems(upload, files) == []


def test_truncated_hdf5_and_not_netcdf_are_refused(upload: Uploader) -> None:
    data = corpus.good(0)
    truncated = upload.raw(data[: len(data) // 2], "truncated.nc")
    text = upload.raw(b"hello, not a netcdf file", "text.nc")
    assert any("truncated.nc" in p and "cannot be read" in p for p in _problems(upload, [truncated]))
    assert any("text.nc" in p and "neither NetCDF4/HDF5 nor NetCDF3" in p for p in _problems(upload, [text]))


def test_series_mixing_cmip6_and_other_names_shows_the_pattern(upload: Uploader) -> None:
    prefix = upload.series([])[0]
    files = [
        upload.raw(corpus.good(0), NAME.format("200001-200003"), prefix=prefix),
        upload.raw(corpus.good(3), "tas_Amon_MODEL_historical_r1i1p1_gn_200004-200006.nc", prefix=prefix),
    ]
    problems = _problems(upload, files)
    assert any("r1i1p1" in p and "<variable_id>_<table_id>" in p for p in problems), problems


def test_options_that_do_not_apply_are_400(upload: Uploader) -> None:
    files = _series(upload, corpus.good(3))
    with pytest.raises(InvalidInput) as exc:
        ingest_services.job_submit(
            job_type="virtualize_climate",
            parameters={"container_name": upload.bronze, "files": files, "chunks": {"time": 100}},
        )
    assert "rechunk_climate" in str(exc.value.details)
    with pytest.raises(InvalidInput) as exc:
        ingest_services.job_submit(
            job_type="virtualize_climate",
            parameters={"container_name": upload.bronze, "files": files, "pipeline": "convert"},
        )
    assert "pipeline" in str(exc.value.details)
    with pytest.raises(InvalidInput):
        ingest_services.job_submit(
            job_type="virtualize_climate",
            parameters={"container_name": upload.bronze, "files": files, "max_files": 1},
        )


def test_missing_sources_are_named(upload: Uploader) -> None:
    problems = _problems(upload, ["tests/nope/missing.nc"])
    assert any("missing.nc" in p for p in problems)
    problems = _problems(upload, [], prefix="tests/nothing-here", file_pattern="*.nc")
    assert any("No file matches" in p for p in problems)


def test_only_bronze_containers_are_read(upload: Uploader) -> None:
    from geoplatform.storage import zone_container

    problems = stages.preflight(
        {"container_name": zone_container("silver"), "files": ["x.nc"], "collection_id": "system-zarr", "item_id": ""}
    )
    assert any("not a bronze container" in p for p in problems)


def test_series_without_time_coordinate_is_refused_and_one_such_file_is_virtualized(
    upload: Uploader, virtualize: Any
) -> None:
    bare = corpus.dataset().drop_vars(["time", "lat", "lon"])
    data = corpus.to_bytes(bare)
    prefix = upload.series([])[0]
    files = [upload.raw(data, "a.nc", prefix=prefix), upload.raw(data, "b.nc", prefix=prefix)]
    problems = _problems(upload, files)
    assert any("no coordinate variable 'time'" in p and "a.nc" in p for p in problems), problems
    made = virtualize([files[0]])
    from climate import datasets

    item = datasets.item_get(made["collection_id"], made["item_id"])
    assert item["properties"]["cube:dimensions"]["time"]["type"] == "other"
    assert datasets.dataset_open(made["collection_id"], made["item_id"]).sizes["time"] == 3
