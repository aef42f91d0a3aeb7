"""Zonal statistics where lon/lat wraps: rasters in 0-360 longitudes, rasters and cells across
the antimeridian, projected rasters whose seam cuts cells, and the cells round the poles. Tiny
synthetic rasters made in the test; checked against exactextract (PyPI) on polygons the test
builds itself (shapely, not h3grid.zonal's code), or against the same data in another longitude
convention or CRS where no cell is cut."""

from __future__ import annotations

from pathlib import Path

import h3
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from exactextract import exact_extract
from pyproj import Transformer

from h3grid import zonal

RNG = np.random.default_rng(7)
# 2° pixels over the world (-180..180), random values.
WORLD = RNG.random((90, 180))
NORTH, SOUTH = (h3.str_to_int(h3.latlng_to_cell(lat, 0.0, 2)) for lat in (90.0, -90.0))


def _cells() -> np.ndarray:
    """Res 2 cells across the antimeridian and across Greenwich, and the two pole cells."""
    found = np.concatenate(
        [
            zonal.bbox_cells((170.0, -30.0, 190.0, 30.0), 2),
            zonal.bbox_cells((-8.0, 40.0, 8.0, 60.0), 2),
            [NORTH, SOUTH],
        ]
    )
    return np.unique(found)


def _stats(cells: np.ndarray, data: np.ndarray, transform: Affine, crs: str) -> dict[int, dict[str, float]]:
    height, width = data.shape
    bounds = (transform.c, transform.f + transform.e * height, transform.c + transform.a * width, transform.f)
    out = zonal.zonal_stats(zonal.raster_rings(cells, crs, bounds), data, transform)
    return {int(cells[i]): {k: float(v[j]) for k, v in out.values.items()} for j, i in enumerate(out.index.tolist())}


def _same(a: dict[int, dict[str, float]], b: dict[int, dict[str, float]], rel: float = 1e-9) -> None:
    assert a.keys() == b.keys()
    for cell in a:
        for k in ("mean", "sum", "count", "min", "max", "median"):
            assert a[cell][k] == pytest.approx(b[cell][k], rel=rel, abs=rel), (h3.int_to_str(cell), k)


def test_longitude_conventions_agree() -> None:
    """The same data as a -180..180 raster, a 0..360 raster and a window 120..240 give the same
    statistics (cells across the antimeridian and Greenwich, pole cells) and see every cell."""
    cells = _cells()
    west = _stats(cells, WORLD, Affine(2, 0, -180, 0, -2, 90), "EPSG:4326")
    east = _stats(cells, np.roll(WORLD, -90, axis=1), Affine(2, 0, 0, 0, -2, 90), "EPSG:4326")
    assert set(west) == set(cells.tolist())
    _same(west, east)
    # A raster across the antimeridian (longitudes 120..240) sees the cells near 180 whole.
    window = np.roll(WORLD, -150, axis=1)[:, :60]
    near = zonal.bbox_cells((170.0, -30.0, 190.0, 30.0), 2)
    across = _stats(near, window, Affine(2, 0, 120, 0, -2, 90), "EPSG:4326")
    _same(across, {c: west[c] for c in near.tolist()})
    crossing = [c for c in near.tolist() if np.ptp([lng for _, lng in h3.cell_to_boundary(h3.int_to_str(c))]) > 180]
    assert crossing


def _unwrapped(cell: int) -> shapely.Polygon:
    latlng = np.array(h3.cell_to_boundary(h3.int_to_str(cell)))
    lon = latlng[:, 1]
    lon = np.where(lon - lon[0] > 180, lon - 360, np.where(lon - lon[0] < -180, lon + 360, lon))
    return shapely.Polygon(np.column_stack([lon, latlng[:, 0]]))


def _pole_polygon(cell: int, west: float) -> shapely.Geometry:
    """The region between a pole cell's boundary and the pole in the lon/lat plane, over
    [west, west + 360]: the boundary's vertices sorted by longitude, repeated at ±360°, joined
    to the pole far out and cut by shapely."""
    latlng = np.array(h3.cell_to_boundary(h3.int_to_str(cell)))
    lon = west + np.mod(latlng[:, 1] - west, 360.0)
    order = np.argsort(lon)
    lon, lat = lon[order], latlng[order, 0]
    pole = 90.0 if lat.mean() > 0 else -90.0
    xs = np.concatenate([lon - 360, lon, lon + 360])
    ys = np.concatenate([lat, lat, lat])
    strip = shapely.Polygon([*zip(xs, ys, strict=True), (xs[-1], pole), (xs[0], pole)])
    return shapely.clip_by_rect(strip, west, -90.0, west + 360.0, 90.0)


