"""Bad vector input (issue #10): hostile column names, mixed geometry types, null and
invalid geometries. Each loads with a clear warning, or fails saying what to fix, and
leaves nothing behind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from features import sql
from features.models import VectorDataset
from tests.conftest import wait_for_job

pytestmark = pytest.mark.django_db

HOSTILE_CSV = (
    'lat,lon,select,x; drop table geo.x;--,x; drop table geo.x;--,"say ""hi""",*,Name,name,id,geom,etl_batch_id,1st\n'
    "10.5,20.25,s1,d1,d2,q1,star1,N1,n1,i1,g1,e1,f1\n"
    "-3,4,s2,d3,d4,q2,star2,N2,n2,i2,g2,e2,f2\n"
)
HOSTILE_NAMES = [
    "lat",
    "lon",
    "select",
    "x; drop table geo.x;--",
    "x; drop table geo.x;--",
    'say "hi"',
    "*",
    "Name",
    "name",
    "id",
    "geom",
    "etl_batch_id",
    "1st",
]
SAFE_NAMES = [
    "lat",
    "lon",
    "select_",
    "x_drop_table_geo_x",
    "x_drop_table_geo_x_2",
    "say_hi",
    "col",
    "name",
    "name_2",
    "id_",
    "geom_",
    "etl_batch_id_",
    "c_1st",
]


def _collection(api_client: Any, cid: str) -> dict[str, Any]:
    resp = api_client.get(f"/api/features/collections/{cid}?f=json")
    assert resp.status_code == 200, resp.content
    return dict(resp.json())


def _features(api_client: Any, cid: str) -> list[dict[str, Any]]:
    resp = api_client.get(f"/api/features/collections/{cid}/items?f=json&limit=100")
    assert resp.status_code == 200
    content = b"".join(resp.streaming_content) if resp.streaming else resp.content
    return list(json.loads(content)["features"])


def test_csv_with_repeated_sql_and_punctuation_headers_loads_through_the_worker(
    live_worker: Any, operator_client: Any, put_file: Any, api_client: Any
) -> None:
    from features.services import dataset_unpublish

    name = put_file("features-tests/hostile.csv", HOSTILE_CSV.encode())
    params = {"file_name": name, "table_name": "hostile_csv", "lat_column": "lat", "lon_column": "lon"}
    resp = operator_client.post("/api/jobs/submit/process_vector", {"parameters": params}, format="json")
    assert resp.status_code == 202, resp.content
    try:
        job = wait_for_job(resp.json()["job_id"], timeout=120)
        assert job.status == "completed", job.error
        ds = VectorDataset.objects.get(pk="hostile_csv")
        assert [a["name"] for a in ds.attributes] == SAFE_NAMES
        assert [a["source_name"] for a in ds.attributes] == HOSTILE_NAMES
        assert any(w.startswith("COLUMN_NAMES_SANITISED:") and "x_drop_table_geo_x_2" in w for w in job.warnings)
        # The table's own columns first, then the sanitised ones: lowercase ascii, unique, <= 63 bytes.
        columns = [c for c, _ in sql.table_columns("hostile_csv")]
        assert columns == ["id", "etl_batch_id", "geom", *SAFE_NAMES]
        # Each value landed in its own column (the repeated header's two columns kept apart).
        props = {f["properties"]["name_2"]: f["properties"] for f in _features(api_client, "hostile_csv")}
        assert (
            props["n1"]["name"] == "N1"
            and props["n1"]["x_drop_table_geo_x"] == "d1"
            and props["n1"]["x_drop_table_geo_x_2"] == "d2"
        )
        first = next(p for p in props.values() if p["select_"] == "s1")
        assert first["col"] == "star1" and first["say_hi"] == "q1" and first["id_"] == "i1" and first["c_1st"] == "f1"
        # The collection's schema keeps the original names as titles.
        schema = _collection(api_client, "hostile_csv")["properties"]
        assert list(schema) == SAFE_NAMES
        assert [schema[n]["title"] for n in SAFE_NAMES] == HOSTILE_NAMES
        with connection.cursor() as cur:  # the SQL words in the header stayed data
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'geo' AND tablename = 'x'")
            assert cur.fetchone()[0] == 0
    finally:
        dataset_unpublish(collection_id="hostile_csv", dry_run=False)


