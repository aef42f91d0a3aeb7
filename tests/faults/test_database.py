"""PostgreSQL restarted while a job runs, on a private cluster (the machine's own is shared).

During the outage the web answers 503 with a JSON body (not a 500 page) and recovers by
itself; the janitor logs its failed passes and keeps going; the job completes."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests
from django.conf import settings

from tests.conftest import ROOT
from tests.faults.conftest import Broker, PrivatePostgres, Stack, free_port, platform_env, redis_only, wait_until

FAST_JANITOR = {
    "GEOPLATFORM_JANITOR_INTERVAL_SECONDS": "0.5",
    "GEOPLATFORM_TASK_STALE_SECONDS": "2",
    "GEOPLATFORM_TASK_LOST_SECONDS": "3",
}


class Client(requests.Session):
    def __init__(self, base_url: str, token: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.headers["Authorization"] = f"Token {token}"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return super().request(method, f"{self.base_url}{url!s}", *args, **kwargs)


def _get(client: Client, path: str) -> requests.Response | None:
    try:
        return client.get(path)
    except requests.ConnectionError:
        return None


@redis_only
def test_database_restart_while_a_job_runs(private_pg: PrivatePostgres, fault_dir: Path) -> None:
    database_url = private_pg.create_database("geoplatform")
    broker = Broker(settings.GEOPLATFORM_BROKER_URL, f"geoplatform-faults-{secrets.token_hex(6)}")
    env = platform_env(database_url=database_url, broker=broker, fault_dir=fault_dir, **FAST_JANITOR)
    # First-run set-up in one process (one Django start-up instead of two): migrate, then a token.
    setup = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); call_command('createserviceaccount', 'faults', token_only=True)"
    )
    token = (
        subprocess.run([sys.executable, "-c", setup], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    stack = Stack(env, fault_dir)
    try:
        web = stack.web(port)
        stack.worker("worker", env={})
        janitor = stack.manage("janitor", "janitor", "--loop")
        client = Client(f"http://127.0.0.1:{port}", token)
        wait_until(lambda: _get(client, "/api/jobs") is not None, 60, "the web server")
        submitted = client.post(
            "/api/jobs/submit/hello", json={"parameters": {"count": 2, "sleep_ms": 1500, "name": "pg-restart"}}
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        status_url = f"/api/jobs/status/{job_id}"

        def tasks_running() -> bool:
            body = client.get(status_url).json()
            return any(stage["tasks"]["running"] for stage in body["progress"]["stages"])

        wait_until(tasks_running, 60, "a task of the job to run")

        private_pg.stop()
        during = client.get(status_url)
        assert during.status_code == 503, during.text
        assert during.headers["Content-Type"] == "application/json"
        assert during.json()["code"] == "database_unavailable" and during.headers["Retry-After"]
        ogc = client.get("/api/features/collections")
        assert ogc.status_code == 503 and ogc.json()["code"] == "ServerError", ogc.text
        page = client.get("/admin/", cookies={"sessionid": "x" * 32})  # outside DRF: a plain-text 503
        assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/plain"), page.text
        ddh = client.get("/api/platform/status")
        assert ddh.status_code == 503 and ddh.json()["error_type"] == "ServiceUnavailable", ddh.text
        wait_until(lambda: "janitor pass failed" in janitor.log() or not janitor.alive, 30, "a failed janitor pass")
        assert janitor.alive, janitor.log()[-3000:]

        private_pg.start()
        # The same web process answers again (it reconnects by itself), and the job completes.
        assert wait_until(lambda: (r := _get(client, status_url)) is not None and r.status_code == 200, 30, "web")
        final = wait_until(
            lambda: (body := client.get(status_url).json())["status"] in {"completed", "failed"} and body,
            120,
            "the job to finish",
        )
        assert final["status"] == "completed", final["error"]
        assert final["result"]["total"] == sum(n * n for n in range(2))
        assert web.alive and janitor.alive, janitor.log()[-3000:]
        wait_until(lambda: "janitor recovered" in janitor.log(), 30, "the janitor's recovery")
    finally:
        stack.stop()
