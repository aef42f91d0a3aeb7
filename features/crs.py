"""OGC API Features Part 2 (coordinate reference systems): the CRSs served, parsing of the
``crs`` / ``bbox-crs`` / ``filter-crs`` parameters, and the SQL that reprojects.

Data is stored in EPSG:4326 with longitude first (PostGIS' order; :mod:`features.transform`
reprojects every load), which is CRS84. Output in another CRS is reprojected inside
PostgreSQL (``ST_Transform``); the EPSG:4326 URI means latitude first (the EPSG axis order,
as Part 2 requires), so its coordinates are swapped (``ST_FlipCoordinates``). EPSG:3857 and the
WGS 84 / UTM zones (EPSG:32601-32660 north, 32701-32760 south) are easting, northing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from psycopg import sql
from pyproj import Transformer

from .errors import InvalidQuery

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
EPSG4326 = EPSG_URI + "4326"
EPSG3857 = EPSG_URI + "3857"
STORAGE_SRID = 4326
# UTM zones: EPSG:326zz (north) and 327zz (south), zz = 01..60.
UTM_SRIDS = [*range(32601, 32661), *range(32701, 32761)]
SUPPORTED_SRIDS = [4326, 3857, *UTM_SRIDS]
# Projected CRSs: a millimetre is enough (geographic ones keep 7 decimals, ~1 cm).
_DECIMALS = {4326: 7}


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    lat_first: bool  # the URI's axis order is latitude, longitude (EPSG:4326)

    @property
    def is_storage(self) -> bool:
        """Coordinates as stored: no reprojection and no swap."""
        return self.srid == STORAGE_SRID and not self.lat_first

    @property
    def decimals(self) -> int:
        return _DECIMALS.get(self.srid, 3)


DEFAULT = Crs(CRS84, STORAGE_SRID, False)


def supported_uris() -> list[str]:
    """Every CRS URI served, CRS84 first (Part 1 wants it first in a collection's ``crs``)."""
    return [CRS84, *(EPSG_URI + str(srid) for srid in SUPPORTED_SRIDS)]


_CURIE = re.compile(r"^\[?EPSG:(\d+)\]?$", re.IGNORECASE)
_OGC_CURIE = re.compile(r"^\[?OGC:CRS84\]?$", re.IGNORECASE)


def parse(value: str | None, param: str = "crs") -> Crs:
    """The CRS a parameter names (a URI, or a safe CURIE ``[EPSG:32633]``); the default
    (CRS84) when absent. Anything else is a 400 that lists what is supported."""
    if value is None or value == "":
        return DEFAULT
    text = value.strip()
    if text in (CRS84, CRS84.replace("http://", "https://")) or _OGC_CURIE.match(text):
        return DEFAULT
    srid: int | None = None
    for prefix in (EPSG_URI, EPSG_URI.replace("http://", "https://")):
        if text.startswith(prefix) and text[len(prefix) :].isdigit():
            srid = int(text[len(prefix) :])
    match = _CURIE.match(text)
    if match:
        srid = int(match.group(1))
    if srid is None or srid not in SUPPORTED_SRIDS:
        raise InvalidQuery(
            f"{param} {value!r} is not supported. Use one of: {CRS84}, {EPSG4326} (latitude first), "
            f"{EPSG3857}, or a WGS 84 / UTM zone {EPSG_URI}32601..32660 (north), {EPSG_URI}32701..32760 (south)."
        )
    return Crs(EPSG_URI + str(srid), srid, srid == 4326)


def geometry_out(geom: sql.Composable, crs: Crs) -> sql.Composable:
    """``geom`` (stored, EPSG:4326 lon/lat) as coordinates of ``crs``."""
    if crs.srid != STORAGE_SRID:
        geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(crs.srid))
    if crs.lat_first:
        geom = sql.SQL("ST_FlipCoordinates({})").format(geom)
    return geom


def geometry_in(geom: sql.Composable, crs: Crs) -> sql.Composable:
    """A geometry given in ``crs`` coordinates (without SRID) as a stored-CRS geometry."""
    if crs.lat_first:
        geom = sql.SQL("ST_FlipCoordinates({})").format(geom)
    geom = sql.SQL("ST_SetSRID({}, {})").format(geom, sql.Literal(crs.srid))
    if crs.srid != STORAGE_SRID:
        geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(STORAGE_SRID))
    return geom


def bbox_to_crs84(numbers: list[float], crs: Crs) -> tuple[float, float, float, float]:
    """A bbox (minx, miny, maxx, maxy in ``crs`` axis order) as CRS84 longitude/latitude.

    Done with pyproj's ``transform_bounds`` (it densifies the edges: a projected box's
    corners alone would give a lon/lat box too small); the query then reads the
    GiST index with a CRS84 box like any other bbox."""
    if crs.lat_first:
        miny, minx, maxy, maxx = numbers
        return minx, miny, maxx, maxy
    if crs.is_storage:
        minx, miny, maxx, maxy = numbers
        return minx, miny, maxx, maxy
    transformer = _transformer(crs.srid)
    if numbers[0] > numbers[2] or numbers[1] > numbers[3]:
        raise InvalidQuery("bbox in a projected CRS must be minx,miny,maxx,maxy with min <= max.")
    out = transformer.transform_bounds(numbers[0], numbers[1], numbers[2], numbers[3], densify_pts=21)
    if not all(math.isfinite(v) for v in out):
        raise InvalidQuery(f"bbox {numbers} lies outside the area of {crs.uri}.")
    minx, miny, maxx, maxy = out
    return max(minx, -180.0), max(miny, -90.0), min(maxx, 180.0), min(maxy, 90.0)


_transformers: dict[int, Transformer] = {}


def _transformer(srid: int) -> Transformer:
    if srid not in _transformers:
        _transformers[srid] = Transformer.from_crs(srid, STORAGE_SRID, always_xy=True)
    return _transformers[srid]
