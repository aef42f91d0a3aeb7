"""Sending Dramatiq messages by actor name, so that senders never import the actors.

The actor modules import the services they call; the services send messages to those
actors. Looking an actor up by name on the broker (ingest and publishing import their
actors in ``AppConfig.ready``) keeps every import at the top of its file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dramatiq
from django.utils import timezone

from .dispatch import send_many
from .models import Task


def task_actor_name(queue: str) -> str:
    """The name of the actor running tasks of ``queue`` (one actor per queue, see actors.py)."""
    return f"ingest.run_task.{queue}"


def actor_by_name(name: str) -> dramatiq.Actor:  # type: ignore[type-arg]
    return dramatiq.get_broker().get_actor(name)


def actor_send(name: str, *args: Any, delay_ms: int | None = None) -> None:
    """Send one message to the actor called ``name``."""
    actor_by_name(name).send_with_options(args=args, delay=delay_ms)


def tasks_enqueue(task_ids: list[str], queue: str, delay_ms: int | None = None) -> None:
    due = timezone.now() + dt.timedelta(milliseconds=delay_ms or 0)
    # Sent first: when the broker is down the send raises and enqueued_at keeps its old
    # value, so the janitor re-sends on its first pass after the broker is back.
    task_messages_send(task_ids, queue, delay_ms)
    Task.objects.filter(id__in=task_ids).update(enqueued_at=due)


def task_messages_send(task_ids: list[str], queue: str, delay_ms: int | None = None) -> None:
    """Put the tasks' messages on the broker. (Tests without a worker replace this.)"""
    actor = actor_by_name(task_actor_name(queue))
    if delay_ms:
        for task_id in task_ids:
            actor.send_with_options(args=(task_id,), delay=delay_ms)
        return
    send_many(actor, [(task_id,) for task_id in task_ids])
