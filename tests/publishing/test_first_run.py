"""The README's first run, on a database created for this test, through real processes.

scripts/db.sh on a brand-new database (its roles, one `migrate` as the owner, as `make run`
does), `createserviceaccount ddh --group platform-clients`, a real HTTP server on that
database as the application role, then DDH's upload and submit over HTTP with the
printed token. A second `migrate` hides a group filled before all permissions exist, and
pytest's own test database is migrated once per session: only a fresh database shows it.

Slow-ish (about 10 s: three Django processes start); marked ``slow``.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.conf import settings

from tests.platform_db import ROOT, platform_database

FIXTURE = ROOT / "tests" / "fixtures" / "features" / "airports.csv"

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_platform() -> Iterator[dict[str, str]]:
    """A brand-new database prepared by scripts/db.sh as `make run` prepares it (owner and
    application roles, one `migrate` as the owner); dropped with its roles after."""
    with platform_database("gp_firstrun") as (_names, env):
        yield env


def _env(platform_env: dict[str, str], namespace: str) -> dict[str, str]:
    """The environment scripts/run.sh gives the web and worker processes."""
    return {
        **platform_env,
        # No worker consumes this key space: the submitted job's messages wait there
        # (and are deleted after) instead of reaching another test's worker.
        "GEOPLATFORM_BROKER_NAMESPACE": namespace,
        "GEOPLATFORM_SECURE_COOKIES": "false",  # as scripts/run.sh sets for plain HTTP
        "GEOPLATFORM_SECURE_SSL_REDIRECT": "false",
        "GEOPLATFORM_LOG_LEVEL": "WARNING",
    }


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"geoplatform-firstrun-{uuid.uuid4().hex[:10]}"
    yield name
    url = settings.GEOPLATFORM_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(f"{name}*"))
        if keys:
            client.delete(*keys)


def test_readme_first_run_submits_through_http(fresh_platform: dict[str, str], namespace: str) -> None:
    env = _env(fresh_platform, namespace)
    printed = _manage(env, "createserviceaccount", "ddh", "--group", "platform-clients")
    match = re.search(r"^token: (\S+)$", printed, re.MULTILINE)
    assert match, printed
    headers = {"Authorization": f"Token {match.group(1)}"}

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    container = settings.GEOPLATFORM_UPLOAD_CONTAINERS[0]
    blob = f"first-run/{uuid.uuid4().hex[:8]}/airports.csv"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"the server exited:\n{server.stderr.read() if server.stderr else ''}"
            try:
                requests.get(f"{base}/api/jobs/types", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the server did not answer in 60 s"
                time.sleep(0.2)

        with open(FIXTURE, "rb") as fh:
            resp = requests.post(
                f"{base}/api/storage/{container}/upload",
                headers=headers,
                files={"file": ("airports.csv", fh)},
                data={"name": blob},
                timeout=30,
            )
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = {
            "dataset_id": "first-run",
            "resource_id": "airports",
            "container_name": container,
            "file_name": blob,
            "title": "Airports",
            "processing_options": {"lat_column": "Latitude", "lon_column": "Longitude"},
        }
        resp = requests.post(f"{base}/api/platform/submit", headers=headers, json=body, timeout=60)
        assert resp.status_code != 403, resp.text  # the bug: "lacks the permission 'publishing.submit_release'"
        assert resp.status_code == 202, resp.text
        submitted = resp.json()
        assert submitted["success"] is True and submitted["job_type"] == "process_vector"
        assert submitted["job_id"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        from geoplatform.storage import get_storage

        storage = get_storage(container)
        if storage.exists(blob):
            storage.delete(blob)


@pytest.mark.django_db
def test_a_group_naming_an_unknown_permission_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from publishing import signals

    monkeypatch.setattr(signals, "PLATFORM_CLIENT_PERMS", (*signals.PLATFORM_CLIENT_PERMS, "publishing.no_such_perm"))
    with pytest.raises(signals.MissingPermission, match=r"publishing\.no_such_perm"):
        signals.groups_ensure()
