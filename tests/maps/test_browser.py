"""Map pages in a real headless Chromium, every non-localhost request blocked: the basemap
draws on the features items page, the raster viewer (with its legend) and the home page."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / ".cache" / "playwright" / "node_modules"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def nc_live(put_fixture: Any, submit_inline: Any) -> Iterator[str]:
    """nc.gpkg loaded and committed (the live server's thread reads it), removed afterwards."""
    from features.services import dataset_unpublish

    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_maps", title="NC counties")
    assert job.status == "completed", job.error
    yield "nc_maps"
    dataset_unpublish(collection_id="nc_maps", dry_run=False)


@pytest.mark.django_db(transaction=True)
def test_basemap_draws_offline(live_server: Any, nc_live: str, published: dict[str, Any]) -> None:
    assert shutil.which("node") and Path(CHROMIUM).exists() and (NODE_MODULES / "playwright-core").is_dir(), (
        "needs node, chromium (apt) and playwright-core in .cache/playwright (scripts/setup.sh test installs them)"
    )
    dem = published["dem"]
    lc = published["lc"]
    urls = [
        f"{live_server.url}/api/features/collections/{nc_live}/items?f=html",
        f"{live_server.url}/api/raster/{dem['collection_id']}/{dem['item_id']}/viewer",
        f"{live_server.url}/api/raster/{lc['collection_id']}/{lc['item_id']}/viewer",
        f"{live_server.url}/",
    ]
    proc = subprocess.run(
        ["node", str(Path(__file__).with_name("maps_check.cjs")), *urls],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES), "CHROMIUM": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert lines, proc.stdout + proc.stderr
    items, dem_page, lc_page, home = json.loads(lines[-1])
    for page in (items, dem_page, lc_page, home):
        assert page["basemapTiles"] > 0 and page["drawn"], page
        assert page["blocked"] == [] and page["failed"] == [] and page["errors"] == [], page
    assert "legend-continuous" in dem_page["legend"] and "legend-categorical" in lc_page["legend"]
    assert home["datasets"] >= 2
