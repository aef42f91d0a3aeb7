"""h3grid.zonal against exactextract (PyPI) on the same cell polygons, real rasters of
tests/fixtures: cells larger than pixels and pixels larger than cells."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import rasterio
import rasterio.warp
import shapely
from affine import Affine
from exactextract import exact_extract

from h3grid import zonal
from h3grid.stats import parent_of
from h3grid.zonal import bbox_cells
from tests.conftest import FIXTURES


def _polygons(rings: zonal.Rings) -> list[dict]:
    index = np.repeat(np.arange(len(rings)), np.diff(rings.offsets))
    polys = shapely.polygons(shapely.linearrings(np.column_stack([rings.x, rings.y]), indices=index))
    return [
        {"type": "Feature", "properties": {"owner": int(o)}, "geometry": shapely.geometry.mapping(g)}
        for o, g in zip(rings.owner, polys, strict=True)
    ]


def _compare(tmp_path, fixture: str, res: int, bbox: tuple[float, float, float, float]) -> int:
    with rasterio.open(FIXTURES / fixture) as ds:
        data = ds.read(1, masked=True)
        profile = {**ds.profile, "count": 1}
        profile.pop("photometric", None)
        transform, crs = ds.transform, ds.crs
    single = tmp_path / "band1.tif"
    with rasterio.open(single, "w", **profile) as out:
        out.write(data.filled(), 1)
    cells = bbox_cells(bbox, res)
    rings = zonal.rings_transform(zonal.cell_rings(cells), crs.to_wkt())
    ours = zonal.zonal_stats(rings, data, transform)
    with rasterio.open(single) as ds:
        ee = exact_extract(
            ds, _polygons(rings), ["mean", "sum", "count", "min", "max"], include_cols=["owner"], output="pandas"
        )
    ee = ee[ee["count"] > 0].groupby("owner").sum() if len(ee) else ee
    assert len(ours.index) == len(ee) > 0
    pos = np.searchsorted(ours.index, ee.index.to_numpy())
    for name in ("mean", "sum", "count"):
        expected = ee[name].to_numpy()
        got = ours.values[name][pos]
        assert np.all(np.abs(got - expected) <= 1e-3 * np.abs(expected) + 1e-9), name
    return len(ee)


def test_cells_larger_than_pixels_geographic(tmp_path) -> None:
    # 0.5° pixels, res 2 cells (~86,000 km², ~30 pixels each)
    assert _compare(tmp_path, "natural_earth_1_downsampled_cog.tif", 2, (-20.0, -10.0, 40.0, 50.0)) > 50


def test_pixels_larger_than_cells_geographic(tmp_path) -> None:
    # res 5 cells (~250 km²) are a tenth of a 0.5° pixel
    assert _compare(tmp_path, "natural_earth_1_downsampled_cog.tif", 5, (0.0, 0.0, 4.0, 4.0)) > 500


def test_projected_raster(tmp_path) -> None:
    # Olinda DEM, 90 m UTM pixels: res 8 cells (~0.7 km², ~90 pixels) and res 10 (~0.015 km², < 2 pixels)
    assert _compare(tmp_path, "olinda_dem_utm25s.tif", 8, (-34.95, -8.1, -34.78, -7.9)) > 20
    assert _compare(tmp_path, "olinda_dem_utm25s.tif", 10, (-34.93, -8.05, -34.88, -8.0)) > 100


def test_coverage_of_a_pixel_grid_square() -> None:
    """A square of 2 x 1 pixels offset by half a pixel: quarters and halves, nothing lost."""
    transform = Affine(1, 0, 0, 0, -1, 10)
    rings = zonal.Rings(
        np.array([0.5, 2.5, 2.5, 0.5]), 10 - np.array([0.5, 0.5, 1.5, 1.5]), np.array([0, 4]), np.array([0])
    )
    cov = zonal.coverage(rings, transform, 4, 4)
    assert sorted(cov.fraction.tolist()) == [0.25, 0.25, 0.25, 0.25, 0.5, 0.5]
    # Clipped by the grid: only what lies inside counts.
    cov = zonal.coverage(rings, transform, 2, 1)
    assert pytest.approx(cov.fraction.sum()) == 0.75


def test_integer_raster_median_is_exactextracts_before_its_cast(tmp_path) -> None:
    """lc.tif (uint8 land cover classes, 3 km Albers pixels), res 6 cells (~36 km²): exactextract
    computes the same interpolated weighted quantile in double and then returns it as the
    raster's type (``RasterStats<T>::quantile`` returns ``std::optional<T>``), which truncates
    toward zero on an integer raster. Our median is the value before that cast: equal to
    exactextract's on a float copy of the raster, and truncated it is exactextract's own."""
    with rasterio.open(FIXTURES / "lc.tif") as ds:
        data = ds.read(1, masked=True)
        profile, transform, crs = ds.profile, ds.transform, ds.crs
        lonlat = rasterio.warp.transform_bounds(crs, "EPSG:4326", *ds.bounds)
    as_float = tmp_path / "lc_float.tif"
    with rasterio.open(as_float, "w", **{**profile, "dtype": "float32"}) as out:
        out.write(data.filled().astype(np.float32), 1)
    rings = zonal.rings_transform(zonal.cell_rings(bbox_cells(lonlat, 6)), crs.to_wkt())
    ours = zonal.zonal_stats(rings, data, transform)
    medians = {}
    for path in (FIXTURES / "lc.tif", as_float):
        with rasterio.open(path) as ds:
            ee = exact_extract(ds, _polygons(rings), ["count", "median"], include_cols=["owner"], output="pandas")
        ee = ee[ee["count"] > 0].set_index("owner")
        assert len(ee) == len(ours.index) > 1000
        medians[path.name] = ee["median"].to_numpy()
    got = ours.values["median"][np.searchsorted(ours.index, ee.index.to_numpy())]
    assert np.abs(got - medians["lc_float.tif"]).max() < 1e-4  # float32 coverage fractions
    # On the uint8 raster: exactextract's median is ours truncated (away from the integers,
    # where float32 fractions can tip the value to either side).
    clear = np.abs(got - np.round(got)) > 1e-4
    assert clear.sum() > 300
    assert (np.trunc(got[clear]) == medians["lc.tif"][clear]).all()
    assert np.abs(got - medians["lc.tif"]).max() > 0.5  # the cast is what differed


def test_weighted_statistics() -> None:
    owner = np.array([0, 0, 0, 0, 1, 1])
    values = np.array([1.0, 2.0, 3.0, 10.0, 5.0, 7.0])
    weights = np.array([1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    out = zonal.weighted_stats(owner, values, weights)
    assert out.values["count"].tolist() == [3.5, 1.0]
    assert out.values["sum"].tolist() == [11.0, 6.0]
    assert out.values["min"].tolist() == [1.0, 5.0]
    assert out.values["max"].tolist() == [10.0, 7.0]
    assert out.values["std"][1] == pytest.approx(1.0)
    # exactextract's weighted quantile (its median of these pixels is 2.3125)
    assert out.values["median"][0] == pytest.approx(2.3125)


def test_parent_of_matches_h3() -> None:
    cells = bbox_cells((10.0, 10.0, 11.0, 11.0), 7)
    for res in (2, 5, 6):
        expected = [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), res)) for c in cells[:50]]
        assert parent_of(cells[:50], res).tolist() == expected


def test_antimeridian_cell_is_split() -> None:
    cell = h3.str_to_int(h3.latlng_to_cell(0.0, 179.99, 3))
    rings = zonal.cell_rings(np.array([cell]))
    assert len(rings) in (1, 2)
    assert np.all(rings.owner == 0)
