"""Zonal statistics of a raster per H3 cell, weighted by the exact fraction of each pixel inside
each cell; numpy only (no Python loop over pixels or cells).

Cell polygons are H3's boundaries (vertices joined by straight lines in the raster's CRS, the
polygons exactextract would get). The fraction of a pixel covered by a polygon is computed
exactly with Green's theorem: in pixel coordinates (u to the right, v downwards, one pixel =
1 x 1) the area of ``polygon ∩ [j, j+1] x [i, i+1]`` is the signed sum, over the polygon's edges
clipped to column ``j``, of ``∫ F_i(v(u)) du`` with ``F_i(v) = clamp(v, i, i+1) - i``. Rows that
an edge lies wholly below contribute the full ``Δu`` (added as a range with a difference array
and one cumulative sum), so the work is proportional to the polygon's perimeter in pixels
plus its area, whichever the sizes: pixels larger than cells and cells larger than pixels are
both exact. The same machinery serves cells and pixels in any projected or geographic CRS.

Weights: the coverage fraction (area in the raster's own CRS, the rule of exactextract). For a
geographic raster the pixel's true area varies with cos(latitude) across a cell; at the
pyramid's resolutions (2-7) that is below 1.5 % from edge to edge of a cell up to 60° and
changes means by far less (symmetric about the centre), so pixels are not area-weighted. Sums
are ``Σ fraction * value`` (the right total for count rasters such as population).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import polars as pl
import polars_h3 as plh3
import shapely
from affine import Affine
from pyproj import CRS, Transformer

STATS = ("mean", "sum", "min", "max", "count", "std", "median")
# What "median" means, recorded with each dataset (docs/apps/h3grid-stats.md, "Median").
MEDIAN_RULE = (
    "weighted quantile 0.5 of exactextract (equal values merged, weights = coverage fractions, linear "
    "interpolation between the bracketing values), as a double: not cast to the raster's data type. "
    "exactextract returns it cast to that type, truncated toward zero on integer rasters."
)
_EPS = 1e-9
# Elements of one chunk's grids (pixels of the cells' bounding boxes): bounds memory to ~1 GiB.
MAX_GRID_ELEMENTS = 12_000_000

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def bbox_cells(bbox: tuple[float, float, float, float], res: int) -> npt.NDArray[np.int64]:
    """Cells at ``res`` overlapping a lon/lat box, sorted. A box crossing the antimeridian may
    come as ``east < west`` (rasterio's ``transform_bounds``) or with longitudes past 180 (a
    0-360 raster): both are unwrapped, then cut at ±180 and in strips < 180° wide (H3 polygons
    take the shorter way round)."""
    west, south, east, north = (float(v) for v in bbox)
    south, north = max(south, -89.999), min(north, 89.999)
    if east < west:
        east += 360.0
    if east <= west or north <= south:
        return np.zeros(0, dtype=np.int64)
    if east - west >= 360.0:
        west, east = -180.0, 180.0
    else:
        shift = 360.0 * math.floor((west + 180.0) / 360.0)
        west, east = west - shift, east - shift  # west in [-180, 180)
    spans = [(west, min(east, 180.0))] + ([(-180.0, east - 360.0)] if east > 180.0 else [])
    found: set[int] = set()
    for lo, hi in spans:
        strips = max(1, math.ceil((hi - lo) / 90.0))
        step = (hi - lo) / strips
        for i in range(strips):
            w, e = lo + i * step, lo + (i + 1) * step
            shape = h3.LatLngPoly([(south, w), (south, e), (north, e), (north, w)])
            found.update(h3.str_to_int(c) for c in h3.h3shape_to_cells_experimental(shape, res, contain="overlap"))
    return np.array(sorted(found), dtype=np.int64)


@dataclass
class Rings:
    """Polygons as flat vertex arrays: polygon ``k`` is ``x[offsets[k]:offsets[k+1]]`` (closed
    implicitly, the last vertex joins the first); ``owner[k]`` is the index of its cell."""

    x: F64
    y: F64
    offsets: I64
    owner: I64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def bounds(self) -> tuple[F64, F64, F64, F64]:
        starts = self.offsets[:-1]
        return (
            np.minimum.reduceat(self.x, starts),
            np.minimum.reduceat(self.y, starts),
            np.maximum.reduceat(self.x, starts),
            np.maximum.reduceat(self.y, starts),
        )

    def subset(self, keep: npt.NDArray[np.bool_]) -> Rings:
        counts = np.diff(self.offsets)[keep]
        vertex_keep = np.repeat(keep, np.diff(self.offsets))
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Rings(self.x[vertex_keep], self.y[vertex_keep], offsets, self.owner[keep])


def _boundaries(cells: npt.NDArray[np.uint64] | I64) -> tuple[F64, F64, I64]:
    """(longitudes, latitudes, offsets) of H3's boundary vertices of ``cells`` (polars-h3)."""
    cells = np.asarray(cells).astype(np.uint64)
    frame = pl.DataFrame({"c": pl.Series(cells, dtype=pl.UInt64)}).select(plh3.cell_to_boundary("c").alias("b"))
    boundary = frame["b"]
    counts = boundary.list.len().to_numpy().astype(np.int64)
    points = boundary.explode()
    lat = points.list.get(0).to_numpy().astype(np.float64)
    lng = points.list.get(1).to_numpy().astype(np.float64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return lng, lat, offsets


def cell_rings(cells: npt.NDArray[np.uint64] | I64) -> Rings:
    """The boundaries of ``cells`` in lon/lat (vectorised by polars-h3). A cell crossing the
    antimeridian becomes two polygons (shifted by ±360°) owned by the same cell, the first
    unwrapped past 180. For the raster job see :func:`raster_rings` (any longitude range,
    projected CRSs, the cells round the poles)."""
    lng, lat, offsets = _boundaries(cells)
    counts = np.diff(offsets)
    owner = np.arange(len(counts), dtype=np.int64)
    starts = offsets[:-1]
    if len(counts) == 0:
        return Rings(lng, lat, offsets, owner)
    span = np.maximum.reduceat(lng, starts) - np.minimum.reduceat(lng, starts)
    crossing = span > 180.0
    if not crossing.any():
        return Rings(lng, lat, offsets, owner)
    # East copy: negative longitudes + 360; west copy: positive longitudes - 360.
    vertex_cross = np.repeat(crossing, counts)
    east = np.where(vertex_cross & (lng < 0), lng + 360.0, lng)
    west_part = Rings(lng, lat, offsets, owner).subset(crossing)
    west_x = np.where(west_part.x > 0, west_part.x - 360.0, west_part.x)
    x = np.concatenate([east, west_x])
    y = np.concatenate([lat, west_part.y])
    all_offsets = np.concatenate([offsets, west_part.offsets[1:] + offsets[-1]])
    return Rings(x, y, all_offsets, np.concatenate([owner, west_part.owner]))


@lru_cache(maxsize=1)
def pole_cells() -> I64:
    """The cells containing the north or the south pole, at every resolution."""
    return np.array(
        sorted(h3.str_to_int(h3.latlng_to_cell(lat, 0.0, r)) for r in range(16) for lat in (90.0, -90.0)),
        dtype=np.int64,
    )


def _degrees(value: float, radians_per_unit: float) -> float:
    return math.degrees(value * radians_per_unit) if radians_per_unit else value


def central_meridian(crs: CRS) -> float:
    """The longitude (degrees, Greenwich) a projected CRS is centred on: PROJ wraps longitudes
    into ``central_meridian ± 180``, so that is where a cell must be cut."""
    lon0 = 0.0
    operation = crs.coordinate_operation
    for param in operation.params if operation else []:
        name = param.name.lower()
        if "longitude" in name and any(w in name for w in ("origin", "centre", "center", "meridian")):
            lon0 = _degrees(float(param.value), float(param.unit_conversion_factor or 0.0))
            break
    pm = crs.prime_meridian
    return lon0 + (_degrees(float(pm.longitude), float(pm.unit_conversion_factor or 0.0)) if pm else 0.0)


def _pole_rings(lng: F64, lat: F64, offsets: I64, owner: I64, west: float) -> Rings:
    """A cell round a pole as a polygon of the lon/lat plane over ``[west, west + 360]``: its
    vertices in order of longitude (the edge that crosses ``west`` cut there, its latitude
    interpolated along the straight edge), closed along the pole's parallel."""
    xs: list[F64] = []
    ys: list[F64] = []
    counts: list[int] = []
    for k in range(len(owner)):
        x = west + np.mod(lng[offsets[k] : offsets[k + 1]] - west, 360.0)
        y = lat[offsets[k] : offsets[k + 1]]
        order = np.argsort(x)
        x, y = x[order], y[order]
        # The edge from the last vertex to the first one (360° further on).
        t = (west + 360.0 - x[-1]) / (x[0] + 360.0 - x[-1])
        cut = y[-1] + t * (y[0] - y[-1])
        pole = 90.0 if y.mean() > 0 else -90.0
        xs.append(np.concatenate([[west], x, [west + 360.0, west + 360.0, west]]))
        ys.append(np.concatenate([[cut], y, [cut, pole, pole]]))
        counts.append(len(x) + 4)
    ring_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ring_offsets[1:])
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    return Rings(cat(xs), cat(ys), ring_offsets, owner.astype(np.int64))


