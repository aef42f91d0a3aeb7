"""Standard clients and test suites against the live server: the OGC API Features test suite
(``ogctests``, in its own venv) and GDAL's OAPIF driver pushing ``-where`` down as CQL2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db(transaction=True)

OGCTESTS = Path(settings.BASE_DIR) / ".cache" / "venvs" / "ogctests" / "bin" / "python"


@pytest.fixture
def published(put_fixture: Any, submit_inline: Any) -> Iterator[str]:
    """nc.gpkg loaded (committed: the live server's thread reads it), removed afterwards."""
    from features.services import dataset_unpublish

    job = submit_inline(file_name=put_fixture("nc.gpkg"), table_name="nc_std", title="NC counties")
    assert job.status == "completed", job.error
    yield "nc_std"
    dataset_unpublish(collection_id="nc_std", dry_run=False)


def _run_ogctests(scope: str, url: str, tmp_path: Path) -> tuple[int, str]:
    # An empty ini: the suite's pytest must not pick up this repository's configuration.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    code = (
        "import sys; from ogctests.main import run_ogctests; "
        f"sys.exit(run_ogctests({scope!r}, {url!r}, ['-q', '-rf', '-p', 'no:cacheprovider', "
        f"'-c', {str(tmp_path / 'pytest.ini')!r}, '--rootdir', {str(tmp_path)!r}]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTEST"))}
    done = subprocess.run(
        [str(OGCTESTS), "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.skipif(not OGCTESTS.exists(), reason="the ogctests venv is made by scripts/setup.sh test")
def test_ogc_features_core_suite_passes_in_full(live_server: Any, published: str, tmp_path: Path) -> None:
    code, output = _run_ogctests("features/core", f"{live_server.url}/api/features", tmp_path)
    assert code == 0 and " passed" in output and "failed" not in output, output[-4000:]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin not installed")
def test_gdal_where_gives_the_same_count_as_the_filter(live_server: Any, published: str) -> None:
    base = f"{live_server.url}/api/features"
    for where, cql in [
        ("NAME = 'Ashe' OR NAME = 'Wake'", "name = 'Ashe' OR name = 'Wake'"),
        ("BIR74 > 10000", "bir74 > 10000"),
        ("NAME LIKE 'C%' AND SID74 >= 5", "name LIKE 'C%' AND sid74 >= 5"),
    ]:
        query = urllib.parse.urlencode({"filter": cql, "filter-lang": "cql2-text", "limit": 1})
        expected = _get(f"{base}/collections/nc_std/items?{query}")["numberMatched"]
        assert expected > 0, cql
        done = subprocess.run(
            ["ogrinfo", "-ro", "-so", "-al", f"OAPIF:{base}", "nc_std", "-where", where, "--debug", "on"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert f"Feature Count: {expected}\n" in done.stdout, (where, expected, done.stdout, done.stderr[-3000:])
        assert "filter=" in done.stderr, done.stderr[-3000:]  # pushed down to the server, not filtered by GDAL
