"""h3_raster_aggregation end to end on a raster across the antimeridian: a small UTM 60S raster
(made in the test) straddling 180° near Fiji, published by the rasters app, aggregated by the
engine. Before, rasterio's lon/lat box of it (east < west) gave the inventory no cell at all."""

from __future__ import annotations

from pathlib import Path

import h3
import numpy as np
import pytest
import rasterio
from affine import Affine
from django.db import connection
from pyproj import Transformer

from h3grid import raster_agg, zonal
from h3grid.models import StatDataset
from ingest.models import JobStatus
from rasters.gdal import open_blob
from tests.h3grid.conftest_agg import quiet_azure, silver_h3_clear
from tests.ingest.inline import submit_inline
from tests.rasters.conftest import _publisher


@pytest.mark.django_db
def test_raster_across_the_antimeridian(tmp_path: Path) -> None:
    quiet_azure()
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32760", always_xy=True).transform(180.0, -17.0)
    transform = Affine(1000, 0, round(x) - 40_000, 0, -1000, round(y) + 40_000)  # 80 km x 80 km
    data = (np.arange(80 * 80, dtype=np.float32).reshape(80, 80) % 97) + 1.0
    path = tmp_path / "fiji_utm60s.tif"
    profile = {"driver": "GTiff", "width": 80, "height": 80, "count": 1, "dtype": "float32", "nodata": -9999.0}
    with rasterio.open(path, "w", **profile, crs="EPSG:32760", transform=transform) as out:
        out.write(data, 1)
    publish, cleanup = _publisher()
    try:
        item = publish(str(path))  # an absolute path: FIXTURES / path is path
        params = {
            "collection_id": item["collection_id"],
            "item_id": item["item_id"],
            "dataset": "fiji-across-180",
            "resolutions": [5, 6],
            "land_only": False,
            "statistics": ["mean", "sum", "count"],
        }
        job = submit_inline("h3_raster_aggregation", params)
        assert job.status == JobStatus.COMPLETED, job.error
        table = StatDataset.objects.get(slug="fiji-across-180").table
        with connection.cursor() as cur:
            cur.execute(f"SELECT cell, mean, sum, count FROM h3.{table} WHERE res = 6")
            rows = {r[0]: r[1:] for r in cur.fetchall()}
        # Cells on both sides of 180.
        lngs = [h3.cell_to_latlng(h3.int_to_str(c))[1] for c in rows]
        assert min(lngs) < -179.7 and max(lngs) > 179.7
        # The published file (the rasters app's COG): every valid pixel counted once (res-6
        # cells, ~36 km², cover it), and the values of zonal statistics computed here on it.
        cells = np.array(sorted(rows), dtype=np.int64)
        asset = raster_agg.raster_asset(params)
        with open_blob(asset.container, asset.blob) as ds:
            band = ds.read(1, masked=True)
            rings = zonal.raster_rings(cells, ds.crs.to_wkt(), tuple(ds.bounds))
            expected = zonal.zonal_stats(rings, band, ds.transform)
        assert sum(r[2] for r in rows.values()) == pytest.approx(float(band.count()), rel=1e-6)
        assert len(expected.index) == len(cells)
        for i in expected.index.tolist():
            got = rows[int(cells[i])]
            assert got[0] == pytest.approx(expected.values["mean"][i], rel=1e-6)
            assert got[2] == pytest.approx(expected.values["count"][i], rel=1e-6)
    finally:
        cleanup()
        silver_h3_clear()
