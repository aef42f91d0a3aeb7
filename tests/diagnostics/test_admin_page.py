"""The operator page in the admin: staff with the permission, charts drawn in a real Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from .conftest import group_ensure

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / ".cache" / "playwright" / "node_modules"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.django_db
def test_page_needs_staff_and_the_permission() -> None:
    users = get_user_model().objects
    client = Client()
    assert client.get("/admin/diagnostics/").status_code == 302  # to the login page
    staff = users.create_user("staff-only", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/diagnostics/").status_code == 403
    assert b"diagnostics-link" not in client.get("/admin/").content
    staff.groups.add(group_ensure("diagnostics-viewers"))
    page = client.get("/admin/diagnostics/")
    assert page.status_code == 200 and b"chart.umd.min.js" in page.content
    assert b"diagnostics-link" in client.get("/admin/").content


@pytest.mark.django_db(transaction=True)
def test_page_draws_its_charts_in_chromium_with_no_cdn(live_server: Any) -> None:
    assert shutil.which("node") and Path(CHROMIUM).exists() and (NODE_MODULES / "playwright-core").is_dir(), (
        "needs node, chromium (apt) and playwright-core in .cache/playwright (scripts/setup.sh test installs them)"
    )
    get_user_model().objects.create_superuser("diag-admin", "a@example.org", "pw-for-tests-only")
    proc = subprocess.run(
        ["node", str(Path(__file__).with_name("admin_page.cjs")), live_server.url, "diag-admin", "pw-for-tests-only"],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES), "CHROMIUM": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result = json.loads(lines[-1])
    assert result["ok"], result
    assert [name for name, _ in result["sections"]][:2] == ["versions", "jobs"]