def _concat(parts: Sequence[Rings]) -> Rings:
    offsets = [np.zeros(1, dtype=np.int64)]
    end = 0
    for r in parts:
        offsets.append(r.offsets[1:] + end)
        end += int(r.offsets[-1])
    return Rings(
        np.concatenate([r.x for r in parts]),
        np.concatenate([r.y for r in parts]),
        np.concatenate(offsets),
        np.concatenate([r.owner for r in parts]),
    )


def _shifted(rings: Rings, dx: F64) -> Rings:
    """``rings`` with ring ``k`` moved by ``dx[k]`` in x."""
    return Rings(rings.x + np.repeat(dx, np.diff(rings.offsets)), rings.y, rings.offsets, rings.owner)


def _clipped(rings: Rings, west: float, east: float) -> Rings:
    """``rings`` cut to the longitudes ``[west, east]`` (shapely, for the few that cross)."""
    if len(rings) == 0:
        return rings
    index = np.repeat(np.arange(len(rings)), np.diff(rings.offsets))
    polys = shapely.polygons(shapely.linearrings(np.column_stack([rings.x, rings.y]), indices=index))
    parts, which = shapely.get_parts(shapely.clip_by_rect(polys, west, -90.0, east, 90.0), return_index=True)
    # Polygons with an area (a cut along an edge can leave a line or a point).
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts) & (shapely.area(parts) > 0)
    parts, which = parts[keep], which[keep]
    coords, ring_index = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    # Drop each ring's closing vertex (Rings close implicitly).
    last = np.append(ring_index[1:] != ring_index[:-1], True)
    coords, ring_index = coords[~last], ring_index[~last]
    counts = np.bincount(ring_index, minlength=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Rings(coords[:, 0].copy(), coords[:, 1].copy(), offsets, rings.owner[which])


def _copies(rings: Rings, west: float, east: float) -> Rings:
    """Every copy of ``rings`` shifted by a multiple of 360° that meets longitudes (west, east)."""
    if len(rings) == 0:
        return rings
    minx, _, maxx, _ = rings.bounds()
    found = []
    for k in range(-2, 3):
        meets = (minx + 360.0 * k < east) & (maxx + 360.0 * k > west)
        if meets.any():
            found.append(_shifted(rings.subset(meets), np.full(int(meets.sum()), 360.0 * k)))
    return _concat(found) if found else rings.subset(np.zeros(len(rings), dtype=bool))


def raster_rings(cells: I64, crs: object, bounds: tuple[float, float, float, float]) -> Rings:
    """The polygons of ``cells`` in a raster's CRS, every part of each the raster can see;
    ``bounds`` are the raster's (west, south, east, north) in its CRS.

    - Geographic raster: each cell is unwrapped (continuous longitudes) and copied at every
      multiple of 360° that meets the raster's longitudes: a 0-360 raster, a -180-180 one and a
      raster that crosses the antimeridian (east > 180) all see the cells they cover, once.
    - Projected raster: PROJ wraps longitudes into ``central_meridian ± 180``; a cell crossing
      that seam is cut there (the two pieces project to both edges of the map), then its
      vertices are projected (edges straight in the CRS, exactextract's polygons).
    - The two cells containing a pole have no closed boundary in lon/lat: each becomes the
      polygon of the lon/lat plane between its boundary and the pole over 360° of longitude
      (from the raster's west edge, or from the seam), which a polar projection maps back to
      the hexagon round the pole. Rings that a CRS cannot hold (a pole in Mercator) are left
      out.
    """
    target = CRS.from_user_input(crs)
    cells = np.asarray(cells, dtype=np.int64)
    lng, lat, offsets = _boundaries(cells)
    owner = np.arange(len(cells), dtype=np.int64)
    if len(cells) == 0:
        return Rings(lng, lat, offsets, owner)
    counts = np.diff(offsets)
    starts = offsets[:-1]
    span = np.maximum.reduceat(lng, starts) - np.minimum.reduceat(lng, starts)
    at_pole = np.isin(cells, pole_cells())
    lng = np.where(np.repeat((span > 180.0) & ~at_pole, counts) & (lng < 0), lng + 360.0, lng)
    everything = Rings(lng, lat, offsets, owner)
    plain = everything.subset(~at_pole)
    pole = everything.subset(at_pole)
    if target.is_geographic:
        west, east = float(bounds[0]), float(bounds[2])
        rings = _concat([_copies(plain, west, east), _pole_rings(pole.x, pole.y, pole.offsets, pole.owner, west)])
        if not target.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            # Another datum: move the vertices by the transformation's (small) shift, keeping
            # their unwrapped longitudes.
            lon = (rings.x + 180.0) % 360.0 - 180.0
            tx, ty = Transformer.from_crs("EPSG:4326", target, always_xy=True).transform(lon, rings.y)
            dx = (np.asarray(tx) - lon + 180.0) % 360.0 - 180.0
            rings = Rings(rings.x + dx, np.asarray(ty, dtype=np.float64), rings.offsets, rings.owner)
        return rings
    # A hair inside the seam: PROJ keeps ±180 from the centre on their own side.
    west = central_meridian(target) - 180.0 + 1e-9
    east = west + 360.0 - 2e-9
    transformer = Transformer.from_crs("EPSG:4326", target, always_xy=True)
    copies = _copies(plain, west, east)
    inside = np.zeros(0, dtype=bool)
    if len(copies):
        minx, _, maxx, _ = copies.bounds()
        inside = (minx >= west) & (maxx <= east)
    # Rings across the seam: cut there only where the projection is discontinuous (not in
    # polar projections, whose seam is a meridian like any other).
    across = copies.subset(~inside)
    whole = _continuous(across, transformer)
    # A ring kept whole is projected once: its other copy (360° away) is the same ring.
    first = np.zeros(len(across), dtype=bool)
    first[np.unique(across.owner, return_index=True)[1]] = True
    drop = whole & ~first
    # A pole the projection maps to a point inside the cell's projected hexagon (polar
    # projections): the hexagon itself. Otherwise (cylindrical, conic) the lon/lat polygon.
    polar = _polar_pole_rings(pole, transformer)
    rings = _concat(
        [
            copies.subset(inside),
            _clipped(across.subset(~whole), west, east),
            _pole_rings(pole.x, pole.y, pole.offsets, pole.owner, west).subset(~polar),
        ]
    )
    # _pole_rings spans exactly 360°: bring its seam vertices inside too.
    tx, ty = transformer.transform(np.clip(rings.x, west, east), rings.y)
    moved = Rings(np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64), rings.offsets, rings.owner)
    projected = _concat(
        [moved, _projected(across.subset(whole & ~drop), transformer), _projected(pole.subset(polar), transformer)]
    )
    if len(projected) == 0:
        return projected
    finite = np.isfinite(projected.x) & np.isfinite(projected.y)
    return projected.subset(np.logical_and.reduceat(finite, projected.offsets[:-1]))


