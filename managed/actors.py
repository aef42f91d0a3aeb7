"""Dramatiq actors of managed datasets: ids in, one service call, nothing else.

``managed.version_watch`` follows a version whose ingest job runs (the engine has no "job
finished" hook): it asks :func:`managed.services.version_advance` and, while the job runs,
sends itself again after ``GEOPLATFORM_MANAGED_WATCH_SECONDS``. A lost message is not fatal:
``watch_all`` (the scheduler's tick calls it) advances every version still ingesting.

``managed_scheduler_tick`` is sent every minute by ``manage.py run_scheduler``
(dramatiq-crontab, see managed/tasks.py); ``managed_scheduled_update`` runs one due source's
update. Their Dramatiq retries are off: a missed tick is made up by the next one, a failed
update is recorded on its source and tried again at its next slot.
"""

from __future__ import annotations

import logging

import dramatiq
from django.conf import settings

logger = logging.getLogger(__name__)

WATCH_ACTOR = "managed.version_watch"
TICK_ACTOR = "managed_scheduler_tick"
UPDATE_ACTOR = "managed_scheduled_update"


def _delay_ms() -> int:
    return max(int(float(settings.GEOPLATFORM_MANAGED_WATCH_SECONDS) * 1000), 50)


def watch_later(version_id: int) -> None:
    """Look at the version's ingest job once this transaction commits (tests without a
    worker replace this; they call ``services.version_advance`` themselves)."""
    from django.db import transaction

    transaction.on_commit(lambda: version_watch.send_with_options(args=(version_id,), delay=_delay_ms()))


# A short task: one status read, maybe the swap (seconds). Its own retries are few: the
# next watch (or the scheduler's watch_all) takes over after a failure.
@dramatiq.actor(actor_name=WATCH_ACTOR, queue_name="default", max_retries=3, time_limit=300_000, min_backoff=1000)
def version_watch(version_id: int) -> None:
    from .services import version_advance

    if version_advance(version_id=version_id) == "waiting":
        version_watch.send_with_options(args=(version_id,), delay=_delay_ms())


def watch_all() -> list[tuple[int, str]]:
    """Advance every version waiting for its ingest job (cheap when there is none)."""
    from .models import SourceVersion, VersionStatus
    from .services import version_advance

    ids = list(SourceVersion.objects.filter(status=VersionStatus.INGESTING).values_list("pk", flat=True))
    return [(pk, version_advance(version_id=pk)) for pk in ids]


# max_age: a tick that waited in the queue longer than a few slots (workers down) is dropped;
# the next one finds the same due sources (a missed run happens once).
@dramatiq.actor(actor_name=TICK_ACTOR, queue_name="default", max_retries=0, time_limit=120_000, max_age=180_000)
def scheduler_tick_actor() -> None:
    from .scheduler import scheduler_tick

    result = scheduler_tick()
    if result.due or result.invalid or result.errors:
        logger.info("scheduler tick: %s", result)
    watch_all()


@dramatiq.actor(actor_name=UPDATE_ACTOR, queue_name="default", max_retries=0, time_limit=600_000)
def scheduled_update_actor(source_id: int) -> None:
    from .scheduler import scheduled_update

    logger.info("scheduled update of managed source %s: %s", source_id, scheduled_update(source_id))