def test_geojson_and_geopackage_columns_follow_the_same_rule(
    put_file: Any, submit_inline: Any, tmp_path: Any, api_client: Any
) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    long_name = "A very long column name " * 4  # 96 characters
    props = {"ID": 1, "Geom": "g", "SELECT": "s", "select": "t", "a*b": 2, "Größe": 3.5, long_name: "l"}
    data = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [1, 2]}}],
    }
    name = put_file("features-tests/names.geojson", json.dumps(data).encode())
    job = submit_inline(file_name=name, table_name="names_geojson")
    assert job.status == "completed", job.error
    attributes = VectorDataset.objects.get(pk="names_geojson").attributes
    by_source = {a["source_name"]: a["name"] for a in attributes}
    assert by_source["Geom"] == "geom_" and by_source["SELECT"] == "select_" and by_source["select"] == "select__2"
    assert by_source["a*b"] == "a_b" and by_source["Größe"] == "groe"
    assert len(by_source[long_name].encode()) == 63
    assert by_source.get("ID", "id_") == "id_"  # GDAL may take a GeoJSON "ID" as the feature id
    names = [a["name"] for a in attributes]
    assert len(set(names)) == len(names) and all(n.isascii() and n == n.lower() and not n[0].isdigit() for n in names)
    schema = _collection(api_client, "names_geojson")["properties"]
    assert schema["groe"]["title"] == "Größe" and schema["a_b"]["title"] == "a*b"

    path = tmp_path / "names.gpkg"
    gpd.GeoDataFrame({"Select": [1], "etl_batch_id": ["e"], "9lives": [9]}, geometry=[Point(1, 2)], crs=4326).to_file(
        path
    )
    name = put_file("features-tests/names.gpkg", path.read_bytes())
    job = submit_inline(file_name=name, table_name="names_gpkg")
    assert job.status == "completed", job.error
    attributes = VectorDataset.objects.get(pk="names_gpkg").attributes
    assert [(a["source_name"], a["name"]) for a in attributes] == [
        ("Select", "select_"),
        ("etl_batch_id", "etl_batch_id_"),
        ("9lives", "c_9lives"),
    ]


def _warning(warnings: list[str], code: str) -> str:
    found = [w for w in warnings if w.startswith(f"{code}:")]
    assert len(found) == 1, warnings
    return found[0]


def test_mixed_geometry_types_are_split_into_one_collection_per_type(
    put_fixture: Any, put_file: Any, submit_inline: Any, api_client: Any
) -> None:
    from catalog import selectors as catalog_selectors
    from features.services import dataset_unpublish

    name = put_fixture("mixed_geometries.geojson")
    job = submit_inline(file_name=name, table_name="mixed", create_stac=True, chunk_rows=4)
    assert job.status == "completed", job.error
    assert job.result["collection_ids"] == ["mixed_point", "mixed_line", "mixed_polygon"]
    assert job.result["split_by_geometry_type"] is True and job.result["feature_count"] == 8
    assert "mixed_point (3 Point)" in _warning(job.warnings, "GEOMETRY_TYPE_SPLIT")
    assert _warning(job.warnings, "NULL_GEOMETRY_DROPPED").startswith("NULL_GEOMETRY_DROPPED: 3 feature(s)")
    assert _warning(job.warnings, "INVALID_GEOMETRY_REPAIRED").startswith("INVALID_GEOMETRY_REPAIRED: 1 ")
    assert not sql.table_exists("mixed") and not VectorDataset.objects.filter(pk="mixed").exists()
    expected = {
        "mixed_point": ("MultiPoint", [1, 5, 9]),
        "mixed_line": ("MultiLineString", [2, 6]),
        "mixed_polygon": ("MultiPolygon", [3, 7, 8]),
    }
    for table, (geometry_type, ids) in expected.items():
        ds = VectorDataset.objects.get(pk=table)
        assert (ds.geometry_type, ds.feature_count, ds.source["split_of"]) == (geometry_type, len(ids), "mixed")
        features = _features(api_client, table)
        # Feature ids stay the features' positions in the file; attributes follow their rows.
        assert sorted(int(f["id"]) for f in features) == ids
        assert all(f["properties"]["n"] == int(f["id"]) for f in features)
        assert {f["geometry"]["type"] for f in features} == {geometry_type}
        assert catalog_selectors.item_get(collection_id="system-vectors", item_id=table) is not None
    with connection.cursor() as cur:
        cur.execute("SELECT bool_and(ST_IsValid(geom)) FROM geo.mixed_polygon")
        assert cur.fetchone()[0] is True
    assert sql.load_tables_of("_load_") == []

    # The same name again, without overwrite: 409 at submit, before any job.
    from geoplatform.errors import Conflict

    with pytest.raises(Conflict):
        submit_inline(file_name=name, table_name="mixed")
    # Overwritten by a file of one type: the collections of the split go with it.
    single = put_file(
        "features-tests/single.geojson",
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},'
        b'"geometry":{"type":"Point","coordinates":[1,2]}}]}',
    )
    job = submit_inline(file_name=single, table_name="mixed", overwrite=True, create_stac=True)
    assert job.status == "completed", job.error
    assert job.result["collection_id"] == "mixed" and [c["collection_id"] for c in job.result["collections"]] == [
        "mixed"
    ]
    for table in expected:
        assert not sql.table_exists(table) and not VectorDataset.objects.filter(pk=table).exists()
        assert catalog_selectors.item_get(collection_id="system-vectors", item_id=table) is None
    dataset_unpublish(collection_id="mixed", dry_run=False)


