"""h3_raster_aggregation end to end: a raster published by the rasters app (its STAC item), a
small land grid, the job run by the engine (inline; once by the real worker), the stat table
compared with exactextract on the same cells."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import shapely
from django.db import connection
from exactextract import exact_extract

from geoplatform.errors import InvalidInput
from h3grid import stats, zonal
from h3grid.models import StatDataset
from h3grid.stats import parent_of
from ingest.models import JobStatus
from ingest.services import job_submit
from tests.conftest import FIXTURES, wait_for_job
from tests.h3grid.conftest_agg import fill_land_grid, quiet_azure, silver_h3_clear
from tests.ingest.inline import submit_inline
from tests.rasters.conftest import _publisher

OLINDA_BOX = (-34.96, -8.1, -34.76, -7.88)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet_azure()


@pytest.fixture
def olinda(db: Any) -> Iterator[dict[str, Any]]:
    publish, cleanup = _publisher()
    fill_land_grid(OLINDA_BOX, range(2, 8))
    yield publish("olinda_dem_utm25s.tif")
    cleanup()
    silver_h3_clear()


def _rows(table: str, res: int) -> dict[int, dict[str, float]]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT cell, mean, sum, count, min, max, std, median FROM h3.{table} WHERE res = %s", [res])
        names = ["mean", "sum", "count", "min", "max", "std", "median"]
        return {r[0]: dict(zip(names, r[1:], strict=True)) for r in cur.fetchall()}


def _count(table: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM h3.{table}")
        return int(cur.fetchone()[0])


def _params(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "collection_id": item["collection_id"],
        "item_id": item["item_id"],
        "dataset": "olinda-dem",
        "resolutions": [6, 7],
        "units": "m",
        **extra,
    }


@pytest.mark.django_db
def test_raster_aggregation_matches_exactextract(olinda: dict[str, Any]) -> None:
    job = submit_inline("h3_raster_aggregation", _params(olinda, postgres_max_res=7))
    assert job.status == JobStatus.COMPLETED, job.error
    ds = StatDataset.objects.get(slug="olinda-dem")
    assert ds.source_ref == f"{olinda['collection_id']}/{olinda['item_id']}"
    assert ds.resolutions == [6, 7] and ds.computed_at is not None
    assert [c["name"] for c in ds.columns] == list(zonal.STATS)
    assert ds.storage == {"6": "postgres", "7": "postgres"}
    assert job.result["rows"]["7"] == len(_rows(ds.table, 7)) > 20

    fine = _rows(ds.table, 7)
    cells = np.array(sorted(fine), dtype=np.int64)
    with rasterio.open(FIXTURES / "olinda_dem_utm25s.tif") as src:
        rings = zonal.rings_transform(zonal.cell_rings(cells), src.crs.to_wkt())
        index = np.repeat(np.arange(len(rings)), np.diff(rings.offsets))
        polys = shapely.polygons(shapely.linearrings(np.column_stack([rings.x, rings.y]), indices=index))
        features = [
            {"type": "Feature", "properties": {"cell": str(cells[o])}, "geometry": shapely.geometry.mapping(g)}
            for o, g in zip(rings.owner, polys, strict=True)
        ]
        ee = exact_extract(src, features, ["mean", "sum", "count"], include_cols=["cell"], output="pandas")
    for row in ee.itertuples():
        got = fine[int(row.cell)]
        for name in ("mean", "sum", "count"):
            assert got[name] == pytest.approx(getattr(row, name), rel=1e-3), (row.cell, name)

    # Coarser rows aggregate the finer ones: additive statistics sum up, min/max carry over.
    coarse = _rows(ds.table, 6)
    parents = parent_of(cells, 6)
    for parent, row in coarse.items():
        children = [fine[int(c)] for c in cells[parents == parent]]
        assert row["sum"] == pytest.approx(sum(c["sum"] for c in children), rel=1e-9)
        assert row["count"] == pytest.approx(sum(c["count"] for c in children), rel=1e-9)
        assert row["min"] == min(c["min"] for c in children)
        assert row["max"] == max(c["max"] for c in children)
        assert row["mean"] == pytest.approx(row["sum"] / row["count"])


@pytest.mark.django_db
def test_finest_resolution_in_parquet_parts(olinda: dict[str, Any], tmp_path: Any) -> None:
    """Past postgres_max_res (default 6) rows go to Parquet parts in silver, same values."""
    in_table = submit_inline("h3_raster_aggregation", _params(olinda, dataset="in-table", postgres_max_res=7))
    job = submit_inline("h3_raster_aggregation", _params(olinda, dataset="in-parquet"))
    assert job.status == JobStatus.COMPLETED, job.error
    ds = StatDataset.objects.get(slug="in-parquet")
    assert ds.storage["6"] == "postgres" and ds.storage["7"].startswith("parquet:")
    assert ds.storage["7"].endswith(f"{stats.parts_prefix('in-parquet', 7)}/")
    assert not _rows(ds.table, 7) and len(_rows(ds.table, 6)) == job.result["rows"]["6"]
    parts = pa.concat_tables(list(stats.stat_parts_read(slug="in-parquet", res=7))).to_pylist()
    assert len(parts) == job.result["rows"]["7"] == in_table.result["rows"]["7"]
    reference = _rows(StatDataset.objects.get(slug="in-table").table, 7)
    for row in parts:
        assert row["mean"] == pytest.approx(reference[row["cell"]]["mean"], rel=1e-12)
    # The export reads them from there.
    export = submit_inline("export_h3_stats", {"dataset": "in-parquet", "resolutions": [7]})
    assert export.status == JobStatus.COMPLETED, export.error
    assert export.result["files"][0]["rows"] == len(parts)
    # Deleting the dataset removes the parts.
    stats.stat_dataset_delete(dataset=ds)
    assert stats.stat_parts_list(slug="in-parquet", res=7) == []


@pytest.mark.django_db
def test_raster_aggregation_refuses_bad_input(olinda: dict[str, Any]) -> None:
    cases = [
        ({"item_id": "nope"}, "nope"),
        ({"resolutions": [9]}, "outside the land pyramid"),
        ({"statistics": ["mode"]}, "mode"),
        ({"dataset": "Bad Name"}, "lower-case"),
    ]
    for extra, needle in cases:
        with pytest.raises(InvalidInput) as err:
            job_submit(job_type="h3_raster_aggregation", parameters=_params(olinda, **extra))
        assert needle in str(err.value.as_dict()), extra
    assert not StatDataset.objects.exists()
    # A dataset of that name exists: refused unless overwrite.
    assert submit_inline("h3_raster_aggregation", _params(olinda, resolutions=[6])).status == JobStatus.COMPLETED
    with pytest.raises(InvalidInput) as err:
        job_submit(job_type="h3_raster_aggregation", parameters=_params(olinda))
    assert "overwrite=true" in str(err.value.as_dict())
    again = submit_inline("h3_raster_aggregation", _params(olinda, overwrite=True, statistics=["mean"]))
    assert again.status == JobStatus.COMPLETED, again.error
    ds = StatDataset.objects.get(slug="olinda-dem")
    assert [c["name"] for c in ds.columns] == ["mean"] and ds.job_id == again.id


@pytest.mark.django_db
def test_missing_land_grid_fails_and_leaves_nothing(olinda: dict[str, Any]) -> None:
    with connection.cursor() as cur:
        cur.execute("DELETE FROM h3.cell WHERE res = 7")
    job = submit_inline("h3_raster_aggregation", _params(olinda))
    assert job.status == JobStatus.FAILED and "bootstrap_h3_grid" in str(job.error)
    assert not StatDataset.objects.exists()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'h3' AND tablename LIKE 'stat_%%'")
        assert cur.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_raster_aggregation_on_the_worker(live_worker: Any) -> None:
    publish, cleanup = _publisher()
    try:
        fill_land_grid(OLINDA_BOX, range(2, 8))
        item = publish("olinda_dem_utm25s.tif")
        outcome = job_submit(job_type="h3_raster_aggregation", parameters=_params(item, dataset="olinda-worker"))
        job = wait_for_job(outcome.job.id, timeout=120)
        assert job.status == JobStatus.COMPLETED, job.error
        assert job.result["rows"]["6"] > 0 and job.result["rows"]["7"] > 0
    finally:
        cleanup()
        for ds in StatDataset.objects.all():
            from h3grid.stats import stat_dataset_delete

            stat_dataset_delete(dataset=ds)
        with connection.cursor() as cur:
            cur.execute("DELETE FROM h3.cell; DELETE FROM h3.cell_country")


@pytest.mark.django_db
def test_overwrite_is_atomic(olinda: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A replacement (overwrite=true) is built beside the dataset it replaces: the old one stays
    whole (table, Parquet parts, registry row) while it runs and when it fails; a completed one
    takes the slug in finalise and the old table and parts go."""
    from geoplatform.storage import blob_list, zone_container

    first = submit_inline("h3_raster_aggregation", _params(olinda, dataset="swap", statistics=["mean"]))
    assert first.status == JobStatus.COMPLETED, first.error
    old = StatDataset.objects.get(slug="swap")
    old_parts = stats.stat_parts_list(slug="swap", res=7)
    assert old_parts and _count(old.table)

    def broken(**kwargs: Any) -> None:  # finalise fails after every batch was written
        raise RuntimeError("disk full")

    monkeypatch.setattr(stats, "stat_table_analyze", broken)
    failed = submit_inline("h3_raster_aggregation", _params(olinda, dataset="swap", overwrite=True))
    assert failed.status == JobStatus.FAILED
    monkeypatch.undo()
    kept = StatDataset.objects.get(slug="swap")
    assert kept.pk == old.pk and kept.job_id == first.id and _count(kept.table)
    assert stats.stat_parts_list(slug="swap", res=7) == old_parts
    # The replacement's load left nothing: no row, no table, no parts.
    assert list(StatDataset.objects.values_list("slug", flat=True)) == ["swap"]
    assert not [n for n in blob_list(zone_container("silver"), "h3/") if ".load-" in n]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'h3' AND tablename LIKE 'stat_%%'")
        assert cur.fetchone()[0] == 1

    again = submit_inline("h3_raster_aggregation", _params(olinda, dataset="swap", overwrite=True))
    assert again.status == JobStatus.COMPLETED, again.error
    new = StatDataset.objects.get(slug="swap")
    assert new.pk != old.pk and new.job_id == again.id and again.result["dataset"] == "swap"
    assert [c["name"] for c in new.columns] != [c["name"] for c in old.columns]
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [f"h3.{old.table}"])
        assert cur.fetchone()[0] is None
    assert stats.stat_parts_list(slug="swap", res=7) == []  # the old parts went
    parts = pa.concat_tables(list(stats.stat_parts_read(slug=stats.parts_name(new), res=7)))
    assert parts.num_rows == again.result["rows"]["7"]
    export = submit_inline("export_h3_stats", {"dataset": "swap", "resolutions": [7]})
    assert export.status == JobStatus.COMPLETED, export.error
    assert export.result["files"][0]["rows"] == parts.num_rows
    stats.stat_dataset_delete(dataset=new)
    assert stats.stat_parts_list(slug=stats.parts_name(new), res=7) == []