def lonlat_geometries(cells: I64) -> npt.NDArray[Any]:
    """One shapely geometry per cell in CRS84, inside longitudes [-180, 180]: a Polygon, or a
    MultiPolygon for a cell that crosses the antimeridian (cut there, as GeoJSON RFC 7946 §3.1.9
    asks); the cell round a pole is the polygon between its boundary and the pole over 360° of
    longitude (what its area and a feature's intersection with it need). For exports and vector
    overlays, where :func:`cell_rings`' copies unwrapped past 180° would miss the other side."""
    cells = np.asarray(cells, dtype=np.int64)
    out = np.empty(len(cells), dtype=object)
    if len(cells) == 0:
        return out
    rings = raster_rings(cells, "EPSG:4326", (-180.0, -90.0, 180.0, 90.0))
    index = np.repeat(np.arange(len(rings)), np.diff(rings.offsets))
    polys = shapely.polygons(shapely.linearrings(np.column_stack([rings.x, rings.y]), indices=index))
    clipped = shapely.clip_by_rect(polys, -180.0, -90.0, 180.0, 90.0)
    parts, which = shapely.get_parts(clipped, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)  # polygons, not slivers on ±180
    parts, owner = parts[keep], rings.owner[which[keep]]
    count = np.bincount(owner, minlength=len(cells))
    single = count == 1
    order = np.argsort(owner, kind="stable")
    first = np.searchsorted(owner[order], np.arange(len(cells)))
    out[single] = parts[order][first[single]]
    multi = np.flatnonzero(count > 1)
    if len(multi):
        pick = np.flatnonzero(np.isin(owner, multi))
        pick = pick[np.argsort(owner[pick], kind="stable")]
        out[multi] = shapely.multipolygons(parts[pick], indices=np.searchsorted(multi, owner[pick]))
    return out


