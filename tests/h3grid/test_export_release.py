"""export_h3_stats into a folder of its own (what publishing's h3_stats kind asks of it), the
files an export owns, unpublish_h3_export, and who may replace them through /api/jobs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from geoplatform.errors import InvalidInput
from geoplatform.storage import blob_delete, blob_list, zone_container
from h3grid.models import StatDataset
from ingest.models import JobStatus
from ingest.services import job_submit
from tests.h3grid.conftest import H3Fixture, _insert, _remove
from tests.h3grid.conftest_agg import quiet_azure
from tests.ingest.inline import run_inline, submit_inline

pytestmark = pytest.mark.django_db
SLUG = "h3-export-folder"
FOLDER = f"h3/{SLUG}/releases/ds/res/v1"


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet_azure()


@pytest.fixture
def computed(db: Any) -> Iterator[H3Fixture]:
    fx = _insert(SLUG)
    StatDataset.objects.filter(pk=fx.dataset_id).update(computed_at=dt.datetime.now(dt.UTC))
    yield fx
    _remove(fx)
    silver = zone_container("silver")
    for name in blob_list(silver, f"h3/{SLUG}"):
        blob_delete(silver, name)


def _files(folder: str) -> list[str]:
    return blob_list(zone_container("silver"), folder)


def _blob(res: int, folder: str = FOLDER) -> str:
    return f"{folder}/res-{res}/{SLUG}.parquet"


def test_an_export_owns_its_folder(computed: H3Fixture) -> None:
    job = submit_inline("export_h3_stats", {"dataset": SLUG, "folder": FOLDER})
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["blobs"] == [_blob(4), _blob(5), _blob(6)] and job.result["prefix"] == f"{FOLDER}/"
    assert _files(f"h3/{SLUG}") == [_blob(4), _blob(5), _blob(6)]  # nothing in the default folder

    # Again with fewer resolutions: the dropped ones go, the default folder's export is untouched.
    default = submit_inline("export_h3_stats", {"dataset": SLUG, "resolutions": [4]})
    assert default.result["blobs"] == [_blob(4, f"h3/{SLUG}")]
    again = submit_inline("export_h3_stats", {"dataset": SLUG, "folder": FOLDER, "resolutions": [5]})
    assert again.status == JobStatus.COMPLETED, again.error
    assert _files(FOLDER) == [_blob(5)] and _files(f"h3/{SLUG}/res-4") == [_blob(4, f"h3/{SLUG}")]

    with pytest.raises(InvalidInput) as refused:
        job_submit(job_type="export_h3_stats", parameters={"dataset": SLUG, "folder": FOLDER, "overwrite": False})
    assert "already holds an export" in str(refused.value.as_dict())

    dry = submit_inline("unpublish_h3_export", {"dataset": SLUG, "folder": FOLDER})
    assert dry.result == {"blobs": [_blob(5)], "dry_run": True} and _files(FOLDER) == [_blob(5)]
    live = submit_inline("unpublish_h3_export", {"dataset": SLUG, "folder": FOLDER, "dry_run": False})
    assert live.result == {"blobs": [_blob(5)], "dry_run": False} and _files(FOLDER) == []


@pytest.mark.parametrize(
    "folder", ["h3/another-dataset/x", f"h3/{SLUG}/stats", f"h3/{SLUG}/stats/res-7", f"h3/{SLUG}/../x", "exports/x"]
)
def test_a_folder_stays_below_the_dataset_and_off_its_parts(computed: H3Fixture, folder: str) -> None:
    for job_type, extra in (("export_h3_stats", {}), ("unpublish_h3_export", {"dry_run": False})):
        with pytest.raises(InvalidInput) as refused:
            job_submit(job_type=job_type, parameters={"dataset": SLUG, "folder": folder, **extra})
        assert "must be" in str(refused.value.as_dict())


def test_refusals_name_their_reason(computed: H3Fixture) -> None:
    from h3grid import export

    cases = [
        ({"dataset": "nope"}, "h3_dataset_not_found"),
        ({"dataset": SLUG, "resolutions": [7]}, "resolution_not_computed"),
    ]
    for params, code in cases:
        with pytest.raises(Exception) as err:
            export.export_plan(params)
        assert getattr(err.value, "code", None) == code
    StatDataset.objects.filter(slug=SLUG).update(resolutions=[2, 4, 5, 6])
    with pytest.raises(InvalidInput) as empty:
        export.export_plan({"dataset": SLUG, "resolutions": [2]})
    assert empty.value.code == "nothing_to_export"


def test_another_account_may_not_replace_or_delete_an_export(
    computed: H3Fixture, auth_client: APIClient, operator_client: APIClient
) -> None:
    params = {"dataset": SLUG, "folder": FOLDER, "resolutions": [4]}
    made = auth_client.post("/api/jobs/submit/export_h3_stats", {"parameters": params}, format="json")
    assert made.status_code == 202, made.json()
    assert run_inline(made.json()["job_id"]).status == JobStatus.COMPLETED

    other = {**params, "resolutions": [5]}
    remove = {"dataset": SLUG, "folder": FOLDER, "dry_run": False}
    for job_type, body in (("export_h3_stats", other), ("unpublish_h3_export", remove)):
        refused = operator_client.post(f"/api/jobs/submit/{job_type}", {"parameters": body}, format="json")
        assert refused.status_code == 403 and refused.json()["code"] == "not_output_owner", refused.json()
    assert _files(FOLDER) == [_blob(4)]

    mine = auth_client.post("/api/jobs/submit/export_h3_stats", {"parameters": other}, format="json")
    assert mine.status_code == 202, mine.json()
    assert run_inline(mine.json()["job_id"]).status == JobStatus.COMPLETED
    assert _files(FOLDER) == [_blob(5)]
