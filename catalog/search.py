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

import cql2
from shapely.geometry import shape

from .errors import InvalidSearch

DEFAULT_LIMIT = 10
# Larger limits are clamped (the STAC API spec lets a server lower the page size).
MAX_LIMIT = 10_000
# Accepted by GET /search and POST /search; others are ignored, as the STAC API allows.
# The extensions' parameters (filter, sort, fields, query, free-text) are in EXTENSION_FIELDS.
EXTENSION_FIELDS = ("filter", "filter-lang", "filter-crs", "sortby", "fields", "query", "q")
SEARCH_FIELDS = ("bbox", "intersects", "datetime", "ids", "collections", "limit", "token", *EXTENSION_FIELDS)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
FILTER_LANGS = ("cql2-text", "cql2-json")
# The STAC query extension's operators (pgSTAC translates them to CQL2: query_to_cql2()).
QUERY_OPERATORS = frozenset({"eq", "neq", "lt", "lte", "gt", "gte", "startsWith", "endsWith", "contains", "in"})
# A property path in sortby / fields: letters, digits and the separators STAC names use.
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:.\-]*$")
MAX_Q_LENGTH = 1000
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


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines)[:300]


def parse_filter(value: Any, lang: Any, crs: Any, *, body: bool) -> dict[str, Any]:
    """A CQL2 filter (text or JSON) as validated CQL2-JSON, the form pgSTAC evaluates.

    CQL2 text is parsed by the ``cql2`` package (the reference parser, in Rust) into CQL2-JSON;
    JSON is checked by the same package against the CQL2 JSON schema. pgSTAC then turns the
    JSON into SQL itself (cql2_query()), quoting every literal.
    """
    if crs not in (None, "", CRS84):
        raise _bad("filter-crs", f"only {CRS84} (longitude, latitude) is supported.")
    if lang in (None, ""):
        lang = "cql2-json" if body and not isinstance(value, str) else "cql2-text"
    if lang not in FILTER_LANGS:
        raise _bad("filter-lang", f"{lang!r} is not supported; use cql2-text or cql2-json.")
    if lang == "cql2-text":
        if not isinstance(value, str) or not value.strip():
            raise _bad("filter", "with filter-lang=cql2-text give a CQL2 text expression, e.g. eo:cloud_cover < 10.")
        try:
            expr = cql2.parse_text(value)
        except Exception as exc:  # cql2.ParseError (and ValueError for bad literals)
            raise _bad("filter", f"not valid CQL2 text: {_first_line(exc)}") from exc
    else:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise _bad("filter", "with filter-lang=cql2-json the filter must be JSON.") from exc
        if not isinstance(value, dict):
            raise _bad("filter", 'a CQL2-JSON filter is an object such as {"op": "=", "args": [...]}.')
        try:
            expr = cql2.Expr(_between_arrays(value))
        except Exception as exc:
            raise _bad("filter", f"not valid CQL2 JSON: {_first_line(exc)}") from exc
    try:
        expr.validate()
    except Exception as exc:  # cql2.ValidationError: the expression breaks the CQL2 JSON schema
        raise _bad("filter", f"not a valid CQL2 expression: {_first_line(exc)}") from exc
    result = expr.to_json()
    if not isinstance(result, dict):
        raise _bad("filter", "a filter must be a boolean expression, not a single value.")
    return result


def parse_sortby(value: Any) -> list[dict[str, str]]:
    """GET ``-properties.datetime,+id`` or POST ``[{"field": ..., "direction": "asc"|"desc"}]``."""
    if isinstance(value, str):
        value = [
            {"field": part.lstrip("+-").strip(), "direction": "desc" if part.startswith("-") else "asc"}
            for part in (p.strip() for p in value.split(","))
            if part
        ]
    if not isinstance(value, list) or not value:
        raise _bad("sortby", 'give fields such as -properties.datetime,id (GET) or [{"field": ..., "direction": ...}].')
    out = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) - {"field", "direction"}:
            raise _bad("sortby", 'each entry is {"field": name, "direction": "asc" or "desc"}.')
        field, direction = entry.get("field"), entry.get("direction", "asc")
        if not isinstance(field, str) or not _FIELD_NAME.match(field):
            raise _bad("sortby", f"{field!r} is not a property name such as properties.datetime.")
        if direction not in ("asc", "desc"):
            raise _bad("sortby", f"direction {direction!r} must be asc or desc.")
        out.append({"field": field, "direction": direction})
    return out


def _field_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and _FIELD_NAME.match(v) for v in value):
        raise _bad("fields", f"{name} must be a list of field names such as properties.datetime.")
    return list(value)


# The fields extension's default set: what an item keeps when a client excludes fields from it.
DEFAULT_FIELDS = ("type", "stac_version", "id", "geometry", "bbox", "links", "assets", "properties.datetime")