def _projected(rings: Rings, transformer: Transformer) -> Rings:
    x, y = transformer.transform((rings.x + 180.0) % 360.0 - 180.0, rings.y)
    return Rings(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), rings.offsets, rings.owner)


def _continuous(rings: Rings, transformer: Transformer) -> npt.NDArray[np.bool_]:
    """Which rings the projection keeps in one piece: the projected midpoint of every edge lies
    near the middle of its projected ends (a wrap sends it to the far side of the map)."""
    if len(rings) == 0:
        return np.zeros(0, dtype=bool)
    nxt = np.arange(len(rings.x)) + 1
    nxt[rings.offsets[1:] - 1] = rings.offsets[:-1]
    a = _projected(rings, transformer)
    mid = Rings(0.5 * (rings.x + rings.x[nxt]), 0.5 * (rings.y + rings.y[nxt]), rings.offsets, rings.owner)
    m = _projected(mid, transformer)
    chord = np.hypot(a.x[nxt] - a.x, a.y[nxt] - a.y)
    off = np.hypot(m.x - 0.5 * (a.x + a.x[nxt]), m.y - 0.5 * (a.y + a.y[nxt]))
    ok = np.isfinite(off) & (off <= 0.25 * chord + 1e-6)
    return np.logical_and.reduceat(ok, rings.offsets[:-1])


