"""Shared fixtures: API clients with real tokens, a real Dramatiq worker process.

Everything runs against the real services the test script starts: PostgreSQL +
PostGIS + pgSTAC (pytest-django's test database), Redis or RabbitMQ (by
GEOPLATFORM_BROKER_URL), and Azurite when GEOPLATFORM_STORAGE_BACKEND=azure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _messages_only_with_a_worker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests without `live_worker` drive tasks in this process: their task messages are
    not put on the broker, where a worker started by an earlier test would race them for
    the same tasks. Everything else about enqueueing (the database side) still runs."""
    if "live_worker" not in request.fixturenames and "worker_pools" not in request.fixturenames:
        from ingest import messages

        monkeypatch.setattr(messages, "task_messages_send", lambda *args, **kwargs: None)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def service_account(db: Any) -> Any:
    from ingest.accounts import service_account_ensure

    return service_account_ensure(name="test-client")


@pytest.fixture
def auth_client(service_account: Any) -> APIClient:
    """A client authenticated with a service account's token (submit + upload)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {service_account.token}")
    return client


@pytest.fixture
def plain_user_client(db: Any) -> APIClient:
    """Authenticated with a token but holding no permission (for 403 tests)."""
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user("nobody", password="x")
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def staff_client(db: Any) -> APIClient:
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_superuser("operator", "op@example.org", "pw-for-tests-only")
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def operator_client(db: Any) -> APIClient:
    """An operator's token (not a superuser): submits jobs through /api/jobs, including ones
    that make data public without a review (ingest.submit_job + ingest.publish_without_review)."""
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    perms = Permission.objects.filter(
        content_type__app_label="ingest", codename__in=["submit_job", "publish_without_review"]
    )
    assert perms.count() == 2  # never a silently smaller operator
    user = get_user_model().objects.create_user("test-operator")
    user.user_permissions.add(*perms)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _worker_env(db_name: str) -> dict[str, str]:
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    user = db["USER"]
    auth = f"{user}@" if user else ""
    env["GEOPLATFORM_DATABASE_URL"] = f"postgresql://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db_name}"
    env["DJANGO_SETTINGS_MODULE"] = "geoplatform.settings.test"
    env["dramatiq_worker_timeout"] = "100"  # idle workers poll every 0.1 s
    env.setdefault("GEOPLATFORM_LOG_FORMAT", "text")
    return env


class Worker:
    """A real `manage.py rundramatiq` process on the test database."""

    def __init__(
        self,
        db_name: str,
        processes: int = 2,
        threads: int = 2,
        queues: list[str] | None = None,
        env: dict[str, str] | None = None,
        name: str = "",
    ) -> None:
        suffix = f"-{name}" if name else ""
        self.log_path = Path(tempfile.gettempdir()) / f"geoplatform-test-worker-{os.getpid()}{suffix}.log"
        cmd = [sys.executable, "manage.py", "rundramatiq", "--processes", str(processes), "--threads", str(threads)]
        if queues:
            cmd += ["--queues", *queues]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            # PYTHONFAULTHANDLER: a worker process that crashes (SIGSEGV in a native library) writes
            # its Python stack into the log instead of vanishing with exit code -11.
            env={**_worker_env(db_name), "PYTHONFAULTHANDLER": "1", **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        from ingest.selectors import workers_live

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early; see {self.log_path}:\n{self.tail()}")
            if workers_live().exists():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s; see {self.log_path}:\n{self.tail()}")

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="session")
def _session_worker(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Worker]:
    from django.db import connection

    with django_db_blocker.unblock():
        worker = Worker(connection.settings_dict["NAME"])
        try:
            worker.wait_ready()
        except Exception:
            worker.kill()
            raise
    yield worker
    worker.kill()
    with django_db_blocker.unblock(), connection.cursor() as cur:
        # A killed worker's sessions can linger a moment; the test database must be droppable.
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )


@pytest.fixture
def live_worker(_session_worker: Worker, transactional_db: Any) -> Worker:
    """A real worker process (2 processes x 2 threads) consuming the test broker.

    Uses a transactional database so the worker sees what the test commits.
    """
    from ingest.models import WorkerHeartbeat

    if _session_worker.proc.poll() is not None:
        # Dramatiq stops all its processes when one dies: every later worker test would wait out
        # its timeout. Fail at once, pointing at the crash (the test running at that time).
        pytest.fail(
            f"the shared test worker died earlier (exit code {_session_worker.proc.returncode}); "
            f"look at the first failing worker test and {_session_worker.log_path}:\n{_session_worker.tail()}"
        )
    # transactional_db flushes tables between tests; the worker's heartbeat row comes back
    # within one heartbeat interval.
    deadline = time.monotonic() + 10
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return _session_worker


@pytest.fixture
def worker_pools(transactional_db: Any) -> Iterator[Callable[..., Worker]]:
    """Start worker pools (real `rundramatiq` processes, each its own pool: name, queues,
    environment), killed at the end of the test; see tests/ingest/test_pools.py."""
    from django.db import connection

    started: list[Worker] = []

    def start(name: str, *, queues: list[str], processes: int = 1, threads: int = 2, env: dict[str, str]) -> Worker:
        worker = Worker(connection.settings_dict["NAME"], processes, threads, queues, env, name=name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill(signal.SIGKILL)


# --- the reader pass (GEOPLATFORM_MODE=reader; scripts/test.sh) ------------------------------
# Tests marked `reader` run once more on a reader deployment: their fixtures write as the
# suite's superuser (uploads, jobs run inline, STAC items), then the test body runs as
# READER_TEST_ROLE, which holds the reader's grants (geoplatform.dbroles.grant_reader) and no
# more, with pgstac.readonly on: any write the read APIs attempt fails the test.
READER_TEST_ROLE = "geoplatform_reader_test"


_reader_role_on = False  # a `reader` test body is running as READER_TEST_ROLE


def _reader_mode() -> bool:
    return getattr(settings, "GEOPLATFORM_MODE", "full") == "reader"


def _reader_role(on: bool) -> None:
    global _reader_role_on
    from django.db import connection

    with connection.cursor() as cur:
        if on:
            cur.execute(f"SET ROLE {READER_TEST_ROLE}")
            cur.execute("SET pgstac.readonly = true")
        else:
            cur.execute("RESET ROLE")
            cur.execute("RESET pgstac.readonly")
    _reader_role_on = on


@contextmanager
def as_owner() -> Iterator[None]:
    """Test data made inside a `reader` test's body (fixture factories, the writer side of a
    "publish, then read" test): written as the suite's role, then back to the reader's."""
    if not _reader_role_on:
        yield
        return
    from django.db import DatabaseError

    _reader_role(False)
    try:
        yield
    finally:
        try:
            _reader_role(True)
        except DatabaseError:  # an aborted transaction: the test fails on its own error
            pass


@pytest.fixture(scope="session", autouse=True)
def _reader_test_role(request: pytest.FixtureRequest) -> None:
    """Reader pass only: the role, and its grants on the test database (committed, once)."""
    if not _reader_mode():
        return
    request.getfixturevalue("django_db_setup")
    from django.db import connection

    from geoplatform.dbroles import grant_reader

    with request.getfixturevalue("django_db_blocker").unblock(), connection.cursor() as cur:
        # A role is cluster-wide: another run may create it at the same moment.
        cur.execute(
            f"DO $$ BEGIN CREATE ROLE {READER_TEST_ROLE} NOLOGIN;"
            " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        grant_reader(
            cur.cursor,
            reader=READER_TEST_ROLE,
            dbname=connection.settings_dict["NAME"],
            writers=[connection.settings_dict["USER"]],
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fixtures are set up: switch a `reader` test's connection to the read-only role."""
    global _reader_role_on
    uses_db = "_django_db_helper" in getattr(item, "fixturenames", ())
    if not (_reader_mode() and item.get_closest_marker("reader") and uses_db):
        yield
        return
    from django.db import DatabaseError, connection

    _reader_role(True)
    try:
        yield
    finally:
        try:
            _reader_role(False)
        except DatabaseError:
            _reader_role_on = False
            # An aborted transaction: its rollback (pytest-django's) undoes the SETs; a
            # connection outside one is closed so no later test inherits the role.
            if not connection.in_atomic_block:
                connection.close()


def wait_for_job(
    job_id: str, timeout: float = 60, statuses: tuple[str, ...] = ("completed", "failed", "cancelled")
) -> Any:
    """Poll the database until the job reaches one of ``statuses``."""
    from ingest.models import Job

    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {getattr(job, 'status', '?')} after {timeout}s")
