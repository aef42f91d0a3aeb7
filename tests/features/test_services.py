"""process_vector / unpublish_vector stages against the real database and storage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from features import sql
from features.models import VectorDataset
from geoplatform import storage

pytestmark = pytest.mark.django_db


def test_geopackage_is_reprojected_and_published(put_fixture: Any, submit_inline: Any) -> None:
    name = put_fixture("nc.gpkg")
    job = submit_inline(file_name=name, table_name="nc_counties", title="NC", chunk_rows=40)
    assert job.status == "completed", job.error
    assert job.result["collection_id"] == "nc_counties"
    assert job.result["items_url"].endswith("/api/features/collections/nc_counties/items")
    ds = VectorDataset.objects.get(pk="nc_counties")
    assert ds.feature_count == 100
    assert ds.geometry_type == "MultiPolygon"
    minx, _, _, maxy = ds.bbox
    # NAD27 -> WGS 84 moves coordinates by metres, not degrees.
    assert minx == pytest.approx(-84.32, abs=0.01) and maxy == pytest.approx(36.59, abs=0.01)
    assert [a["name"] for a in ds.attributes][:3] == ["area", "perimeter", "cnty"]
    assert sql.table_columns("nc_counties")[:3] == [
        ("id", "bigint"),
        ("etl_batch_id", "text"),
        ("geom", "USER-DEFINED"),
    ]
    with __import__("django.db").db.connection.cursor() as cur:
        cur.execute("SELECT count(DISTINCT etl_batch_id), ST_SRID(min(geom)::geometry) FROM geo.nc_counties")
        batches, _ = cur.fetchone()
        cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname='geo' AND tablename='nc_counties'")
        indexes = " ".join(r[0] for r in cur.fetchall())
    assert batches == 3
    assert "gist (geom)" in indexes and "(etl_batch_id)" in indexes


def _nothing_left(table: str, job_id: str | None = None) -> None:
    assert not sql.table_exists(table)
    assert not VectorDataset.objects.filter(pk=table).exists()
    if job_id:
        assert not sql.table_exists(sql.load_table_name(job_id))


def test_csv_with_lat_lon_columns(put_fixture: Any, submit_inline: Any) -> None:
    name = put_fixture("airports.csv")
    job = submit_inline(file_name=name, table_name="airports", lat_column="Latitude", lon_column="Longitude")
    assert job.status == "completed", job.error
    ds = VectorDataset.objects.get(pk="airports")
    assert ds.feature_count == 60 and ds.geometry_type == "MultiPoint"
    types = {a["name"]: a["type"] for a in ds.attributes}
    assert types["latitude"] == "double precision" and types["name"] == "text" and types["altitude"] == "integer"


def test_csv_semicolon_latin1_and_wkt(put_file: Any, submit_inline: Any) -> None:
    text = "nom;wkt;valeur\nCafé;POINT (2.35 48.85);1\nGare;POINT (4.83 45.76);2\n"
    name = put_file("features-tests/latin1.csv", text.encode("cp1252"))
    job = submit_inline(file_name=name, table_name="latin1", wkt_column="wkt", crs="EPSG:4326")
    assert job.status == "completed", job.error
    first = sql.feature_select(table="latin1", columns=["nom", "valeur"], feature_id=1) or ""
    assert '"nom" : "Café"' in first or '"nom":"Café"' in first.replace(" ", "")


def test_zipped_shapefile(put_fixture: Any, submit_inline: Any) -> None:
    name = put_fixture("cities_shp.zip")
    job = submit_inline(file_name=name, table_name="cities")
    assert job.status == "completed", job.error
    assert VectorDataset.objects.get(pk="cities").feature_count == 243


def test_sanitised_column_names() -> None:
    names = sql.sanitize_names(["Name", "name", "select", "id", "1st", "Größe", "a" * 80, "", "geom"])
    assert names[:6] == ["name", "name_2", "select_", "id_", "c_1st", "groe"]
    assert len(names[6]) == 63 and names[7] == "col" and names[8] == "geom_"
    assert len(set(names)) == len(names)


def test_missing_crs_is_400_unless_given(put_fixture: Any, submit_inline: Any) -> None:
    from geoplatform.errors import InvalidInput

    name = put_fixture("lakes_noprj.zip")
    with pytest.raises(InvalidInput) as err:
        submit_inline(file_name=name, table_name="lakes")
    assert "no coordinate reference system" in str(err.value.details)
    job = submit_inline(file_name=name, table_name="lakes", crs="EPSG:4326")
    assert job.status == "completed", job.error
    assert VectorDataset.objects.get(pk="lakes").geometry_type == "MultiPolygon"


def test_existing_table_is_409_without_overwrite(put_fixture: Any, submit_inline: Any) -> None:
    from geoplatform.errors import Conflict

    name = put_fixture("cities_shp.zip")
    assert submit_inline(file_name=name, table_name="dup").status == "completed"
    with pytest.raises(Conflict):
        submit_inline(file_name=name, table_name="dup", title="again")
    other = put_fixture("airports.csv")
    job = submit_inline(
        file_name=other, table_name="dup", overwrite=True, lat_column="Latitude", lon_column="Longitude"
    )
    assert job.status == "completed", job.error
    assert VectorDataset.objects.get(pk="dup").feature_count == 60
    assert sql.table_stats(table="dup").count == 60
    assert sql.load_tables_of("_load_") == []


def test_multilayer_geopackage_needs_layer_name(put_file: Any, submit_inline: Any, tmp_path: Any) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    from geoplatform.errors import InvalidInput

    path = tmp_path / "two.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(1, 2)], crs=4326).to_file(path, layer="first")
    gpd.GeoDataFrame({"b": [2]}, geometry=[Point(3, 4)], crs=4326).to_file(path, layer="second")
    name = put_file("features-tests/two.gpkg", path.read_bytes())
    with pytest.raises(InvalidInput) as err:
        submit_inline(file_name=name, table_name="two")
    assert "first, second" in str(err.value.details)
    job = submit_inline(file_name=name, table_name="two", layer_name="second")
    assert job.status == "completed", job.error
    assert [a["name"] for a in VectorDataset.objects.get(pk="two").attributes] == ["b"]


@pytest.mark.parametrize(
    ("fname", "data", "expected"),
    [
        ("empty.geojson", b"", "is empty"),
        ("truncated.gpkg", (b"SQLite format 3\x00" + b"\x00" * 200), "Cannot read"),
        ("notgeo.txt.doc", b"hello", "Unsupported file extension"),
        ("broken.zip", b"PK\x03\x04garbage", "not a readable zip"),
        ("nofeatures.geojson", b'{"type": "FeatureCollection", "features": []}', "no features"),
        ("wrong.geojson", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not UTF-8"),
        ("truncated.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feat', "Cannot read"),
    ],
)
def test_bad_files_are_400_and_leave_nothing(
    put_file: Any, submit_inline: Any, fname: str, data: bytes, expected: str
) -> None:
    from geoplatform.errors import InvalidInput

    name = put_file(f"features-tests/{fname}", data)
    with pytest.raises(InvalidInput) as err:
        submit_inline(file_name=name, table_name="bad")
    assert expected in str(err.value.details), err.value.details
    _nothing_left("bad")


def test_zip_with_two_shapefiles_or_escaping_paths_is_400(put_file: Any, submit_inline: Any) -> None:
    from geoplatform.errors import InvalidInput
    from tests.features.conftest import make_zip

    for files, expected in [
        ({"a.shp": b"x", "b.shp": b"y"}, "exactly one .shp"),
        ({"../evil.shp": b"x", "../evil.shx": b"y"}, "unsafe path"),
        ({"/abs/evil.shp": b"x"}, "unsafe path"),
    ]:
        name = put_file("features-tests/odd.zip", make_zip(files))
        with pytest.raises(InvalidInput) as err:
            submit_inline(file_name=name, table_name="odd")
        assert expected in str(err.value.details)


def test_zip_bomb_is_refused(put_file: Any, submit_inline: Any) -> None:
    from geoplatform.errors import InvalidInput
    from tests.features.conftest import make_zip

    name = put_file(
        "features-tests/bomb.zip", make_zip({"bomb.shp": b"\x00" * (20 * 1024**2), "bomb.shx": b"", "bomb.dbf": b""})
    )
    with pytest.raises(InvalidInput) as err:
        submit_inline(file_name=name, table_name="bomb")
    assert "zip bomb" in str(err.value.details)


def test_nulls_dropped_with_warning_and_invalid_polygons_repaired(put_file: Any, submit_inline: Any) -> None:
    bowtie = '{"type":"Polygon","coordinates":[[[0,0],[2,2],[2,0],[0,2],[0,0]]]}'
    square = '{"type":"MultiPolygon","coordinates":[[[[5,5],[6,5],[6,6],[5,6],[5,5]]]]}'
    data = (
        '{"type":"FeatureCollection","features":['
        f'{{"type":"Feature","properties":{{"n":"bow","when":"2020-01-02T00:00:00Z"}},"geometry":{bowtie}}},'
        '{"type":"Feature","properties":{"n":"none","when":"2020-03-01T00:00:00Z"},"geometry":null},'
        f'{{"type":"Feature","properties":{{"n":"sq","when":"2021-06-30T12:00:00Z"}},"geometry":{square}}}]}}'
    ).encode()
    name = put_file("features-tests/repair.geojson", data)
    job = submit_inline(file_name=name, table_name="repair", temporal_property="when")
    assert job.status == "completed", job.error
    assert "NULL_GEOMETRY_DROPPED: 1 feature(s)" in " ".join(job.warnings)
    assert any(w.startswith("INVALID_GEOMETRY_REPAIRED: 1 ") for w in job.warnings)
    ds = VectorDataset.objects.get(pk="repair")
    assert ds.feature_count == 2 and ds.geometry_type == "MultiPolygon"
    assert ds.temporal_extent[0].startswith("2020-01-02") and ds.temporal_extent[1].startswith("2021-06-30")
    with __import__("django.db").db.connection.cursor() as cur:
        cur.execute("SELECT bool_and(ST_IsValid(geom)) FROM geo.repair")
        assert cur.fetchone()[0] is True


def test_unpublish_dry_run_then_live_is_idempotent(put_fixture: Any, submit_inline: Any) -> None:
    name = put_fixture("cities_shp.zip")
    assert submit_inline(file_name=name, table_name="gone", create_stac=True).status == "completed"
    from catalog import selectors as catalog_selectors

    assert catalog_selectors.item_get(collection_id="system-vectors", item_id="gone") is not None
    dry = submit_inline("unpublish_vector", collection_id="gone")
    assert dry.status == "completed", dry.error
    assert dry.result == {
        "collection_id": "gone",
        "dry_run": True,
        "would_remove": {
            "tables": ["geo.gone"],
            "rows": 243,
            "collections": ["gone"],
            "stac_items": ["system-vectors/gone"],
            "silver_container": storage.zone_container("silver"),
            "silver_blobs": [],
        },
    }
    assert sql.table_exists("gone")
    live = submit_inline("unpublish_vector", collection_id="gone", dry_run=False)
    assert live.status == "completed", live.error
    assert live.result["removed"] == dry.result["would_remove"]
    _nothing_left("gone")
    assert catalog_selectors.item_get(collection_id="system-vectors", item_id="gone") is None
    from features.services import dataset_unpublish

    again = dataset_unpublish(collection_id="gone", dry_run=False)
    assert again["removed"] | {"silver_container": ""} == {
        "tables": [],
        "rows": 0,
        "collections": [],
        "stac_items": [],
        "silver_container": "",
        "silver_blobs": [],
    }


def _points_frame() -> Any:
    import geopandas as gpd
    from shapely.geometry import Point

    return gpd.GeoDataFrame(
        {"label": ["a", "b", "c"], "value": [1.5, 2.5, None]},
        geometry=[Point(10, 50), Point(11, 51), Point(12, 52)],
        crs="EPSG:4326",
    )


@pytest.mark.parametrize("fmt", ["parquet", "kml", "kmz", "geojson"])
def test_other_formats(put_file: Any, submit_inline: Any, tmp_path: Any, fmt: str) -> None:
    frame = _points_frame()
    if fmt == "parquet":
        frame.to_parquet(tmp_path / "pts.parquet", row_group_size=2)
        data = (tmp_path / "pts.parquet").read_bytes()
    elif fmt in ("kml", "kmz"):
        frame.to_file(tmp_path / "pts.kml", driver="KML", engine="pyogrio")
        data = (tmp_path / "pts.kml").read_bytes()
        if fmt == "kmz":
            from tests.features.conftest import make_zip

            data = make_zip({"doc.kml": data})
    else:
        data = frame.to_json().encode()
    name = put_file(f"features-tests/pts.{fmt}", data)
    job = submit_inline(file_name=name, table_name=f"pts_{fmt}", chunk_rows=2)
    assert job.status == "completed", job.error
    ds = VectorDataset.objects.get(pk=f"pts_{fmt}")
    assert ds.feature_count == 3 and ds.geometry_type == "MultiPoint"
    assert ds.bbox == pytest.approx([10, 50, 12, 52])


def test_a_retried_chunk_replaces_its_own_batch(put_fixture: Any, submit_inline: Any) -> None:
    """Run one load task again after the job: its rows are replaced, never duplicated."""
    from features import stages
    from ingest.models import Task
    from ingest.registry import TaskContext

    name = put_fixture("airports.csv")
    params = {
        "file_name": name,
        "table_name": "retry",
        "lat_column": "Latitude",
        "lon_column": "Longitude",
        "chunk_rows": 25,
    }
    job = submit_inline(**params)
    assert job.status == "completed", job.error
    plan = Task.objects.get(job_id=job.id, stage__index=0).result
    load = plan["load_table"]
    sql.load_table_create(
        table=load, columns=[(c["name"], c["type"]) for c in plan["columns"]], geometry_type="MultiPoint"
    )
    ctx = TaskContext(
        job_id=job.id,
        task_id="t",
        stage_index=1,
        stage_name="load",
        params=job.parameters,
        task_params=plan["chunks"][1],
        load_previous=lambda: [plan],
        attempt=2,
    )
    first = stages.vector_load_chunk(ctx)
    second = stages.vector_load_chunk(ctx)
    assert first["rows"] == second["rows"] == 25
    assert sql.table_stats(table=load).count == 25
    sql.table_drop(load)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"table_name": "Bad-Name"}, "Invalid table_name"),
        ({"table_name": "select"}, "Invalid table_name"),
        ({"container_name": "feat-silver-not-bronze"}, "not a bronze-zone container"),
        ({"file_name": "features-tests/missing.gpkg"}, "No file"),
        ({"temporal_property": "nope"}, "temporal_property 'nope'"),
    ],
)
def test_submit_time_problems_are_400(
    put_fixture: Any, submit_inline: Any, params: dict[str, Any], expected: str
) -> None:
    from geoplatform.errors import InvalidInput

    name = put_fixture("nc.gpkg")
    with pytest.raises(InvalidInput) as err:
        submit_inline(**{"file_name": name, "table_name": "ok_name", **params})
    assert expected in str(err.value.details), err.value.details


def test_non_utf8_geojson_is_400(put_file: Any, submit_inline: Any) -> None:
    from geoplatform.errors import InvalidInput

    data = '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":"Café"},"geometry":{"type":"Point","coordinates":[1,2]}}]}'
    name = put_file("features-tests/latin1.geojson", data.encode("latin-1"))
    with pytest.raises(InvalidInput) as err:
        submit_inline(file_name=name, table_name="latin1_json")
    assert "not UTF-8 (invalid byte at offset" in str(err.value.details)
    _nothing_left("latin1_json")


def test_swapped_lat_lon_fails_with_a_clear_message(put_file: Any, submit_inline: Any) -> None:
    name = put_file("features-tests/swapped.csv", b"name,lat,lon\na,10.5,120.25\nb,11,121\n")
    job = submit_inline(file_name=name, table_name="swapped", lat_column="lon", lon_column="lat")
    assert job.status == "failed"
    assert job.error["code"] == "coordinates_out_of_range" and "swapped" in job.error["remediation"]
    _nothing_left("swapped", job.id)


def test_hilbert_keys_walk_the_grid_cell_by_cell() -> None:
    from features.transform import hilbert_keys

    order, n = 3, 8
    i, j = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    keys = hilbert_keys(-180 + (i + 0.5) * 360 / n, -90 + (j + 0.5) * 180 / n, order=order)
    assert sorted(keys.tolist()) == list(range(n * n))
    walk = np.argsort(keys)
    steps = np.abs(np.diff(i[walk])) + np.abs(np.diff(j[walk]))
    assert steps.tolist() == [1] * (n * n - 1)  # each next cell is a neighbour


def test_rows_are_stored_in_spatial_order_and_keep_their_source_ids(put_fixture: Any, submit_inline: Any) -> None:
    """Each chunk is written in Hilbert order (neighbours share pages), while feature ids stay
    the source's row numbers; the primary key is built at the end."""
    import csv

    from django.db import connection

    from features.transform import hilbert_keys

    from .conftest import DATA

    job = submit_inline(
        file_name=put_fixture("airports.csv"),
        table_name="airports_hilbert",
        lat_column="Latitude",
        lon_column="Longitude",
        chunk_rows=25,
    )
    assert job.status == "completed", job.error
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, etl_batch_id, ST_X(ST_GeometryN(geom, 1)), ST_Y(ST_GeometryN(geom, 1)), name"
            " FROM geo.airports_hilbert ORDER BY ctid"
        )
        stored = cur.fetchall()
        cur.execute("SELECT contype FROM pg_constraint WHERE conrelid = 'geo.airports_hilbert'::regclass")
        assert [r[0] for r in cur.fetchall()] == ["p"]
    source = list(csv.DictReader((DATA / "airports.csv").open(encoding="utf-8")))
    assert len(stored) == len(source) == 60
    assert all(name == source[fid - 1]["Name"] for fid, _, _, _, name in stored)
    assert [r[0] for r in stored] != sorted(r[0] for r in stored)  # the file is not in spatial order
    batches = sorted({r[1] for r in stored})
    assert len(batches) == 3
    for batch in batches:
        rows = [r for r in stored if r[1] == batch]
        keys = hilbert_keys(np.array([r[2] for r in rows]), np.array([r[3] for r in rows])).tolist()
        assert keys == sorted(keys)
