"""scripts/supervise.sh: `make run` restarts its worker and janitor when they exit (the janitor
used to take the whole platform down with it: `wait -n`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _wait_for(predicate, timeout: float = 20) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_supervise_restarts_an_exiting_process_and_stops_with_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    child_pid = tmp_path / "child"
    # Exits twice (a crash), then keeps running: the supervisor starts it again each time.
    script = (
        f'echo run >> {runs}; [ "$(wc -l < {runs})" -ge 3 ] && {{ echo $$ > {child_pid}; exec sleep 300; }}; exit 3'
    )
    env = {**os.environ, "GEOPLATFORM_RESTART_DELAY_MS": "50"}
    proc = subprocess.Popen(
        [str(ROOT / "scripts/supervise.sh"), "demo", "sh", "-c", script],
        env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert _wait_for(lambda: child_pid.exists() and child_pid.read_text().strip() != "")
        assert runs.read_text().count("run") == 3
        pid = int(child_pid.read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert _wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10), "the child outlived its supervisor"
        assert proc.stderr is not None and proc.stderr.read().count("demo exited (status 3)") == 2
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_make_run_supervises_the_worker_and_the_janitor() -> None:
    run_sh = (ROOT / "scripts/run.sh").read_text()
    assert 'supervise.sh" janitor "$PY" manage.py janitor --loop &' in run_sh
    # Workers run as pools (scripts/pool.sh: main and long), each process in its own restart loop.
    assert '"$ROOT/scripts/pool.sh" main' in run_sh and '"$ROOT/scripts/pool.sh" long --queues long' in run_sh
    pool_sh = (ROOT / "scripts/pool.sh").read_text()
    assert 'supervise.sh" "worker $name-$i" "$PY" manage.py rundramatiq' in pool_sh
