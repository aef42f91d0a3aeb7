"""Vector sources whose files mix geometry types: Polygon with MultiPolygon (Natural Earth,
WDPA) is one type and loads promoted to Multi; points with polygons cannot be one stable
collection and fail the version naming the types found. Both are process_vector's rule
(``split_geometry_types=false``), not a check of managed's own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from features import sql
from features.models import VectorDataset
from managed.models import VersionStatus

from .conftest import V1, geojson, run_update

PATH = "/data/areas.geojson"


def _square(x: float) -> list[list[list[float]]]:
    return [[[x, 0.0], [x + 1, 0.0], [x + 1, 1.0], [x, 1.0], [x, 0.0]]]


def _collection(*geometries: dict[str, Any]) -> bytes:
    features = [
        {"type": "Feature", "properties": {"name": f"f{i}", "rank": i}, "geometry": g} for i, g in enumerate(geometries)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


@pytest.mark.django_db
def test_polygons_and_multipolygons_load_as_multipolygons(
    source_server: Any, make_source: Any, api_client: Any
) -> None:
    body = _collection(
        {"type": "Polygon", "coordinates": _square(0)},
        {"type": "MultiPolygon", "coordinates": [_square(2), _square(4)]},
        {"type": "Polygon", "coordinates": _square(6)},
    )
    source = make_source(source_server.put(PATH, body))
    version = run_update(source).version
    assert version.status == VersionStatus.LIVE, version.error
    assert version.counts == {"rows": 3}
    assert {"name": "geometry", "type": "MultiPolygon"} in version.schema
    dataset = VectorDataset.objects.get(pk="managed_src")
    assert (dataset.geometry_type, dataset.feature_count) == ("MultiPolygon", 3)
    page = api_client.get("/api/features/collections/managed_src/items?f=json&limit=10")
    assert page.status_code == 200
    content = b"".join(page.streaming_content) if page.streaming else page.content
    assert {f["geometry"]["type"] for f in json.loads(content)["features"]} == {"MultiPolygon"}


@pytest.mark.django_db
def test_points_with_polygons_fail_the_version_naming_the_types(source_server: Any, make_source: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    source = make_source(url)
    first = run_update(source).version
    assert first.status == VersionStatus.LIVE, first.error

    source_server.put(
        PATH,
        _collection(
            {"type": "Point", "coordinates": [1.5, 0.5]},
            {"type": "Polygon", "coordinates": _square(0)},
            {"type": "MultiPolygon", "coordinates": [_square(2)]},
        ),
    )
    second = run_update(source).version
    assert second.status == VersionStatus.FAILED
    assert second.error["stage"] == "ingest"
    message = second.error["message"]
    assert "mixes geometry types" in message, message
    assert "1 Point/MultiPoint" in message and "2 Polygon/MultiPolygon" in message, message
    assert source.last_error["version"] == 2 and "Point/MultiPoint" in source.last_error["message"]
    # Failed at validate: nothing was loaded (no split tables, no staging table), v1 still serves.
    for table in ("managed_src__v2", "managed_src__v2_point", "managed_src__v2_polygon"):
        assert not sql.table_exists(table) and not VectorDataset.objects.filter(pk=table).exists()
    assert sql.load_tables_of("_load_") == []
    first.refresh_from_db()
    assert first.status == VersionStatus.LIVE
    assert VectorDataset.objects.get(pk="managed_src").feature_count == len(V1)
