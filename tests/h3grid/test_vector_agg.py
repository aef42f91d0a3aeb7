"""h3_vector_aggregation: points counted (by category), polygon areas (equal-area) and line
lengths (geodesic) per cell, rolled up; categories over the limit refused with the count."""

from __future__ import annotations

from typing import Any

import h3
import numpy as np
import pyarrow as pa
import pytest
import shapely
from django.core.files.base import ContentFile
from django.db import connection
from pyproj import Geod

from geoplatform import storage
from geoplatform.errors import InvalidInput
from h3grid import stats
from h3grid.models import StatDataset
from h3grid.stats import parent_of
from ingest.models import JobStatus
from ingest.services import job_submit
from tests.conftest import FIXTURES
from tests.h3grid.conftest_agg import fill_land_grid, quiet_azure, silver_h3_clear
from tests.ingest.inline import submit_inline

pytestmark = pytest.mark.django_db
NC_BOX = (-84.4, 33.8, -75.4, 36.7)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet_azure()


def _load(name: str, data: bytes, **params: Any) -> str:
    bronze = storage.zone_container("bronze")
    store = storage.get_storage(bronze)
    blob = f"h3-tests/{name}"
    if store.exists(blob):
        store.delete(blob)
    store.save(blob, ContentFile(data))
    job = submit_inline("process_vector", {"container_name": bronze, "file_name": blob, **params})
    assert job.status == JobStatus.COMPLETED, job.error
    return str(job.result["collection_id"]) if "collection_id" in (job.result or {}) else params["table_name"]


def _rows(table: str, res: int, columns: str) -> dict[int, tuple[float, ...]]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT cell, {columns} FROM h3.{table} WHERE res = %s", [res])
        return {r[0]: tuple(r[1:]) for r in cur.fetchall()}


def test_points_counted_by_category() -> None:
    fill_land_grid((-125.0, 24.0, -66.0, 50.0), range(2, 5))
    collection = _load(
        "airports.csv",
        (FIXTURES / "features" / "airports.csv").read_bytes(),
        table_name="h3_airports",
        lat_column="Latitude",
        lon_column="Longitude",
    )
    job = submit_inline(
        "h3_vector_aggregation",
        {"collection_id": collection, "dataset": "airports", "resolutions": [3, 4], "category": "type"},
    )
    assert job.status == JobStatus.COMPLETED, job.error
    ds = StatDataset.objects.get(slug="airports")
    names = [c["name"] for c in ds.columns]
    assert names[0] == "count" and all(n.startswith("count_") for n in names[1:])
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE ST_Y(ST_GeometryN(geom, 1)) BETWEEN 24 AND 50 AND ST_X(ST_GeometryN(geom, 1)) BETWEEN -125 AND -66) FROM geo.h3_airports"
        )
        total, on_grid = cur.fetchone()
    fine = _rows(ds.table, 4, ", ".join(f'"{n}"' for n in names))
    # Every point on the land grid counted once; categories add up to the total.
    assert sum(r[0] for r in fine.values()) == on_grid <= total
    assert all(r[0] == sum(r[1:]) for r in fine.values())
    coarse = _rows(ds.table, 3, "count")
    assert sum(r[0] for r in coarse.values()) == on_grid
    parents = parent_of(np.array(list(fine)), 3)
    for parent, (count,) in coarse.items():
        assert count == sum(
            r[0] for c, r in zip(fine, fine.values(), strict=True) if parents[list(fine).index(c)] == parent
        )