def _polar_pole_rings(pole: Rings, transformer: Transformer) -> npt.NDArray[np.bool_]:
    """Which pole cells are a plain polygon round the projected pole."""
    found = np.zeros(len(pole), dtype=bool)
    if len(pole) == 0:
        return found
    projected = _projected(pole, transformer)
    for k in range(len(pole)):
        lo, hi = projected.offsets[k], projected.offsets[k + 1]
        north = pole.y[lo:hi].mean() > 0
        px, py = transformer.transform(0.0, 90.0 if north else -90.0)
        ring = np.column_stack([projected.x[lo:hi], projected.y[lo:hi]])
        if np.isfinite(ring).all() and np.isfinite([px, py]).all():
            polygon = shapely.Polygon(ring)
            found[k] = polygon.is_valid and polygon.contains(shapely.Point(px, py))
    return found


def rings_transform(rings: Rings, crs: object) -> Rings:
    """Rings in lon/lat moved to ``crs`` (vertices only: edges stay straight in that CRS)."""
    target = CRS.from_user_input(crs)
    if target.is_geographic and target.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return rings
    transformer = Transformer.from_crs("EPSG:4326", target, always_xy=True)
    x, y = transformer.transform(rings.x, rings.y)
    return Rings(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), rings.offsets, rings.owner)


@dataclass
class Coverage:
    """Pixel-polygon pairs with a coverage fraction > 0: ``owner`` (cell index), row and column
    of the pixel in the grid, ``fraction`` in (0, 1]."""

    owner: I64
    row: I64
    col: I64
    fraction: F64


def _antiderivative(v: F64, i: F64) -> F64:
    """H_i(v) = ∫ F_i, F_i(v) = clamp(v, i, i+1) - i."""
    t = np.clip(v - i, 0.0, 1.0)
    return 0.5 * t * t + np.maximum(v - i - 1.0, 0.0)


