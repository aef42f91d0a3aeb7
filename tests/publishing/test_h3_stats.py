"""The h3_stats kind: an H3 statistics dataset released through /api/platform/* as GeoParquet.

DDH names a dataset (``h3_dataset``) instead of a file -> export_h3_stats writes one file per
resolution into the release's own silver folder -> approve (public) copies them to the
external zone (audited), where DuckDB and pyarrow read them -> revoke removes the copies ->
unpublish the silver files. Refusals are 400s that write nothing; a failed export leaves no
file; a second version or an overwrite replaces the files of the export cleanly.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from geoplatform.storage import blob_delete, blob_list, zone_container, zone_storage
from h3grid.models import StatDataset
from ingest.execution import task_execute
from ingest.models import Job, Task
from publishing import kinds
from publishing.models import Release, ReleaseAudit
from tests.conftest import wait_for_job
from tests.h3grid.conftest import RESOLUTIONS, H3Fixture, _insert, _remove
from tests.h3grid.conftest_agg import quiet_azure

from .conftest import poll_status, run_job

P = "/api/platform"
SLUG = "h3-pub-test"
FOLDER_V1 = f"h3/{SLUG}/releases/stats/lux-pop/v1"


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet_azure()


def _zones_clear(slug: str) -> None:
    for zone in ("silver", "external"):
        container = zone_container(zone)
        for name in blob_list(container, f"h3/{slug}"):
            blob_delete(container, name)


def _dataset(slug: str = SLUG) -> Iterator[H3Fixture]:
    fx = _insert(slug)
    # _insert registers the rows only: make it a dataset its aggregation job has finished.
    StatDataset.objects.filter(pk=fx.dataset_id).update(computed_at=dt.datetime.now(dt.UTC))
    yield fx
    _remove(fx)
    _zones_clear(slug)


@pytest.fixture
def stat_dataset(db: Any) -> Iterator[H3Fixture]:
    """A small computed dataset (resolutions 4-6 near Nairobi), removed with its files afterwards."""
    yield from _dataset()


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataset_id": "stats",
        "resource_id": "lux-pop",
        "h3_dataset": SLUG,
        "title": "Population per H3 cell",
        "processing_options": {"resolutions": [4, 5]},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _poll_external(client: APIClient, url: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = dict(client.get(url).json())
        if (body.get("external") or {}).get("status") == status:
            return body
        time.sleep(0.3)
    raise AssertionError(f"external of {url} never {status}: {body.get('external')}")


def _download(zone: str, blob: str, tmp_path: Path) -> Path:
    target = tmp_path / blob.replace("/", "_")
    with zone_storage(zone).open(blob, "rb") as fh:
        target.write_bytes(fh.read())
    return target


# --- the whole cycle through the real worker -------------------------------------------------------


@pytest.mark.broker
def test_h3_stats_release_through_the_worker(
    live_worker: Any, stat_dataset: H3Fixture, ddh_client: APIClient, tmp_path: Path
) -> None:
    fx = stat_dataset
    dry = ddh_client.post(f"{P}/submit?dry_run=true", _body(), format="json")
    assert dry.status_code == 200, dry.json()
    assert dry.json()["data_type"] == "h3_stats" and dry.json()["would_create_job_type"] == "export_h3_stats"

    sub = ddh_client.post(f"{P}/submit", _body(), format="json")
    assert sub.status_code == 202, sub.json()
    submitted = sub.json()
    assert submitted["job_type"] == "export_h3_stats"
    assert Release.objects.get(pk=submitted["release_id"]).job_parameters == {
        "dataset": SLUG,
        "resolutions": [4, 5],
        "folder": FOLDER_V1,
    }

    status = poll_status(ddh_client, submitted["monitor_url"])
    assert status["asset"]["data_type"] == status["release"]["data_type"] == "h3_stats"
    assert status["release"]["processing_status"] == "completed" and "services" not in status
    outputs = status["outputs"]
    blobs = [f"{FOLDER_V1}/res-{r}/{SLUG}.parquet" for r in (4, 5)]
    assert outputs["blobs"] == blobs and outputs["prefix"] == f"{FOLDER_V1}/"
    assert {f["res"]: f["rows"] for f in outputs["files"]} == {r: len(fx.cells[r]) for r in (4, 5)}

    dry_unpublish = ddh_client.post(f"{P}/unpublish", {"request_id": submitted["request_id"]}, format="json").json()
    assert dry_unpublish["would_delete"]["silver_blobs"] == blobs
    assert dry_unpublish["would_delete"]["external_blobs"] == []
    assert dry_unpublish["would_delete"]["job_type"] == "unpublish_h3_export"

    approve = {"request_id": submitted["request_id"], "reviewer": "alice", "clearance_state": "public"}
    resp = ddh_client.post(f"{P}/approve", approve, format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["services"]["service_url"].endswith(f"/api/h3/stats/{SLUG}")
    approved = _poll_external(ddh_client, submitted["monitor_url"], "copied")
    assert approved["services"]["h3_dataset"] == SLUG
    assert [f["blob"] for f in approved["services"]["files"]] == blobs
    copies = approved["external"]["copies"]
    assert [c["blob"] for c in copies] == blobs and all(c["url"] and c["sha256"] for c in copies)
    release = Release.objects.get(pk=submitted["release_id"])
    audited = ReleaseAudit.objects.filter(release=release, event="externalized")
    assert sorted(a.reason.split(",")[0] for a in audited) == [f"blob={b}" for b in blobs]

    # The external copies are GeoParquet 1.1 any reader takes: pyarrow and DuckDB (no extension).
    res5 = _download("external", blobs[1], tmp_path)
    geo = json.loads(pq.read_schema(res5).metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    table = pq.read_table(res5)
    assert table.num_rows == len(fx.cells[5]) and set(table.column("res").to_pylist()) == {5}
    values = dict(zip(table.column("cell").to_pylist(), table.column("mean").to_pylist(), strict=True))
    assert all(abs(values[c] - fx.values[c]) < 1e-9 for c in fx.cells[5])
    for blob in blobs:
        _download("external", blob, tmp_path)
    con = duckdb.connect()
    per_res = dict(
        con.execute(
            "SELECT res, count(*) FROM read_parquet(?) GROUP BY res", [str(tmp_path / "h3_*.parquet")]
        ).fetchall()
    )
    assert per_res == {4: len(fx.cells[4]), 5: len(fx.cells[5])}
    countries = {r[0] for r in con.execute("SELECT DISTINCT iso3 FROM read_parquet(?)", [str(res5)]).fetchall()}
    assert countries == {"KEN"}

    revoke = {"request_id": submitted["request_id"], "reviewer": "bob", "reason": "superseded"}
    assert ddh_client.post(f"{P}/revoke", revoke, format="json").status_code == 200
    revoked = _poll_external(ddh_client, submitted["monitor_url"], "removed")
    assert revoked["release"]["approval_state"] == "revoked" and "services" not in revoked
    external, silver = zone_storage("external"), zone_storage("silver")
    assert not any(external.exists(b) for b in blobs)
    assert all(silver.exists(b) for b in blobs)  # revoke takes the public copies; unpublish the rest

    live = ddh_client.post(f"{P}/unpublish", {"request_id": submitted["request_id"], "dry_run": False}, format="json")
    assert live.status_code == 202, live.json()
    assert wait_for_job(live.json()["job_id"], timeout=60).status == "completed"
    assert not any(silver.exists(b) for b in blobs)
    assert blob_list(zone_container("silver"), f"h3/{SLUG}") == []


# --- refusals: clear 400s, nothing written -------------------------------------------------------


def _refused(client: APIClient, body: dict[str, Any], error_type: str, needle: str) -> None:
    resp = client.post(f"{P}/submit", body, format="json")
    assert resp.status_code == 400, resp.json()
    assert resp.json()["error_type"] == error_type and needle in resp.json()["error"], resp.json()


def test_refusals_are_400s_that_write_nothing(stat_dataset: H3Fixture, ddh_client: APIClient) -> None:
    _refused(ddh_client, _body(h3_dataset="no-such-stats"), "H3DatasetNotFound", "no-such-stats")
    _refused(
        ddh_client, _body(processing_options={"resolutions": [4, 7]}), "ResolutionNotComputed", "no resolution [7]"
    )
    # A resolution the dataset lists but where its aggregation found no cell.
    StatDataset.objects.filter(slug=SLUG).update(resolutions=[3, *RESOLUTIONS])
    _refused(ddh_client, _body(processing_options={"resolutions": [3]}), "NothingToExport", "nothing to export")
    StatDataset.objects.filter(slug=SLUG).update(computed_at=None)
    _refused(ddh_client, _body(), "NothingToExport", "not computed yet")
    StatDataset.objects.filter(slug=SLUG).update(computed_at=dt.datetime.now(dt.UTC))
    # One source per submit; a container means a file.
    _refused(ddh_client, _body(file_name="x.geojson", container_name="c"), "InvalidInput", "one source")
    _refused(ddh_client, _body(container_name="c"), "InvalidInput", "'container_name' does not go")
    _refused(ddh_client, _body(processing_options={"table_name": "t"}), "InvalidInput", "table_name")
    _refused(ddh_client, _body(processing_options={"resolutions": "4"}), "InvalidInput", "resolutions")
    _refused(ddh_client, _body(processing_options={"resolutions": ["a", 1.5]}), "InvalidInput", "integers")
    assert not Release.objects.exists() and not Job.objects.filter(job_type="export_h3_stats").exists()
    # By its numeric id too, as /api/h3/ names it.
    dry = ddh_client.post(f"{P}/submit?dry_run=true", _body(h3_dataset=str(stat_dataset.dataset_id)), format="json")
    assert dry.status_code == 200 and dry.json()["data_type"] == "h3_stats", dry.json()


def test_result_keys_are_keys_the_export_writes() -> None:
    from h3grid.export import ExportResult
    from publishing.kinds.h3_stats import H3_STATS

    assert set(H3_STATS.result_keys) <= set(ExportResult.__annotations__)


def test_file_submits_are_detected_as_before() -> None:
    """The source field alone picks h3_stats; without it a file is what it always was."""
    assert kinds.detect(file_name="a.tif", source_url=None, fields={"file_name": "a.tif"}).data_type == "raster"
    assert kinds.detect(file_name="a.geojson", source_url=None, fields={"h3_dataset": ""}).data_type == "vector"
    assert kinds.detect(file_name=None, source_url=None, fields={"h3_dataset": SLUG}).data_type == "h3_stats"
    assert kinds.detect(file_name=["a.tif", "b.tif"], source_url=None).data_type == "raster_collection"


# --- reject, failure, versions, overwrite (jobs run in-process) -----------------------------------


def _submit(client: APIClient, **overrides: Any) -> Release:
    resp = client.post(f"{P}/submit", _body(**overrides), format="json")
    assert resp.status_code == 202, resp.json()
    return Release.objects.get(pk=resp.json()["release_id"])


def _approved_public(client: APIClient, release: Release) -> Release:
    approve = {"release_id": release.id, "reviewer": "alice", "clearance_state": "public"}
    assert client.post(f"{P}/approve", approve, format="json").status_code == 200
    release.refresh_from_db()
    assert run_job(release.external["job_id"]).status == "completed"
    release.refresh_from_db()
    return release


def test_the_review_gate_guards_a_release_export_on_the_generic_api(
    stat_dataset: H3Fixture, ddh_client: APIClient
) -> None:
    """Even the client that made it changes a release's export only through /api/platform/*."""
    release = _submit(ddh_client)
    assert run_job(release.job_id).status == "completed"
    folder = release.job_parameters["folder"]
    for job_type, params in (
        ("export_h3_stats", {"dataset": SLUG, "folder": folder, "resolutions": [6]}),
        ("unpublish_h3_export", {"dataset": SLUG, "folder": folder, "dry_run": False}),
    ):
        resp = ddh_client.post(f"/api/jobs/submit/{job_type}", {"parameters": params}, format="json")
        assert resp.status_code == 403 and resp.json()["code"] == "protected_output", resp.json()
        assert release.id in resp.json()["message"]
    assert blob_list(zone_container("silver"), folder) == [f"{folder}/res-{r}/{SLUG}.parquet" for r in (4, 5)]


