"""Dramatiq actors: ids in, one service call, nothing else.

Retries are the engine's own (state in the database), so Dramatiq's are off.
"""

from __future__ import annotations

import dramatiq
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from dramatiq.middleware import CurrentMessage

from . import callbacks, execution, services
from .callbacks import CALLBACK_ACTOR
from .messages import task_actor_name
from .services import JOB_CLEANUP_ACTOR

QUEUES = ("default", "etl", "long")


def _time_limit_ms(queue: str) -> int:
    if queue == "long":
        return int(settings.GEOPLATFORM_LONG_TASK_TIME_LIMIT_SECONDS) * 1000
    return int(settings.GEOPLATFORM_TASK_TIME_LIMIT_SECONDS) * 1000


def _run_task(task_id: str) -> None:
    try:
        execution.task_execute(task_id=task_id)
    except (OperationalError, InterfaceError):
        # The database went away before the task could be claimed or recorded. Send the
        # message again shortly (a claimed task left 'running' is the janitor's case).
        close_old_connections()
        message = CurrentMessage.get_current_message()
        queue = message.queue_name.removesuffix(".DQ") if message is not None else "default"
        task_actor(queue).send_with_options(args=(task_id,), delay=1000)
        raise


_task_actors = {
    queue: dramatiq.actor(
        actor_name=task_actor_name(queue),
        queue_name=queue,
        max_retries=0,
        time_limit=_time_limit_ms(queue),
    )(_run_task)
    for queue in QUEUES
}


def task_actor(queue: str) -> dramatiq.Actor:  # type: ignore[type-arg]
    try:
        return _task_actors[queue]
    except KeyError:
        raise ValueError(f"unknown queue {queue!r}; queues are {QUEUES}") from None


@dramatiq.actor(actor_name=JOB_CLEANUP_ACTOR, queue_name="default", max_retries=3, time_limit=3_600_000)
def job_cleanup_actor(job_id: str, round_: int) -> None:
    if not services.job_cleanup(job_id=job_id, round_=round_):
        job_cleanup_actor.send_with_options(args=(job_id, round_ + 1), delay=2000)


@dramatiq.actor(actor_name=CALLBACK_ACTOR, queue_name="webhooks", max_retries=0, time_limit=120_000)
def callback_actor(job_id: str, event: str, attempt: int, delivery_id: str, subscriber_id: int | None = None) -> None:
    delay = callbacks.callback_deliver(
        job_id=job_id, event=event, attempt=attempt, delivery_id=delivery_id, subscriber_id=subscriber_id
    )
    if delay is not None:
        callback_actor.send_with_options(
            args=(job_id, event, attempt + 1, delivery_id, subscriber_id), delay=int(delay * 1000)
        )
