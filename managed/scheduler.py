"""The schedule of managed sources: which sources are due, once each, however many schedulers run.

Two pieces, each from the ecosystem:

- the **tick**: dramatiq-crontab (APScheduler) sends the ``managed_scheduler_tick`` message
  every minute from ONE process, ``manage.py run_scheduler`` (started by ``make run``); that
  process holds a PostgreSQL advisory lock, so a second one (another host, a restart that
  overlaps) waits as a standby and takes over when the first one's connection goes;
- the **per-source schedule**: each source's cron (UTC) is evaluated with croniter against
  ``ManagedSource.next_run_at``, which the tick keeps.

The tick itself does not rely on being alone: it claims due sources with ``SELECT ... FOR
UPDATE SKIP LOCKED`` and moves their ``next_run_at`` past now in the same transaction, so
two ticks at once (two schedulers on a broker without the lock, an operator's
``run_scheduler --once`` beside the daemon) start each due update once.

- A run missed while nothing ticked (downtime) happens once at the next tick, not once per
  missed slot: the next run is computed from *now*, not from the missed slot.
- Sources sharing a slot (the default ``0 2 * * *``) are spread by a jitter that is fixed
  per source (from a hash of its name) and bounded by GEOPLATFORM_MANAGED_JITTER_SECONDS and
  half the interval between two slots, so a 5-minute schedule is never pushed 15 minutes.
- Disabled sources are never claimed; a source without ``next_run_at`` (new, or its schedule
  changed) gets one at the next tick and does not run at once (the manual trigger does that).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from croniter import croniter
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import ManagedSource

logger = logging.getLogger(__name__)

# pg advisory lock key of `manage.py run_scheduler`: one ticking scheduler per database.
SCHEDULER_LOCK_KEY = 727_015


def slot_interval(schedule: str, *, after: dt.datetime) -> dt.timedelta:
    """The gap between the two slots of ``schedule`` that follow ``after``."""
    it = croniter(schedule, after)
    first = it.get_next(dt.datetime)
    return it.get_next(dt.datetime) - first


def _bound(schedule: str, after: dt.datetime) -> float:
    """The largest jitter of ``schedule`` (seconds): the setting, at most half an interval."""
    return min(
        float(settings.GEOPLATFORM_MANAGED_JITTER_SECONDS),
        slot_interval(schedule, after=after).total_seconds() / 2,
    )


def _delay(name: str, bound: float) -> dt.timedelta:
    if bound <= 0:
        return dt.timedelta(0)
    fraction = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2**64
    return dt.timedelta(seconds=int(fraction * bound))


def jitter(*, name: str, schedule: str, after: dt.datetime) -> dt.timedelta:
    """The fixed delay of this source after each of its slots: the same at every run (so a
    source's runs stay one interval apart), different between sources (so a shared slot is
    spread), at most GEOPLATFORM_MANAGED_JITTER_SECONDS and half the slot interval."""
    return _delay(name, _bound(schedule, after))


class _Slots:
    """Next runs after ``now`` for many sources: the slots of each schedule around now are
    computed once (croniter costs about a millisecond a call; a tick after downtime may
    claim hundreds of sources sharing a few schedules)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now.astimezone(dt.UTC)
        self.memo: dict[str, tuple[float, list[dt.datetime]]] = {}

    def next_run(self, *, name: str, schedule: str) -> dt.datetime:
        if schedule not in self.memo:
            bound = _bound(schedule, self.now)
            # Every slot from (now - the largest jitter) up to the first one after now.
            it = croniter(schedule, self.now - dt.timedelta(seconds=bound + 1))
            slots = [it.get_next(dt.datetime)]
            while slots[-1] <= self.now:
                slots.append(it.get_next(dt.datetime))
            self.memo[schedule] = (bound, slots)
        bound, slots = self.memo[schedule]
        delay = _delay(name, bound)
        # The first slot whose run (slot + delay) is after now: croniter's next slot after
        # (now - delay), which lies in the list since delay <= bound.
        return next(slot + delay for slot in slots if slot + delay > self.now)


