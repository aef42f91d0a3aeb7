"""Harness of the fault tests: real processes (worker, janitor, web) that a test kills, cuts
off from their database or broker, and starts again.

Workers started here consume a broker key space of their own (a Redis namespace unique to
the test, or a private redis-server), and this process sends its task messages there too: the
session's `live_worker`, started by earlier tests, never races them for the tasks, so a test
knows which process holds which task. Redis only: RabbitMQ would need a vhost per test.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from tests.conftest import ROOT, _worker_env

redis_only = pytest.mark.skipif(
    not settings.GEOPLATFORM_BROKER_URL.startswith("redis"),
    reason="fault tests isolate their messages with a Redis namespace of their own",
)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, tick: Callable[[], Any] | None = None) -> Any:
    """Poll ``predicate`` (calling ``tick`` between polls) until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if tick is not None:
            tick()
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process in its own process group (killed as a whole), logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path, **popen: Any) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.alive:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


class Stack:
    """Platform processes (``manage.py`` commands) sharing one environment."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def run(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, cmd, {**self.env, **(env or {})}, self.log_dir, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def manage(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        return self.run(name, [sys.executable, "manage.py", *args], env)

    def web(self, port: int) -> Proc:
        """gunicorn, as `make run` serves (one process: a test needs no more)."""
        bind = f"127.0.0.1:{port}"
        return self.run("web", [sys.executable, "-m", "gunicorn", "geoplatform.wsgi:application", "--bind", bind,
                                "--workers", "1", "--threads", "4"])  # fmt: skip

    def worker(self, name: str, env: dict[str, str] | None = None) -> Proc:
        return self.manage(name, "rundramatiq", "--processes", "1", "--threads", "1", env=env)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.kill(signal.SIGKILL)


class Broker:
    """This process's side of a Redis key space: sends task messages the way ingest does."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url = url
        self.namespace = namespace
        self.broker = RedisBroker(url=url, namespace=namespace, middleware=[])

    @property
    def env(self) -> dict[str, str]:
        return {"GEOPLATFORM_BROKER_URL": self.url, "GEOPLATFORM_BROKER_NAMESPACE": self.namespace}

    def send(self, task_ids: list[str], queue: str, delay_ms: int | None = None) -> None:
        for task_id in task_ids:
            message = Message(
                queue_name=queue, actor_name=f"ingest.run_task.{queue}", args=(task_id,), kwargs={}, options={}
            )
            self.broker.enqueue(message, delay=delay_ms)


@pytest.fixture
def fault_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="geoplatform-faults-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_broker(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> Broker:
    """The test Redis, in a namespace of this test's own; ingest's sends in this process go there."""
    from ingest import messages

    broker = Broker(settings.GEOPLATFORM_BROKER_URL, f"geoplatform-faults-{secrets.token_hex(6)}")
    monkeypatch.setattr(messages, "task_messages_send", broker.send)
    return broker


@pytest.fixture
def stack(own_broker: Broker, fault_dir: Path) -> Iterator[Stack]:
    """Workers on the test database and this test's broker key space, killed at the end."""
    from django.db import connection

    env = {
        **_worker_env(connection.settings_dict["NAME"]),
        **own_broker.env,
        "GEOPLATFORM_TEST_FAULT_DIR": str(fault_dir),
    }
    stack = Stack(env, fault_dir)
    yield stack
    stack.stop()


def kill_at(stack: Stack, fault_dir: Path, point: str, *, timeout: float = 120) -> str:
    """Start a worker that stops at ``point``; once it is there and its task is marked running
    (first heartbeat), SIGKILL its process group. Returns the id of the task it held."""
    from ingest.models import Task

    doomed = stack.worker("doomed", env={"GEOPLATFORM_TEST_FAULT_POINT": point})
    markers = wait_until(
        lambda: list(fault_dir.glob(f"{point}.*")) or (not doomed.alive and ["dead"]),
        timeout,
        f"a worker at {point}",
    )
    assert doomed.alive, doomed.log()[-3000:]
    pid = markers[0].read_text()
    task_id: str = wait_until(
        lambda: Task.objects.filter(status="running", worker__endswith=f":{pid}").values_list("id", flat=True).first(),
        30,
        "the held task's first heartbeat",
    )
    doomed.kill(signal.SIGKILL)
    return task_id


# --- a private PostgreSQL cluster (the machine's own is shared: never restart it) -------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """A throw-away PostgreSQL 15 cluster on a free port (PostGIS from the system packages),
    run as the ``postgres`` OS user (initdb refuses root), that a test may stop and start."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        shutil.chown(root, "postgres")
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "root", "--no-sync", "-E", "UTF8")

    def _run(self, *cmd: str | Path) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, cmd)], check=True, capture_output=True)

    def _ctl(self, *args: str) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-w", *args)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._ctl("-o", options, "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://root@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        return self.url(name)


@pytest.fixture
def private_pg(fault_dir: Path) -> Iterator[PrivatePostgres]:
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip("needs root (to run initdb as the postgres user) and PostgreSQL 15's binaries")
    root = Path(tempfile.mkdtemp(prefix="geoplatform-pg-"))
    pg = PrivatePostgres(root)
    pg.start()
    try:
        yield pg
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg._ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def platform_env(*, database_url: str, broker: Broker, fault_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of platform processes on another database than the test database."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="geoplatform.settings.test",
        GEOPLATFORM_DATABASE_URL=database_url,
        GEOPLATFORM_LOG_FORMAT="text",
        GEOPLATFORM_TEST_FAULT_DIR=str(fault_dir),
        dramatiq_worker_timeout="100",
        **broker.env,
        **extra,
    )
    return env
