"""The WDPA handler: monthly release labels, and the pre- and post-November-2025 schemas
(WD-OECM merged, fields renamed) loaded into one schema. Two small synthetic releases are
built here (4 polygons each), one per schema."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from managed import services
from managed.handlers.wdpa import COLLECTION_ID, column_map_for, month_label, months_before
from managed.models import SourceVersion, VersionStatus
from styles.models import Style

from .conftest import run_update

pytestmark = pytest.mark.django_db

ROWS = [  # (id, english name, original name, IUCN category, iso3, x, y)
    (101, "Lake Park", "Parc du Lac", "II", "FRA", 2.0, 46.0),
    (102, "Old Forest", "Alter Wald", "Ia", "DEU", 10.0, 50.0),
    (103, "Dune Reserve", "Reserva de Dunas", "IV", "ESP", -4.0, 40.0),
    (104, "Marsh", "Palude", "Not Reported", "ITA", 12.0, 43.0),
]


def release(schema: str, rows: list[tuple[Any, ...]] = ROWS, *, stem: str = "WDPA_poly", points: bool = False) -> bytes:
    """A zipped Shapefile of WDPA polygons (or their centre points) in the old (``WDPAID``...)
    or new (``SITE_ID``...) schema."""
    import geopandas as gpd
    from shapely.geometry import Point, box

    records = []
    for site_id, english, original, iucn, iso3, x, y in rows:
        if schema == "old":
            attrs = {"WDPAID": site_id, "WDPA_PID": str(site_id), "PA_DEF": "1", "NAME": english,
                     "ORIG_NAME": original, "DESIG_ENG": "National Park", "IUCN_CAT": iucn, "MARINE": "0",
                     "GIS_AREA": 12.5, "STATUS_YR": 1990, "ISO3": iso3, "PARENT_ISO3": iso3}  # fmt: skip
        else:
            attrs = {"SITE_ID": site_id, "SITE_PID": str(site_id), "SITE_TYPE": "PA", "NAME_ENG": english,
                     "NAME": original, "DESIG_ENG": "National Park", "IUCN_CAT": iucn, "REALM": "Terrestrial",
                     "GIS_AREA": 12.5, "STATUS_YR": 1990, "ISO3": iso3, "PRNT_ISO3": iso3,
                     "GOVSUBTYPE": "Federal"}  # fmt: skip
        records.append({**attrs, "geometry": Point(x + 0.5, y + 0.5) if points else box(x, y, x + 1, y + 1)})
    frame = gpd.GeoDataFrame(records, crs="EPSG:4326")
    folder = Path(tempfile.mkdtemp())
    frame.to_file(folder / f"{stem}.shp", engine="pyogrio")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for part in sorted(folder.glob(f"{stem}.*")):
            zf.write(part, part.name)
    return out.getvalue()


def official_archive(label: str) -> bytes:
    """The official layout: a zip of zips (``_shp_0.zip``, ``_shp_1.zip``), each with a
    polygon and a point Shapefile; the polygons split over the parts."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for index, rows in enumerate([ROWS[:2], ROWS[2:]]):
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as izf:
                for stem, points in (
                    (f"WDPA_{label}_Public_shp-polygons", False),
                    (f"WDPA_{label}_Public_shp-points", True),
                ):
                    with zipfile.ZipFile(io.BytesIO(release("old", rows, stem=stem, points=points))) as part:
                        for name in part.namelist():
                            izf.writestr(name, part.read(name))
            zf.writestr(f"WDPA_{label}_Public_shp_{index}.zip", inner.getvalue())
    return out.getvalue()


def _columns(table: str) -> dict[str, str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'geo' AND table_name = %s",
            [table],
        )
        return dict(cur.fetchall())


def _row(table: str, site_id: int) -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute(
            f'SELECT site_id, name, name_eng, iucn_cat, prnt_iso3 FROM geo."{table}" WHERE site_id = %s', [site_id]
        )
        names = [c.name for c in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))


CORE = {
    "site_id",
    "site_pid",
    "name",
    "name_eng",
    "desig_eng",
    "iucn_cat",
    "gis_area",
    "status_yr",
    "iso3",
    "prnt_iso3",
}
THIS_MONTH = month_label(timezone.now().date())
LAST_MONTH = months_before(timezone.now().date(), 1)[1]


@pytest.fixture
def wdpa(make_source: Any, source_server: Any) -> Any:
    return make_source(
        source_server.url("/wdpa"),
        name="wdpa",
        handler="wdpa",
        collection_id=COLLECTION_ID,
        thresholds={"schema_change": False},  # the Nov 2025 schema change is expected here
    )


def test_labels_and_the_map_of_both_schemas() -> None:
    assert month_label(dt.date(2025, 11, 30)) == "Nov2025"
    assert months_before(dt.date(2026, 1, 5), 2) == ["Jan2026", "Dec2025", "Nov2025"]
    old = ["WDPAID", "WDPA_PID", "NAME", "ORIG_NAME", "PARENT_ISO", "IUCN_CAT"]  # a Shapefile's names
    assert column_map_for(old) == {"WDPAID": "SITE_ID", "WDPA_PID": "SITE_PID", "NAME": "NAME_ENG",
                                   "ORIG_NAME": "NAME", "PARENT_ISO": "PRNT_ISO3"}  # fmt: skip
    assert column_map_for(["SITE_ID", "NAME", "NAME_ENG"]) == {}  # the new schema is the canonical one
    with pytest.raises(Exception, match="not a WDPA release"):
        column_map_for(["id", "name"])


