"""The Natural Earth Admin 0 handler against the local server: versioned path, zipped
Shapefile, the version file as the cheapest check, the stable collection the H3 app uses."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from features.models import VectorDataset
from geoplatform.errors import InvalidInput
from managed import services
from managed.errors import CheckFailed
from managed.handlers.natural_earth import COLLECTION_ID
from managed.models import SourceVersion, VersionStatus
from styles.models import Style
from tests.conftest import FIXTURES

from .conftest import run_update

NE_ZIP = (FIXTURES / "managed" / "ne_110m_admin_0_countries.zip").read_bytes()
FILE = "110m_cultural/ne_110m_admin_0_countries.zip"

pytestmark = pytest.mark.django_db


def _fewer_countries(data: bytes, keep: int) -> bytes:
    """The fixture with only its first ``keep`` countries (a 'new release')."""
    import tempfile
    from pathlib import Path

    import pyogrio

    folder = Path(tempfile.mkdtemp())
    (folder / "in.zip").write_bytes(data)
    frame = pyogrio.read_dataframe(f"/vsizip/{folder / 'in.zip'}")
    pyogrio.write_dataframe(frame.head(keep), folder / "ne_110m_admin_0_countries.shp")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for part in sorted(folder.glob("ne_110m_admin_0_countries.*")):
            zf.write(part, part.name)
    return out.getvalue()


@pytest.fixture
def ne(source_server: Any, make_source: Any) -> Any:
    source_server.put("/ne/VERSION", b"5.1.1\n")
    source_server.put(f"/ne/5.1.1/{FILE}", NE_ZIP)
    return make_source(
        source_server.url("/ne"),
        name="ne-admin0",
        handler="natural_earth_admin0",
        collection_id=COLLECTION_ID,
        settings={"scale": "110m", "version_url": source_server.url("/ne/VERSION")},
    )


def test_first_release_goes_live_under_the_stable_id_with_its_style(ne: Any) -> None:
    outcome = run_update(ne)
    version = outcome.version
    assert version.status == VersionStatus.LIVE, version.error
    assert version.label == "5.1.1" and version.counts == {"rows": 12}
    dataset = VectorDataset.objects.get(pk="ne_admin0_countries")
    assert dataset.published and dataset.feature_count == 12
    assert {a["name"] for a in dataset.attributes} >= {"admin", "iso_a3", "continent"}
    style = Style.objects.get(collection_id="ne_admin0_countries", is_default=True)
    assert style.cartosym["metadata"]["title"] == "Countries"


def test_same_version_is_unchanged_with_one_request(ne: Any, source_server: Any) -> None:
    run_update(ne)
    source_server.reset_counts()
    outcome = services.update_trigger(source=ne)
    assert outcome.outcome == "unchanged" and "5.1.1" in outcome.reason
    assert source_server.count() == 1 and source_server.count("/ne/VERSION") == 1
    assert SourceVersion.objects.filter(source=ne).count() == 1


def test_new_version_path_makes_a_new_live_version(ne: Any, source_server: Any) -> None:
    run_update(ne)
    source_server.put("/ne/VERSION", b"5.1.2\n")
    source_server.put(f"/ne/5.1.2/{FILE}", _fewer_countries(NE_ZIP, 11))
    outcome = run_update(ne)
    assert outcome.version.status == VersionStatus.LIVE, outcome.version.error
    assert outcome.version.label == "5.1.2" and outcome.version.url.endswith(f"/5.1.2/{FILE}")
    assert VectorDataset.objects.get(pk="ne_admin0_countries").feature_count == 11
    assert SourceVersion.objects.get(source=ne, number=1).status == VersionStatus.PREVIOUS


def test_a_version_file_naming_a_missing_release_fails_the_check(ne: Any, source_server: Any) -> None:
    run_update(ne)
    source_server.put("/ne/VERSION", b"9.9.9\n")  # no 9.9.9 folder on the server
    with pytest.raises(CheckFailed, match="404"):
        services.update_trigger(source=ne)
    ne.refresh_from_db()
    assert ne.last_error["stage"] == "check"
    assert VectorDataset.objects.get(pk="ne_admin0_countries").feature_count == 12  # live untouched


def test_settings_need_a_version_or_its_url(make_source: Any, source_server: Any) -> None:
    with pytest.raises(InvalidInput, match=r"settings\.version"):
        make_source(source_server.url("/ne"), name="ne-bad", handler="natural_earth_admin0", settings={"scale": "10m"})
    with pytest.raises(InvalidInput, match="scale"):
        make_source(source_server.url("/ne"), name="ne-bad", handler="natural_earth_admin0",
                    settings={"scale": "1m", "version": "5.1.1"})  # fmt: skip