def next_run(*, name: str, schedule: str, after: dt.datetime) -> dt.datetime:
    """The first run time (slot + this source's jitter) strictly after ``after``, in UTC."""
    return _Slots(after).next_run(name=name, schedule=schedule)


def schedule_next(source: ManagedSource, *, now: dt.datetime | None = None) -> dt.datetime:
    """The next run of ``source`` after ``now`` (for services that create, enable or
    re-schedule a source and want ``next_run_at`` at once rather than at the next tick)."""
    return next_run(name=source.name, schedule=source.schedule, after=now or timezone.now())


@dataclass
class TickResult:
    """What one tick did: the sources it started (``due``, by name), those it gave a first
    ``next_run_at`` (``scheduled``) and those whose schedule could not be read (``invalid``)."""

    due: list[str] = field(default_factory=list)
    scheduled: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def scheduler_tick(
    *, now: dt.datetime | None = None, run: Callable[[int], None] | None = None, limit: int = 500
) -> TickResult:
    """Claim every enabled source whose run is due, move its ``next_run_at`` to its next
    slot after now, and start its update with ``run(source_id)`` once the claim is committed
    (default: a ``managed_scheduled_update`` message per source, so one slow source's check
    never holds up the others). Safe to call from any number of processes at once."""
    now = now or timezone.now()
    result = TickResult()
    claimed: list[tuple[int, str]] = []
    with transaction.atomic():
        sources = (
            ManagedSource.objects.select_for_update(skip_locked=True)
            .filter(enabled=True)
            .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
            .order_by("next_run_at", "pk")
            .only("pk", "name", "schedule", "next_run_at")[:limit]
        )
        moved: list[ManagedSource] = []
        slots = _Slots(now)
        for source in sources:
            due_at = source.next_run_at
            try:
                source.next_run_at = slots.next_run(name=source.name, schedule=source.schedule)
            except (ValueError, KeyError) as exc:  # croniter's errors are ValueErrors
                # Validated at create/update; a row changed behind the API's back is retried in a day.
                logger.error("managed source %s: unreadable schedule %r: %s", source.name, source.schedule, exc)
                source.next_run_at = now + dt.timedelta(days=1)
                moved.append(source)
                result.invalid.append(source.name)
                continue
            moved.append(source)
            if due_at is None:
                result.scheduled.append(source.name)
                continue
            if now - due_at > dt.timedelta(minutes=5):
                logger.info(
                    "managed source %s: run due %s ago (missed while no scheduler ran): running it once",
                    source.name,
                    now - due_at,
                )
            claimed.append((source.pk, source.name))
            result.due.append(source.name)
        # One UPDATE for every claimed row (a tick after a long downtime may claim hundreds;
        # Django's bulk_update builds a CASE per row, a millisecond each).
        if moved:
            with connection.cursor() as cur:
                cur.execute(
                    f"UPDATE {ManagedSource._meta.db_table} AS s SET next_run_at = v.at "
                    "FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at) WHERE s.id = v.id",
                    [[m.pk for m in moved], [m.next_run_at for m in moved]],
                )
    start = run or dispatch
    for pk, name in claimed:
        try:
            start(pk)
            result.started.append(name)
        except Exception as exc:  # one source's failure never stops the others' runs
            logger.exception("managed source %s: could not start its scheduled update", name)
            result.errors[name] = str(exc)
    return result


def dispatch(source_id: int) -> None:
    """Start a source's scheduled update on a worker (``managed_scheduled_update``)."""
    from .actors import scheduled_update_actor

    scheduled_update_actor.send(source_id)


def scheduled_update(source_id: int) -> str:
    """Run a due source's update as the platform (no user): the same service as the manual
    trigger (check synchronously; a job only when something may have changed). Returns what
    happened, for the log."""
    from geoplatform.errors import ApplicationError

    from . import services

    source = ManagedSource.objects.filter(pk=source_id, enabled=True).first()
    if source is None:
        return "skipped: source deleted or disabled since it was claimed"
    try:
        outcome = services.update_trigger(source=source, user=None, force=False)
    except ApplicationError as exc:  # recorded on the source by the service (last_error)
        return f"failed: {exc.message}"
    return f"{outcome.outcome}: {outcome.reason}"