def test_old_then_new_schema_load_into_one_schema(wdpa: Any, source_server: Any) -> None:
    # last month's release (old schema); this month's not out yet: HEAD 404, HEAD 200
    source_server.put(f"/wdpa/WDPA_{LAST_MONTH}_Public_shp.zip", release("old"))
    first = run_update(wdpa)
    assert first.version.status == VersionStatus.LIVE, first.version.error
    assert first.version.label == LAST_MONTH
    old_columns = _columns(COLLECTION_ID)
    assert CORE <= set(old_columns)
    assert _row(COLLECTION_ID, 101) == {"site_id": 101, "name": "Parc du Lac", "name_eng": "Lake Park",
                                        "iucn_cat": "II", "prnt_iso3": "FRA"}  # fmt: skip
    style = Style.objects.get(collection_id=COLLECTION_ID, is_default=True)
    assert "IUCN" in style.cartosym["metadata"]["title"]
    assert any(
        r.get("selector", {}).get("args", [{}])[0] == {"property": "iucn_cat"} for r in style.cartosym["stylingRules"]
    )

    # this month's release is out, in the new schema
    source_server.put(f"/wdpa/WDPA_{THIS_MONTH}_Public_shp.zip", release("new"))
    second = run_update(wdpa)
    assert second.version.status == VersionStatus.LIVE, second.version.error
    assert second.version.label == THIS_MONTH
    new_columns = _columns(COLLECTION_ID)
    assert {c: new_columns[c] for c in CORE} == {c: old_columns[c] for c in CORE}  # same names, same types
    assert _row(COLLECTION_ID, 101) == _row(f"{COLLECTION_ID}__v1", 101)  # old (kept for rollback) = new
    assert SourceVersion.objects.get(source=wdpa, number=1).status == VersionStatus.PREVIOUS


def test_current_release_live_is_unchanged_without_a_request(wdpa: Any, source_server: Any) -> None:
    source_server.put(f"/wdpa/WDPA_{THIS_MONTH}_Public_shp.zip", release("new"))
    assert run_update(wdpa).version.status == VersionStatus.LIVE
    source_server.reset_counts()
    outcome = services.update_trigger(source=wdpa)
    assert outcome.outcome == "unchanged" and source_server.count() == 0


def test_no_newer_release_is_unchanged_within_three_requests(wdpa: Any, source_server: Any) -> None:
    source_server.put(f"/wdpa/WDPA_{LAST_MONTH}_Public_shp.zip", release("old"))
    assert run_update(wdpa).version.status == VersionStatus.LIVE
    source_server.reset_counts()
    outcome = services.update_trigger(source=wdpa)
    assert outcome.outcome == "unchanged" and source_server.count() <= 3


def test_a_file_that_is_not_wdpa_fails_at_ingest_and_leaves_nothing(make_source: Any, source_server: Any) -> None:
    from tests.managed.conftest import geojson

    # Its own source name: its blob path differs from the other tests' (GDAL caches what it
    # read through /vsiaz/ by path within a process).
    wdpa = make_source(source_server.url("/wdpa"), name="wdpa-other", handler="wdpa", collection_id=COLLECTION_ID)
    source_server.put(f"/wdpa/WDPA_{THIS_MONTH}_Public_shp.zip", _zip_of_geojson(geojson([("a", 0.0, 0.0)])))
    outcome = run_update(wdpa)
    assert outcome.version.status == VersionStatus.FAILED
    assert outcome.version.error["stage"] == "ingest" and "not a WDPA release" in outcome.version.error["message"]
    assert not _columns(COLLECTION_ID) and not _columns(f"{COLLECTION_ID}__v1")


def _zip_of_geojson(data: bytes) -> bytes:
    import geopandas as gpd

    frame = gpd.read_file(io.BytesIO(data))
    folder = Path(tempfile.mkdtemp())
    frame.to_file(folder / "x.shp", engine="pyogrio")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for part in sorted(folder.glob("x.*")):
            zf.write(part, part.name)
    return out.getvalue()


def test_the_official_archive_of_zips_loads_its_polygon_parts(make_source: Any, source_server: Any) -> None:
    source = make_source(source_server.url("/wdpa"), name="wdpa-archive", handler="wdpa", collection_id=COLLECTION_ID)
    source_server.put(f"/wdpa/WDPA_{THIS_MONTH}_Public_shp.zip", official_archive(THIS_MONTH))
    outcome = run_update(source)
    assert outcome.version.status == VersionStatus.LIVE, outcome.version.error
    assert outcome.version.counts == {"rows": 4}  # both parts' polygons, no points
    assert CORE <= set(_columns(COLLECTION_ID))
    assert _row(COLLECTION_ID, 103)["name_eng"] == "Dune Reserve"
    assert any(b.endswith("/wdpa_polygons.parquet") for b in outcome.version.blobs)
