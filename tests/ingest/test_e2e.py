"""End to end through the broker: a real worker process runs real jobs.

Runs on Redis in the main suite and again on RabbitMQ (`-m broker`) in `make test`.
"""

from __future__ import annotations

from typing import Any

import pytest

from ingest.models import JobEvent, Stage, Task
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def test_fan_out_and_fan_in_through_the_api(live_worker: Any, auth_client: Any) -> None:
    resp = auth_client.post("/api/jobs/submit/hello", {"parameters": {"count": 120, "name": "e2e"}}, format="json")
    assert resp.status_code == 202, resp.content
    job_id = resp.json()["job_id"]
    job = wait_for_job(job_id, timeout=90)
    assert job.status == "completed", job.error
    assert job.result == {"message": "hello e2e", "count": 120, "total": sum(n * n for n in range(120))}

    status = auth_client.get(f"/api/jobs/status/{job_id}").json()
    assert status["progress"]["percent_complete"] == 100.0
    assert [s["name"] for s in status["progress"]["stages"]] == ["greet", "square", "sum"]
    assert [s["tasks_total"] for s in status["progress"]["stages"]] == [1, 120, 1]
    # Each stage advanced exactly once: no skipped or doubled stage.
    assert Stage.objects.filter(job_id=job_id).count() == 3
    assert JobEvent.objects.filter(job_id=job_id, kind="stage_completed").count() == 3
    assert set(Task.objects.filter(job_id=job_id).values_list("attempts", flat=True)) == {1}

    # Resubmitting a completed job returns the stored result without running it again.
    again = auth_client.post("/api/jobs/submit/hello", {"parameters": {"count": 120, "name": "e2e"}}, format="json")
    assert again.status_code == 200
    assert again.json()["outcome"] == "existing"
    assert again.json()["result"] == job.result


def test_transient_failures_are_retried_then_succeed(live_worker: Any, auth_client: Any) -> None:
    params = {"count": 4, "fail_mode": "transient", "fail_times": 2}
    job_id = auth_client.post("/api/jobs/submit/hello", {"parameters": params}, format="json").json()["job_id"]
    job = wait_for_job(job_id, timeout=60)
    assert job.status == "completed", job.error
    attempts = sorted(Task.objects.filter(job_id=job_id, stage__name="square").values_list("attempts", flat=True))
    assert attempts == [3, 3, 3, 3]
    assert JobEvent.objects.filter(job_id=job_id, kind="task_retry").count() == 8


def test_permanent_failure_fails_the_job_with_a_structured_error(live_worker: Any, auth_client: Any) -> None:
    job_id = auth_client.post(
        "/api/jobs/submit/hello", {"parameters": {"count": 3, "fail_mode": "permanent"}}, format="json"
    ).json()["job_id"]
    job = wait_for_job(job_id, timeout=60)
    assert job.status == "failed"
    assert job.error["code"] == "hello_refused"
    assert job.error["category"] == "data"
    assert job.error["user_fixable"] is True
    assert job.error["stage"] == "square"
    assert {"message", "remediation", "error_source"} <= set(job.error)
    failed = Task.objects.get(job_id=job_id, stage__name="square", unit=0)
    assert failed.attempts == 1  # permanent: never retried

    status = auth_client.get(f"/api/jobs/status/{job_id}").json()
    assert status["status"] == "failed" and status["error"]["code"] == "hello_refused"


def test_exhausted_retries_fail_the_job(live_worker: Any, auth_client: Any, settings: Any) -> None:
    # fail_times above the retry budget (3 retries = 4 attempts by default).
    params = {"count": 1, "fail_mode": "transient", "fail_times": 9}
    job_id = auth_client.post("/api/jobs/submit/hello", {"parameters": params}, format="json").json()["job_id"]
    job = wait_for_job(job_id, timeout=60)
    assert job.status == "failed"
    assert job.error["code"] == "transient_error"
    assert Task.objects.get(job_id=job_id, stage__name="square").attempts == 4
