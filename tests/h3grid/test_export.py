"""export_h3_stats: GeoParquet 1.1 in the silver zone, read back with DuckDB (no extension)
and geopandas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import geopandas as gpd
import pyarrow.parquet as pq
import pytest

from geoplatform import storage
from geoplatform.errors import InvalidInput
from h3grid.export import blob_name
from h3grid.models import StatDataset
from ingest.models import JobStatus
from ingest.services import job_submit
from tests.h3grid.conftest_agg import fill_land_grid, quiet_azure, silver_h3_clear
from tests.ingest.inline import submit_inline
from tests.rasters.conftest import _publisher

pytestmark = pytest.mark.django_db
BOX = (-10.0, 35.0, 10.0, 50.0)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet_azure()


@pytest.fixture
def dataset(db: Any) -> Iterator[StatDataset]:
    publish, cleanup = _publisher()
    fill_land_grid(BOX, range(2, 5), iso3="AAA", share=0.4)
    # A second country holding the larger share of the cells of the eastern half: the cell's iso3.
    fill_land_grid((0.0, 35.0, 10.0, 50.0), range(2, 5), iso3="BBB", share=0.6)
    item = publish("natural_earth_1_downsampled_cog.tif")
    job = submit_inline(
        "h3_raster_aggregation",
        {
            "collection_id": item["collection_id"],
            "item_id": item["item_id"],
            "dataset": "ne-red",
            "resolutions": [3, 4],
        },
    )
    assert job.status == JobStatus.COMPLETED, job.error
    yield StatDataset.objects.get(slug="ne-red")
    cleanup()
    silver_h3_clear()


def _local(blob: str, tmp_path: Path) -> Path:
    target = tmp_path / blob.replace("/", "_")
    with storage.get_storage(storage.zone_container("silver")).open(blob, "rb") as src:
        target.write_bytes(src.read())
    return target


def test_export_geoparquet_read_by_duckdb_and_geopandas(dataset: StatDataset, tmp_path: Path) -> None:
    job = submit_inline("export_h3_stats", {"dataset": "ne-red"})
    assert job.status == JobStatus.COMPLETED, job.error
    files = {f["res"]: f for f in job.result["files"]}
    assert set(files) == {3, 4} and files[4]["blob"] == blob_name("ne-red", 4)
    path = _local(files[4]["blob"], tmp_path)

    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    assert geo["columns"]["geometry"]["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]

    con = duckdb.connect()
    rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()[0]
    assert rows == files[4]["rows"] > 100
    schema = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()}
    assert (
        schema["cell"] == "BIGINT"
        and schema["geometry"].startswith(("BLOB", "GEOMETRY"))
        and schema["mean"] == "DOUBLE"
    )
    # A bbox filter on the covering columns alone.
    inside = con.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE bbox.xmin >= 2 AND bbox.xmax <= 6 AND bbox.ymin >= 40 AND bbox.ymax <= 45",
        [str(path)],
    ).fetchone()[0]
    assert 0 < inside < rows
    by_country = dict(con.execute("SELECT iso3, count(*) FROM read_parquet(?) GROUP BY iso3", [str(path)]).fetchall())
    assert set(by_country) == {"AAA", "BBB"} and sum(by_country.values()) == rows

    frame = gpd.read_parquet(path)
    assert len(frame) == rows and frame.crs.equals("OGC:CRS84")
    assert frame.geometry.geom_type.unique().tolist() == ["Polygon"]
    centre = frame.geometry.centroid
    assert (abs(centre.x - frame["lon"]) < 0.05).all() and (abs(centre.y - frame["lat"]) < 0.05).all()
    # One folder per resolution: a glob reads them as one table (res is a column of each file).
    root = tmp_path / "ne-red"
    for res, f in files.items():
        (root / f"res-{res}").mkdir(parents=True)
        (root / f"res-{res}" / "ne-red.parquet").write_bytes(_local(f["blob"], tmp_path).read_bytes())
    per_res = dict(
        con.execute(
            "SELECT res, count(*) FROM read_parquet(?) GROUP BY res", [str(root / "*" / "*.parquet")]
        ).fetchall()
    )
    assert per_res == {3: files[3]["rows"], 4: files[4]["rows"]}


def test_export_refuses_unknown_dataset_and_resolution(dataset: StatDataset) -> None:
    for params, needle in (({"dataset": "nope"}, "nope"), ({"dataset": "ne-red", "resolutions": [7]}, "[7]")):
        with pytest.raises(InvalidInput) as err:
            job_submit(job_type="export_h3_stats", parameters=params)
        assert needle in str(err.value.as_dict())


def test_admin_lists_and_deletes_with_the_table(dataset: StatDataset, admin_client: Any) -> None:
    from django.db import connection

    page = admin_client.get("/admin/h3grid/statdataset/")
    assert page.status_code == 200 and b"ne-red" in page.content
    detail = admin_client.get(f"/admin/h3grid/statdataset/{dataset.pk}/change/")
    assert detail.status_code == 200 and b"provenance" in detail.content.lower()
    response = admin_client.post(f"/admin/h3grid/statdataset/{dataset.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not StatDataset.objects.filter(pk=dataset.pk).exists()
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [f"h3.{dataset.table}"])
        assert cur.fetchone()[0] is None