def parse_fields(value: Any) -> dict[str, list[str]]:
    """GET ``id,-geometry,+properties.x`` or POST ``{"include": [...], "exclude": [...]}``.

    The extension's rules: a field both included and excluded is included, and excluding a
    parent of an included field (``-properties,+properties.eo:cloud_cover``) keeps that field.
    Excluding with only ``exclude`` removes from the whole item; with ``include`` given as null
    or [] it removes from the default set. Items always keep ``type`` (GeoJSON requires it) and,
    through pgSTAC, ``id`` and ``collection``.
    """
    from_default = False
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        include = [p.lstrip("+") for p in parts if not p.startswith("-")]
        exclude = [p[1:] for p in parts if p.startswith("-")]
        include, exclude = _field_list(include, "include"), _field_list(exclude, "exclude")
    elif isinstance(value, dict) and not set(value) - {"include", "exclude"}:
        include, exclude = _field_list(value.get("include"), "include"), _field_list(value.get("exclude"), "exclude")
        from_default = "include" in value and not include
    else:
        raise _bad("fields", 'give {"include": [...], "exclude": [...]} (POST) or id,-geometry (GET).')
    exclude = [e for e in exclude if e != "type" and not any(i == e or i.startswith(f"{e}.") for i in include)]
    if from_default and exclude:
        include = [f for f in DEFAULT_FIELDS if f not in exclude]
    if include and "type" not in include:
        include = [*include, "type"]
    return {"include": include, "exclude": exclude}


_QUERY_COMPARISONS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _number(value: Any) -> float | int | None:
    """The number a query operand spells ("10" -> 10), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def _query_clause(name: str, op: str, operand: Any) -> dict[str, Any]:
    prop = {"property": name}
    if op == "in":
        return {"op": "in", "args": [prop, operand]}
    if op in ("startsWith", "endsWith", "contains"):
        if not isinstance(operand, str):
            raise _bad("query", f"{name!r}: {op!r} takes a string.")
        text = _like_escape(operand)
        pattern = {"startsWith": f"{text}%", "endsWith": f"%{text}", "contains": f"%{text}%"}[op]
        return {"op": "like", "args": [prop, pattern]}
    number = _number(operand)
    if op in ("eq", "neq") and isinstance(operand, str) and number is not None:
        # The query extension's operands are untyped: "10" matches the string "10" or the number 10.
        either = [{"op": _QUERY_COMPARISONS[op], "args": [prop, v]} for v in (operand, number)]
        return {"op": "or" if op == "eq" else "and", "args": either}
    if op in ("lt", "lte", "gt", "gte") and number is not None:
        operand = number  # an order between numbers, not between digit strings
    return {"op": _QUERY_COMPARISONS[op], "args": [prop, operand]}


def parse_query(value: Any) -> dict[str, Any]:
    """The STAC query extension (``{"eo:cloud_cover": {"lt": 10}, ...}``; JSON text in a query
    string) as the equivalent CQL2-JSON filter: pgSTAC's own translation (query_to_cql2()) emits
    operators its CQL2 evaluator does not know (startsWith, ...)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _bad("query", 'must be JSON such as {"eo:cloud_cover": {"lt": 10}}.') from exc
    if not isinstance(value, dict) or not value:
        raise _bad("query", 'give an object of property -> {operator: value}, e.g. {"eo:cloud_cover": {"lt": 10}}.')
    clauses = []
    for name, ops in value.items():
        if not _FIELD_NAME.match(name):
            raise _bad("query", f"{name!r} is not a property name.")
        if not isinstance(ops, dict) or not ops:
            raise _bad("query", f'{name!r}: give an object of operators, e.g. {{"eq": 1}}.')
        unknown = sorted(set(ops) - QUERY_OPERATORS)
        if unknown:
            raise _bad("query", f"unknown operator(s) {', '.join(unknown)}; use {', '.join(sorted(QUERY_OPERATORS))}.")
        for op, operand in ops.items():
            if op == "in" and not (isinstance(operand, list) and operand):
                raise _bad("query", f"{name!r}: 'in' takes a non-empty list of values.")
            if op != "in" and not isinstance(operand, str | int | float | bool):
                raise _bad("query", f"{name!r}: {op!r} takes a string, number or boolean.")
            clauses.append(_query_clause(name, op, operand))
    return clauses[0] if len(clauses) == 1 else {"op": "and", "args": clauses}