def _exactextract(path: Path, polygons: dict[int, shapely.Geometry]) -> dict[int, dict[str, float]]:
    features = [
        {"type": "Feature", "properties": {"cell": str(c)}, "geometry": shapely.geometry.mapping(g)}
        for c, g in polygons.items()
    ]
    with rasterio.open(path) as ds:
        frame = exact_extract(ds, features, ["mean", "sum", "count"], include_cols=["cell"], output="pandas")
    return {int(r.cell): {"mean": r.mean, "sum": r.sum, "count": r.count} for r in frame.itertuples()}


def _write(path: Path, data: np.ndarray, transform: Affine, crs: str) -> Path:
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1, "dtype": "float64"}
    with rasterio.open(path, "w", **profile, crs=crs, transform=transform) as out:
        out.write(data, 1)
    return path


def test_0_360_raster_and_poles_against_exactextract(tmp_path: Path) -> None:
    """A 0..360 raster: cells across Greenwich are its two edges, cells across 180 its middle,
    the pole cells a band along its top and bottom. exactextract gets the polygons the test
    builds (each cell unwrapped and cut at 0 and 360 by shapely; the pole regions above)."""
    transform = Affine(2, 0, 0, 0, -2, 90)
    data = np.roll(WORLD, -90, axis=1)
    path = _write(tmp_path / "world360.tif", data, transform, "EPSG:4326")
    cells = _cells()
    polygons: dict[int, shapely.Geometry] = {}
    for c in cells.tolist():
        if c in (NORTH, SOUTH):
            polygons[c] = _pole_polygon(c, 0.0)
            continue
        poly = _unwrapped(c)
        copies = [shapely.affinity.translate(poly, xoff=k * 360.0) for k in (-1, 0, 1)]
        polygons[c] = shapely.clip_by_rect(shapely.union_all(copies), 0.0, -90.0, 360.0, 90.0)
    expected = _exactextract(path, polygons)
    ours = _stats(cells, data, transform, "EPSG:4326")
    assert set(ours) == set(expected)
    for c in expected:
        for k in ("mean", "sum", "count"):
            assert ours[c][k] == pytest.approx(expected[c][k], rel=1e-5), (h3.int_to_str(c), k)
    # The pole cells' count is their area in the lon/lat plane (a 360°-wide band), in pixels.
    assert ours[NORTH]["count"] == pytest.approx(polygons[NORTH].area / 4.0, rel=1e-9)
    assert ours[NORTH]["count"] > 100


def test_projected_seam_cuts_cells() -> None:
    """Web Mercator (seam at 180) against the same pixels in a Mercator centred on 180 (seam
    at 0): each convention cuts the cells the other keeps whole; the statistics agree."""
    merc = "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +no_defs"
    half = 20037508.342789244
    size = 2 * half / 64
    transform = Affine(size, 0, -half, 0, -size, half)
    data = RNG.random((64, 64))
    cells = _cells()
    cells = cells[~np.isin(cells, [NORTH, SOUTH])]  # Mercator has no pole
    at_0 = _stats(cells, data, transform, merc + " +lon_0=0")
    at_180 = _stats(cells, np.roll(data, -32, axis=1), transform, merc + " +lon_0=180")
    assert set(at_0) == set(cells.tolist())
    lons = {c: np.array([lng for _, lng in h3.cell_to_boundary(h3.int_to_str(c))]) for c in at_0}
    cut = {c for c, lon in lons.items() if np.ptp(lon) > 180 or (lon.min() < 0 < lon.max())}
    assert 4 < len(cut) < len(at_0)
    _same({c: at_0[c] for c in at_0 if c not in cut}, {c: at_180[c] for c in at_180 if c not in cut})
    # A cut cell has no straight edge in the CRS across its seam: the cut point is put on the
    # straight lon/lat edge, a little off the straight Mercator edge of the other CRS (the
    # sagitta: < 1e-3 of a res-2 cell at 60°, falling with the edge length at finer cells).
    _same({c: at_0[c] for c in cut}, {c: at_180[c] for c in cut}, rel=1e-3)
    # EPSG:3857 is the first one.
    _same(_stats(cells, data, transform, "EPSG:3857"), at_0)


