"""In a real headless Chromium: the items page (Leaflet encoding) and the style page (MapLibre
encoding, WebGL on SwiftShader) draw a styled polygon in the style's colour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from styles import services

from .conftest import ROOT

NODE_MODULES = ROOT / ".cache" / "playwright" / "node_modules"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ORANGE = [213, 94, 0]
# Centres of feature 0 (a park) and feature 1 (a lake) of tests/fixtures/styles/areas.geojson.
PARK, LAKE = [45.045, 10.045], [45.045, 10.145]


def _check(url: str, points: list[list[float]]) -> dict[str, Any]:
    assert shutil.which("node") and Path(CHROMIUM).exists() and (NODE_MODULES / "playwright-core").is_dir(), (
        "needs node, chromium (apt) and playwright-core in .cache/playwright (scripts/setup.sh test installs them)"
    )
    proc = subprocess.run(
        ["node", str(Path(__file__).with_name("items_map_check.cjs")), url, json.dumps(points)],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES), "CHROMIUM": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["ok"], result
    return result


@pytest.mark.django_db(transaction=True)
def test_items_page_pixels_carry_the_style_colour(live_server: Any) -> None:
    from .conftest import load_areas

    load_areas()
    # An opaque fill for parks only (the generated style's fills are translucent over the basemap).
    services.style_create(
        collection_id="areas",
        style_id="orange-parks",
        default=True,
        doc={
            "stylingRules": [
                {
                    "name": "parks",
                    "selector": {"op": "=", "args": [{"property": "kind"}, "park"]},
                    "symbolizer": {"fill": {"color": ORANGE, "opacity": 1}},
                }
            ]
        },
    )
    pages = {
        "leaflet": "/api/features/collections/areas/items?f=html&limit=100",
        "maplibre": "/api/features/collections/areas/styles/orange-parks?f=html",
    }
    for renderer, path in pages.items():
        result = _check(live_server.url + path, [PARK, LAKE])
        assert result["styled"] == "yes" and "parks" in result["legend"], (renderer, result)
        park, lake = result["colours"]
        assert all(abs(a - b) <= 3 for a, b in zip(park, ORANGE, strict=True)), (renderer, result)
        assert any(abs(a - b) > 30 for a, b in zip(lake, ORANGE, strict=True)), (renderer, result)
