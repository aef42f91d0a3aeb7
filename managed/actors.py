"""Dramatiq actors of managed: ids in, one call, nothing else.

``managed_scheduler_tick`` is sent every minute by ``manage.py run_scheduler``
(dramatiq-crontab, see managed/tasks.py); ``managed_scheduled_update`` runs one due source's
update. Dramatiq's own retries are off: a missed tick is made up by the next one, a failed
update is recorded on its source and retried at its next slot.
"""

from __future__ import annotations

import logging

import dramatiq

from . import scheduler

logger = logging.getLogger(__name__)

TICK_ACTOR = "managed_scheduler_tick"
UPDATE_ACTOR = "managed_scheduled_update"


# max_age: a tick that waited longer than a few slots in the queue (workers down) is dropped;
# the next one finds the same due sources (a missed run happens once).
@dramatiq.actor(actor_name=TICK_ACTOR, queue_name="default", max_retries=0, time_limit=120_000, max_age=180_000)
def scheduler_tick_actor() -> None:
    result = scheduler.scheduler_tick()
    if result.due or result.invalid or result.errors:
        logger.info("scheduler tick: %s", result)


@dramatiq.actor(actor_name=UPDATE_ACTOR, queue_name="default", max_retries=0, time_limit=600_000)
def scheduled_update_actor(source_id: int) -> None:
    logger.info("scheduled update of managed source %s: %s", source_id, scheduler.scheduled_update(source_id))