def test_reject_copies_nothing_and_unpublish_removes_the_export(stat_dataset: H3Fixture, ddh_client: APIClient) -> None:
    release = _submit(ddh_client)
    assert run_job(release.job_id).status == "completed"
    # The reviewer's page links the kind's preview (the hexagon map of the dataset).
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("h3-reviewer", "r@example.org", "pw-for-tests-only"))
    page = admin.get(f"/admin/publishing/release/{release.id}/change/").content.decode()
    assert f"/api/h3/map?dataset={SLUG}" in page
    reject = {"release_id": release.id, "reviewer": "r", "reason": "wrong year"}
    assert ddh_client.post(f"{P}/reject", reject, format="json").status_code == 200
    release.refresh_from_db()
    assert release.approval_state == "rejected" and release.external == {}
    assert blob_list(zone_container("external"), f"h3/{SLUG}") == []
    live = ddh_client.post(f"{P}/unpublish", {"release_id": release.id, "dry_run": False}, format="json")
    assert live.status_code == 202, live.json()
    assert run_job(live.json()["job_id"]).status == "completed"
    assert blob_list(zone_container("silver"), f"h3/{SLUG}") == []


def test_a_failed_export_leaves_no_file(stat_dataset: H3Fixture, ddh_client: APIClient) -> None:
    release = _submit(ddh_client, processing_options={"resolutions": [4, 5, 6]})
    tasks = Task.objects.filter(job_id=release.job_id).order_by("unit")
    task_execute(task_id=tasks[0].id)  # resolution 4 is written ...
    assert blob_list(zone_container("silver"), FOLDER_V1) == [f"{FOLDER_V1}/res-4/{SLUG}.parquet"]
    StatDataset.objects.filter(slug=SLUG).update(computed_at=None)  # ... then the dataset goes away
    job = run_job(release.job_id)
    assert job.status == "failed" and "not computed" in job.error["message"]
    assert blob_list(zone_container("silver"), f"h3/{SLUG}") == []  # the cleanup took resolution 4
    status = ddh_client.get(f"{P}/status/{release.request_id}").json()
    assert status["release"]["processing_status"] == "failed" and status["error"]["message"]