def _feature(n: int, geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"n": n}, "geometry": geometry}


def _square(x: float) -> list[list[list[float]]]:
    return [[[x, 0.0], [x + 1, 0.0], [x + 1, 1.0], [x, 1.0], [x, 0.0]]]


def test_polygons_and_multipolygons_are_one_type_promoted_to_multi(
    put_file: Any, submit_inline: Any, api_client: Any
) -> None:
    """Natural Earth and WDPA mix Polygon and MultiPolygon in one layer: one collection of
    MultiPolygon (ogr2ogr's -nlt PROMOTE_TO_MULTI), not a split; also when the loader is told
    not to split (what managed sources ask)."""
    data = {
        "type": "FeatureCollection",
        "features": [
            _feature(1, {"type": "Polygon", "coordinates": _square(0)}),
            _feature(2, {"type": "MultiPolygon", "coordinates": [_square(2), _square(4)]}),
            _feature(3, {"type": "Polygon", "coordinates": _square(6)}),
        ],
    }
    name = put_file("features-tests/polys.geojson", json.dumps(data).encode())
    for table, split in (("polys", True), ("polys_one", False)):
        job = submit_inline(file_name=name, table_name=table, split_geometry_types=split)
        assert job.status == "completed", job.error
        assert job.result["collection_id"] == table and "split_by_geometry_type" not in job.result
        assert not any(w.startswith("GEOMETRY_TYPE_SPLIT") for w in job.warnings)
        dataset = VectorDataset.objects.get(pk=table)
        assert (dataset.geometry_type, dataset.feature_count) == ("MultiPolygon", 3)
        features = _features(api_client, table)
        assert {f["geometry"]["type"] for f in features} == {"MultiPolygon"}
        assert {int(f["id"]): len(f["geometry"]["coordinates"]) for f in features} == {1: 1, 2: 2, 3: 1}


def test_one_collection_of_mixed_types_fails_naming_the_types(put_fixture: Any, submit_inline: Any) -> None:
    """split_geometry_types=false (a caller serving ONE collection, e.g. a managed source):
    points with polygons fail at validate, before any load, saying what the file holds."""
    name = put_fixture("mixed_geometries.geojson")
    job = submit_inline(file_name=name, table_name="mixed_one", split_geometry_types=False)
    assert job.status == "failed"
    assert job.error["code"] == "mixed_geometry_types", job.error
    message = job.error["message"]
    assert "3 Point/MultiPoint" in message and "2 LineString/MultiLineString" in message, message
    assert "3 Polygon/MultiPolygon" in message and "PROMOTE_TO_MULTI" in job.error["remediation"]
    for table in ("mixed_one", "mixed_one_point", "mixed_one_line", "mixed_one_polygon"):
        assert not sql.table_exists(table) and not VectorDataset.objects.filter(pk=table).exists()
    assert sql.load_tables_of("_load_") == []


def test_split_unpublish_lists_and_removes_every_part(put_fixture: Any, submit_inline: Any) -> None:
    from features.services import dataset_unpublish

    name = put_fixture("mixed_geometries.geojson")
    assert submit_inline(file_name=name, table_name="parts").status == "completed"
    dry = dataset_unpublish(collection_id="parts")
    assert dry["would_remove"]["tables"] == ["geo.parts_line", "geo.parts_point", "geo.parts_polygon"]
    assert dry["would_remove"]["rows"] == 8
    live = dataset_unpublish(collection_id="parts", dry_run=False)
    assert live["removed"] == dry["would_remove"]
    for suffix in ("point", "line", "polygon"):
        assert not sql.table_exists(f"parts_{suffix}")
    assert not VectorDataset.objects.filter(source__split_of="parts").exists()


def test_a_collection_mixing_types_in_one_feature_fails_and_leaves_nothing(put_file: Any, submit_inline: Any) -> None:
    data = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "GeometryCollection",
                    "geometries": [
                        {"type": "Point", "coordinates": [1, 2]},
                        {"type": "LineString", "coordinates": [[1, 2], [3, 4]]},
                    ],
                },
            },
        ],
    }
    name = put_file("features-tests/gc.geojson", json.dumps(data).encode())
    job = submit_inline(file_name=name, table_name="gc")
    assert job.status == "failed"
    assert job.error["code"] == "mixed_geometry_collection" and "separate features" in job.error["remediation"]
    assert not sql.table_exists("gc") and not VectorDataset.objects.filter(pk="gc").exists()
    assert sql.load_tables_of("_load_") == []


def test_long_table_names_keep_their_split_suffix() -> None:
    base = "t" + "x" * 62
    names = {sql.split_table_name(base, f) for f in ("Point", "LineString", "Polygon")}
    assert all(len(n) <= 63 and sql.check_table_name(n) for n in names) and len(names) == 3
    assert sql.split_table_name(base, "Polygon").endswith("_polygon")
    assert sql.split_table_name("short", "LineString") == "short_line"