def coverage(rings: Rings, transform: Affine, width: int, height: int) -> Coverage:
    """Exact coverage fractions of every polygon of ``rings`` (coordinates in the raster's CRS)
    over a ``width`` x ``height`` grid with north-up ``transform``; pixels outside the grid are
    left out. See the module docstring for the method."""
    if transform.b != 0 or transform.d != 0:
        raise ValueError("rotated rasters are not supported")
    inv = ~transform
    u = inv.a * rings.x + inv.b * rings.y + inv.c
    v = inv.d * rings.x + inv.e * rings.y + inv.f
    n_poly = len(rings)
    starts = rings.offsets[:-1]
    counts = np.diff(rings.offsets)
    # Polygon boxes in pixels, clipped to the grid.
    c0 = np.clip(np.floor(np.minimum.reduceat(u, starts)), 0, width).astype(np.int64)
    c1 = np.clip(np.ceil(np.maximum.reduceat(u, starts)), 0, width).astype(np.int64)  # exclusive
    r0 = np.clip(np.floor(np.minimum.reduceat(v, starts)), 0, height).astype(np.int64)
    r1 = np.clip(np.ceil(np.maximum.reduceat(v, starts)), 0, height).astype(np.int64)  # exclusive
    w = c1 - c0
    h = r1 - r0
    # Each polygon's grid is stored column-major with one extra row (the difference array's
    # end markers): slot = base + (col - c0) * (h + 1) + (row - r0).
    size = np.where((w > 0) & (h > 0), w * (h + 1), 0)
    base = np.zeros(n_poly + 1, dtype=np.int64)
    np.cumsum(size, out=base[1:])
    total = int(base[-1])
    empty = Coverage(*(np.zeros(0, dtype=np.int64),) * 3, np.zeros(0))  # type: ignore[call-arg]
    if total == 0:
        return empty

    # Orientation: the signed area's sign makes every polygon's contribution positive.
    nxt = np.arange(len(u)) + 1
    last = rings.offsets[1:] - 1
    nxt[last] = starts
    cross = u * v[nxt] - u[nxt] * v
    sign = np.sign(np.add.reduceat(cross, starts))

    # Edges (a -> b) with their polygon; vertical edges contribute nothing.
    poly_of_vertex = np.repeat(np.arange(n_poly), counts)
    ua, va, ub, vb = u, v, u[nxt], v[nxt]
    keep = (ua != ub) & (size[poly_of_vertex] > 0)
    ua, va, ub, vb, poly = ua[keep], va[keep], ub[keep], vb[keep], poly_of_vertex[keep]
    direction = np.sign(ub - ua)
    lo_u = np.clip(np.minimum(ua, ub), 0, width)
    hi_u = np.clip(np.maximum(ua, ub), 0, width)
    slope = (vb - va) / (ub - ua)
    # Split each edge at the column lines it crosses.
    first_col = np.floor(lo_u).astype(np.int64)
    last_col = np.ceil(hi_u).astype(np.int64) - 1
    n_cols = np.maximum(last_col - first_col + 1, 0)
    n_cols[hi_u <= lo_u] = 0
    seg_edge = np.repeat(np.arange(len(ua)), n_cols)
    seg_col = first_col[seg_edge] + (np.arange(len(seg_edge)) - np.repeat(np.cumsum(n_cols) - n_cols, n_cols))
    p = np.maximum(lo_u[seg_edge], seg_col)
    q = np.minimum(hi_u[seg_edge], seg_col + 1)
    ok = q > p
    seg_edge, seg_col, p, q = seg_edge[ok], seg_col[ok], p[ok], q[ok]
    vp = va[seg_edge] + (p - ua[seg_edge]) * slope[seg_edge]
    vq = va[seg_edge] + (q - ua[seg_edge]) * slope[seg_edge]
    seg_poly = poly[seg_edge]
    # Signed so that each polygon's area comes out > 0 (a positive shoelace sum in (u, v), v
    # pointing down, runs the way that makes ∮ F du negative).
    weight = -direction[seg_edge] * sign[seg_poly]
    du = q - p
    vmin = np.minimum(vp, vq)
    vmax = np.maximum(vp, vq)
    seg_r0 = r0[seg_poly]
    seg_r1 = r1[seg_poly]
    col_slot = base[seg_poly] + (seg_col - c0[seg_poly]) * (h[seg_poly] + 1)

    diff = np.zeros(total, dtype=np.float64)
    # Full rows: r0 .. floor(vmin) - 1 get weight * du (range add on the difference array).
    full_end = np.clip(np.floor(vmin).astype(np.int64), seg_r0, seg_r1)
    has_full = full_end > seg_r0
    np.add.at(diff, col_slot[has_full], (weight * du)[has_full])
    np.add.at(diff, col_slot[has_full] + (full_end - seg_r0)[has_full], -(weight * du)[has_full])
    cover = np.cumsum(diff)
    # Band rows: floor(vmin) .. floor(vmax), the rows the edge passes through: exact integral.
    band_start = np.clip(np.floor(vmin).astype(np.int64), seg_r0, seg_r1)
    band_stop = np.clip(np.floor(vmax).astype(np.int64) + 1, seg_r0, seg_r1)
    n_band = np.maximum(band_stop - band_start, 0)
    b_seg = np.repeat(np.arange(len(p)), n_band)
    b_row = band_start[b_seg] + (np.arange(len(b_seg)) - np.repeat(np.cumsum(n_band) - n_band, n_band))
    rows_f = b_row.astype(np.float64)
    bvp, bvq, bdu = vp[b_seg], vq[b_seg], du[b_seg]
    dv = bvq - bvp
    flat = np.abs(dv) < 1e-9
    safe_dv = np.where(flat, 1.0, dv)
    integral = np.where(
        flat,
        bdu * (np.clip(0.5 * (bvp + bvq) - rows_f, 0.0, 1.0)),
        bdu * (_antiderivative(bvq, rows_f) - _antiderivative(bvp, rows_f)) / safe_dv,
    )
    band_slot = col_slot[b_seg] + (b_row - seg_r0[b_seg])
    cover += np.bincount(band_slot, weights=weight[b_seg] * integral, minlength=total)

    hit = np.flatnonzero(cover > _EPS)
    # Slot -> polygon, column, row.
    slot_poly = np.searchsorted(base, hit, side="right") - 1
    local = hit - base[slot_poly]
    hp1 = h[slot_poly] + 1
    local_col = local // hp1
    local_row = local - local_col * hp1
    valid = local_row < h[slot_poly]  # the extra marker row is not a pixel
    slot_poly, local_col, local_row, hit = slot_poly[valid], local_col[valid], local_row[valid], hit[valid]
    return Coverage(
        owner=rings.owner[slot_poly],
        row=r0[slot_poly] + local_row,
        col=c0[slot_poly] + local_col,
        fraction=np.minimum(cover[hit], 1.0),
    )