def test_a_second_version_and_an_overwrite_replace_the_export_cleanly(
    stat_dataset: H3Fixture, ddh_client: APIClient
) -> None:
    silver, external = zone_container("silver"), zone_container("external")
    v1 = _submit(ddh_client, version_id="2023")
    assert run_job(v1.job_id).status == "completed"
    v1 = _approved_public(ddh_client, v1)
    v1_blobs = [c["blob"] for c in v1.external["copies"]]
    assert v1_blobs == [f"{FOLDER_V1}/res-{r}/{SLUG}.parquet" for r in (4, 5)]

    # Version 2 (all resolutions): its own folder, its own copies; v1's are untouched.
    v2 = _submit(ddh_client, version_id="2024", processing_options=None)
    assert v2.version_ordinal == 2 and v2.job_parameters["folder"].endswith("/v2")
    assert run_job(v2.job_id).status == "completed"
    v2 = _approved_public(ddh_client, v2)
    v2_blobs = [c["blob"] for c in v2.external["copies"]]
    assert len(v2_blobs) == 3 and not set(v2_blobs) & set(v1_blobs)
    assert blob_list(external, f"h3/{SLUG}") == sorted(v1_blobs + v2_blobs)

    # Revoking version 1 takes its copies only.
    revoke = {"release_id": v1.id, "reviewer": "bob", "reason": "superseded by 2024"}
    assert ddh_client.post(f"{P}/revoke", revoke, format="json").status_code == 200
    v1.refresh_from_db()
    assert run_job(v1.external["job_id"]).status == "completed"
    assert blob_list(external, f"h3/{SLUG}") == sorted(v2_blobs)

    # Version 3, rejected, then overwritten with fewer resolutions: the dropped one goes.
    v3 = _submit(ddh_client, version_id="2025", processing_options=None)
    assert run_job(v3.job_id).status == "completed"
    folder3 = v3.job_parameters["folder"]
    assert len(blob_list(silver, folder3)) == 3
    reject = {"release_id": v3.id, "reviewer": "r", "reason": "recompute"}
    assert ddh_client.post(f"{P}/reject", reject, format="json").status_code == 200
    again = _submit(ddh_client, version_id="2025", processing_options={"resolutions": [6], "overwrite": True})
    assert again.id == v3.id and again.revision == 2
    assert run_job(again.job_id).status == "completed"
    assert blob_list(silver, folder3) == [f"{folder3}/res-6/{SLUG}.parquet"]
    assert blob_list(external, f"h3/{SLUG}") == sorted(v2_blobs)  # the approved version 2 is untouched

    # Unpublishing the approved version 2 takes its external copies and its silver files.
    body = {"release_id": v2.id, "dry_run": False, "force_approved": True, "reason": "withdrawn"}
    live = ddh_client.post(f"{P}/unpublish", body, format="json")
    assert live.status_code == 202, live.json()
    assert sorted(live.json()["would_delete"]["external_blobs"]) == sorted(v2_blobs)
    assert run_job(live.json()["job_id"]).status == "completed"
    v2.refresh_from_db()
    assert run_job(v2.external["job_id"]).status == "completed"
    assert blob_list(external, f"h3/{SLUG}") == []
    # Left: the silver files of the revoked version 1 (not unpublished) and of version 3.
    assert blob_list(silver, f"h3/{SLUG}") == sorted([*v1_blobs, f"{folder3}/res-6/{SLUG}.parquet"])