def test_polygon_areas_and_line_lengths() -> None:
    fill_land_grid((-80.0, 35.0, -78.0, 36.5), range(2, 6))
    square = shapely.box(-79.5, 35.5, -78.9, 36.0)
    line = shapely.LineString([(-79.6, 35.4), (-78.6, 36.2)])
    fc = (
        '{"type":"FeatureCollection","features":['
        f'{{"type":"Feature","properties":{{"k":"a"}},"geometry":{shapely.to_geojson(square)}}}]}}'
    )
    lines = (
        '{"type":"FeatureCollection","features":['
        f'{{"type":"Feature","properties":{{"k":"a"}},"geometry":{shapely.to_geojson(line)}}}]}}'
    )
    poly_collection = _load("square.geojson", fc.encode(), table_name="h3_square")
    line_collection = _load("line.geojson", lines.encode(), table_name="h3_line")
    geod = Geod(ellps="WGS84")

    job = submit_inline(
        "h3_vector_aggregation", {"collection_id": poly_collection, "dataset": "square", "resolutions": [4, 5]}
    )
    assert job.status == JobStatus.COMPLETED, job.error
    table = StatDataset.objects.get(slug="square").table
    area = sum(r[0] for r in _rows(table, 5, "area_m2").values())
    expected = abs(geod.geometry_area_perimeter(square)[0])
    assert area == pytest.approx(expected, rel=2e-3)  # equal-area projection vs geodesic area
    assert sum(r[0] for r in _rows(table, 4, "area_m2").values()) == pytest.approx(area, rel=1e-9)

    # With res 5 past the PostgreSQL tier: rolled up first, then moved to Parquet parts.
    job = submit_inline(
        "h3_vector_aggregation",
        {"collection_id": poly_collection, "dataset": "square-pq", "resolutions": [4, 5], "postgres_max_res": 4},
    )
    assert job.status == JobStatus.COMPLETED, job.error
    ds = StatDataset.objects.get(slug="square-pq")
    assert ds.storage["5"].startswith("parquet:") and not _rows(ds.table, 5, "area_m2")
    parts = pa.concat_tables(list(stats.stat_parts_read(slug="square-pq", res=5)))
    assert sum(parts.column("area_m2").to_pylist()) == pytest.approx(area, rel=1e-9)
    assert sum(r[0] for r in _rows(ds.table, 4, "area_m2").values()) == pytest.approx(area, rel=1e-9)
    silver_h3_clear()

    job = submit_inline(
        "h3_vector_aggregation", {"collection_id": line_collection, "dataset": "line", "resolutions": [5]}
    )
    assert job.status == JobStatus.COMPLETED, job.error
    rows = _rows(StatDataset.objects.get(slug="line").table, 5, "length_m")
    assert sum(r[0] for r in rows.values()) == pytest.approx(geod.geometry_length(line), rel=1e-3)
    # The line crosses many cells, each with a part of it.
    assert len(rows) > 10 and all(r[0] > 0 for r in rows.values())
    assert all(h3.get_resolution(h3.int_to_str(c)) == 5 for c in rows)


def test_too_many_categories_is_refused_with_the_count() -> None:
    fill_land_grid(NC_BOX, range(2, 4))
    collection = _load("nc.gpkg", (FIXTURES / "features" / "nc.gpkg").read_bytes(), table_name="h3_nc")
    with pytest.raises(InvalidInput) as err:
        job_submit(
            job_type="h3_vector_aggregation",
            parameters={"collection_id": collection, "dataset": "nc", "resolutions": [3], "category": "name"},
        )
    assert "100 distinct values" in str(err.value.as_dict())
    with pytest.raises(InvalidInput) as err:
        job_submit(job_type="h3_vector_aggregation", parameters={"collection_id": "nope", "dataset": "nc"})
    assert "nope" in str(err.value.as_dict())
    assert not StatDataset.objects.exists()


def test_submit_route_answers_400_with_the_problem(auth_client: Any) -> None:
    """Through the generic API: what to fix, and nothing registered."""
    fill_land_grid(NC_BOX, range(2, 4))
    collection = _load("nc.gpkg", (FIXTURES / "features" / "nc.gpkg").read_bytes(), table_name="h3_nc_api")
    resp = auth_client.post(
        "/api/jobs/submit/h3_vector_aggregation",
        {"parameters": {"collection_id": collection, "dataset": "nc-api", "resolutions": [3], "category": "name"}},
        format="json",
    )
    assert resp.status_code == 400, resp.content
    assert "100 distinct values" in resp.content.decode()
    resp = auth_client.post(
        "/api/jobs/submit/h3_vector_aggregation",
        {"parameters": {"collection_id": collection, "dataset": "nc-api", "resolutions": [3]}},
        format="json",
    )
    assert resp.status_code in (200, 201, 202), resp.content
    assert StatDataset.objects.count() == 0  # queued only: no worker in this test
