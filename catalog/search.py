"""STAC item-search parameters: parse and validate GET query strings and POST bodies.

Everything here is pure Python; the validated search is handed to pgSTAC's ``search()``
(see :func:`catalog.pgstac.search`). Bad values raise :class:`InvalidSearch` (400) naming
the parameter and what a valid value looks like, before any SQL runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from shapely.geometry import shape

from .errors import InvalidSearch

DEFAULT_LIMIT = 10
# Larger limits are clamped (the STAC API spec lets a server lower the page size).
MAX_LIMIT = 10_000
# Accepted by GET /search and POST /search; others are ignored, as the STAC API allows.
SEARCH_FIELDS = ("bbox", "intersects", "datetime", "ids", "collections", "limit", "token")
GEOMETRY_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}

# RFC 3339 date-time (what STAC requires): 4-digit year, 'T' and a zone, '.' for fractions.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
_TOKEN = re.compile(r"^(next|prev):([0-9a-fA-F]{2})+:([0-9a-fA-F]{2})+$")


def _bad(parameter: str, message: str) -> InvalidSearch:
    return InvalidSearch(f"Invalid {parameter}: {message}", details={"parameter": parameter})


def parse_datetime_instant(text: str) -> datetime:
    match = _RFC3339.match(text)
    if not match:
        raise _bad("datetime", f"{text!r} is not an RFC 3339 date-time such as 2020-07-23T00:00:00Z.")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, tz_h, tz_m = match.groups()[6:]
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    # RFC 3339 allows a leap second (60); Python's datetime does not.
    leap = second == 60
    try:
        offset = timedelta(0) if zulu else timedelta(hours=int(tz_h), minutes=int(tz_m)) * (1 if sign == "+" else -1)
        value = datetime(year, month, day, hour, minute, 59 if leap else second, micro, timezone(offset))
    except ValueError as exc:
        raise _bad("datetime", f"{text!r} is not a valid date-time ({exc}).") from exc
    return value + timedelta(seconds=1) if leap else value


def parse_datetime(value: Any) -> str:
    """A single instant or a closed/half-open interval ``a/b`` (``..`` or empty = open)."""
    if not isinstance(value, str) or not value.strip():
        raise _bad("datetime", "give an RFC 3339 date-time or an interval like 2020-01-01T00:00:00Z/.. .")
    parts = value.strip().split("/")
    if len(parts) == 1:
        return parse_datetime_instant(parts[0]).isoformat()
    if len(parts) != 2:
        raise _bad("datetime", f"{value!r} has more than one '/'; an interval is start/end.")
    start, end = (None if p in ("", "..") else parse_datetime_instant(p) for p in parts)
    if start is None and end is None:
        raise _bad("datetime", "an interval needs at least one end (e.g. 2020-01-01T00:00:00Z/..).")
    if start is not None and end is not None and start > end:
        raise _bad("datetime", f"the interval {value!r} starts after it ends.")
    return f"{start.isoformat() if start else '..'}/{end.isoformat() if end else '..'}"


def parse_bbox(value: Any) -> list[float]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or len(value) not in (4, 6):
        raise _bad("bbox", "give 4 numbers (minx,miny,maxx,maxy) or 6 (with min/max z).")
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError) as exc:
        raise _bad("bbox", f"{value!r} contains something that is not a number.") from exc
    if any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
        raise _bad("bbox", "numbers must be finite.")
    half = len(numbers) // 2
    minx, miny, maxx, maxy = numbers[0], numbers[1], numbers[half], numbers[half + 1]
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise _bad("bbox", "longitudes must lie in [-180, 180] and latitudes in [-90, 90] (WGS 84).")
    # minx > maxx is legal (it crosses the antimeridian); miny > maxy is not.
    if miny > maxy or (len(numbers) == 6 and numbers[2] > numbers[5]):
        raise _bad("bbox", "the minimum latitude (and height) must not exceed the maximum.")
    # Footprints are 2D: a 3D bbox filters on its 2D extent. Passed on as given, pgSTAC
    # builds a 3D envelope (a PolyhedralSurface) that ST_Intersects cannot evaluate: a 500
    # as soon as an item's index box matches.
    return [minx, miny, maxx, maxy]


def parse_limit(value: Any) -> int:
    try:
        limit = int(value)
        if isinstance(value, float | bool) or (isinstance(value, str) and not value.strip().lstrip("-").isdigit()):
            raise ValueError
    except (TypeError, ValueError) as exc:
        raise _bad("limit", f"{value!r} is not an integer between 1 and {MAX_LIMIT}.") from exc
    if limit < 1:
        raise _bad("limit", f"must be at least 1 (got {limit}).")
    return min(limit, MAX_LIMIT)


def parse_intersects(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _bad("intersects", "is not JSON; give a GeoJSON geometry object.") from exc
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise _bad("intersects", "give a GeoJSON geometry (Point, Polygon, ...), not a Feature.")

    try:
        shape(value)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise _bad("intersects", f"the geometry is malformed ({exc}).") from exc
    return value


def _string_list(parameter: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v for v in (s.strip() for s in value.split(",")) if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(parameter, "give a list of strings (comma-separated in a query string).")
    return list(value)


def parse_token(value: Any) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise _bad("token", "use the token from a 'next' or 'prev' link unchanged.")
    return value


def build_search(params: Mapping[str, Any], *, collection_id: str | None = None, body: bool = False) -> dict[str, Any]:
    """The pgSTAC search document for validated parameters (query string, or POST ``body``)."""
    search: dict[str, Any] = {"limit": DEFAULT_LIMIT}
    if body:
        # JSON bodies carry arrays and objects; the comma-separated forms are for query strings.
        for name in ("bbox", "ids", "collections"):
            if name in params and params[name] is not None and not isinstance(params[name], list):
                raise _bad(name, "in a POST body this must be a JSON array.")
        if params.get("intersects") is not None and not isinstance(params["intersects"], dict):
            raise _bad("intersects", "in a POST body this must be a GeoJSON geometry object.")
    if params.get("bbox") not in (None, "") and params.get("intersects") not in (None, ""):
        raise _bad("bbox", "bbox and intersects cannot be used together; give one of them.")
    if params.get("bbox") not in (None, "", []):
        search["bbox"] = parse_bbox(params["bbox"])
    if params.get("intersects") not in (None, ""):
        search["intersects"] = parse_intersects(params["intersects"])
    if params.get("datetime") not in (None, ""):
        search["datetime"] = parse_datetime(params["datetime"])
    if params.get("limit") not in (None, ""):
        search["limit"] = parse_limit(params["limit"])
    if params.get("ids") not in (None, "", []):
        search["ids"] = _string_list("ids", params["ids"])
    if params.get("token") not in (None, ""):
        search["token"] = parse_token(params["token"])
    if collection_id is not None:
        search["collections"] = [collection_id]
    elif params.get("collections") not in (None, "", []):
        search["collections"] = _string_list("collections", params["collections"])
    return search


def page_params(search: dict[str, Any], token: str) -> dict[str, Any]:
    """The parameters of the next/prev page: the same search with pgSTAC's token."""
    return {**{k: v for k, v in search.items() if k != "token"}, "token": token}
