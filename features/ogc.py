"""OGC API Features vocabulary: query parameter parsing, conformance, the documents
(landing, collection) and the OpenAPI 3.0 description of this API.

HTTP-free: :mod:`features.api` passes in URLs and query dicts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

from . import cql2, hooks, sql
from . import crs as crs_mod
from .errors import InvalidQuery
from .models import VectorDataset

CRS84 = crs_mod.CRS84
EPSG4326 = crs_mod.EPSG4326
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    *cql2.CONFORMANCE,
]
ITEMS_PARAMS = {"f", "bbox", "bbox-crs", "limit", "offset", "datetime", "sortby", "properties", "cursor"}
ITEMS_PARAMS |= {"crs", "filter", "filter-lang", "filter-crs", "id"}  # Part 2 (crs), Part 3 (filter)
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10
GEOJSON = "application/geo+json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"


_INT_BITS = {"smallint": 16, "integer": 32, "bigint": 64}


def parse_int(name: str, value: str, *, minimum: int) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise InvalidQuery(f"Parameter {name!r} must be an integer, not {value!r}.") from None
    if out < minimum:
        raise InvalidQuery(f"Parameter {name!r} must be at least {minimum}.")
    return out


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    # A limit above the maximum is clamped, not refused (OGC API Features 1, /req/core/fc-limit-response-1).
    return min(parse_int("limit", value, minimum=1), MAX_LIMIT)


def parse_bbox(value: str, crs: str | None) -> tuple[float, float, float, float]:
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise InvalidQuery(f"bbox must be 4 or 6 comma-separated numbers, not {value!r}.") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise InvalidQuery("bbox must be 4 (or 6) finite numbers: minx,miny,maxx,maxy.")
    minx, miny, maxx, maxy = crs_mod.bbox_to_crs84(numbers, crs_mod.parse(crs, "bbox-crs"))
    if miny > maxy or not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidQuery("bbox latitudes must lie in -90..90 with miny <= maxy.")
    return minx, miny, maxx, maxy


def _instant(text: str) -> str | None:
    if text in ("", ".."):
        return None
    try:
        if "T" in text or "t" in text:
            dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        else:
            dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidQuery(f"datetime {text!r} is not RFC 3339 (e.g. 2020-01-31T12:00:00Z or 2020-01-31).") from None
    return text


def parse_datetime(value: str) -> tuple[str | None, str | None]:
    if "/" in value:
        start_text, _, end_text = value.partition("/")
        start, end = _instant(start_text), _instant(end_text)
        if start is None and end is None:
            raise InvalidQuery("datetime '../..' selects nothing; give at least one end.")
        return start, end
    instant = _instant(value)
    if instant is None:
        raise InvalidQuery("datetime needs an instant or an interval.")
    if "T" not in instant.upper():  # a whole day
        return instant, f"{instant}T23:59:59.999999Z"
    return instant, instant


def build_query(dataset: VectorDataset, params: Mapping[str, str]) -> tuple[sql.ItemsQuery, dict[str, Any]]:
    """An :class:`sql.ItemsQuery` from the items query string; unknown parameters are refused."""
    attributes = {a["name"]: a["type"] for a in dataset.attributes}
    unknown = sorted(k for k in params if k not in ITEMS_PARAMS and k not in attributes)
    if unknown:
        raise InvalidQuery(
            f"Unknown query parameter(s): {', '.join(unknown)}. Known: {', '.join(sorted(ITEMS_PARAMS))} "
            f"and the collection's properties for equality filters."
        )
    q = sql.ItemsQuery(
        table=dataset.collection_id,
        columns=list(attributes),
        decimal_columns=frozenset(name for name, pgtype in attributes.items() if pgtype in sql.DECIMAL_TYPES),
        single_points=dataset.single_points,
    )
    q.crs = crs_mod.parse(params.get("crs"), "crs")
    if params.get("filter") is not None:
        q.where, q.where_params = cql2.filter_clause(
            dataset, params["filter"], params.get("filter-lang"), params.get("filter-crs")
        )
    elif params.get("filter-lang") or params.get("filter-crs"):
        raise InvalidQuery("filter-lang and filter-crs go with a filter; give filter=<CQL2 expression>.")
    if params.get("id"):  # the id queryable as a query parameter, like the properties
        if parse_int("id", params["id"], minimum=-(2**63)) >= 2**63:
            raise InvalidQuery(f"'id' is a bigint: {params['id']!r} is out of its range.")
        q.filters.append(("id", "bigint", params["id"]))
    q.limit = parse_limit(params.get("limit"))
    q.offset = parse_int("offset", params["offset"], minimum=0) if params.get("offset") else 0
    if params.get("bbox"):
        q.bbox = parse_bbox(params["bbox"], params.get("bbox-crs"))
    elif params.get("bbox-crs"):
        crs_mod.parse(params["bbox-crs"], "bbox-crs")  # still refuse an unknown CRS
    if params.get("datetime"):
        rng = parse_datetime(params["datetime"])
        if dataset.temporal_property:
            q.datetime_column, q.datetime_range = dataset.temporal_property, rng
    for name, pgtype in attributes.items():
        if name in params:
            value = params[name]
            if pgtype in _INT_BITS:
                # Out of the column type's range, PostgreSQL's CAST fails (was a 500).
                half = 2 ** (_INT_BITS[pgtype] - 1)
                if parse_int(name, value, minimum=-half) >= half:
                    raise InvalidQuery(f"{name!r} is a {pgtype}: {value!r} is out of its range.")
            elif pgtype in ("real", "double precision", "numeric"):
                try:
                    number = float(value)
                except ValueError:
                    raise InvalidQuery(f"{name!r} is numeric; {value!r} is not a number.") from None
                if not math.isfinite(number) or (pgtype == "real" and number and not 1.2e-38 <= abs(number) <= 3.4e38):
                    raise InvalidQuery(f"{name!r} is a {pgtype}: {value!r} is out of its range.")
                if pgtype != "numeric":
                    value = repr(number)  # what PostgreSQL would parse, without its under/overflow errors
            elif pgtype == "boolean" and value.lower() not in ("true", "false"):
                raise InvalidQuery(f"{name!r} is boolean: use true or false.")
            q.filters.append((name, pgtype if pgtype in sql.JSON_TYPES else "text", value))
    if params.get("sortby"):
        for part in params["sortby"].split(","):
            part = part.strip()
            asc = not part.startswith("-")
            name = part.lstrip("+-").strip()
            if name != "id" and name not in attributes:
                raise InvalidQuery(f"Cannot sort by {name!r}: not a property of this collection.")
            q.sortby.append((name, asc))
    if params.get("properties") is not None:
        chosen = [p.strip() for p in params["properties"].split(",") if p.strip()]
        bad = [p for p in chosen if p not in attributes]
        if bad:
            raise InvalidQuery(f"Unknown propert(y/ies) in 'properties': {', '.join(bad)}.")
        q.properties = chosen
    if params.get("cursor"):
        if q.sortby:
            raise InvalidQuery("'cursor' pages the default order only; use offset with sortby.")
        q.after_id = parse_int("cursor", params["cursor"], minimum=0)
    filtered = bool(q.bbox or q.datetime_range or q.filters or q.where is not None)
    # ids are exactly 1..count: offset N in id order is "id > N", an index seek instead of
    # walking N rows (deep pages cost what the first does).
    q.offset_seek = dataset.dense_ids and not filtered and not q.sortby and q.after_id is None
    return q, {"filtered": filtered}


# --- documents ------------------------------------------------------------------------------------


def link(href: str, rel: str, type_: str, title: str = "") -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


_STRING_FORMATS = {"date": "date", "timestamptz": "date-time", "timestamp": "date-time", "time": "time"}


def _property_schema(pgtype: str) -> dict[str, str]:
    """JSON Schema of one property (``format`` for dates and times, as GeoJSON writes them: ISO 8601)."""
    kind = sql.JSON_TYPES.get(pgtype, "string")
    fmt = _STRING_FORMATS.get(pgtype) if kind == "string" else None
    return {"type": kind, "format": fmt} if fmt else {"type": kind}


def _property_document(attribute: dict[str, Any]) -> dict[str, str]:
    """A property's schema, titled with the source's own column name: the stored name is a
    sanitised SQL identifier (``"Größe (m²)"`` is served as ``groe_m``), the title says what
    the column was called in the file the user sent."""
    return {"title": str(attribute.get("source_name") or attribute["name"]), **_property_schema(attribute["type"])}


property_document = _property_document  # also the schema of each queryable (features.queryables)


def collection_document(dataset: VectorDataset, url: Callable[[str], str], *, in_list: bool = False) -> dict[str, Any]:
    """``url(path)`` makes an absolute URL for a path below /api/features/. ``in_list``: the
    document is one of /collections', whose ``crs`` lists every CRS once; the collection's
    own ``crs`` refers to it as ``#/crs`` (OGC API Features Part 2)."""
    cid = dataset.collection_id
    extent: dict[str, Any] = {"spatial": {"bbox": [dataset.bbox or [-180, -90, 180, 90]], "crs": CRS84}}
    if dataset.temporal_property:
        extent["temporal"] = {
            "interval": [dataset.temporal_extent or [None, None]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return {
        "id": cid,
        "title": dataset.title or cid,
        "description": dataset.description,
        "itemType": "feature",
        "crs": [CRS84, "#/crs"] if in_list else crs_mod.supported_uris(),
        "storageCrs": CRS84,
        "extent": extent,
        "geometryType": dataset.geometry_type,
        "featureCount": dataset.feature_count,
        "temporalProperty": dataset.temporal_property or None,
        "properties": {a["name"]: _property_document(a) for a in dataset.attributes},
        "links": [
            link(url(f"collections/{cid}?f=json"), "self", "application/json", "This collection"),
            link(url(f"collections/{cid}?f=html"), "alternate", "text/html", "This collection as HTML"),
            link(url(f"collections/{cid}/items?f=json"), "items", GEOJSON, "Features"),
            link(url(f"collections/{cid}/items?f=html"), "items", "text/html", "Features as HTML"),
            link(
                url(f"collections/{cid}/queryables"),
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "application/schema+json",
                "Queryables (the properties a filter may name)",
            ),
            *hooks.collection_links(cid, url),
        ],
    }


def landing_document(url: Callable[[str], str], title: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": "Vector datasets of the platform, served as OGC API Features (Part 1 Core).",
        "links": [
            link(url("?f=json"), "self", "application/json", "This document"),
            link(url("?f=html"), "alternate", "text/html", "This document as HTML"),
            link(url("api"), "service-desc", OPENAPI_JSON, "The OpenAPI 3.0 definition"),
            link(url("api?f=html"), "service-doc", "text/html", "The API documentation"),
            link(url("conformance"), "conformance", "application/json", "Conformance classes"),
            link(
                url("conformance"),
                "http://www.opengis.net/def/rel/ogc/1.0/conformance",
                "application/json",
                "Conformance classes",
            ),
            link(url("collections"), "data", "application/json", "Collections"),
            link(url("collections"), "http://www.opengis.net/def/rel/ogc/1.0/data", "application/json", "Collections"),
            link(
                url("tileMatrixSets"),
                "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                "application/json",
                "Tile matrix sets of the vector tiles",
            ),
        ],
    }


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    # style form / explode false: the form the OGC abstract test suite checks for.
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
        "style": "form",
        "explode": False,
    }


def openapi_document(datasets: list[VectorDataset], server_url: str) -> dict[str, Any]:
    """An OpenAPI 3.0 description of this features API; per-collection paths list the
    property filters so clients (GDAL's OAPIF driver) can push attribute filters down."""
    f_param = _param("f", {"type": "string", "enum": ["json", "html"]}, "Output format.")
    common = [
        _param(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "minx,miny,maxx,maxy (CRS84).",
        ),
        _param("bbox-crs", {"type": "string", "format": "uri"}, "CRS of bbox (a URI of the collection's crs list)."),
        _param("crs", {"type": "string", "format": "uri"}, "CRS of the response geometries (default CRS84)."),
        _param("filter", {"type": "string"}, "CQL2 filter (text or JSON, per filter-lang); see /queryables."),
        # "cql-text": the draft name GDAL < 3.7 looks for before it pushes -where down as a filter.
        _param("filter-lang", {"type": "string", "enum": [*cql2.FILTER_LANGS, "cql-text"]}, "Filter language."),
        _param("filter-crs", {"type": "string", "format": "uri"}, "CRS of the filter's geometries (default CRS84)."),
        _param(
            "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "Page size."
        ),
        _param("offset", {"type": "integer", "minimum": 0, "default": 0}, "Features to skip."),
        _param("datetime", {"type": "string"}, "RFC 3339 instant or interval (collections with a temporal property)."),
        _param("sortby", {"type": "string"}, "Comma-separated properties, '-' for descending."),
        _param("properties", {"type": "string"}, "Comma-separated properties to return."),
        _param("cursor", {"type": "string"}, "Keyset cursor from a 'next' link."),
        f_param,
    ]
    ok_json = {
        "description": "OK",
        "content": {"application/json": {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}},
    }
    ok_geojson = {
        "description": "OK",
        "content": {GEOJSON: {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}},
    }
    errors = {
        "400": {
            "description": "Invalid parameter",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}},
        },
        "404": {
            "description": "Not found",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}},
        },
    }
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "operationId": "getLandingPage",
                "summary": "Landing page",
                "parameters": [f_param],
                "responses": {"200": ok_json, "400": errors["400"]},
            }
        },
        "/conformance": {
            "get": {
                "operationId": "getConformance",
                "summary": "Conformance classes",
                "parameters": [f_param],
                "responses": {"200": ok_json, "400": errors["400"]},
            }
        },
        "/api": {
            "get": {
                "operationId": "getOpenAPI",
                "summary": "This document",
                "responses": {"200": {"description": "OK", "content": {OPENAPI_JSON: {"schema": {"type": "object"}}}}},
            }
        },
        "/collections": {
            "get": {
                "operationId": "getCollections",
                "summary": "Collections",
                "parameters": [f_param],
                "responses": {"200": ok_json, "400": errors["400"]},
            }
        },
        "/collections/{collectionId}": {
            "get": {
                "operationId": "describeCollection",
                "parameters": [{"$ref": "#/components/parameters/collectionId"}, f_param],
                "responses": {"200": ok_json, **errors},
            }
        },
        "/collections/{collectionId}/items": {
            "get": {
                "operationId": "getFeatures",
                "parameters": [{"$ref": "#/components/parameters/collectionId"}, *common],
                "responses": {"200": ok_geojson, **errors},
            }
        },
        "/collections/{collectionId}/items/{featureId}": {
            "get": {
                "operationId": "getFeature",
                "parameters": [
                    {"$ref": "#/components/parameters/collectionId"},
                    {"$ref": "#/components/parameters/featureId"},
                    next(p for p in common if p["name"] == "crs"),
                    f_param,
                ],
                "responses": {"200": ok_geojson, **errors},
            }
        },
        "/collections/{collectionId}/queryables": {
            "get": {
                "operationId": "getQueryables",
                "summary": "The properties a filter may name (JSON Schema)",
                "parameters": [{"$ref": "#/components/parameters/collectionId"}, f_param],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/schema+json": {"schema": {"type": "object"}},
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                    **errors,
                },
            }
        },
    }
    from . import tiles  # tiles builds on this module

    paths.update(tiles.openapi_paths())
    for ds in datasets:
        props = [
            _param(a["name"], {"type": sql.JSON_TYPES.get(a["type"], "string")}, f"Equality filter on {a['name']}.")
            for a in ds.attributes
        ]
        paths[f"/collections/{ds.collection_id}/items"] = {
            "get": {
                "operationId": f"getFeatures_{ds.collection_id}",
                "summary": f"Features of {ds.title or ds.collection_id}",
                "parameters": [*common, *props],
                "responses": {"200": ok_geojson, **errors},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "GeoPlatform OGC API Features",
            "version": "1.0.0",
            "description": "OGC API Features Part 1 Core, GeoJSON and HTML; Part 2 (CRS); Part 3 (CQL2 filters).",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "parameters": {
                "collectionId": {"name": "collectionId", "in": "path", "required": True, "schema": {"type": "string"}},
                "featureId": {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}},
            },
            "schemas": {
                "exception": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
                }
            },
        },
    }
