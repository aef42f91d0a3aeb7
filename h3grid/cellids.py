"""H3 cell ids as the API takes and gives them, and the geometry derived from them.

Cells are stored as 64-bit integers (h3.cell); clients write them as h3 does (15-character
lower-case hex, ``85283473fffffff``) or as the integer. Geometries are never stored: they come
from the ids with h3-py, one page at a time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import h3
import h3.api.basic_int as h3i

from geoplatform.errors import InvalidInput

# The land pyramid of bootstrap_h3_grid (issue 16): resolutions 2 to 7.
PYRAMID_MIN, PYRAMID_MAX = 2, 7
_HEX = re.compile(r"^[0-9a-fA-F]{15,16}$")
_INT = re.compile(r"^[0-9]{17,19}$")
# Bits of digit i (1..15) in an H3 index: (15 - i) * 3.
_DIGIT_BITS = 3


def parse_cell(text: str | int, *, what: str = "cell") -> int:
    """The integer of an H3 cell written as hex (as h3 writes it) or as a decimal integer;
    400 naming the expected forms otherwise."""
    value: int | None = None
    if isinstance(text, int):
        value = text
    elif _HEX.match(text):
        value = int(text, 16)
    elif _INT.match(text):
        value = int(text)
    if value is None or not (0 < value < 2**63) or not h3i.is_valid_cell(value):
        raise InvalidInput(
            f"{what} {text!r} is not a valid H3 cell id: write it as h3 does (15 hex digits, e.g."
            " '85283473fffffff') or as its 64-bit integer (e.g. 599686042433355775)."
        )
    return value


def to_hex(cell: int) -> str:
    return h3.int_to_str(cell)


def check_pyramid_res(res: int, *, what: str = "res") -> int:
    if not PYRAMID_MIN <= res <= PYRAMID_MAX:
        raise InvalidInput(
            f"{what}={res} is outside the H3 pyramid of this platform: use a resolution from"
            f" {PYRAMID_MIN} to {PYRAMID_MAX}."
        )
    return res


def parse_int(value: str | None, *, name: str, default: int | None = None, lo: int = 0, hi: int = 2**31) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name}={value!r} is not an integer.") from None
    if not lo <= number <= hi:
        raise InvalidInput(f"{name}={number} is out of range: use {lo} to {hi}.")
    return number


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``minLon,minLat,maxLon,maxLat`` in WGS84 (CRS84)."""
    if not value:
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        raise InvalidInput(f"bbox={value!r}: use four numbers minLon,minLat,maxLon,maxLat.") from None
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise InvalidInput(f"bbox={value!r}: use four numbers minLon,minLat,maxLon,maxLat.")
    w, s, e, n = parts
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InvalidInput(
            f"bbox={value!r}: need -180 <= minLon < maxLon <= 180 and -90 <= minLat < maxLat <= 90"
            " (a box across the antimeridian: ask for its two halves)."
        )
    return w, s, e, n


def res_range(res: int) -> tuple[int, int]:
    """Every cell of resolution ``res`` lies in this integer range: mode 1 (cell) in bits 59-62,
    the resolution in bits 52-55 above the base cell and digits."""
    lo = (1 << 59) | (res << 52)
    return lo, lo + (1 << 52) - 1


def children_range(parent: int, res: int) -> tuple[int, int]:
    """The smallest and largest integer of ``parent``'s descendants at ``res``. Every cell of
    resolution ``res`` between them descends from ``parent`` (same mode, resolution, base cell and
    leading digits), so ``cell BETWEEN lo AND hi`` selects them on the (res, cell) index."""
    lo: int = h3i.cell_to_center_child(parent, res)  # the descendant whose new digits are all 0
    parent_res = h3i.get_resolution(parent)
    hi = lo
    for digit in range(parent_res + 1, res + 1):
        hi |= 6 << ((15 - digit) * _DIGIT_BITS)
    return lo, hi


def _bbox_area_km2(bbox: tuple[float, float, float, float]) -> float:
    w, s, e, n = bbox
    r = 6371.0088
    return abs(math.radians(e - w) * (math.sin(math.radians(n)) - math.sin(math.radians(s)))) * r * r


def bbox_cover(bbox: tuple[float, float, float, float], res: int, *, max_cells: int = 20000) -> tuple[int, list[int]]:
    """Cells overlapping ``bbox``: at ``res`` when there are at most about ``max_cells`` of them,
    otherwise at the finest coarser resolution that stays under it (the caller then selects their
    descendants with :func:`children_range`). Returns (resolution of the cells, cells)."""
    w, s, e, n = bbox
    cover_res = res
    area = _bbox_area_km2(bbox)
    while cover_res > 0 and area / h3.average_hexagon_area(cover_res, "km^2") > max_cells:
        cover_res -= 1
    poly = h3i.LatLngPoly([(s, w), (s, e), (n, e), (n, w)])
    cells = h3i.h3shape_to_cells_experimental(poly, cover_res, contain="overlap")
    return cover_res, sorted(cells)


def boundaries_geojson(hexes: Iterable[str]) -> list[str]:
    """GeoJSON geometry text of each cell (lon, lat; ring closed), one page at a time: a
    Polygon, or for the few cells whose boundary spans more than 180° of longitude (across the
    antimeridian, or round a pole) the geometry of :func:`h3grid.zonal.lonlat_geometries` — cut
    at 180° (a MultiPolygon, RFC 7946 §3.1.9) or closed at the pole — which maps draw in place
    instead of as a band round the world."""
    hexes = list(hexes)
    out = []
    wide: list[int] = []
    for i, cell in enumerate(hexes):
        ring = h3.cell_to_boundary(cell)
        lngs = [lng for _, lng in ring]
        if max(lngs) - min(lngs) > 180.0:
            wide.append(i)
            out.append("")
            continue
        coords = ",".join(f"[{lng:.6f},{lat:.6f}]" for lat, lng in ring)
        lat0, lng0 = ring[0]
        out.append(f'{{"type":"Polygon","coordinates":[[{coords},[{lng0:.6f},{lat0:.6f}]]]}}')
    if wide:
        import numpy as np
        import shapely

        from .zonal import lonlat_geometries  # numpy/polars/pyproj: only when a page needs it

        geoms = lonlat_geometries(np.array([h3.str_to_int(hexes[i]) for i in wide], dtype=np.int64))
        for i, geom in zip(wide, geoms, strict=True):
            out[i] = shapely.to_geojson(shapely.set_precision(geom, 1e-6))
    return out
