"""Retention: the janitor deletes finished jobs past GEOPLATFORM_RETENTION_DAYS with their
tasks, stages, events and callback deliveries; running jobs and recent ones stay, and a job
a release still reads its outputs from keeps its row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from ingest import events, janitor, selectors, services
from ingest.models import CallbackDelivery, Job, JobEvent, JobSubscriber, Stage, Task
from publishing.models import Asset, Platform, Release


def _job(name: str, status: str, *, age_days: float, tasks: int = 3, job_type: str = "hello") -> Job:
    when = timezone.now() - dt.timedelta(days=age_days)
    finished = when if status in {"completed", "failed", "cancelled"} else None
    job = Job.objects.create(
        id=name.ljust(64, "0"),
        job_type=job_type,
        status=status,
        stage_count=1,
        finished_at=finished,
        result={"total": 1} if status == "completed" else None,
    )
    Job.objects.filter(pk=job.pk).update(created_at=when)
    active = finished is None
    stage = Stage.objects.create(
        job=job, index=0, name="square", tasks_total=tasks, tasks_remaining=tasks if active else 0, status=status
    )
    for unit in range(tasks):
        task = Task.objects.create(
            id=services.task_id_for(job.id, 0, unit),
            job=job,
            stage=stage,
            unit=unit,
            status="queued" if active else "completed",
            enqueued_at=timezone.now(),
        )
        events.event_record(job.id, "task_done", "done", task_id=task.id)
    CallbackDelivery.objects.create(
        job=job, event="job.completed", url="http://127.0.0.1/cb", attempt=1, delivery_id="d"
    )
    return job


def _counts(job: Job) -> tuple[int, int, int, int, int]:
    return (
        Job.objects.filter(pk=job.pk).count(),
        Stage.objects.filter(job_id=job.pk).count(),
        Task.objects.filter(job_id=job.pk).count(),
        JobEvent.objects.filter(job_id=job.pk).count(),
        CallbackDelivery.objects.filter(job_id=job.pk).count(),
    )


@pytest.mark.django_db
def test_janitor_purges_old_finished_jobs_only(settings: Any) -> None:
    settings.GEOPLATFORM_RETENTION_DAYS = 30
    old = [_job(f"old{status}", status, age_days=40) for status in ("completed", "failed", "cancelled")]
    recent = _job("recent", "completed", age_days=29)
    # Submitted long ago and still going (a long raster collection, a stuck queue): never purged.
    running = _job("running", "running", age_days=400)
    queued = _job("queued", "queued", age_days=400)
    # An old job whose outputs an approved release still serves (Release.job is SET_NULL: deleting
    # the job would turn the release into "failed" with no outputs).
    served = _job("served", "completed", age_days=400)
    platform, _ = Platform.objects.get_or_create(code="ddh", defaults={"name": "DDH"})
    asset = Asset.objects.create(id="a" * 32, platform=platform, dataset_id="d", resource_id="r")
    release = Release.objects.create(
        id="r" * 32, asset=asset, version_ordinal=1, request_id="q" * 32, data_type="vector",
        job_type="hello", job=served, approval_state="approved",
    )  # fmt: skip

    client = get_user_model().objects.create_user("retention-client")
    for job in (old[0], served):
        JobSubscriber.objects.create(job=job, user=client)

    call_command("janitor", stdout=open("/dev/null", "w"))  # one pass: re-queue, re-send, purge

    for job in old:
        assert _counts(job) == (0, 0, 0, 0, 0), job.status
    for job in (recent, running, queued):
        assert _counts(job) == (1, 1, 3, 3, 1), job.status
    # The served job keeps its row and stages (status, result, progress); its history goes.
    assert _counts(served) == (1, 1, 0, 0, 0)
    # Subscribers go with a deleted job, and stay with a kept one (they may still read it).
    assert list(JobSubscriber.objects.values_list("job_id", flat=True)) == [served.pk]
    release.refresh_from_db()
    assert release.job_id == served.pk and release.processing_status == "completed"
    assert release.outputs == {"total": 1}
    # Nothing left to do on the next pass.
    assert janitor.retention_purge() == {"jobs": 0, "tasks": 0, "events": 0, "deliveries": 0}


@pytest.mark.django_db
def test_retention_purge_works_in_batches_and_can_be_turned_off(settings: Any) -> None:
    jobs = [_job(f"batch{i}", "completed", age_days=10, tasks=2) for i in range(5)]
    settings.GEOPLATFORM_RETENTION_DAYS = 0
    assert janitor.retention_purge()["jobs"] == 0  # 0: keep forever
    settings.GEOPLATFORM_RETENTION_DAYS = 7
    outcome = janitor.retention_purge(batch_size=2)
    assert outcome == {"jobs": 5, "tasks": 10, "events": 10, "deliveries": 5}
    assert not Job.objects.filter(pk__in=[j.pk for j in jobs]).exists()


@pytest.mark.django_db
def test_platform_backlog_scan_goes_through_the_job_status_index() -> None:
    """The backlog count of platform health reads the few active jobs' tasks, not the whole
    task table (Task.status has no index: its updates must stay HOT)."""
    done = _job("done", "completed", age_days=1, tasks=5)
    active = _job("active", "running", age_days=0, tasks=2)
    Task.objects.filter(job=active).update(status="queued", queue="etl")
    # A stray queued task of a finished job is not backlog: no worker will run it.
    Task.objects.filter(job=done, unit=0).update(status="queued")
    assert selectors.task_backlog() == {"etl": 2}
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        sql, params = (
            Task.objects.filter(job__status__in=["queued", "running"], status__in=["queued", "retrying"])
            .values("queue")
            .query.sql_with_params()
        )
        cur.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "Seq Scan on ingest_task" not in plan, plan


@pytest.mark.django_db
def test_a_completed_job_that_made_outputs_stays_as_their_record(settings: Any) -> None:
    """Tables and STAC items name the job that made them; the job's submitter and subscribers
    say which account may replace or delete them through /api/jobs. Purging that job would
    leave its outputs to operators only: its row and subscribers stay, its history goes."""
    settings.GEOPLATFORM_RETENTION_DAYS = 30
    loaded = _job("loaded", "completed", age_days=400, job_type="process_vector")
    failed = _job("failedload", "failed", age_days=400, job_type="process_vector")
    owner = get_user_model().objects.create_user("owner-of-a-table")
    JobSubscriber.objects.create(job=loaded, user=owner)

    janitor.retention_purge()

    assert _counts(loaded) == (1, 1, 0, 0, 0)
    assert JobSubscriber.objects.filter(job=loaded, user=owner).exists()
    assert _counts(failed) == (0, 0, 0, 0, 0)
