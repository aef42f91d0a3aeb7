"""The hexagon map in a real headless Chromium (MapLibre on SwiftShader), every non-localhost
request blocked: hexagons are drawn in the ramp colour of their value, the pickers list the
dataset, its statistics and resolutions, the legend is drawn and hovering shows the value."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import h3.api.basic_int as h3i
import pytest

from .conftest import H3Fixture

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / ".cache" / "playwright" / "node_modules"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def test_map_page_serves_vendored_js(client: Any, db: Any) -> None:
    html = client.get("/api/h3/map").content.decode()
    assert "/static/vendor/maplibre/maplibre-gl.js" in html and "/static/h3grid/map.js" in html
    assert "geoplatform-basemap" in html and "https://" not in html.split("<body>")[1].split("h3-config")[0]


@pytest.mark.django_db(transaction=True)
def test_hexagons_coloured_on_screen(live_server: Any, h3data: H3Fixture) -> None:
    assert shutil.which("node") and Path(CHROMIUM).exists() and (NODE_MODULES / "playwright-core").is_dir(), (
        "needs node, chromium (apt) and playwright-core in .cache/playwright (scripts/setup.sh test installs them)"
    )
    # The lowest, the highest and a middle value of the finest level: distinct ramp colours.
    finest = sorted(h3data.cells[6], key=lambda c: h3data.values[c])
    picks = [finest[0], finest[len(finest) // 2], finest[-1]]
    cells = [dict(zip(("lat", "lng"), h3i.cell_to_latlng(c), strict=True), value=h3data.values[c]) for c in picks]
    url = f"{live_server.url}/api/h3/map?dataset={h3data.slug}&stat=mean"
    proc = subprocess.run(
        ["node", str(Path(__file__).with_name("map_check.cjs")), url, json.dumps(cells)],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES), "CHROMIUM": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result = json.loads(lines[-1])
    assert result["drawn"] == "yes" and result["external"] == [] and result["errors"] == [], result
    assert result["options"]["stat"] == ["mean", "count"] and result["options"]["res"] == ["auto", "4", "5", "6"]
    assert "mean (m)" in result["legend"], result
    assert result["res"] == "6", result  # the zoom of the framed grid picks the finest level
    for sample in result["samples"]:
        assert all(abs(a - b) <= 40 for a, b in zip(sample["got"], sample["expected"], strict=True)), result
    colours = {tuple(s["got"]) for s in result["samples"]}
    assert len(colours) == 3, result  # three values, three colours (not the basemap's)
    assert "mean = " in result["hover"], result
    assert result["zoomedOut"] == {"res": "4", "drawn": "yes"}, result  # the resolution follows the zoom


@pytest.mark.reader
@pytest.mark.django_db
def test_home_page_lists_stat_datasets(client: Any, h3data: H3Fixture) -> None:
    html = client.get("/?kind=h3").content.decode()
    assert h3data.slug in html and f"/api/h3/map?dataset={h3data.slug}" in html
