"""The climate viewer in a real headless Chromium: tiles, time slider, legend, click -> chart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / ".cache" / "playwright" / "node_modules"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.usefixtures("registered")
def test_viewer_tiles_slider_and_chart(live_server: Any) -> None:
    assert shutil.which("node") and Path(CHROMIUM).exists() and (NODE_MODULES / "playwright-core").is_dir(), (
        "needs node, chromium (apt) and playwright-core in .cache/playwright (scripts/setup.sh test installs them)"
    )
    proc = subprocess.run(
        ["node", str(Path(__file__).with_name("viewer_check.cjs")), live_server.url + "/api/xarray/tests/a1b/viewer"],
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
    assert result["failed"] == [] and result["steps"] == 240
    assert result["time"].startswith("2099-06-01") and "360_day" in result["time"]
    assert result["legend"] == "K" and "air_temperature (K)" in result["chart"]
