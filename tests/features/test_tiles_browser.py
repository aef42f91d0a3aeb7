"""In a real headless Chromium (WebGL on SwiftShader): the collection page's MapLibre map
draws the collection's vector tiles (TileJSON -> MVT), nothing fetched from outside.
(GDAL's OGC API driver on the same tilesets: test_tiles_gdal.py.)"""

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


@pytest.mark.django_db(transaction=True)
def test_maplibre_draws_the_vector_tiles(live_server: Any, put_fixture: Any, submit_inline: Any) -> None:
    assert shutil.which("node") and Path(CHROMIUM).exists() and (NODE_MODULES / "playwright-core").is_dir(), (
        "needs node, chromium (apt) and playwright-core in .cache/playwright (scripts/setup.sh test installs them)"
    )
    from features.services import dataset_unpublish

    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_vt_map", title="NC counties")
    assert job.status == "completed", job.error
    try:
        proc = subprocess.run(
            ["node", str(Path(__file__).with_name("vector_tiles_check.cjs")),
             f"{live_server.url}/api/features/collections/nc_vt_map?f=html"],
            env={**os.environ, "NODE_PATH": str(NODE_MODULES), "CHROMIUM": CHROMIUM},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        dataset_unpublish(collection_id="nc_vt_map", dry_run=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result = json.loads(lines[-1])
    assert result["errors"] == [] and result["blocked"] == [] and result["failed"] == [], result
    assert result["tiles"] and all(status in (200, 204) for status, _ in result["tiles"]), result
    assert any(kind == "application/vnd.mapbox-vector-tile" for _, kind in result["tiles"]), result
    # The map's fill and outline layers hold features of the tiles (up to 100 counties, each drawn in both).
    assert result["rendered"] not in (None, "error") and int(result["rendered"]) >= 50, result
