"""The broker restarted with messages in flight, on a private broker (the machine's own is
shared: never restarted).

Redis without persistence (as configured here) loses every queued message in a restart: the
janitor, which keeps going while the broker is down, re-sends the tasks that were enqueued but
never started, and the job completes. RabbitMQ keeps durable queues across a restart and
redelivers unacknowledged messages: the job completes there too (a duplicate delivery costs a
wasted run at most). On both, a job submitted while the broker is down is accepted and the
janitor sends its tasks once the broker is back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from django.conf import settings
from django.db import connection
from dramatiq import Message

from ingest import messages, services
from ingest.models import Job, JobEvent
from tests.conftest import _worker_env
from tests.faults.conftest import Broker, Proc, Stack, free_port, wait_until


class PrivateBroker(Protocol):
    url: str
    lossy: bool  # whether a restart loses the queued messages

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def send(self, task_ids: list[str], queue: str, delay_ms: int | None = None) -> None: ...


class PrivateRedis:
    lossy = True

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.proc: Proc | None = None
        self._sender = Broker(self.url, "geoplatform-faults")

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = proc = Proc("redis", cmd, {}, self.log_dir)
        wait_until(lambda: "Ready to accept connections" in proc.log(), 20, "redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def send(self, task_ids: list[str], queue: str, delay_ms: int | None = None) -> None:
        self._sender.send(task_ids, queue, delay_ms)


class PrivateRabbit:
    """A RabbitMQ node of its own: own name, ports, data directory and (no) plugins."""

    lossy = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.node = f"geoplatform-faults-{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}"
        (root / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (root / "enabled_plugins").write_text("[].\n")
        shutil.chown(root, "rabbitmq")
        for path in root.iterdir():
            shutil.chown(path, "rabbitmq")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(root / "feature_flags"),
            "RABBITMQ_PID_FILE": str(root / "pid"),
        }
        self.proc: Proc | None = None
        self._sender: Any = None

    def start(self) -> None:
        self.proc = proc = Proc("rabbitmq", ["rabbitmq-server"], self.env, self.root, cwd=self.root)
        wait_until(lambda: "Starting broker... completed" in proc.log() or not proc.alive, 120, "rabbitmq-server")
        assert proc.alive, proc.log()[-3000:]

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.node, "stop"], env=self.env, capture_output=True, timeout=60)
        if self.proc is not None:
            self.proc.kill()

    def send(self, task_ids: list[str], queue: str, delay_ms: int | None = None) -> None:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        if self._sender is None:
            self._sender = RabbitmqBroker(url=self.url, middleware=[])
        self._sender.declare_queue(queue)
        for task_id in task_ids:
            message = Message(
                queue_name=queue, actor_name=f"ingest.run_task.{queue}", args=(task_id,), kwargs={}, options={}
            )
            self._sender.enqueue(message, delay=delay_ms)


@pytest.fixture
def private_broker(request: pytest.FixtureRequest, fault_dir: Path) -> Iterator[PrivateBroker]:
    kind = request.param
    # Each kind runs in the pass of `make test` for its broker (RabbitMQ: the `-m broker` pass).
    if not settings.GEOPLATFORM_BROKER_URL.startswith("amqp" if kind == "rabbitmq" else "redis"):
        pytest.skip(f"the {kind} restart test runs in the {kind} pass of the suite")
    server = "rabbitmq-server" if kind == "rabbitmq" else "redis-server"
    if shutil.which(server) is None or (kind == "rabbitmq" and os.geteuid() != 0):
        pytest.skip(f"needs {server}" + (" and root" if kind == "rabbitmq" else ""))
    broker: PrivateBroker = PrivateRabbit(fault_dir) if kind == "rabbitmq" else PrivateRedis(fault_dir)
    broker.start()
    yield broker
    broker.stop()


@pytest.mark.parametrize("private_broker", ["redis", pytest.param("rabbitmq", marks=pytest.mark.broker)], indirect=True)
def test_broker_restart_with_messages_in_flight(
    private_broker: PrivateBroker, fault_dir: Path, transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "task_messages_send", private_broker.send)
    env = {
        **_worker_env(connection.settings_dict["NAME"]),
        "GEOPLATFORM_BROKER_URL": private_broker.url,
        "GEOPLATFORM_BROKER_NAMESPACE": "geoplatform-faults",
        "GEOPLATFORM_JANITOR_INTERVAL_SECONDS": "0.5",
        "GEOPLATFORM_TASK_STALE_SECONDS": "2",
        "GEOPLATFORM_TASK_LOST_SECONDS": "3",
    }
    stack = Stack(env, fault_dir)
    try:
        stack.worker("worker")
        janitor = stack.manage("janitor", "janitor", "--loop")
        job = services.job_submit(job_type="hello", parameters={"count": 6, "sleep_ms": 1000, "name": "broker"}).job
        wait_until(
            lambda: Job.objects.get(pk=job.pk).stage_index == 1 and job.tasks.filter(status="running").exists(),
            90,
            "the fan-out stage to run",
        )
        # Messages in flight: one task running, the others queued in the broker (or prefetched).
        private_broker.stop()
        # While the broker is down the janitor's re-sends fail: it logs them and keeps going.
        wait_until(lambda: "janitor pass failed" in janitor.log() or not janitor.alive, 30, "a failed janitor pass")
        assert janitor.alive, janitor.log()[-3000:]
        # A job submitted while the broker is down is accepted; the janitor sends its tasks later.
        late = services.job_submit(job_type="hello", parameters={"count": 2, "name": "broker-down"}).job
        private_broker.start()  # Redis: empty, every queued message is gone

        for submitted, total in ((job, sum(n * n for n in range(6))), (late, 1)):
            done = wait_until(
                lambda j=submitted: Job.objects.filter(pk=j.pk, status__in=["completed", "failed"]).first(),
                120,
                "the job",
            )
            assert done.status == "completed", done.error
            assert done.result["total"] == total
        assert JobEvent.objects.filter(job_id=late.pk, kind="task_resent").exists()  # sent by the janitor
        if private_broker.lossy:
            assert JobEvent.objects.filter(job_id=job.pk, kind="task_resent").exists()
        assert janitor.alive
    finally:
        stack.stop()
