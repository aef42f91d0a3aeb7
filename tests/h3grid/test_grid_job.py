"""bootstrap_h3_grid end to end: small grids (a country, a bbox) stored in h3.cell /
h3.cell_country, the same as the in-process computation; batches idempotent; a job resumed
after a stop runs only what was left; bad parameters refused at submit, nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from django.db import connection

from h3grid import diagnostics, grid, selectors, services, stages
from ingest.execution import task_execute
from ingest.models import Job, JobStatus, Task, TaskStatus
from tests.conftest import wait_for_job
from tests.ingest.inline import run_inline, submit_inline

pytestmark = pytest.mark.django_db

LUX = {"country": "LUX", "max_res": 6}


def _expected(params: dict[str, Any]) -> dict[str, int]:
    land = services.grid_land(params)
    counts: dict[str, int] = {}
    for coarse in grid.coarse_cells_for(land):
        for level in grid.batch_levels(coarse, land, min_res=params.get("min_res", 2), max_res=params["max_res"]):
            counts[str(level.res)] = counts.get(str(level.res), 0) + len(level.cell)
    return {k: v for k, v in counts.items() if v}


def _rows(table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM h3.{table} ORDER BY 1, 2")
        return list(cur.fetchall())


def test_country_grid(settings: Any) -> None:
    job = submit_inline("bootstrap_h3_grid", LUX)
    assert job.status == JobStatus.COMPLETED, job.error
    result = job.result or {}
    assert result["containment"] == "overlap" and result["source"] == "naturalearth_lowres"
    assert result["cells"] == _expected(LUX) == selectors.grid_counts()
    assert result["countries"] == 1
    cells = _rows("cell")
    by_cell = {c: (res, parent) for c, res, parent in cells}
    # Parent links: the H3 parent, NULL at the top of the pyramid.
    top = [c for c, (res, parent) in by_cell.items() if res == 2]
    assert top and all(by_cell[c][1] is None for c in top)
    finer = np.array([c for c, (res, _) in by_cell.items() if res == 6], dtype=np.int64)
    assert (grid.parents(finer, 5) == np.array([by_cell[int(c)][1] for c in finer])).all()
    # Closed under parent: every parent has its row.
    assert all(parent in by_cell for _, parent in by_cell.values() if parent is not None)
    shares = _rows("cell_country")
    assert {iso3 for _, iso3, _ in shares} == {"LUX"}
    assert {c for c, _, _ in shares} <= set(by_cell)
    assert all(0 < s <= 1 for _, _, s in shares)
    # Inner cells whole, border cells partial.
    assert sum(1 for *_, s in shares if s == 1.0) > 0 and sum(1 for *_, s in shares if s < 1.0) > 0
    lux6 = selectors.grid_cells_for_country(iso3="lux", res=6)
    assert len(lux6) == result["cells"]["6"]
    # The secondary indexes, dropped for the load, are back.
    with connection.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'h3'")
        assert set(services.SECONDARY_INDEXES) <= {r[0] for r in cur.fetchall()}
    # Diagnostics: the last bootstrap's counts, no count(*) of the tables.
    seen = diagnostics.grid()
    assert seen["last_bootstrap"]["cells"] == result["cells"] and seen["last_bootstrap"]["job_id"] == job.id
    assert {t["table"] for t in seen["tables"]} == {"cell", "cell_country"}

    # A batch run again replaces its own rows: the same rows, no duplicate.
    before = (cells, shares)
    params = services.grid_bootstrap_params(LUX)
    land = services.grid_land(LUX)
    for coarse in grid.coarse_cells_for(land):
        services.grid_batch_write(coarse=coarse, land_=land, min_res=params["min_res"], max_res=params["max_res"])
    assert (_rows("cell"), _rows("cell_country")) == before

    # Another grid replaces this one: rows of LUX that the bbox grid does not have are gone.
    box = {"bbox": [-5.5, 35.5, -4.5, 36.5], "max_res": 4}  # the Strait of Gibraltar: ESP and MAR
    job = submit_inline("bootstrap_h3_grid", box)
    assert job.status == JobStatus.COMPLETED, job.error
    assert selectors.grid_counts() == _expected(box) == (job.result or {})["cells"]
    assert {iso3 for _, iso3, _ in _rows("cell_country")} == {"ESP", "MAR"}
    inside = selectors.grid_cells_for_bbox(bbox=[-5.4, 35.6, -4.6, 36.4], res=4)
    assert 0 < len(inside) < selectors.grid_counts()["4"]


def test_resume_runs_only_what_was_left() -> None:
    params = {"bbox": [5.0, 45.0, 15.0, 55.0], "max_res": 4}
    job = Job.objects.get(pk=submit_job(params))
    # The worker stops after the plan and the first batch.
    for _ in range(2):
        task = Task.objects.filter(job=job, status=TaskStatus.QUEUED).order_by("stage__index", "unit").first()
        assert task is not None
        task_execute(task_id=task.id)
    done = Task.objects.get(job=job, stage__index=1, unit=0)
    assert done.status == TaskStatus.COMPLETED
    batches = Task.objects.filter(job=job, stage__index=1).count()
    assert batches > 1
    job = run_inline(job.id)
    assert job.status == JobStatus.COMPLETED, job.error
    done.refresh_from_db()
    assert done.attempts == 1  # not run again
    assert (job.result or {})["cells"] == _expected(params) == selectors.grid_counts()


def submit_job(params: dict[str, Any]) -> str:
    from ingest.services import job_submit

    return job_submit(job_type="bootstrap_h3_grid", parameters=params).job.id


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"country": "XXX"}, "Unknown country 'XXX'"),
        ({"bbox": [10, 0, 5, 1]}, "bbox must have"),
        ({"bbox": [1, 2, 3]}, "four numbers"),
        ({"source": "no_such_collection"}, "No features collection 'no_such_collection'"),
        ({"iso3_column": "adm0_a3"}, "ISO3 column 'iso_a3'"),
        ({"min_res": 5, "max_res": 3}, "min_res (5) is above max_res (3)"),
        ({"max_res": 9}, "at most 7"),
    ],
)
def test_bad_parameters_refused(auth_client: Any, params: dict[str, Any], says: str) -> None:
    resp = auth_client.post("/api/jobs/submit/bootstrap_h3_grid", {"parameters": params}, format="json")
    assert resp.status_code == 400, resp.content
    assert says in resp.content.decode()
    assert not Job.objects.filter(job_type="bootstrap_h3_grid").exists()
    assert _rows("cell") == [] and _rows("cell_country") == []


def test_no_land_in_bbox_fails_cleanly() -> None:
    job = submit_inline("bootstrap_h3_grid", {"bbox": [-30.0, -50.0, -20.0, -40.0], "max_res": 3})
    assert job.status == JobStatus.FAILED
    assert "No land polygon" in str(job.error)
    assert _rows("cell") == []


@pytest.fixture
def _empty_grid_after() -> Any:
    """A transactional test commits: the h3 tables (not Django models, so not flushed) are
    emptied afterwards."""
    yield
    with connection.cursor() as cur:
        cur.execute("TRUNCATE h3.cell, h3.cell_country")


@pytest.mark.django_db(transaction=True)
def test_worker_builds_a_grid(live_worker: Any, auth_client: Any, _empty_grid_after: Any) -> None:
    params = {"country": "BEL", "max_res": 5}
    resp = auth_client.post("/api/jobs/submit/bootstrap_h3_grid", {"parameters": params}, format="json")
    assert resp.status_code in (200, 201, 202), resp.content
    job = wait_for_job(resp.json()["job_id"], timeout=120)
    assert job.status == JobStatus.COMPLETED, job.error
    assert selectors.grid_counts() == _expected(params) == job.result["cells"]


def test_preflight_lists_problem() -> None:
    assert stages.preflight({"country": "XXX"})
    assert stages.preflight({"country": "BEL"}) == []


def test_one_bootstrap_at_a_time(auth_client: Any) -> None:
    first = submit_job({"country": "BEL", "max_res": 3})  # queued, not run
    resp = auth_client.post("/api/jobs/submit/bootstrap_h3_grid", {"parameters": {"country": "LUX"}}, format="json")
    assert resp.status_code == 400, resp.content
    assert f"Another bootstrap_h3_grid job is running ({first})" in resp.content.decode()
    # The same parameters join the job instead.
    again = auth_client.post(
        "/api/jobs/submit/bootstrap_h3_grid", {"parameters": {"country": "BEL", "max_res": 3}}, format="json"
    )
    assert again.status_code in (200, 202), again.content
    assert again.json()["job_id"] == first


def test_features_collection_source() -> None:
    """A loaded features collection as the land (the path the managed Admin0 collection takes):
    its ISO3 column found by name, the same cells as the shipped file gives."""
    from django.core.files import File

    from features.services import dataset_unpublish
    from geoplatform.storage import get_storage, zone_container

    bronze = zone_container("bronze")
    name = f"tests/{uuid.uuid4().hex[:10]}/countries.gpkg"
    with open(grid.SHIPPED, "rb") as fh:
        get_storage(bronze).save(name, File(fh, name=name))
    try:
        loaded = submit_inline("process_vector", {"file_name": name, "table_name": "h3_test_countries"})
        assert loaded.status == JobStatus.COMPLETED, loaded.error
        params = {"source": "h3_test_countries", "country": "BEL", "max_res": 5}
        job = submit_inline("bootstrap_h3_grid", params)
        assert job.status == JobStatus.COMPLETED, job.error
        result = job.result or {}
        assert result["source"] == "h3_test_countries" and result["iso3_column"] == "iso_a3"
        assert result["cells"] == _expected({"country": "BEL", "max_res": 5}) == selectors.grid_counts()
        bad = auth_submit_problem({"source": "h3_test_countries", "iso3_column": "nope"})
        assert "has no column 'nope'" in bad
    finally:
        dataset_unpublish(collection_id="h3_test_countries", dry_run=False)
        get_storage(bronze).delete(name)


def auth_submit_problem(params: dict[str, Any]) -> str:
    from geoplatform.errors import InvalidInput
    from ingest.services import job_submit

    with pytest.raises(InvalidInput) as caught:
        job_submit(job_type="bootstrap_h3_grid", parameters=params)
    return str(caught.value.details)
