"""The engine's services against the real database (no worker: tasks driven by hand)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from ingest import backoff, execution, janitor, messages, services
from ingest.errors import JobNotRunnable
from ingest.models import Job, JobEvent, JobStatus, Stage, Task, TaskStatus

pytestmark = pytest.mark.django_db


def _run_stage_by_hand(job_id: str, stage_index: int) -> None:
    """Execute every task of a stage in this process (the handler code, not a stub)."""
    for task_id in Task.objects.filter(job_id=job_id, stage__index=stage_index).values_list("id", flat=True):
        execution.task_execute(task_id=task_id)


def test_submit_creates_the_first_stage_and_its_tasks() -> None:
    outcome = services.job_submit(job_type="hello", parameters={"count": 5})
    assert outcome.outcome == "created"
    job = outcome.job
    assert job.status == JobStatus.QUEUED and job.stage_count == 3
    assert list(Stage.objects.filter(job=job).values_list("name", "tasks_total")) == [("greet", 1)]
    assert Task.objects.filter(job=job).count() == 1


def test_a_job_runs_to_completion_stage_by_stage() -> None:
    job = services.job_submit(job_type="hello", parameters={"count": 5}).job
    for index in range(3):
        _run_stage_by_hand(job.id, index)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.result == {"message": "hello world", "count": 5, "total": 30}
    assert [s.tasks_remaining for s in Stage.objects.filter(job=job)] == [0, 0, 0]


def test_resubmit_semantics_completed_in_progress_failed_and_force() -> None:
    first = services.job_submit(job_type="hello", parameters={"count": 2})
    again = services.job_submit(job_type="hello", parameters={"count": 2})
    assert again.outcome == "in_progress" and again.job.id == first.job.id

    for index in range(3):
        _run_stage_by_hand(first.job.id, index)
    done = services.job_submit(job_type="hello", parameters={"count": 2})
    assert done.outcome == "existing" and done.job.result["total"] == 1

    forced = services.job_submit(job_type="hello", parameters={"count": 2}, force=True)
    assert forced.outcome == "restarted"
    forced.job.refresh_from_db()
    assert forced.job.runs == 2 and forced.job.status == JobStatus.QUEUED and forced.job.result is None
    _run_stage_by_hand(forced.job.id, 0)  # the re-run is "running" again once a task starts
    forced.job.refresh_from_db()
    assert forced.job.status == JobStatus.RUNNING


def test_a_failed_job_is_reset_and_rerun_with_its_error_history_kept() -> None:
    job = services.job_submit(job_type="hello", parameters={"count": 2, "fail_mode": "permanent"}).job
    _run_stage_by_hand(job.id, 0)
    _run_stage_by_hand(job.id, 1)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error["code"] == "hello_refused"
    # The other task of the failed stage was cancelled or completed, never left queued.
    assert not Task.objects.filter(job=job, status=TaskStatus.QUEUED).exists()

    rerun = services.job_submit(job_type="hello", parameters={"count": 2, "fail_mode": "permanent"})
    assert rerun.outcome == "restarted"
    rerun.job.refresh_from_db()
    assert rerun.job.error is None
    assert rerun.job.error_history[0]["code"] == "hello_refused"
    assert rerun.job.error_history[0]["run"] == 1


def test_cancel_and_retry() -> None:
    job = services.job_submit(job_type="hello", parameters={"count": 2, "name": "c"}).job
    services.job_cancel(job_id=job.id)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert set(Task.objects.filter(job=job).values_list("status", flat=True)) == {TaskStatus.CANCELLED}
    with pytest.raises(JobNotRunnable):
        services.job_cancel(job_id=job.id)
    # A task message that arrives after the cancel does nothing.
    services.job_retry(job_id=job.id)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.runs == 2
    with pytest.raises(JobNotRunnable):
        services.job_retry(job_id=job.id)


def test_a_task_delivered_twice_runs_once() -> None:
    job = services.job_submit(job_type="hello", parameters={"count": 1, "name": "dup"}).job
    task_id = Task.objects.get(job=job).id
    execution.task_execute(task_id=task_id)
    execution.task_execute(task_id=task_id)  # duplicate delivery
    assert Task.objects.get(pk=task_id).attempts == 1
    assert Stage.objects.filter(job=job).count() == 2


@pytest.mark.django_db(transaction=True)
def test_fan_in_under_concurrency_advances_exactly_once() -> None:
    """Many tasks of one stage complete at the same moment from 16 threads, several rounds.

    This test drives the tasks itself (tests/conftest.py keeps their messages off the
    broker). The end-to-end tests prove the same property through the broker with 2
    worker processes.
    """
    for round_ in range(5):
        n = 64
        job = services.job_submit(job_type="hello", parameters={"count": n, "queue_tag": f"race-{round_}"}).job
        _run_stage_by_hand(job.id, 0)
        fan_out = list(Task.objects.filter(job=job, stage__index=1).values_list("id", flat=True))
        assert len(fan_out) == n
        Task.objects.filter(id__in=fan_out).update(status=TaskStatus.RUNNING, attempts=1)

        barrier = threading.Barrier(16)
        winners: list[bool] = []
        errors: list[BaseException] = []

        def complete(
            ids: list[str],
            barrier: threading.Barrier = barrier,
            winners: list[bool] = winners,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                barrier.wait()
                for task_id in ids:
                    unit = int(Task.objects.get(pk=task_id).params["n"])
                    winners.append(execution.task_complete(task_id=task_id, result={"n": unit, "square": unit * unit}))
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=complete, args=(fan_out[i::16],)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert winners.count(True) == 1, f"round {round_}: {winners.count(True)} tasks advanced the job"
        assert Stage.objects.filter(job=job).count() == 3
        assert Stage.objects.get(job=job, index=1).tasks_remaining == 0
        assert Task.objects.filter(job=job, stage__index=2).count() == 1
        assert JobEvent.objects.filter(job=job, kind="stage_completed").count() == 2


def test_janitor_requeues_a_task_whose_worker_vanished(settings: Any) -> None:
    import datetime as dt

    from django.utils import timezone

    job = services.job_submit(job_type="hello", parameters={"count": 1, "name": "lost"}).job
    task = Task.objects.get(job=job)
    old = timezone.now() - dt.timedelta(seconds=settings.GEOPLATFORM_TASK_STALE_SECONDS + 5)
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.RUNNING, attempts=1, heartbeat_at=old, worker="gone:1")
    assert janitor.janitor_run() == {"requeued": 1, "failed": 0, "resent": 0}
    task.refresh_from_db()
    assert task.status == TaskStatus.RETRYING and task.error["code"] == "worker_lost"

    # Past the retry budget the janitor fails the task and the job.
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.RUNNING, attempts=99, heartbeat_at=old)
    assert janitor.janitor_run() == {"requeued": 0, "failed": 1, "resent": 0}
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error["code"] == "worker_lost"


def test_janitor_resends_messages_no_worker_took(settings: Any) -> None:
    import datetime as dt

    from django.utils import timezone

    job = services.job_submit(job_type="hello", parameters={"count": 1, "name": "prefetched"}).job
    long_ago = timezone.now() - dt.timedelta(seconds=settings.GEOPLATFORM_TASK_LOST_SECONDS + 5)
    Task.objects.filter(job=job).update(enqueued_at=long_ago)
    assert janitor.janitor_run()["resent"] == 1
    assert Task.objects.get(job=job).enqueued_at > long_ago
    assert JobEvent.objects.filter(job=job, kind="task_resent").count() == 1
    assert janitor.janitor_run()["resent"] == 0


def test_retry_backoff_is_exponential_and_capped(settings: Any) -> None:
    settings.GEOPLATFORM_RETRY_BASE_SECONDS = 30
    settings.GEOPLATFORM_RETRY_CAP_SECONDS = 600
    assert 24 <= backoff.retry_delay_seconds(1) <= 30
    assert 96 <= backoff.retry_delay_seconds(3) <= 120
    assert backoff.retry_delay_seconds(10) <= 600


def test_a_worker_that_does_not_know_the_job_type_retries_it() -> None:
    """Mid-deploy, an older worker may receive a newer job type: a retry, not a failed job."""
    job = Job.objects.create(id="f" * 64, job_type="from_the_future", parameters={}, stage_count=1)
    stage = Stage.objects.create(job=job, index=0, name="only", tasks_total=1, tasks_remaining=1)
    Task.objects.create(id="e" * 64, job=job, stage=stage, unit=0)
    execution.task_execute(task_id="e" * 64)
    task = Task.objects.get(pk="e" * 64)
    assert task.status == TaskStatus.RETRYING and task.attempts == 1
    assert task.error["code"] == "unknown_job_type_on_worker"
    job.refresh_from_db()
    assert job.status != JobStatus.FAILED


def test_tasks_of_one_stage_can_go_to_different_queues(
    monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """``Stage.queue_of``: each task's queue from its own parameters, kept on the task row."""
    from ingest import registry

    sent: list[tuple[list[str], str]] = []
    monkeypatch.setattr(
        messages, "task_messages_send", lambda ids, queue, delay_ms=None: sent.append((list(ids), queue))
    )
    jt = registry.JobType(
        name="test_mixed_queues",
        stages=[
            registry.Stage(
                "work",
                lambda ctx: {"n": ctx.task_params["n"]},
                tasks=lambda params, previous: [{"n": n} for n in range(4)],
                queue_of=lambda task_params: "long" if task_params["n"] % 2 else "default",
            )
        ],
    )
    monkeypatch.setitem(registry._registry, jt.name, jt)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_submit(job_type=jt.name, parameters={}).job
    queues = dict(Task.objects.filter(job=job).values_list("unit", "queue"))
    assert queues == {0: "default", 1: "long", 2: "default", 3: "long"}
    assert sorted((q, len(ids)) for ids, q in sent) == [("default", 2), ("long", 2)]


def test_createserviceaccount_joins_named_groups() -> None:
    """DDH's account goes into platform-clients in one command; an unknown group is refused."""
    from io import StringIO

    from django.contrib.auth.models import Group, User
    from django.core.management import CommandError, call_command

    Group.objects.get_or_create(name="test-clients")
    out = StringIO()
    call_command("createserviceaccount", "ddh-test", "--group", "test-clients", stdout=out)
    assert "token:" in out.getvalue()
    assert set(User.objects.get(username="ddh-test").groups.values_list("name", flat=True)) == {
        "service-accounts",
        "test-clients",
    }
    with pytest.raises(CommandError, match="No group nope"):
        call_command("createserviceaccount", "ddh-test2", "--group", "nope", stdout=StringIO())
    assert not User.objects.filter(username="ddh-test2").exists()
