"""The land grid pyramid, computed with arrays (no Python call per cell).

Containment rule: **overlap**. A cell belongs to the pyramid when its polygon (the H3 cell
boundary, straight edges between its vertices in longitude/latitude, the convention h3's own
``polygon_to_cells`` uses) intersects a land polygon. This is h3's ``contain='overlap'``.

How it stays cheap at resolution 7 (33.6 M land cells):

- One batch per coarse cell (a res-0 cell, 122 of them): every number below is for the
  descendants of that one cell, a few hundred thousand cells at most.
- Candidates come from parents. An H3 child is not inside its parent (aperture 7 rotates), but
  it is inside the parent's polygon scaled by ``SCALE`` (1.5) about its centre: a child reaches
  at most 1.033 R from the parent's centre (R the parent's circumradius) while the scaled
  parent's inradius is 1.5 x 0.866 R = 1.3 R; and a scaled child lies inside its scaled parent
  (0.655 R + 1.5 x 0.378 R = 1.22 R < 1.3 R). So with ``E_r`` = the cells whose scaled
  polygon meets land, every land cell of res r+1 is a child of ``E_r`` and ``E_{r+1}`` is made
  of children of ``E_r``: only the children of ``E_r`` are looked at.
- Interior cells are inherited, not tested: when a cell's scaled polygon lies inside one
  country, all its descendants lie inside it (share 1.0) at every finer resolution, so they
  are produced by ``cell_to_children`` alone. Geometry is computed only near coasts and borders.
- The H3 work (children, boundaries) goes through polars-h3 (Rust, whole columns at once); the
  geometry through shapely 2 arrays and an STRtree per level; rows go to PostgreSQL with a
  binary COPY built by numpy (:mod:`h3grid.pgcopy`).

Shares (cell -> country): the share of a cell's area inside each country it touches. The
intersection is computed in longitude/latitude (as above); areas are then measured on the
cylindrical equal-area projection of the sphere (x = lon in radians, y = sin(lat)), which is
equal-area: the ratio of two areas there is their ratio on the sphere, up to the straight-edge
approximation of each small polygon. A cell inside one country gets 1.0 without any
geometry; shares of one cell sum to at most 1 (the rest is sea).

Antimeridian and poles: a cell crossing the antimeridian is unwrapped to longitudes past 180
and land has a copy shifted by +360 where it reaches the antimeridian; the two cells that
contain a pole are closed along the pole's parallel (their boundary goes round every
longitude).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import polars_h3 as plh3
import shapely
from numpy.typing import NDArray

MIN_RES = 2
MAX_RES = 7
# Batches are the descendants of one res-0 cell (122 batches).
COARSE_RES = 0
# Scale of a cell's polygon about its centre that contains all its children (and whose own
# children's scaled polygons stay inside it): 1.34 is the least that works for regular
# hexagons; 1.5 leaves room for the distortion of longitude/latitude and pentagons.
SCALE = 1.5
SHIPPED = Path(__file__).resolve().parent / "data" / "naturalearth_lowres.gpkg"
ISO3 = re.compile(r"^[A-Z]{3}$")
# Cells contain a pole at every resolution (h3: latlng_to_cell(+-90, 0, r)); their bits differ
# by resolution only, so they are found by comparing with the pole cells of each resolution.
_H3_MODE_CELL = 1 << 59
_DIGIT_BITS = 3
_DIGITS = 15
_RES_SHIFT = 52
_BASE_SHIFT = 45

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Geoms = NDArray[Any]


# --- land -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Land:
    """Country polygons ready for the per-level tests.

    ``geoms[i]`` is country ``iso3[i]`` (all its rows merged), with a copy shifted by +360
    where it reaches the antimeridian; ``pieces`` cut the countries into tiles (faster
    intersections with large countries), ``piece_country[k]`` the country of piece k.
    """

    iso3: NDArray[np.str_]
    geoms: Geoms
    pieces: Geoms
    piece_country: Ints
    bounds: tuple[float, float, float, float]
    source: str = ""
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.iso3)


def _wrap_antimeridian(geom: Any) -> Any:
    """The geometry plus its western part shifted by +360 (cells crossing the antimeridian are
    unwrapped past 180)."""
    west = shapely.clip_by_rect(geom, -180.0, -90.0, -90.0, 90.0)
    if shapely.is_empty(west):
        return geom
    shifted = shapely.transform(west, lambda xy: xy + np.array([360.0, 0.0]))
    return shapely.union(geom, shifted)


def _tiles(geom: Any, size: float) -> list[Any]:
    """``geom`` cut along a ``size``-degree grid (only the tiles it covers)."""
    minx, miny, maxx, maxy = shapely.bounds(geom)
    out = []
    for x in np.arange(np.floor(minx / size) * size, maxx, size):
        for y in np.arange(np.floor(miny / size) * size, maxy, size):
            piece = shapely.clip_by_rect(geom, x, y, x + size, y + size)
            if not shapely.is_empty(piece) and shapely.area(piece) > 0:
                out.append(piece)
    return out


def land_build(
    iso3: list[str],
    geoms: list[Any],
    *,
    country: str = "",
    bbox: list[float] | None = None,
    source: str = "",
    tile_degrees: float = 10.0,
) -> Land:
    """Countries from rows of (ISO3 code, polygon in lon/lat): rows of one code are merged;
    rows without a valid code are skipped (listed in ``skipped``). ``country`` keeps one
    country, ``bbox`` clips to [minx, miny, maxx, maxy] (small grids)."""
    skipped: list[str] = []
    merged: dict[str, list[Any]] = {}
    for code, geom in zip(iso3, geoms, strict=True):
        code = (code or "").strip().upper()
        if geom is None or shapely.is_empty(geom):
            continue
        if not ISO3.match(code):
            skipped.append(code or "(empty)")
            continue
        if country and code != country:
            continue
        merged.setdefault(code, []).append(shapely.make_valid(geom))
    codes = sorted(merged)
    polys: list[Any] = []
    for code in codes:
        geom = shapely.union_all(merged[code])
        if bbox is not None:
            geom = shapely.clip_by_rect(geom, *bbox)
        geom = shapely.get_parts(geom)
        geom = shapely.union_all(geom[shapely.get_type_id(geom) >= 3]) if len(geom) else shapely.Polygon()
        polys.append(geom)
    keep = [i for i, g in enumerate(polys) if not shapely.is_empty(g) and shapely.area(g) > 0]
    codes = [codes[i] for i in keep]
    wrapped = [_wrap_antimeridian(polys[i]) for i in keep]
    pieces: list[Any] = []
    piece_country: list[int] = []
    for i, geom in enumerate(wrapped):
        parts = _tiles(geom, tile_degrees)
        pieces.extend(parts)
        piece_country.extend([i] * len(parts))
    arr = np.array(wrapped, dtype=object)
    if len(arr):
        shapely.prepare(arr)
        b = shapely.total_bounds(arr)
        bounds = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    else:
        bounds = (0.0, 0.0, 0.0, 0.0)
    return Land(
        iso3=np.array(codes, dtype=str),
        geoms=arr,
        pieces=np.array(pieces, dtype=object),
        piece_country=np.array(piece_country, dtype=np.int64),
        bounds=bounds,
        source=source,
        skipped=sorted(set(skipped)),
    )


@lru_cache(maxsize=1)
def shipped_rows() -> tuple[list[str], list[Any]]:
    """The Natural Earth 1:110m countries shipped with the app (Kosovo coded XKX)."""
    import pyogrio

    frame = pyogrio.read_dataframe(SHIPPED, columns=["iso_a3"])
    return [str(v) for v in frame["iso_a3"]], list(frame.geometry.values)


# --- cells ----------------------------------------------------------------------------------


def cell_str(cell: int) -> str:
    """The hexadecimal form of a cell (as h3 and every H3 tool print it)."""
    return format(int(cell), "x")


def cell_int(text: str) -> int:
    return int(text, 16)


def res0_cells() -> Ints:
    return np.array(sorted(int(c) for c in _h3().get_res0_cells()), dtype=np.int64)


def _h3() -> Any:
    import h3.api.basic_int as h3

    return h3


@lru_cache(maxsize=32)
def pole_cells(res: int) -> tuple[int, int]:
    h3 = _h3()
    return int(h3.latlng_to_cell(90.0, 0.0, res)), int(h3.latlng_to_cell(-90.0, 0.0, res))


def children(cells: Ints, res: int) -> tuple[Ints, Ints]:
    """(children at ``res``, their parent) for every cell of ``cells`` (one resolution)."""
    if len(cells) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    frame = (
        pl.DataFrame({"parent": pl.Series(cells.astype(np.uint64), dtype=pl.UInt64)})
        .with_columns(child=plh3.cell_to_children("parent", res))
        .explode("child")
    )
    return frame["child"].to_numpy().astype(np.int64), frame["parent"].to_numpy().astype(np.int64)


def parents(cells: Ints, res: int) -> Ints:
    if len(cells) == 0:
        return np.empty(0, np.int64)
    frame = pl.DataFrame({"c": pl.Series(cells.astype(np.uint64), dtype=pl.UInt64)})
    return frame.select(plh3.cell_to_parent("c", res))[:, 0].to_numpy().astype(np.int64)


def descendant_range(cell: int, cell_res: int, res: int) -> tuple[int, int]:
    """[lo, hi] such that the descendants at ``res`` of ``cell`` are exactly the cells of
    resolution ``res`` in that integer range (the index bits order cells by resolution, base
    cell, then digits): a batch deletes its rows with two range scans of the primary key."""
    low_bits = _DIGIT_BITS * (_DIGITS - cell_res)
    prefix = (cell >> low_bits) << low_bits
    prefix = (prefix & ~(0xF << _RES_SHIFT)) | (res << _RES_SHIFT)
    return prefix, prefix | ((1 << low_bits) - 1)


def cell_polygons(cells: Ints, res: int, *, scale: float = 1.0) -> Geoms:
    """The cells' polygons in lon/lat (unwrapped past 180 across the antimeridian; pole cells
    closed along the pole), optionally scaled about their centre."""
    if len(cells) == 0:
        return np.empty(0, dtype=object)
    frame = pl.DataFrame({"c": pl.Series(cells.astype(np.uint64), dtype=pl.UInt64)})
    verts = frame.select(plh3.cell_to_boundary("c").alias("b"))["b"]
    counts = verts.list.len().to_numpy().astype(np.int64)
    flat = verts.explode().list.to_array(2).to_numpy() if len(verts) else np.empty((0, 2))
    lat = np.ascontiguousarray(flat[:, 0])
    lon = np.ascontiguousarray(flat[:, 1])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    owner = np.repeat(np.arange(len(cells)), counts)
    span = np.maximum.reduceat(lon, starts) - np.minimum.reduceat(lon, starts)
    crossing = span[owner] > 180.0
    lon = np.where(crossing & (lon < 0), lon + 360.0, lon)
    if scale != 1.0:
        cx = np.add.reduceat(lon, starts) / counts
        cy = np.add.reduceat(lat, starts) / counts
        lon = cx[owner] + (lon - cx[owner]) * scale
        lat = cy[owner] + (lat - cy[owner]) * scale
    rings = shapely.linearrings(np.column_stack([lon, lat]), indices=owner)
    polys = shapely.polygons(rings)
    north, south = pole_cells(res)
    for pole_cell, pole_lat in ((north, 90.0), (south, -90.0)):
        hit = np.nonzero(cells == pole_cell)[0]
        for i in hit:
            sl = slice(starts[i], starts[i] + counts[i])
            plon, plat = flat[sl, 1], flat[sl, 0]
            if scale != 1.0:
                plat = pole_lat + (plat - pole_lat) * scale
            order = np.argsort(plon)
            ring = list(zip(plon[order], plat[order], strict=True))
            ring = [(-180.0, ring[0][1]), *ring, (180.0, ring[-1][1]), (180.0, pole_lat), (-180.0, pole_lat)]
            polys[i] = shapely.Polygon(ring)
    return polys


def _equal_area(geoms: Geoms) -> Floats:
    """Areas on the cylindrical equal-area projection of the unit sphere (x = lon, y = sin lat).
    Edges are first cut to at most half a degree: y is not linear in latitude, so a long edge
    (the cells round a pole) would otherwise be measured as a chord."""
    projected = shapely.transform(shapely.segmentize(geoms, 0.5), lambda xy: np.column_stack([np.radians(xy[:, 0]), np.sin(np.radians(xy[:, 1]))]))
    return np.asarray(shapely.area(projected), dtype=np.float64)


# --- one batch ------------------------------------------------------------------------------


@dataclass
class Level:
    """One resolution of one batch: land cells (sorted) with parents, and their shares."""

    res: int
    cell: Ints
    parent: Ints
    share_cell: Ints
    share_country: Ints  # index into Land.iso3
    share: NDArray[np.float32]
    tested: int = 0  # cells whose geometry was computed (the rest were inherited)
    orphans: int = 0  # land cells whose parent overlaps no land (a child pokes out of its parent)


def _pairs(tree_geoms: Geoms, land_geoms: Geoms, predicate: str) -> tuple[Ints, Ints]:
    """(land index, cell index) pairs where ``predicate(land, cell)``."""
    if len(tree_geoms) == 0 or len(land_geoms) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    tree = shapely.STRtree(tree_geoms)
    found = tree.query(land_geoms, predicate=predicate)
    return found[0].astype(np.int64), found[1].astype(np.int64)


def _shares(cells: Ints, polys: Geoms, land: Land, hits_country: Ints, hits_cell: Ints) -> tuple[Ints, Ints, Floats]:
    """Shares of the (cell, country) pairs that intersect: 1.0 when the country contains the
    cell, else intersection area / cell area on the equal-area projection."""
    inside_c, inside_i = _pairs(polys, land.geoms, "contains")
    inside = np.zeros(len(cells), bool)
    inside[inside_i] = True
    partial = ~inside[hits_cell]
    out_cell = [inside_i]
    out_country = [inside_c]
    out_share = [np.ones(len(inside_i))]
    todo = np.unique(hits_cell[partial])
    if len(todo):
        piece_k, local = _pairs(polys[todo], land.pieces, "intersects")
        cell_idx = todo[local]
        parts = shapely.intersection(polys[cell_idx], land.pieces[piece_k])
        area = _equal_area(parts) / _equal_area(polys[cell_idx])
        country = land.piece_country[piece_k]
        # Sum the pieces of one country in one cell.
        key = cell_idx * len(land) + country
        uniq, inverse = np.unique(key, return_inverse=True)
        total = np.bincount(inverse, weights=area)
        keep = total > 0
        out_cell.append(uniq[keep] // len(land))
        out_country.append(uniq[keep] % len(land))
        out_share.append(np.minimum(total[keep], 1.0))
    return np.concatenate(out_cell), np.concatenate(out_country), np.concatenate(out_share)


def batch_levels(coarse: int, land: Land, *, min_res: int = MIN_RES, max_res: int = MAX_RES) -> Iterator[Level]:
    """The pyramid under one coarse (res-0) cell, one :class:`Level` per resolution."""
    coarse_res = COARSE_RES
    start = np.array([coarse], dtype=np.int64)
    # Cells whose whole subtree lies in one country: (cell, country index) at the current res.
    inherit = np.empty(0, np.int64)
    inherit_country = np.empty(0, np.int64)
    inherit_parent = np.empty(0, np.int64)
    prev_land = prev_inherit = prev_inherit_country = prev_next = np.empty(0, np.int64)
    test, test_parent = children(start, min_res) if min_res > coarse_res else (start, np.full(1, -1, np.int64))
    for res in range(min_res, max_res + 1):
        if res > min_res:
            # The previous level's sets, one resolution finer.
            inherit, inherit_parent = children(prev_inherit, res)
            inherit_country = np.repeat(prev_inherit_country, _child_counts(prev_inherit, res))
            test, test_parent = children(prev_next, res)
        polys = cell_polygons(test, res)
        scaled = cell_polygons(test, res, scale=SCALE)
        _, near_i = _pairs(scaled, land.geoms, "intersects")
        near = np.zeros(len(test), bool)
        near[near_i] = True
        # Only cells near land can meet it: test the rest no further.
        deep_c, deep_i = _pairs(scaled, land.geoms, "contains")
        deep = np.zeros(len(test), bool)
        deep[deep_i] = True
        hit_c, hit_i = _pairs(polys[near], land.geoms, "intersects")
        near_idx = np.nonzero(near)[0]
        hit_i = near_idx[hit_i]
        sh_i, sh_c, sh = _shares(test, polys, land, hit_c, hit_i) if len(hit_i) else (hit_i, hit_c, np.empty(0))
        is_land = np.zeros(len(test), bool)
        is_land[hit_i] = True
        deep_country = np.full(len(test), -1, np.int64)
        deep_country[deep_i] = deep_c

        cell = np.concatenate([inherit, test[is_land]])
        parent = np.concatenate([inherit_parent, test_parent[is_land]])
        share_cell = np.concatenate([inherit, test[sh_i]])
        share_country = np.concatenate([inherit_country, sh_c])
        share = np.concatenate([np.ones(len(inherit)), sh]).astype(np.float32)
        orphans = int((~np.isin(parent, prev_land)).sum()) if res > min_res else 0
        order = np.argsort(cell, kind="stable")
        sorder = np.lexsort((share_country, share_cell))
        yield Level(
            res=res,
            cell=cell[order],
            parent=parent[order] if res > min_res else np.full(len(cell), -1, np.int64),
            share_cell=share_cell[sorder],
            share_country=share_country[sorder],
            share=share[sorder],
            tested=len(test),
            orphans=orphans,
        )
        prev_land = cell
        prev_inherit = np.concatenate([inherit, test[deep]])
        prev_inherit_country = np.concatenate([inherit_country, deep_country[deep]])
        prev_next = test[near & ~deep]


def _child_counts(cells: Ints, res: int) -> Ints:
    if len(cells) == 0:
        return np.empty(0, np.int64)
    frame = pl.DataFrame({"c": pl.Series(cells.astype(np.uint64), dtype=pl.UInt64)})
    return frame.select(plh3.cell_to_children_size("c", res))[:, 0].to_numpy().astype(np.int64)


def coarse_cells_for(land: Land) -> list[int]:
    """The res-0 cells whose scaled polygon meets land: the batches of a bootstrap."""
    cells = res0_cells()
    if len(land) == 0:
        return []
    _, near_i = _pairs(cell_polygons(cells, 0, scale=SCALE), land.geoms, "intersects")
    return sorted(int(c) for c in np.unique(cells[near_i]))


def cells_in_bbox(bbox: list[float], res: int) -> Ints:
    """Every cell of ``res`` whose centre lies in ``bbox`` [minx, miny, maxx, maxy] (lon/lat),
    land or not, sorted (h3's polygon fill, in C)."""
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    h3 = _h3()
    shape = h3.LatLngPoly([(miny, minx), (miny, maxx), (maxy, maxx), (maxy, minx)])
    return np.sort(np.array(list(h3.h3shape_to_cells(shape, res)), dtype=np.int64))