def chunks_of(rings: Rings, transform: Affine, max_elements: int = MAX_GRID_ELEMENTS) -> Iterator[Rings]:
    """Split rings so that each chunk's pixel grids stay under ``max_elements``."""
    minx, miny, maxx, maxy = rings.bounds()
    inv = ~transform
    cells_w = np.abs((maxx - minx) * inv.a) + 2
    cells_h = np.abs((maxy - miny) * inv.e) + 3
    size = cells_w * cells_h
    cut = np.cumsum(size) // max_elements
    for group in np.unique(cut):
        yield rings.subset(cut == group)


@dataclass
class CellStats:
    """Weighted statistics per cell index (``index`` into the caller's cell array); cells with
    no valid pixel are absent."""

    index: I64
    values: dict[str, F64]


def weighted_stats(owner: I64, values: F64, weights: F64, stats: Sequence[str] = STATS) -> CellStats:
    """mean, sum (Σ w v), count (Σ w), min, max, std (population, weighted) and median (the
    weighted median: the smallest value whose cumulative weight reaches half the total) of
    ``values`` grouped by ``owner``."""
    order = np.lexsort((values, owner))
    owner, values, weights = owner[order], values[order], weights[order]
    index, start = np.unique(owner, return_index=True)
    if len(index) == 0:
        return CellStats(index.astype(np.int64), {s: np.zeros(0) for s in stats})
    group = np.repeat(np.arange(len(index)), np.diff(np.append(start, len(owner))))
    count = np.add.reduceat(weights, start)
    total = np.add.reduceat(weights * values, start)
    mean = total / count
    out: dict[str, F64] = {}
    if "mean" in stats:
        out["mean"] = mean
    if "sum" in stats:
        out["sum"] = total
    if "count" in stats:
        out["count"] = count
    if "min" in stats:
        out["min"] = np.minimum.reduceat(values, start)
    if "max" in stats:
        out["max"] = np.maximum.reduceat(values, start)
    if "std" in stats:
        dev = values - mean[group]
        out["std"] = np.sqrt(np.maximum(np.add.reduceat(weights * dev * dev, start) / count, 0.0))
    if "median" in stats:
        # exactextract sums the weights of equal values of a cell first (its frequency
        # table): the quantile runs over distinct values.
        new_run = np.ones(len(values), dtype=bool)
        new_run[1:] = (owner[1:] != owner[:-1]) | (values[1:] != values[:-1])
        run_start = np.flatnonzero(new_run)
        run_values = values[run_start]
        run_weights = np.add.reduceat(weights, run_start)
        run_owner = owner[run_start]
        _, run_group_start = np.unique(run_owner, return_index=True)
        run_group = np.repeat(np.arange(len(index)), np.diff(np.append(run_group_start, len(run_owner))))
        out["median"] = _weighted_median(run_values, run_weights, run_group_start, run_group, count)
    return CellStats(index.astype(np.int64), out)


