"""Maintenance actions: POST only, dry run by default, audited."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone

from geoplatform.models import MaintenanceRecord
from ingest.models import CallbackDelivery, Job, JobStatus, Stage, Task, TaskStatus

pytestmark = pytest.mark.django_db


def _orphan() -> Task:
    job = Job.objects.create(id=uuid.uuid4().hex, job_type="hello", status=JobStatus.RUNNING, stage_count=1)
    stage = Stage.objects.create(
        job=job,
        index=0,
        name="work",
        status=JobStatus.RUNNING,
        tasks_total=1,
        tasks_remaining=1,
        started_at=timezone.now(),
    )
    old = timezone.now() - dt.timedelta(minutes=30)
    return Task.objects.create(
        id=uuid.uuid4().hex,
        job=job,
        stage=stage,
        unit=0,
        status=TaskStatus.RUNNING,
        worker="gone:1",
        started_at=old,
        heartbeat_at=old,
    )


def test_actions_are_post_only(maintainer_client: Any) -> None:
    assert maintainer_client.get("/api/diagnostics/actions/requeue_stuck_tasks/").status_code == 405
    assert maintainer_client.post("/api/diagnostics/actions/nothing/", {}, format="json").status_code == 404


def test_requeue_is_a_dry_run_unless_told_and_every_call_is_audited(maintainer_client: Any) -> None:
    task = _orphan()
    url = "/api/diagnostics/actions/requeue_stuck_tasks/"
    dry = maintainer_client.post(url, {"stale_seconds": 600}, format="json")
    assert dry.status_code == 200, dry.json()
    assert dry.json()["dry_run"] is True and dry.json()["result"]["would_requeue"] == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.RUNNING  # nothing changed

    real = maintainer_client.post(url, {"stale_seconds": 600, "dry_run": False}, format="json").json()
    assert real["dry_run"] is False and real["result"]["requeued"] == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.RETRYING and task.attempts == 1

    records = list(MaintenanceRecord.objects.order_by("created_at", "id"))
    assert [(r.action, r.dry_run, r.ok) for r in records] == [
        ("requeue_stuck_tasks", True, True),
        ("requeue_stuck_tasks", False, True),
    ]
    assert records[1].username == "diag-maintainer" and records[1].params["stale_seconds"] == 600
    assert records[1].result == {"requeued": 1, "failed": 0, "resent": 0}
    log = maintainer_client.get("/api/diagnostics/maintenance/").json()["sources"]["core"]["records"]
    assert [r["dry_run"] for r in log] == [False, True] and log[0]["user"] == "diag-maintainer"


def test_action_parameters_are_validated(maintainer_client: Any) -> None:
    url = "/api/diagnostics/actions/purge_finished_jobs/"
    response = maintainer_client.post(url, {"dry_run": "maybe"}, format="json")
    assert response.status_code == 400 and "dry_run" in response.json()["details"]
    response = maintainer_client.post(url, {"older_than": 3}, format="json")
    assert response.status_code == 400 and "older_than" in response.json()["details"]
    response = maintainer_client.post(url, {"older_than_days": -1}, format="json")
    assert response.status_code == 400 and "older_than_days" in response.json()["details"]
    assert not MaintenanceRecord.objects.exists()  # refused before running: nothing to audit


def test_purge_finished_jobs_by_age(maintainer_client: Any) -> None:
    old = Job.objects.create(
        id="old", job_type="hello", status=JobStatus.FAILED, finished_at=timezone.now() - dt.timedelta(days=10)
    )
    Job.objects.create(id="new", job_type="hello", status=JobStatus.FAILED, finished_at=timezone.now())
    Job.objects.create(id="running", job_type="hello", status=JobStatus.RUNNING)
    url = "/api/diagnostics/actions/purge_finished_jobs/"
    dry = maintainer_client.post(url, {"older_than_days": 5}, format="json").json()
    assert dry["result"]["would_purge_jobs_at_most"] == 1 and dry["result"]["by_status"] == {"failed": 1}
    assert Job.objects.filter(pk=old.pk).exists()
    real = maintainer_client.post(url, {"older_than_days": 5, "dry_run": False}, format="json").json()
    assert real["result"]["jobs"] == 1
    assert set(Job.objects.values_list("id", flat=True)) == {"new", "running"}


def test_resend_callback(maintainer_client: Any) -> None:
    job = Job.objects.create(id="cb", job_type="hello", status=JobStatus.COMPLETED, finished_at=timezone.now())
    CallbackDelivery.objects.create(
        job=job,
        event="completed",
        url="http://client.test/cb",
        attempt=5,
        delivery_id="dlv-1",
        status_code=503,
        ok=False,
        error="HTTP 503",
    )
    url = "/api/diagnostics/actions/resend_callback/"
    dry = maintainer_client.post(url, {"delivery_id": "dlv-1"}, format="json").json()
    assert dry["result"] == {
        "job_id": "cb",
        "event": "completed",
        "url": "http://client.test/cb",
        "delivery_id": "dlv-1",
        "last_attempt": 5,
        "last_ok": False,
        "sent": False,
    }
    real = maintainer_client.post(url, {"delivery_id": "dlv-1", "dry_run": False}, format="json").json()
    assert real["result"]["sent"] is True
    missing = maintainer_client.post(url, {"delivery_id": "nope"}, format="json")
    assert missing.status_code == 404
    assert MaintenanceRecord.objects.filter(action="resend_callback", ok=False).count() == 1  # the 404 is audited
    assert maintainer_client.post(url, {}, format="json").status_code == 400


def test_resend_webhook_needs_a_release(maintainer_client: Any) -> None:
    url = "/api/diagnostics/actions/resend_webhook/"
    response = maintainer_client.post(url, {"event": "approved"}, format="json")
    assert response.status_code == 400 and "release_id" in response.json()["details"]
    assert maintainer_client.post(url, {"release_id": "x", "event": "approved"}, format="json").status_code == 404
