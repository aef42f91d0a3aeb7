"""Verbose pre-flight: every check that ran, its result, its timing and what it saw.

The job type's validators and the checks apps add (``registry.register_check``) run here,
one after the other, each timed. Validation code reports the facts it learns (size,
format, layers, CRS, bands, dimensions, variables) with :func:`saw`; outside a pre-flight
run that call does nothing, so the same helpers serve the job's own validate stage.

The report (a list of :class:`CheckReport` dicts) is returned by a submit with
``verbose: true``, kept on the job (``Job.preflight``) and carried by refusals in
``details.preflight``.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from geoplatform.errors import ApplicationError

from . import registry

_seen: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("preflight_seen", default=None)


def saw(**facts: Any) -> None:
    """Record facts the running check learned (JSON-safe values); a no-op outside pre-flight."""
    seen = _seen.get()
    if seen is not None:
        seen.update({k: v for k, v in facts.items() if v is not None})


@dataclass
class CheckReport:
    name: str
    ok: bool
    level: str
    took_ms: float
    saw: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _timed(name: str, level: str) -> tuple[CheckReport, contextvars.Token[dict[str, Any] | None], float]:
    report = CheckReport(name=name, ok=True, level=level, took_ms=0.0)
    return report, _seen.set(report.saw), time.perf_counter()


def _close(report: CheckReport, token: contextvars.Token[dict[str, Any] | None], start: float) -> None:
    _seen.reset(token)
    report.took_ms = round((time.perf_counter() - start) * 1000, 2)
    report.ok = not report.problems


def run(jt: registry.JobType, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every check; returns (report, problems that refuse the job). A check raising an
    ApplicationError stops the run: the error gets the report in ``details.preflight``."""
    reports: list[CheckReport] = []
    refusing: list[str] = []
    for check in registry.checks_of(jt):
        report, token, start = _timed(check.name, check.level)
        reports.append(report)
        try:
            report.problems = list(check.fn(params))
        except ApplicationError as exc:
            report.problems = [exc.message]
            _close(report, token, start)
            attach(exc, [asdict(r) for r in reports])
            raise
        except BaseException:
            _seen.reset(token)
            raise
        _close(report, token, start)
        if check.level == "error":
            refusing.extend(report.problems)
    return [asdict(r) for r in reports], refusing


def parameters_report(took_ms: float, problems: list[str], params: dict[str, Any] | None) -> dict[str, Any]:
    """The first check, the parameter schema (names, types, limits, defaults)."""
    saw_ = {"parameters": sorted(params)} if params is not None else {}
    return asdict(CheckReport("parameters", not problems, "error", round(took_ms, 2), saw_, problems))


def attach(exc: ApplicationError, report: list[dict[str, Any]]) -> None:
    """Put the report into a refusal's details (a dict is kept and extended)."""
    if exc.details is None:
        exc.details = {"preflight": report}
    elif isinstance(exc.details, dict):
        exc.details = {**exc.details, "preflight": report}


def report_of(exc: ApplicationError) -> list[dict[str, Any]]:
    """The report a refusal carries ([] when none)."""
    details = exc.details
    return list(details.get("preflight") or []) if isinstance(details, dict) else []


def problems_of(exc: ApplicationError) -> list[str]:
    details = exc.details
    if isinstance(details, dict) and isinstance(details.get("problems"), list):
        return [str(p) for p in details["problems"]]
    return [exc.message]
