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
    piece_arr = np.array(pieces, dtype=object)
    shapely.prepare(piece_arr)
    if len(arr):
        shapely.prepare(arr)
        b = shapely.total_bounds(arr)
        bounds = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    else:
        bounds = (0.0, 0.0, 0.0, 0.0)
    return Land(
        iso3=np.array(codes, dtype=str),
        geoms=arr,
        pieces=piece_arr,
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


def _polars() -> tuple[Any, Any]:
    """polars and polars-h3, imported when first used: web processes register the job type but
    never compute the grid (the import costs 0.6 s and 50 MB)."""
    import polars
    import polars_h3

    return polars, polars_h3


def _h3() -> Any:
    import h3.api.basic_int as h3

    return h3


@lru_cache(maxsize=32)
def pole_cells(res: int) -> tuple[int, int]:
    h3 = _h3()
    return int(h3.latlng_to_cell(90.0, 0.0, res)), int(h3.latlng_to_cell(-90.0, 0.0, res))


def children(cells: Ints, res: int) -> tuple[Ints, Ints]:
    """(children at ``res``, the position of their parent in ``cells``) for every cell of
    ``cells`` (one resolution; children in the order of their parents)."""
    pl, plh3 = _polars()
    if len(cells) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    frame = (
        pl.DataFrame({"parent": pl.Series(cells.astype(np.uint64), dtype=pl.UInt64)})
        .with_row_index("row")
        .with_columns(child=plh3.cell_to_children("parent", res))
        .explode("child")
    )
    return frame["child"].to_numpy().astype(np.int64), frame["row"].to_numpy().astype(np.int64)


def parents(cells: Ints, res: int) -> Ints:
    pl, plh3 = _polars()
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
    return cell_polygon_sets(cells, res, (scale,))[0]


def cell_polygon_sets(cells: Ints, res: int, scales: tuple[float, ...]) -> list[Geoms]:
    """:func:`cell_polygons` at several scales from one computation of the boundaries."""
    pl, plh3 = _polars()
    if len(cells) == 0:
        return [np.empty(0, dtype=object) for _ in scales]
    frame = pl.DataFrame({"c": pl.Series(cells.astype(np.uint64), dtype=pl.UInt64)})
    verts = frame.select(plh3.cell_to_boundary("c").alias("b"))["b"]
    counts = verts.list.len().to_numpy().astype(np.int64)
    flat = verts.explode().list.to_array(2).to_numpy()
    lat0 = np.ascontiguousarray(flat[:, 0])
    lon0 = np.ascontiguousarray(flat[:, 1])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    owner = np.repeat(np.arange(len(cells)), counts)
    span = np.maximum.reduceat(lon0, starts) - np.minimum.reduceat(lon0, starts)
    crossing = span[owner] > 180.0
    lon0 = np.where(crossing & (lon0 < 0), lon0 + 360.0, lon0)
    cx = (np.add.reduceat(lon0, starts) / counts)[owner]
    cy = (np.add.reduceat(lat0, starts) / counts)[owner]
    north, south = pole_cells(res)
    out = []
    for scale in scales:
        lon = cx + (lon0 - cx) * scale if scale != 1.0 else lon0
        lat = cy + (lat0 - cy) * scale if scale != 1.0 else lat0
        polys = shapely.polygons(shapely.linearrings(np.column_stack([lon, lat]), indices=owner))
        for pole_cell, pole_lat in ((north, 90.0), (south, -90.0)):
            for i in np.nonzero(cells == pole_cell)[0]:
                polys[i] = _pole_polygon(flat[starts[i] : starts[i] + counts[i]], pole_lat, scale)
        out.append(polys)
    return out


def _pole_polygon(latlng: Floats, pole_lat: float, scale: float) -> Any:
    """A cell round a pole: its vertices by longitude, closed along the pole's parallel."""
    plon, plat = latlng[:, 1], latlng[:, 0]
    if scale != 1.0:
        plat = pole_lat + (plat - pole_lat) * scale
    order = np.argsort(plon)
    ring = list(zip(plon[order], plat[order], strict=True))
    return shapely.Polygon([(-180.0, ring[0][1]), *ring, (180.0, ring[-1][1]), (180.0, pole_lat), (-180.0, pole_lat)])


def _equal_area(geoms: Geoms) -> Floats:
    """Areas on the cylindrical equal-area projection of the unit sphere (x = lon, y = sin lat).
    Edges longer than half a degree are cut first: y is not linear in latitude, so a long edge
    (coarse cells, the cells round a pole) would otherwise be measured as a chord."""
    bounds = shapely.bounds(geoms)
    large = np.nonzero(np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]) > 0.5)[0]
    if len(large):
        geoms = geoms.copy()
        geoms[large] = shapely.segmentize(geoms[large], 0.5)
    projected = shapely.transform(
        geoms, lambda xy: np.column_stack([np.radians(xy[:, 0]), np.sin(np.radians(xy[:, 1]))])
    )
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
    closure: int = 0  # cells overlapping no land, added as the parent of a finer cell of the pyramid


