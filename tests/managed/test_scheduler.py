"""The scheduler of managed sources (managed/scheduler.py, manage.py run_scheduler): due
sources claimed once however many schedulers tick, a missed run once, jitter, disabled
sources skipped, one active scheduler per database with standbys taking over."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from managed.models import ManagedSource
from managed.scheduler import jitter, next_run, scheduler_tick
from tests.conftest import ROOT, _worker_env

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _source(name: str, *, schedule: str = "0 2 * * *", enabled: bool = True, next_run_at: Any = None) -> ManagedSource:
    return ManagedSource.objects.create(
        name=name,
        handler="http_file",
        location=f"http://127.0.0.1:9/{name}.geojson",
        collection_id=f"c_{name.replace('-', '_')}",
        schedule=schedule,
        enabled=enabled,
        next_run_at=next_run_at,
    )


def test_jitter_is_fixed_per_source_spread_and_bounded(settings: Any) -> None:
    settings.GEOPLATFORM_MANAGED_JITTER_SECONDS = 900
    daily = [jitter(name=f"src-{i}", schedule="0 2 * * *", after=NOW) for i in range(20)]
    assert all(dt.timedelta(0) <= j < dt.timedelta(seconds=900) for j in daily)
    assert len(set(daily)) >= 15  # sources sharing 02:00 start at different moments
    assert daily[3] == jitter(name="src-3", schedule="0 2 * * *", after=NOW + dt.timedelta(days=40))
    # never more than half the interval: a 5-minute schedule stays a 5-minute schedule
    assert all(
        jitter(name=f"src-{i}", schedule="*/5 * * * *", after=NOW) < dt.timedelta(seconds=150) for i in range(20)
    )
    settings.GEOPLATFORM_MANAGED_JITTER_SECONDS = 0
    assert next_run(name="a", schedule="0 2 * * *", after=NOW) == dt.datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def test_next_run_is_slot_plus_jitter_after_now() -> None:
    delay = jitter(name="wdpa", schedule="0 2 * * *", after=NOW)
    assert next_run(name="wdpa", schedule="0 2 * * *", after=NOW) == dt.datetime(2026, 12, 4, 2, tzinfo=UTC) + delay
    # just before today's slot + jitter: today's run is still ahead
    before = dt.datetime(2026, 12, 3, 2, tzinfo=UTC) + delay - dt.timedelta(seconds=1)
    assert next_run(name="wdpa", schedule="0 2 * * *", after=before) == dt.datetime(2026, 12, 3, 2, tzinfo=UTC) + delay


@pytest.mark.django_db
def test_missed_run_happens_once_and_next_run_is_recorded() -> None:
    # the scheduler was down for three days: three 02:00 slots passed
    src = _source("ne", next_run_at=NOW - dt.timedelta(days=3))
    started: list[int] = []
    result = scheduler_tick(now=NOW, run=started.append)
    assert result.due == ["ne"] and started == [src.pk]
    src.refresh_from_db()
    assert src.next_run_at == next_run(name="ne", schedule=src.schedule, after=NOW) and src.next_run_at > NOW
    # the following ticks (every minute until the next slot) start nothing
    for minutes in (1, 2, 60):
        assert scheduler_tick(now=NOW + dt.timedelta(minutes=minutes), run=started.append).due == []
    assert started == [src.pk]
    # at its next slot it runs again, once
    assert scheduler_tick(now=src.next_run_at, run=started.append).due == ["ne"]
    assert started == [src.pk, src.pk]


@pytest.mark.django_db
def test_disabled_sources_are_skipped_and_new_ones_get_a_first_run() -> None:
    _source("off", enabled=False, next_run_at=NOW - dt.timedelta(hours=1))
    fresh = _source("fresh")  # no next_run_at yet: scheduled, not run at once
    started: list[int] = []
    result = scheduler_tick(now=NOW, run=started.append)
    assert result.due == [] and result.scheduled == ["fresh"] and started == []
    fresh.refresh_from_db()
    assert fresh.next_run_at == next_run(name="fresh", schedule="0 2 * * *", after=NOW)
    off = ManagedSource.objects.get(name="off")
    assert off.next_run_at == NOW - dt.timedelta(hours=1)  # untouched while disabled


@pytest.mark.django_db
def test_one_failing_start_does_not_stop_the_others() -> None:
    a = _source("a", next_run_at=NOW - dt.timedelta(minutes=1))
    b = _source("b", next_run_at=NOW - dt.timedelta(minutes=1))
    started: list[int] = []

    def run(pk: int) -> None:
        if pk == a.pk:
            raise RuntimeError("broker down")
        started.append(pk)

    result = scheduler_tick(now=NOW, run=run)
    assert sorted(result.due) == ["a", "b"] and result.started == ["b"] and "a" in result.errors
    assert started == [b.pk]


# --- processes --------------------------------------------------------------------------------


def _manage(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_scheduler", *args],
        cwd=ROOT,
        env={**_worker_env(connection.settings_dict["NAME"]), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


class _Output:
    """A process's output, read by a thread (so a test can wait for a line with a timeout)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None and not self.thread.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the output of run_scheduler:\n{''.join(self.lines)}")


