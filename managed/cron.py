"""Cron expressions of managed sources (UTC), through croniter: validation, the next slot,
and the period used as the default freshness cadence. The scheduler (managed/scheduler.py)
evaluates the schedules; this module only reads them."""

from __future__ import annotations

import datetime as dt
import itertools

from croniter import croniter

from .errors import InvalidSource


def cron_check(expression: str) -> str:
    """The expression, stripped; 400 saying what a valid one looks like."""
    expression = (expression or "").strip()
    if not expression or len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise InvalidSource(
            f"schedule: {expression!r} is not a 5-field cron expression (UTC), e.g. '0 2 * * *' (02:00 every day).",
            details={"field": "schedule"},
        )
    return expression


def cron_next(expression: str, after: dt.datetime) -> dt.datetime:
    """The first slot strictly after ``after`` (UTC)."""
    nxt = croniter(expression, after.astimezone(dt.UTC)).get_next(dt.datetime)
    return nxt if nxt.tzinfo else nxt.replace(tzinfo=dt.UTC)


def cron_period(expression: str, around: dt.datetime | None = None) -> dt.timedelta:
    """The longest gap between two of the next few slots (a weekly cron: 7 days)."""
    start = (around or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    it = croniter(expression, start)
    slots = [it.get_next(dt.datetime) for _ in range(6)]
    return max(b - a for a, b in itertools.pairwise(slots))
