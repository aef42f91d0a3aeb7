"""In a real headless Chromium: the items page (Leaflet encoding of the page's GeoJSON) and the
style page (MapLibre encoding on the collection's vector tiles, WebGL on SwiftShader) draw a
styled polygon in the style's colour."""

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


@pytest.mark.django_db(transaction=True)
def test_style_page_draws_the_vector_tiles(live_server: Any) -> None:
    """The style page asks the collection's OGC API tiles (MVT), never its GeoJSON items, and
    MapLibre draws their features with the style's layers (a fill and a line per rule)."""
    from features.services import dataset_unpublish

    from .conftest import load_areas

    load_areas("areas_vt")
    style = services.style_create(
        collection_id="areas_vt",
        style_id="outlined",
        default=True,
        doc={
            "stylingRules": [
                {
                    "name": "areas",
                    "symbolizer": {"fill": {"color": ORANGE, "opacity": 1}, "stroke": {"color": [0, 0, 0], "width": 2}},
                }
            ]
        },
    )
    assert style.style_id == "outlined"
    try:
        result = _check(live_server.url + "/api/features/collections/areas_vt/styles/outlined?f=html", [PARK, LAKE])
    finally:
        dataset_unpublish(collection_id="areas_vt", dry_run=False)
    assert result["styled"] == "yes" and result["items"] == [], result
    assert result["tiles"] and all(status in (200, 204) for status, _ in result["tiles"]), result
    assert any(kind == "application/vnd.mapbox-vector-tile" for _, kind in result["tiles"]), result
    assert result["rendered"] is not None and int(result["rendered"]) >= 2, result
    # The pixels of the style's colour on the tiles: test_items_page_pixels_carry_the_style_colour.