@pytest.fixture
def schedulers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def unconsumed_broker(settings: Any) -> Iterator[dict[str, str]]:
    """The environment of scheduler processes whose update messages no worker consumes.

    The ticks of a process test start real updates; on the shared broker namespace the
    session's live worker (left running by earlier tests) would run 120 of them during the
    test database's flush and deadlock it (CI saw it). A namespace of its own, deleted after."""
    url = settings.GEOPLATFORM_BROKER_URL
    if not url.startswith("redis://"):
        pytest.skip("the scheduler process tests run on the Redis broker")
    namespace = f"{os.environ.get('GEOPLATFORM_BROKER_NAMESPACE', 'dramatiq')}-scheduler-{uuid.uuid4().hex[:8]}"
    yield {"GEOPLATFORM_BROKER_NAMESPACE": namespace}
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{namespace}:*"))
    if keys:
        client.delete(*keys)


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once(schedulers: list[subprocess.Popen[str]], unconsumed_broker: dict[str, str]) -> None:
    """Two daemons: one ticks, the other stands by and takes over when the first stops. Two
    ticks at once (``--once``, as an external cron beside the daemon would run them): each
    due source is started once. All four processes start together (Django's start-up is
    most of the time)."""
    past = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    names = {f"s{i:03d}" for i in range(120)}
    ManagedSource.objects.bulk_create(
        [
            ManagedSource(name=n, handler="http_file", location=f"http://127.0.0.1:9/{n}", collection_id=f"c_{n}",
                          next_run_at=past)
            for n in sorted(names)
        ]
    )  # fmt: skip
    env = {"GEOPLATFORM_SCHEDULER_STANDBY_SECONDS": "0.2", **unconsumed_broker}
    daemons = [_manage(env=env), _manage(env=env)]
    schedulers.extend(daemons)
    ticks = [_manage("--once", env=unconsumed_broker), _manage("--once", env=unconsumed_broker)]
    outs = [_Output(d) for d in daemons]

    outputs = [p.communicate(timeout=120)[0] for p in ticks]
    assert all(p.returncode == 0 for p in ticks), outputs
    claimed = [set(json.loads(out.strip().splitlines()[-1])["due"]) for out in outputs]
    assert not claimed[0] & claimed[1], "a due source was started twice"
    assert claimed[0] | claimed[1] == names
    assert ManagedSource.objects.filter(next_run_at__lte=dt.datetime.now(UTC)).count() == 0

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(o.has("this process is the scheduler") for o in outs):
        time.sleep(0.05)
    active = 0 if outs[0].has("this process is the scheduler") else 1
    standby = 1 - active
    outs[standby].wait_for("standing by")
    assert not outs[standby].has("this process is the scheduler")
    os.killpg(daemons[active].pid, signal.SIGTERM)  # it stops; its lock goes with its connection
    assert daemons[active].wait(timeout=30) == 0
    outs[standby].wait_for("this process is the scheduler")


@pytest.mark.django_db(transaction=True)
def test_the_lock_is_held_once_and_goes_with_its_connection() -> None:
    from managed.management.commands.run_scheduler import DatabaseLock
    from managed.scheduler import SCHEDULER_LOCK_KEY

    active, standby = DatabaseLock(SCHEDULER_LOCK_KEY), DatabaseLock(SCHEDULER_LOCK_KEY)
    try:
        assert active.acquire() and active.held()
        assert not standby.acquire() and not standby.held()
        # the active scheduler's connection dies (a database restart, a network cut)
        assert active.conn is not None
        with connection.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", [active.conn.info.backend_pid])
        assert not active.held()  # it stops ticking (run_scheduler's lock check)
        assert standby.acquire() and standby.held()  # the standby takes over
    finally:
        active.release()
        standby.release()


def test_the_tick_is_a_dramatiq_crontab_entry_every_minute() -> None:
    from dramatiq_crontab import scheduler as crontab_scheduler

    import managed.tasks  # noqa: F401  (what run_scheduler loads)

    (job,) = [j for j in crontab_scheduler.get_jobs() if j.name == "managed_scheduler_tick"]
    assert str(job.trigger).startswith("cron[") and "minute='*'" in str(job.trigger)


def test_make_run_starts_the_scheduler() -> None:
    run_sh = (Path(ROOT) / "scripts/run.sh").read_text()
    assert 'supervise.sh" scheduler "$PY" manage.py run_scheduler &' in run_sh


@pytest.mark.django_db(transaction=True)
def test_the_tick_on_a_worker_runs_a_due_update_to_live(live_worker: Any, source_server: Any, make_source: Any) -> None:
    """The whole path on the real worker: tick message -> claim -> scheduled update message ->
    check -> update job -> ingest job -> watch -> swap."""
    from managed.actors import scheduler_tick_actor
    from managed.models import SourceVersion, VersionStatus

    from .conftest import V1, geojson

    source = make_source(source_server.put("/data/places.geojson", geojson(V1)))
    ManagedSource.objects.filter(pk=source.pk).update(next_run_at=dt.datetime.now(UTC) - dt.timedelta(minutes=3))
    scheduler_tick_actor.send()
    deadline = time.monotonic() + 120
    version = None
    while time.monotonic() < deadline:
        version = SourceVersion.objects.filter(source=source).first()
        if version is not None and version.status in (VersionStatus.LIVE, VersionStatus.FAILED):
            break
        time.sleep(0.2)
    assert version is not None and version.status == VersionStatus.LIVE, (version and version.error, live_worker.tail())
    source.refresh_from_db()
    assert source.next_run_at > dt.datetime.now(UTC) and source.last_success_at is not None
