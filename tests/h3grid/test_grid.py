"""The grid computation against independent ones: h3's own polygon fill for the cell sets, the
ellipsoid (pyproj.Geod) for the shares. No database."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import shapely
from pyproj import Geod

from h3grid import grid


@pytest.fixture(scope="module")
def world() -> grid.Land:
    codes, geoms = grid.shipped_rows()
    return grid.land_build(codes, geoms)


@pytest.fixture(scope="module")
def pyramid(world: grid.Land) -> dict[int, list[grid.Level]]:
    out: dict[int, list[grid.Level]] = {r: [] for r in range(2, 5)}
    for coarse in grid.coarse_cells_for(world):
        for level in grid.batch_levels(coarse, world, min_res=2, max_res=4):
            out[level.res].append(level)
    return out


def _h3_overlap(geoms: list[object], res: int) -> set[int]:
    """h3's own fill, contain='overlap', of every land polygon. h3 takes a polygon spanning
    more than 180 degrees of longitude for one crossing the antimeridian (Antarctica, Russia),
    so polygons are cut into 90-degree slices first (a cell overlaps a union iff it overlaps a
    piece)."""
    cells: set[int] = set()
    for geom in geoms:
        for x in range(-180, 180, 90):
            piece = shapely.clip_by_rect(geom, x, -90, x + 90, 90)
            if piece.is_empty or piece.area == 0:
                continue
            shape = h3.geo_to_h3shape(piece)
            cells.update(h3.str_to_int(c) for c in h3.h3shape_to_cells_experimental(shape, res, contain="overlap"))
    return cells


@pytest.mark.parametrize("res", [2, 3, 4])
def test_land_cells_are_h3s_overlap_fill_closed_under_parent(pyramid: dict[int, list[grid.Level]], res: int) -> None:
    _, geoms = grid.shipped_rows()
    mine = np.concatenate([lv.cell for lv in pyramid[res]])
    assert len(mine) == len(set(mine.tolist()))
    overlap = _h3_overlap(geoms, res)
    # The figures of docs/apps/h3grid.md (Natural Earth 1:110m countries).
    assert len(overlap) == {2: 2236, 3: 13405, 4: 86675}[res]
    # The pyramid is h3's overlap fill plus the ancestors of the finer cells (a child can poke
    # out of a sea parent onto land), and nothing else.
    ancestors: set[int] = set()
    for finer in range(res + 1, 5):
        finer_cells = np.concatenate([lv.cell for lv in pyramid[finer]])
        ancestors.update(grid.parents(finer_cells, res).tolist())
    assert set(mine.tolist()) == overlap | ancestors
    assert sum(lv.closure for lv in pyramid[res]) == len(ancestors - overlap)
    assert len(ancestors - overlap) == {2: 20, 3: 55, 4: 0}[res]


def test_parents_and_inheritance(pyramid: dict[int, list[grid.Level]]) -> None:
    for res in (3, 4):
        coarser = np.concatenate([lv.cell for lv in pyramid[res - 1]])
        parent = np.concatenate([lv.parent for lv in pyramid[res]])
        cells = np.concatenate([lv.cell for lv in pyramid[res]])
        assert (grid.parents(cells, res - 1) == parent).all()
        # Closed under parent: every cell's parent is in the pyramid.
        assert np.isin(parent, coarser).all()
    # A few land cells poke out of a sea parent: that parent was added (without a share row).
    assert 0 < sum(lv.orphans for lv in pyramid[4]) < 0.01 * len(cells)
    res3_shares = set(np.concatenate([lv.share_cell for lv in pyramid[3]]).tolist())
    res3_land = set(_h3_overlap(grid.shipped_rows()[1], 3))
    added = set(np.concatenate([lv.cell for lv in pyramid[3]]).tolist()) - res3_land
    assert added and not added & res3_shares
    # Most cells were inherited from interior parents, not tested.
    assert sum(lv.tested for lv in pyramid[4]) < 0.7 * len(cells)
    assert (pyramid[2][0].parent == -1).all()


def test_shares(pyramid: dict[int, list[grid.Level]], world: grid.Land) -> None:
    levels = pyramid[4]
    cell = np.concatenate([lv.share_cell for lv in levels])
    country = world.iso3[np.concatenate([lv.share_country for lv in levels])]
    share = np.concatenate([lv.share for lv in levels])
    assert ((share > 0) & (share <= 1)).all()
    totals = np.bincount(np.unique(cell, return_inverse=True)[1], weights=share)
    assert totals.max() <= 1.001  # neighbouring polygons of the source overlap a little
    paris = h3.str_to_int(h3.latlng_to_cell(49.0, 2.0, 4))
    assert country[cell == paris].tolist() == ["FRA"] and share[cell == paris].tolist() == [1.0]
    # Border cells map to every country they touch, with the share of their area in each
    # (checked against areas on the WGS84 ellipsoid).
    geod = Geod(ellps="WGS84")
    by_code = dict(zip(world.iso3.tolist(), world.geoms, strict=True))
    multi = np.unique(cell, return_counts=True)
    shared = multi[0][multi[1] > 1][:: max(1, int((multi[1] > 1).sum()) // 40)]
    assert len(shared) >= 20
    for c in shared.tolist():
        poly = shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(c))])
        if shapely.bounds(poly)[2] - shapely.bounds(poly)[0] > 180:
            continue
        cell_area = abs(geod.geometry_area_perimeter(poly)[0])
        for code, value in zip(country[cell == c], share[cell == c], strict=True):
            part = shapely.intersection(poly, by_code[code])
            expected = abs(geod.geometry_area_perimeter(part)[0]) / cell_area
            assert value == pytest.approx(expected, abs=0.005), (h3.int_to_str(c), code)


def test_antimeridian_and_poles(world: grid.Land) -> None:
    # Fiji and Chukotka straddle 180: cells crossing it are land on both sides.
    for lat, lng, code in ((-16.6, 179.99, "FJI"), (66.0, -179.99, "RUS"), (66.0, 179.99, "RUS")):
        c = h3.str_to_int(h3.latlng_to_cell(lat, lng, 5))
        coarse = h3.str_to_int(h3.cell_to_parent(h3.int_to_str(c), 0))
        level = next(grid.batch_levels(coarse, world, min_res=5, max_res=5))
        assert c in set(level.cell.tolist())
        assert code in world.iso3[level.share_country[level.share_cell == c]].tolist()
    # The south pole cell is Antarctica's, whole; the north pole cell is sea.
    north, south = grid.pole_cells(3)
    level = next(grid.batch_levels(grid.parents(np.array([south]), 0)[0], world, min_res=3, max_res=3))
    assert world.iso3[level.share_country[level.share_cell == south]].tolist() == ["ATA"]
    assert level.share[level.share_cell == south].tolist() == [pytest.approx(1.0, abs=1e-3)]
    level = list(grid.batch_levels(grid.parents(np.array([north]), 0)[0], world, min_res=3, max_res=3))
    assert north not in set(level[0].cell.tolist())


def test_descendant_range() -> None:
    coarse = h3.str_to_int(h3.latlng_to_cell(48.0, 10.0, 0))
    for res in (2, 5):
        lo, hi = grid.descendant_range(coarse, 0, res)
        kids = np.array([h3.str_to_int(c) for c in h3.cell_to_children(h3.int_to_str(coarse), res)])
        assert kids.min() >= lo and kids.max() <= hi
        other = h3.str_to_int(h3.latlng_to_cell(-30.0, -60.0, res))
        assert not lo <= other <= hi
        assert not lo <= h3.str_to_int(h3.cell_to_children(h3.int_to_str(coarse), res - 1)[0]) <= hi


def test_region_builds(world: grid.Land) -> None:
    codes, geoms = grid.shipped_rows()
    lux = grid.land_build(codes, geoms, country="LUX")
    assert lux.iso3.tolist() == ["LUX"]
    box = grid.land_build(codes, geoms, bbox=[5.0, 45.0, 7.0, 47.0])
    assert set(box.iso3.tolist()) == {"CHE", "FRA", "ITA"}
    assert grid.coarse_cells_for(grid.land_build(codes, geoms, bbox=[-30.0, -50.0, -20.0, -40.0])) == []
