"""Dramatiq actors of publishing: ids in, one service call. (Jobs run through ingest's actors.)"""

from __future__ import annotations

import dramatiq

from . import webhooks
from .webhooks import WEBHOOK_ACTOR


@dramatiq.actor(actor_name=WEBHOOK_ACTOR, queue_name="webhooks", max_retries=0, time_limit=120_000)
def release_webhook_actor(release_id: str, event: str, attempt: int, delivery_id: str) -> None:
    delay = webhooks.webhook_deliver(release_id=release_id, event=event, attempt=attempt, delivery_id=delivery_id)
    if delay is not None:
        release_webhook_actor.send_with_options(
            args=(release_id, event, attempt + 1, delivery_id), delay=int(delay * 1000)
        )
