"""Sending task messages, in bulk when the broker allows it.

A fan-out stage sends its messages from inside a busy worker. One by one, each waits for
the broker's reply while competing for the GIL with the worker's other threads: 1,000
sends took over a second and held the whole stage back. On Redis the messages go through
one pipeline instead (Dramatiq's own enqueue script, so consumers see ordinary messages);
other brokers, delayed messages and small batches use the public API.
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any
from uuid import uuid4

import dramatiq

logger = logging.getLogger(__name__)

BULK_MIN = 32
BULK_CHUNK = 500


def send_many(actor: dramatiq.Actor, args_list: list[tuple[Any, ...]]) -> None:  # type: ignore[type-arg]
    """Send ``actor(*args)`` for every tuple of ``args_list``."""
    broker = actor.broker
    if len(args_list) >= BULK_MIN and _redis_broker(broker):
        try:
            for start in range(0, len(args_list), BULK_CHUNK):
                _redis_pipeline_send(broker, actor, args_list[start : start + BULK_CHUNK])
            return
        except AttributeError:  # a Dramatiq without the internals used here
            logger.warning("bulk send unavailable with this Dramatiq; sending one by one", exc_info=True)
    for args in args_list:
        actor.send(*args)


def _redis_broker(broker: Any) -> bool:
    # Imported here: the Redis broker only (a RabbitMQ deployment never loads it).
    from dramatiq.brokers.redis import RedisBroker

    return isinstance(broker, RedisBroker)


def _redis_pipeline_send(broker: Any, actor: dramatiq.Actor, args_list: list[tuple[Any, ...]]) -> None:  # type: ignore[type-arg]
    # Imported here: the Redis broker only (a RabbitMQ deployment never loads it).
    from dramatiq.brokers.redis import RedisBroker

    pipe = broker.client.pipeline(transaction=False)
    # A shallow copy whose enqueue script writes into the pipeline; the broker itself
    # (shared by the worker's threads) is left untouched.
    shadow = copy.copy(broker)
    shadow.scripts = {**broker.scripts, "dispatch": functools.partial(broker.scripts["dispatch"], client=pipe)}
    do_enqueue = RedisBroker._dispatch(shadow, "enqueue")
    sent = []
    for args in args_list:
        message = actor.message(*args).copy(options={"redis_message_id": str(uuid4())})
        broker.emit_before("enqueue", message, None)
        do_enqueue(message.queue_name, message.options["redis_message_id"], message.encode())
        sent.append(message)
    pipe.execute()
    for message in sent:
        broker.emit_after("enqueue", message, None)