def _pairs(tree_geoms: Geoms, query_geoms: Geoms, predicate: str) -> tuple[Ints, Ints]:
    """(query index, tree index) pairs where ``predicate(query, tree)``."""
    if len(tree_geoms) == 0 or len(query_geoms) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    found = shapely.STRtree(tree_geoms).query(query_geoms, predicate=predicate)
    return found[0].astype(np.int64), found[1].astype(np.int64)


@dataclass
class _Tested:
    """What the geometry says about cells that could not be inherited."""

    near: NDArray[np.bool_]  # scaled polygon meets land: its children are candidates
    deep_country: Ints  # country whose interior holds the scaled polygon, else -1
    land: NDArray[np.bool_]  # the cell overlaps land
    share_cell: Ints  # (cell position, country, share) of every country a cell touches
    share_country: Ints
    share: Floats


def _test(cells: Ints, res: int, land: Land) -> _Tested:
    """Overlap, interior and shares of ``cells``: one STRtree query of the scaled polygons by
    land pieces (tiles: few false bbox hits, cheap intersections), then predicates on the pairs
    it found against the prepared whole countries."""
    n, nc = len(cells), len(land)
    polys, scaled = cell_polygon_sets(cells, res, (1.0, SCALE))
    piece_k, cell_i = _pairs(scaled, land.pieces, "intersects")
    near = np.zeros(n, bool)
    near[cell_i] = True
    # (country, cell) pairs near each other.
    key = np.unique(cell_i * nc + land.piece_country[piece_k])
    pc, pi = key % nc, key // nc
    countries_near = np.bincount(pi, minlength=n)
    deep_country = np.full(n, -1, np.int64)
    single = countries_near[pi] == 1
    deep = np.zeros(len(pi), bool)
    deep[single] = shapely.contains(land.geoms[pc[single]], scaled[pi[single]])
    deep_country[pi[deep]] = pc[deep]
    # Overlap: inside a deep country, or intersecting it.
    hit = deep.copy()
    hit[~deep] = shapely.intersects(land.geoms[pc[~deep]], polys[pi[~deep]])
    pc, pi, deep = pc[hit], pi[hit], deep[hit]
    is_land = np.zeros(n, bool)
    is_land[pi] = True
    whole = deep.copy()
    whole[~deep] = shapely.contains(land.geoms[pc[~deep]], polys[pi[~deep]])
    share = np.ones(len(pi))
    part_pc, part_pi = pc[~whole], pi[~whole]
    if len(part_pi):
        # Intersections with the pieces of the countries each partial cell touches.
        wanted = np.zeros(n * nc, bool) if n * nc < 50_000_000 else None
        pair_key = cell_i * nc + land.piece_country[piece_k]
        if wanted is not None:
            wanted[part_pi * nc + part_pc] = True
            sel = wanted[pair_key]
        else:
            sel = np.isin(pair_key, part_pi * nc + part_pc)
        k, i, pair_key = piece_k[sel], cell_i[sel], pair_key[sel]
        # Pieces near the scaled polygon may miss the cell itself (cheap prepared test first).
        meets = shapely.intersects(land.pieces[k], polys[i])
        k, i, pair_key = k[meets], i[meets], pair_key[meets]
        parts = shapely.intersection(polys[i], land.pieces[k])
        ratio = _equal_area(parts) / _equal_area(polys[i])
        uniq, inverse = np.unique(pair_key, return_inverse=True)
        total = np.bincount(inverse, weights=ratio)
        lookup = np.searchsorted(uniq, part_pi * nc + part_pc)
        share[~whole] = np.minimum(total[lookup], 1.0)
    keep = share > 0
    return _Tested(
        near=near,
        deep_country=deep_country,
        land=is_land,
        share_cell=pi[keep],
        share_country=pc[keep],
        share=share[keep],
    )


