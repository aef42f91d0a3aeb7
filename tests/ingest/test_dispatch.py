"""ingest.dispatch sends a fan-out through one Redis pipeline using Dramatiq internals: these
tests fail loudly when a Dramatiq upgrade changes them (at run time send_many would quietly
fall back to one send per message, ~40x slower from a busy worker: see its docstring)."""

from __future__ import annotations

import inspect
import logging
from importlib.metadata import version
from typing import Any

import dramatiq
import pytest
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from ingest import dispatch

QUEUE = "test_dispatch_bulk"


def test_the_dramatiq_internals_send_many_uses_are_there() -> None:
    # requirements/base.txt pins it; a new version needs ingest/dispatch.py read against it
    assert version("dramatiq") == "2.2.1"
    broker = dramatiq.get_broker()
    assert isinstance(broker, RedisBroker), "the test settings use Redis"
    assert list(inspect.signature(RedisBroker._dispatch).parameters) == ["self", "command"]
    assert "dispatch" in broker.scripts and callable(broker.scripts["dispatch"])
    assert "client" in inspect.signature(type(broker.scripts["dispatch"]).__call__).parameters
    assert hasattr(broker.client, "pipeline") and isinstance(broker.namespace, str)
    # the message the public enqueue writes: a copy with its own redis_message_id
    enqueue_source = inspect.getsource(RedisBroker.enqueue)
    assert '"redis_message_id": str(uuid4())' in enqueue_source and "self.do_enqueue(" in enqueue_source


def test_send_many_goes_through_the_pipeline(caplog: pytest.LogCaptureFixture) -> None:
    broker = dramatiq.get_broker()

    def noop(n: int) -> None:  # only sent, never run
        pass

    actor: Any = dramatiq.actor(noop, actor_name="test_dispatch_noop", queue_name=QUEUE, broker=broker)
    count = dispatch.BULK_MIN + 3
    try:
        with caplog.at_level(logging.WARNING, logger=dispatch.__name__):
            dispatch.send_many(actor, [(n,) for n in range(count)])
        assert not caplog.records, "send_many fell back to one send per message"
        key = f"{broker.namespace}:{QUEUE}"
        assert broker.client.llen(key) == count
        stored = [Message.decode(raw) for raw in broker.client.hvals(f"{key}.msgs")]
        assert sorted(m.args[0] for m in stored) == list(range(count))
        assert all(m.actor_name == "test_dispatch_noop" and m.options["redis_message_id"] for m in stored)
    finally:
        broker.flush(QUEUE)