def _between_arrays(node: Any) -> Any:
    """The pre-1.0 CQL2-JSON ``between`` form, ``[property, [low, high]]``, as the standard's
    ``[property, low, high]`` (clients such as stac-api-validator still send it)."""
    if isinstance(node, list):
        return [_between_arrays(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _between_arrays(v) for k, v in node.items()}
    args = out.get("args")
    if out.get("op") == "between" and isinstance(args, list) and len(args) == 2 and isinstance(args[1], list):
        if len(args[1]) == 2:
            out["args"] = [args[0], *args[1]]
    return out


def parse_q(value: Any) -> str | list[str]:
    """Free text: words (AND), "phrases", OR, -excluded, +required; commas separate alternatives."""
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        total = sum(len(v) for v in value)
    elif isinstance(value, str) and value.strip():
        total = len(value)
    else:
        raise _bad("q", "give search terms as a string (or, in a POST body, a list of strings).")
    if total > MAX_Q_LENGTH:
        raise _bad("q", f"free text is limited to {MAX_Q_LENGTH} characters.")
    return value


def build_search(params: Mapping[str, Any], *, collection_id: str | None = None, body: bool = False) -> dict[str, Any]:
    """The pgSTAC search document for validated parameters (query string, or POST ``body``)."""
    search: dict[str, Any] = {"limit": DEFAULT_LIMIT}
    if body:
        # JSON bodies carry arrays and objects; the comma-separated forms are for query strings.
        if isinstance(params.get("collections"), str) and "," not in params["collections"]:
            # One collection id as a bare string (stac-api-validator's sort/query checks send
            # it): unambiguous, so taken as a one-element array; "a,b" stays an error.
            params = {**params, "collections": [params["collections"]]}
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
    if params.get("filter") not in (None, ""):
        search["filter"] = parse_filter(
            params["filter"], params.get("filter-lang"), params.get("filter-crs"), body=body
        )
        search["filter-lang"] = "cql2-json"
    elif params.get("filter-lang") not in (None, "", *FILTER_LANGS):
        raise _bad("filter-lang", f"{params['filter-lang']!r} is not supported; use cql2-text or cql2-json.")
    if params.get("sortby") not in (None, "", []):
        search["sortby"] = parse_sortby(params["sortby"])
    if "fields" in params and body and params["fields"] is None:
        raise _bad("fields", 'null is not a fields object; give {"include": [...], "exclude": [...]} or leave it out.')
    if params.get("fields") not in (None, ""):
        fields = parse_fields(params["fields"])
        if fields["include"] or fields["exclude"]:
            search["fields"] = fields
    if params.get("query") not in (None, "", {}):
        # Evaluated as CQL2 like filter (see parse_query); both given: both must hold.
        query = parse_query(params["query"])
        search["filter"] = {"op": "and", "args": [search["filter"], query]} if "filter" in search else query
        search["filter-lang"] = "cql2-json"
    if params.get("q") not in (None, ""):
        search["q"] = parse_q(params["q"])
    if collection_id is not None:
        search["collections"] = [collection_id]
    elif params.get("collections") not in (None, "", []):
        search["collections"] = _string_list("collections", params["collections"])
    return search


COLLECTION_SEARCH_FIELDS = ("bbox", "datetime", "q", "filter", "filter-lang", "sortby", "fields", "limit", "offset")
DEFAULT_COLLECTION_LIMIT = 10
MAX_COLLECTION_LIMIT = 1000


def build_collection_search(params: Mapping[str, Any]) -> dict[str, Any]:
    """The pgSTAC collection search document (collection-search extension, GET parameters)."""
    search: dict[str, Any] = {"limit": DEFAULT_COLLECTION_LIMIT, "offset": 0}
    if params.get("bbox") not in (None, ""):
        search["bbox"] = parse_bbox(params["bbox"])
    if params.get("datetime") not in (None, ""):
        search["datetime"] = parse_datetime(params["datetime"])
    if params.get("q") not in (None, ""):
        search["q"] = parse_q(params["q"])
    if params.get("filter") not in (None, ""):
        search["filter"] = parse_filter(params["filter"], params.get("filter-lang"), None, body=False)
        search["filter-lang"] = "cql2-json"
    if params.get("sortby") not in (None, ""):
        search["sortby"] = parse_sortby(params["sortby"])
    if params.get("fields") not in (None, ""):
        fields = parse_fields(params["fields"])
        # Collections keep their id: the API builds each one's links from it.
        search["fields"] = {**fields, "include": [*fields["include"], "id"] if fields["include"] else []}
    if params.get("limit") not in (None, ""):
        search["limit"] = min(parse_limit(params["limit"]), MAX_COLLECTION_LIMIT)
    if params.get("offset") not in (None, ""):
        value = params["offset"]
        if not (isinstance(value, str) and value.strip().isdigit()) or int(value) > 2**31 - 1:
            raise _bad("offset", f"{value!r} is not a non-negative integer.")
        search["offset"] = int(value)
    return search


def page_params(search: dict[str, Any], token: str) -> dict[str, Any]:
    """The parameters of the next/prev page: the same search with pgSTAC's token."""
    return {**{k: v for k, v in search.items() if k != "token"}, "token": token}
