"""``run_inline`` runs a job the way the engine does: what a handler reads of earlier
stages is what a worker would give it (the raster fixtures' own loop gave ``[]``)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest import registry
from ingest.models import JobStatus, Task, TaskStatus
from tests.ingest.inline import run_inline, submit_inline

pytestmark = pytest.mark.django_db


def _job_type() -> registry.JobType:
    return registry.JobType(
        name="test_inline_three_stages",
        params=[registry.Param("count", int, default=3)],
        stages=[
            registry.Stage("plan", lambda ctx: {"units": list(range(ctx.params["count"]))}),
            registry.Stage(
                "square",
                lambda ctx: {"square": ctx.task_params["n"] ** 2},
                tasks=registry.from_previous(lambda results, params: [{"n": n} for n in results[0]["units"]]),
            ),
            # Reads two stages back (the plan) as well as the previous one (the squares).
            registry.Stage(
                "sum",
                lambda ctx: {"total": sum(r["square"] for r in ctx.previous_results), "plan": ctx.results_of(0)},
            ),
        ],
        finalize=lambda ctx: dict(ctx.stage_results[2][0]),
    )


def test_run_inline_gives_handlers_every_earlier_stage(monkeypatch: Any) -> None:
    jt = _job_type()
    monkeypatch.setitem(registry._registry, jt.name, jt)
    job = submit_inline(jt.name, {"count": 4})
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result == {"total": 0 + 1 + 4 + 9, "plan": [{"units": [0, 1, 2, 3]}]}
    assert set(Task.objects.filter(job=job).values_list("status", flat=True)) == {TaskStatus.COMPLETED}


def test_run_inline_retries_then_fails_like_the_engine(monkeypatch: Any, settings: Any) -> None:
    """A transient failure is retried (at once here) up to the budget, then the job fails."""
    settings.GEOPLATFORM_TASK_MAX_RETRIES = 2
    retried = submit_inline("hello", {"count": 2, "fail_mode": "transient", "fail_times": 1})
    assert retried.status == JobStatus.COMPLETED, retried.error
    assert Task.objects.filter(job=retried, stage__name="square", attempts=2).count() == 2
    failed = submit_inline("hello", {"count": 2, "fail_mode": "transient", "fail_times": 5})
    assert failed.status == JobStatus.FAILED and failed.error is not None
    assert run_inline(failed.id).status == JobStatus.FAILED  # a finished job: nothing left to run
