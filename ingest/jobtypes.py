"""The engine's self-test job type, ``hello``: a fan-out and a fan-in, for tests and benchmarks.

Registered only where ``GEOPLATFORM_EXTRA_JOB_TYPES`` lists this module (test settings, the
job-engine benchmark): one call may queue 100,000 tasks sleeping up to 60 s each.

Stages: ``greet`` (one task) -> ``square`` (``count`` tasks, fanned out from greet's
result) -> ``sum`` (one task, fan-in). ``fail_mode`` makes the square tasks fail
(``transient`` for ``fail_times`` attempts, or ``permanent``) to exercise retries.
"""

from __future__ import annotations

import time
from typing import Any

from . import registry
from .errors import PermanentError, RetryableError


def _greet(ctx: registry.TaskContext) -> dict[str, Any]:
    return {"message": f"hello {ctx.params['name']}", "units": list(range(ctx.params["count"]))}


def _square(ctx: registry.TaskContext) -> dict[str, Any]:
    n = int(ctx.task_params["n"])
    if ctx.params["sleep_ms"]:
        time.sleep(ctx.params["sleep_ms"] / 1000)
    mode = ctx.params["fail_mode"]
    if mode == "permanent" and n == 0:
        raise PermanentError(
            "unit 0 is refused (fail_mode=permanent)", code="hello_refused", remediation="Use fail_mode=none."
        )
    if mode == "transient" and ctx.attempt <= ctx.params["fail_times"]:
        raise RetryableError(f"transient failure on attempt {ctx.attempt}")
    return {"n": n, "square": n * n}


def _sum(ctx: registry.TaskContext) -> dict[str, Any]:
    squares = [r["square"] for r in ctx.previous_results]
    return {"total": sum(squares), "count": len(squares)}


def _finalize(ctx: registry.FinalizeContext) -> dict[str, Any]:
    greet, summed = ctx.stage_results[0], ctx.stage_results[2]
    return {"message": greet[0]["message"], **summed[0]}


HELLO = registry.JobType(
    name="hello",
    description="Engine self-test: fan-out of `count` tasks and a fan-in sum.",
    params=[
        registry.Param("name", str, default="world", help="Who to greet."),
        registry.Param("count", int, default=3, min=0, max=100_000, help="Tasks in the fan-out stage."),
        registry.Param("sleep_ms", int, default=0, min=0, max=60_000),
        registry.Param("fail_mode", str, default="none", choices=("none", "transient", "permanent")),
        registry.Param("fail_times", int, default=1, min=0, max=10),
        registry.Param("queue_tag", str, default="", help="Free text; makes otherwise equal jobs distinct."),
    ],
    stages=[
        registry.Stage("greet", _greet),
        registry.Stage(
            "square", _square, tasks=registry.from_previous(lambda results, p: [{"n": n} for n in results[0]["units"]])
        ),
        registry.Stage("sum", _sum),
    ],
    finalize=_finalize,
)


def register() -> None:
    registry.register(HELLO)
