"""Zarr / NetCDF releases: declared so a submit is recognised and answered 501 until the
climate app deploys ``virtualize_climate`` (it will complete this declaration)."""

from __future__ import annotations

from typing import Any

from ..errors import ZarrNotAvailable
from ..models import DataType, Release
from .base import Artifacts, DataKind, JobPlan, Submission, external_copies


def zarr_unavailable(job_type: str = "") -> ZarrNotAvailable:
    return ZarrNotAvailable(
        "zarr processing is not available yet.",
        remediation="Submit NetCDF/Zarr once the climate app is deployed; vector and raster files work now.",
    )


def _job_parameters(sub: Submission) -> JobPlan:
    raise zarr_unavailable()


def _unpublish_parameters(release: Release) -> dict[str, Any]:
    raise zarr_unavailable()


def _artifacts(release: Release) -> Artifacts:
    return Artifacts(external_blobs=external_copies(release))


ZARR = DataKind(
    data_type=DataType.ZARR,
    process_job_type="virtualize_climate",
    unpublish_job_type="unpublish_zarr",
    options=("concat_dim", "file_pattern", "max_files", "chunks", "overwrite"),
    job_parameters=_job_parameters,
    unpublish_parameters=_unpublish_parameters,
    artifacts=_artifacts,
    extensions=("nc", "zarr"),
    files="any",
    from_source_url=True,
    unavailable=zarr_unavailable,
)