def batch_levels(coarse: int, land: Land, *, min_res: int = MIN_RES, max_res: int = MAX_RES) -> Iterator[Level]:
    """The pyramid under one coarse (res-0) cell, one :class:`Level` per resolution, closed
    under parent: the cells overlapping land, plus every ancestor of theirs down to ``min_res``
    (a child can poke out of a sea parent onto land: that parent is added, ``Level.closure``
    counts them; they have no share row). A cell's H3 parent has the same base cell, so the
    closure of one batch stays in that batch."""
    levels = list(_overlap_levels(coarse, land, min_res=min_res, max_res=max_res))
    for finer, level in zip(levels[:0:-1], levels[-2::-1], strict=True):
        # Finest first: cells added at one level may need their own parent one level up.
        missing = np.setdiff1d(finer.parent, level.cell)
        if len(missing) == 0:
            continue
        up = parents(missing, level.res - 1) if level.res > min_res else np.full(len(missing), -1, np.int64)
        cell = np.concatenate([level.cell, missing])
        order = np.argsort(cell)
        level.cell, level.parent = cell[order], np.concatenate([level.parent, up])[order]
        level.closure = len(missing)
    yield from levels


def _overlap_levels(coarse: int, land: Land, *, min_res: int, max_res: int) -> Iterator[Level]:
    """The cells overlapping land under one coarse cell, resolution by resolution."""
    # At each resolution: ``inherit`` cells lie, with their whole subtree, inside one country
    # (no geometry needed); ``test`` cells are near a coast or border and are tested.
    inherit = np.empty(0, np.int64)
    inherit_country = np.empty(0, np.int64)
    inherit_parent = np.empty(0, np.int64)
    if min_res > COARSE_RES:
        test, _ = children(np.array([coarse], dtype=np.int64), min_res)
    else:
        test = np.array([coarse], dtype=np.int64)
    test_parent = np.full(len(test), -1, np.int64)
    prev_land = np.empty(0, np.int64)
    for res in range(min_res, max_res + 1):
        tested = _test(test, res, land)
        cell = np.concatenate([inherit, test[tested.land]])
        parent = np.concatenate([inherit_parent, test_parent[tested.land]])
        share_cell = np.concatenate([inherit, test[tested.share_cell]])
        share_country = np.concatenate([inherit_country, tested.share_country])
        share = np.concatenate([np.ones(len(inherit)), tested.share]).astype(np.float32)
        orphans = int((~np.isin(parent, prev_land)).sum()) if res > min_res else 0
        order = np.argsort(cell)
        sorder = np.lexsort((share_country, share_cell))
        yield Level(
            res=res,
            cell=cell[order],
            parent=parent[order],
            share_cell=share_cell[sorder],
            share_country=share_country[sorder],
            share=share[sorder],
            tested=len(test),
            orphans=orphans,
        )
        if res == max_res:
            break
        prev_land = cell
        deep = tested.deep_country >= 0
        # One resolution finer: children of interior cells are inherited, children of the
        # other cells near land are tested.
        inherit_from = np.concatenate([inherit, test[deep]])
        from_country = np.concatenate([inherit_country, tested.deep_country[deep]])
        test_from = test[tested.near & ~deep]
        kids, row = children(np.concatenate([inherit_from, test_from]), res + 1)
        split = row < len(inherit_from)
        inherit, inherit_parent = kids[split], inherit_from[row[split]]
        inherit_country = from_country[row[split]]
        test, test_parent = kids[~split], test_from[row[~split] - len(inherit_from)]


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