def test_polar_stereographic_pole_cells_against_exactextract(tmp_path: Path) -> None:
    """North polar stereographic (EPSG:3413, centred on -45°): the pole cell and its neighbours
    are plain hexagons there; their seam (135°) cuts nothing. exactextract gets the projected
    H3 vertices joined by straight lines."""
    transform = Affine(20_000, 0, -600_000, 0, -20_000, 600_000)
    data = RNG.random((60, 60))
    path = _write(tmp_path / "polar.tif", data, transform, "EPSG:3413")
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(NORTH), 1)), dtype=np.int64)
    to_polar = Transformer.from_crs("EPSG:4326", "EPSG:3413", always_xy=True)
    polygons = {}
    for c in cells.tolist():
        latlng = np.array(h3.cell_to_boundary(h3.int_to_str(c)))
        x, y = to_polar.transform(latlng[:, 1], latlng[:, 0])
        polygons[c] = shapely.Polygon(np.column_stack([x, y]))
    expected = _exactextract(path, polygons)
    ours = _stats(cells, data, transform, "EPSG:3413")
    assert set(ours) == set(expected) == set(cells.tolist())
    for c in expected:
        for k in ("mean", "sum", "count"):
            assert ours[c][k] == pytest.approx(expected[c][k], rel=1e-5), (h3.int_to_str(c), k)


def test_bbox_cells_across_the_antimeridian() -> None:
    # rasterio's transform_bounds gives east < west for a box across 180; a 0-360 box goes past 180.
    expected = set(zonal.bbox_cells((170.0, -5.0, 180.0, 5.0), 3).tolist())
    expected |= set(zonal.bbox_cells((-180.0, -5.0, -170.0, 5.0), 3).tolist())
    assert set(zonal.bbox_cells((170.0, -5.0, -170.0, 5.0), 3).tolist()) == expected
    assert set(zonal.bbox_cells((170.0, -5.0, 190.0, 5.0), 3).tolist()) == expected
    assert len(zonal.bbox_cells((0.0, -5.0, 360.0, 5.0), 1)) == len(zonal.bbox_cells((-180.0, -5.0, 180.0, 5.0), 1))
    assert NORTH in set(zonal.bbox_cells((0.0, 80.0, 360.0, 90.0), 2).tolist())


def test_compute_stage_reads_both_sides(tmp_path: Path) -> None:
    """The compute stage's read (raster_agg._pairs_of_parent: one window per run of columns)
    on a 0..360 file and on a -180..180 file of the same data: same pairs for the cells across
    Greenwich, across 180 and round the poles; the inventory's box of a 0..360 raster and of a
    projected raster across 180 (east < west) finds those cells."""
    from rasterio.warp import transform_bounds

    from h3grid import raster_agg

    west = _write(tmp_path / "west.tif", WORLD, Affine(2, 0, -180, 0, -2, 90), "EPSG:4326")
    east = _write(tmp_path / "east.tif", np.roll(WORLD, -90, axis=1), Affine(2, 0, 0, 0, -2, 90), "EPSG:4326")
    cells = _cells()
    found = []
    for path in (west, east):
        with rasterio.open(path) as ds:
            owner, value, weight = raster_agg._pairs_of_parent(ds, cells, 1, ds.crs.to_wkt())
            assert set(cells.tolist()) <= set(zonal.bbox_cells(transform_bounds(ds.crs, "EPSG:4326", *ds.bounds), 2))
        out = zonal.weighted_stats(owner, value, weight)
        found.append({int(cells[i]): {k: float(v[j]) for k, v in out.values.items()} for j, i in enumerate(out.index)})
    assert set(found[0]) == set(cells.tolist())
    _same(found[0], found[1])
    # A UTM zone 60 raster across 180: rasterio gives its lon/lat box as east < west.
    utm = _write(tmp_path / "utm.tif", np.ones((10, 10)), Affine(20_000, 0, 700_000, 0, -20_000, 100_000), "EPSG:32660")
    with rasterio.open(utm) as ds:
        box = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
        assert box[2] < box[0]
        near = zonal.bbox_cells(box, 3)
        assert len(near) > 5
        owner, value, weight = raster_agg._pairs_of_parent(ds, near, 1, ds.crs.to_wkt())
    counts = np.bincount(owner, weights=weight, minlength=len(near))
    # Each cell is counted once: no cell gets more pixels than its area (res 3: ~12,400 km²
    # against 400 km² pixels, at most ~35 pixels), and the raster's 100 pixels are all used.
    assert counts.max() < 40
    assert counts.sum() == pytest.approx(100.0, rel=0.02)
