"""Operators' commands: clear_app_state and rebuild_app_tables leave business data alone."""

from __future__ import annotations

import secrets
from io import StringIO
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection

from catalog import pgstac
from geoplatform.storage import zone_storage
from ingest.models import ApiClient, CallbackDelivery, Job, JobEvent, Stage, Task, WorkerHeartbeat
from publishing.models import Asset, Platform, Release


def _job(status: str = "completed") -> Job:
    job = Job.objects.create(id=secrets.token_hex(32), job_type="process_vector", status=status, result={"rows": 3})
    stage = Stage.objects.create(job=job, index=0, name="load", tasks_total=1)
    task = Task.objects.create(id=secrets.token_hex(32), job=job, stage=stage, unit=0)
    JobEvent.objects.create(job=job, task=task, kind="stage", message="load")
    CallbackDelivery.objects.create(
        job=job, event="job.completed", url="http://127.0.0.1/x", attempt=1, delivery_id="d"
    )
    return job


@pytest.fixture
def world(service_account: Any) -> dict[str, Any]:
    """Business data of every kind, and application rows around it."""
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE geo.appstate_keep (id bigint PRIMARY KEY, name text)")
        cur.execute("INSERT INTO geo.appstate_keep VALUES (1, 'kept')")
    pgstac.collection_upsert(
        {
            "id": "appstate-test",
            "type": "Collection",
            "stac_version": "1.0.0",
            "description": "t",
            "license": "proprietary",
            "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
        }
    )
    pgstac.item_upsert(
        {
            "id": "kept-item",
            "type": "Feature",
            "stac_version": "1.0.0",
            "collection": "appstate-test",
            "geometry": {"type": "Point", "coordinates": [1, 2]},
            "bbox": [1, 2, 1, 2],
            "properties": {"datetime": "2024-01-01T00:00:00Z"},
            "links": [],
            "assets": {},
        }
    )
    blob = f"appstate/{secrets.token_hex(4)}.txt"
    zone_storage("silver").save(blob, ContentFile(b"business"))
    released_job, loose_job = _job(), _job()
    platform, _ = Platform.objects.get_or_create(code="ddh", defaults={"name": "DDH"})
    asset = Asset.objects.create(id=secrets.token_hex(16), platform=platform, dataset_id="d", resource_id="r")
    release = Release.objects.create(
        id=secrets.token_hex(16),
        asset=asset,
        version_ordinal=1,
        request_id="q",
        data_type="vector",
        job_type="process_vector",
        job=released_job,
        table_name="appstate_keep",
    )
    WorkerHeartbeat.objects.create(
        worker_id="w1", hostname="h", pid=1, started_at=release.created_at, last_seen=release.created_at
    )
    yield {"release": release, "released_job": released_job, "loose_job": loose_job, "blob": blob}
    zone_storage("silver").delete(blob)


def _business_intact(world: dict[str, Any]) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM geo.appstate_keep")
        assert cur.fetchall() == [("kept",)]
    assert pgstac.item_get("appstate-test", "kept-item") is not None
    assert zone_storage("silver").open(world["blob"]).read() == b"business"
    release = Release.objects.get(pk=world["release"].pk)
    # The job a release points at stays as its record: status and outputs unchanged.
    assert release.job_id == world["released_job"].id
    assert release.processing_status == "completed" and release.outputs == {"rows": 3}
    assert ApiClient.objects.count() == 1  # service accounts are configuration, not state


def _snapshot() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (Job, Stage, Task, JobEvent, CallbackDelivery, WorkerHeartbeat)}


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["clear_app_state", "rebuild_app_tables"])
def test_dry_run_changes_nothing(world: dict[str, Any], command: str) -> None:
    before = _snapshot()
    out = StringIO()
    call_command(command, "--dry-run", stdout=out)
    text = out.getvalue()
    assert "would remove 2 row(s) from ingest_task" in text
    assert "would keep 1 job(s)" in text and "dry run: nothing changed" in text
    assert _snapshot() == before
    _business_intact(world)


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["clear_app_state", "rebuild_app_tables"])
def test_app_rows_go_and_business_data_stays(world: dict[str, Any], command: str) -> None:
    out = StringIO()
    call_command(command, stdout=out)
    assert "did remove 1 row(s) from ingest_job" in out.getvalue()
    assert _snapshot() == {
        "Job": 1,  # the released one
        "Stage": 0,
        "Task": 0,
        "JobEvent": 0,
        "CallbackDelivery": 0,
        "WorkerHeartbeat": 0,
    }
    assert not Job.objects.filter(pk=world["loose_job"].pk).exists()
    _business_intact(world)
    # The tables work as before: the engine can write a whole job again.
    _job()


@pytest.mark.django_db
def test_rebuild_recreates_structure_and_the_release_foreign_key(world: dict[str, Any]) -> None:
    def structure() -> dict[str, Any]:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid::regclass::text LIKE ANY (ARRAY['ingest_%%', 'publishing_release']) ORDER BY 1"
            )
            constraints = cur.fetchall()
            cur.execute("SELECT indexname FROM pg_indexes WHERE tablename LIKE 'ingest_%%' ORDER BY 1")
            indexes = cur.fetchall()
            cur.execute("SELECT reloptions FROM pg_class WHERE relname = 'ingest_task'")
            options = cur.fetchone()
        return {"constraints": constraints, "indexes": indexes, "task_options": options}

    before = structure()
    with connection.cursor() as cur:
        cur.execute("SELECT 'ingest_job'::regclass::oid")
        (old_oid,) = cur.fetchone()
    call_command("rebuild_app_tables", stdout=StringIO())
    with connection.cursor() as cur:
        cur.execute("SELECT 'ingest_job'::regclass::oid")
        assert cur.fetchone()[0] != old_oid  # really dropped and created
    after = structure()
    assert after == before  # same constraints (release -> job included), indexes, fillfactor


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["clear_app_state", "rebuild_app_tables"])
def test_refuses_while_jobs_run_unless_forced(world: dict[str, Any], command: str) -> None:
    running = _job(status="running")
    Release.objects.filter(pk=world["release"].pk).update(job=running)
    with pytest.raises(CommandError, match=r"queued or running.*--force"):
        call_command(command, stdout=StringIO())
    assert Task.objects.filter(job=running).exists()
    call_command(command, "--force", stdout=StringIO())
    running = Job.objects.get(pk=running.pk)  # referenced by the release: kept, and stopped
    assert running.status == "cancelled" and running.error["code"] == "app_state_cleared"