def _weighted_median(values: F64, weights: F64, start: I64, group: I64, count: F64) -> F64:
    """The weighted quantile exactextract computes (its WeightedQuantiles: with the values of
    a group sorted, ``s_k = k w_k + (n - 1) Σ_{j<k} w_j``; the median interpolates linearly
    between the two values whose ``s`` bracket ``0.5 s_{n-1}``), vectorised over groups."""
    n_total = len(values)
    sizes = np.diff(np.append(start, n_total))
    k = np.arange(n_total) - start[group]
    cum = np.cumsum(weights)
    group_before = np.append(0.0, cum)[start][group]
    cum_prev = cum - weights - group_before
    n = sizes[group]
    s = k * weights + (n - 1) * cum_prev
    target = 0.5 * (sizes - 1) * count
    below = s <= target[group] * (1 + 1e-12) + 1e-300
    lower_k = np.add.reduceat(below.astype(np.int64), start) - 1
    lower_k = np.clip(lower_k, 0, sizes - 1)
    lower = start + lower_k
    upper = np.minimum(lower + 1, start + sizes - 1)
    s_lo, s_hi = s[lower], s[upper]
    span = s_hi - s_lo
    t = np.where((upper > lower) & (span > 0), (target - s_lo) / np.where(span > 0, span, 1.0), 0.0)
    return values[lower] + np.clip(t, 0.0, 1.0) * (values[upper] - values[lower])


def zonal_pairs(
    rings: Rings,
    data: npt.NDArray[np.generic],
    transform: Affine,
    *,
    nodata: float | None = None,
) -> tuple[I64, F64, F64]:
    """(cell index, pixel value, coverage fraction) of every valid pixel-cell pair of one band
    ``data`` (2-D, its grid given by ``transform``; ``rings`` in the raster's CRS). Pixels equal
    to ``nodata``, NaN or masked are left out (their weight too)."""
    height, width = data.shape
    mask = np.ma.getmaskarray(data) if isinstance(data, np.ma.MaskedArray) else None
    plain = np.asarray(np.ma.getdata(data), dtype=np.float64)
    owners: list[I64] = [np.zeros(0, np.int64)]
    vals: list[F64] = [np.zeros(0)]
    weights: list[F64] = [np.zeros(0)]
    for chunk in chunks_of(rings, transform):
        cov = coverage(chunk, transform, width, height)
        value = plain[cov.row, cov.col]
        valid = ~np.isnan(value)
        if nodata is not None and not np.isnan(nodata):
            valid &= value != nodata
        if mask is not None:
            valid &= ~mask[cov.row, cov.col]
        owners.append(cov.owner[valid])
        vals.append(value[valid])
        weights.append(cov.fraction[valid])
    return np.concatenate(owners), np.concatenate(vals), np.concatenate(weights)


def zonal_stats(
    rings: Rings,
    data: npt.NDArray[np.generic],
    transform: Affine,
    *,
    nodata: float | None = None,
    stats: Sequence[str] = STATS,
) -> CellStats:
    """Statistics of one band for every cell owning a polygon of ``rings`` (see zonal_pairs)."""
    owner, values, weights = zonal_pairs(rings, data, transform, nodata=nodata)
    return weighted_stats(owner, values, weights, stats)
