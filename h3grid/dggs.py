"""OGC API - DGGS 1.0 (OGC 21-038r1, approved 2025) documents for H3 as a custom DGGRS.

H3 is not one of the DGGRSs the standard lists, so it is described here as our own: zone ids are
H3 cells as h3 writes them (hex), the zone level is the H3 resolution, the sub-zones of a zone at
a relative depth are its H3 descendants in ascending id order. Resources exist at the root
(``/api/dggs/dggs/H3``: the land grid, zone listing and zone information) and per collection
(``/api/dggs/collections/{slug}/dggs/H3``: a stat dataset's zones and their data).

Only what is served is declared: core, zone-query, data-retrieval and collection-dggs. The root
DGGRS has zone listing and zone information but no zone data, so root-dggs is not claimed; zone
data is plain JSON (DGGS-JSON and the other encodings' classes are not claimed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import h3.api.basic_int as h3i

from geoplatform.errors import InvalidInput, NotFound

from . import cellids, selectors
from .models import StatDataset

DGGRS_ID = "H3"
_SPEC = "https://www.opengis.net/spec/ogcapi-dggs-1/1.0/conf/"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    _SPEC + "core",
    _SPEC + "zone-query",
    _SPEC + "data-retrieval",
    _SPEC + "collection-dggs",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
MAX_ZONES = 10000  # zones per listing page
MAX_COMPACT = 200000  # zones gathered before compacting
MAX_DEPTH = 3  # relative depth of zone data (7^3 = 343 sub-zones)


def self_link(href: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": href, "type": "application/json"}]


def landing(base: str) -> dict[str, Any]:
    return {
        "title": "GeoPlatform H3 statistics (OGC API - DGGS)",
        "description": "The platform's H3 land grid and per-cell statistics, H3 served as a custom DGGRS.",
        "links": [
            *self_link(base + "/"),
            {"rel": "conformance", "href": base + "/conformance", "type": "application/json"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/conformance",
                "href": base + "/conformance",
                "type": "application/json",
            },
            {"rel": "data", "href": base + "/collections", "type": "application/json"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/data",
                "href": base + "/collections",
                "type": "application/json",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs-list",
                "href": base + "/dggs",
                "type": "application/json",
            },
            {"rel": "service-doc", "href": "https://h3geo.org/docs/", "type": "text/html", "title": "The H3 grid"},
        ],
    }


def collection(base: str, ds: StatDataset) -> dict[str, Any]:
    href = f"{base}/collections/{ds.slug}"
    return {
        "id": ds.slug,
        "title": ds.title or ds.slug,
        "description": f"H3 statistics of {ds.source_kind} {ds.source_ref}: {', '.join(selectors.stat_names(ds))}.",
        "links": [
            *self_link(href),
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs-list",
                "href": href + "/dggs",
                "type": "application/json",
            },
        ],
    }


def check_dggrs(dggrs_id: str) -> None:
    if dggrs_id != DGGRS_ID:
        raise NotFound(f"No DGGRS {dggrs_id!r} here: the one served is {DGGRS_ID!r}.")


def dggrs_summary(prefix: str) -> dict[str, Any]:
    href = f"{prefix}/dggs/{DGGRS_ID}"
    return {
        "id": DGGRS_ID,
        "title": "H3 (Uber's hexagonal hierarchical grid), a custom DGGRS",
        "uri": "https://h3geo.org/docs/core-library/overview",
        "links": [
            {"rel": "self", "href": href, "type": "application/json"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs-definition",
                "href": "https://h3geo.org/docs/core-library/overview",
                "type": "text/html",
            },
        ],
    }


def dggrs_description(prefix: str, ds: StatDataset | None) -> dict[str, Any]:
    href = f"{prefix}/dggs/{DGGRS_ID}"
    levels = (
        selectors.dataset_resolutions(ds)
        if ds is not None
        else list(range(cellids.PYRAMID_MIN, cellids.PYRAMID_MAX + 1))
    )
    links = [
        *self_link(href),
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs-definition",
            "href": "https://h3geo.org/docs/core-library/overview",
            "type": "text/html",
        },
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs-zone-query",
            "href": href + "/zones",
            "type": "application/json",
        },
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs-zone-info",
            "href": href + "/zones/{zoneId}",
            "templated": True,
        },  # type: ignore[dict-item]
    ]
    if ds is not None:
        links.append(
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs-zone-data",
                "href": href + "/zones/{zoneId}/data",
                "templated": True,
            }
        )  # type: ignore[dict-item]
    return {
        **dggrs_summary(prefix),
        "description": (
            "H3 as a custom DGGRS: zones are H3 cells (hexagons and 12 pentagons per level), zone ids are"
            " cells as h3 writes them (15 hex digits), the zone level is the H3 resolution (aperture 7),"
            " sub-zones are a zone's H3 descendants in ascending id order."
        ),
        "crs": CRS84,
        "maxRefinementLevel": 15,
        "maxRelativeDepth": MAX_DEPTH,
        "defaultDepth": 0,
        "zoneLevels": levels,
        "links": links,
    }


def zone_cell(zone_id: str) -> int:
    return cellids.parse_cell(zone_id, what="zoneId")


def _bool(value: str | None, *, name: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name}={value!r}: use true or false.")


_ZONE_PARAMS = {"zone-level", "bbox", "parent-zone", "compact-zones", "limit", "offset", "f", "bbox-crs"}


def zones(prefix: str, ds: StatDataset | None, params: Mapping[str, str], href: str) -> dict[str, Any]:
    """Zone listing: zones at ``zone-level`` (default: the coarsest level) within ``bbox`` and/or
    under ``parent-zone``; ``compact-zones`` (default true, as the standard says) replaces every
    complete set of children by their parent."""
    unknown = sorted(set(params) - _ZONE_PARAMS)
    if unknown:
        raise InvalidInput(f"Unknown query parameter {', '.join(unknown)}; use {', '.join(sorted(_ZONE_PARAMS))}.")
    if params.get("bbox-crs") not in (None, "", CRS84, "[OGC:CRS84]"):
        raise InvalidInput(f"bbox-crs: only {CRS84} is supported.")
    levels = (
        selectors.dataset_resolutions(ds)
        if ds is not None
        else list(range(cellids.PYRAMID_MIN, cellids.PYRAMID_MAX + 1))
    )
    if not levels:
        raise NotFound("This collection has no zones yet.")
    parent = zone_cell(params["parent-zone"]) if params.get("parent-zone") else None
    default_level = levels[0] if parent is None else max(levels[0], h3i.get_resolution(parent) + 1)
    level = cellids.parse_int(params.get("zone-level"), name="zone-level", default=default_level, lo=0, hi=15)
    assert level is not None
    if level not in levels:
        raise InvalidInput(f"zone-level={level}: zones exist at levels {levels} only.")
    if parent is not None and h3i.get_resolution(parent) >= level:
        raise InvalidInput(f"parent-zone is at level {h3i.get_resolution(parent)}: zone-level must be finer.")
    if ds is not None and selectors.res_storage(ds, level) != "postgres":
        # A Parquet-tier level (h3grid.parts) is listed from the land grid: its zones are the
        # land cells, whether or not the dataset has a value there (zone data says null).
        ds = None
    bbox = cellids.parse_bbox(params.get("bbox"))
    compact = _bool(params.get("compact-zones"), name="compact-zones", default=True)
    limit = cellids.parse_int(params.get("limit"), name="limit", default=1000, lo=1, hi=MAX_ZONES)
    offset = cellids.parse_int(params.get("offset"), name="offset", default=0, lo=0)
    assert limit is not None and offset is not None
    if compact:
        found = selectors.zone_ids(level=level, ds=ds, bbox=bbox, parent=parent, limit=MAX_COMPACT + 1)
        if len(found) > MAX_COMPACT:
            raise InvalidInput(
                f"More than {MAX_COMPACT} zones match at zone-level={level}: narrow the query with bbox or"
                " parent-zone, or set compact-zones=false to page through them."
            )
        found = sorted(h3i.compact_cells(found))
        page = found[offset : offset + limit]
        more = offset + limit < len(found)
    else:
        page = selectors.zone_ids(level=level, ds=ds, bbox=bbox, parent=parent, limit=limit + 1, offset=offset)
        more = len(page) > limit
        page = page[:limit]
    links = self_link(href)
    if more:
        query = {**dict(params.items()), "offset": str(offset + limit), "limit": str(limit)}
        links.append({"rel": "next", "href": href + "?" + urlencode(query), "type": "application/json"})
    return {"zones": [cellids.to_hex(c) for c in page], "numberReturned": len(page), "links": links}


def _geometry(cell: int) -> dict[str, Any]:
    # The same geometry as the cells API (cut at the antimeridian, closed at a pole).
    geometry: dict[str, Any] = json.loads(cellids.boundaries_geojson([cellids.to_hex(cell)])[0])
    return geometry


def zone_info(prefix: str, ds: StatDataset | None, cell: int) -> dict[str, Any]:
    level = h3i.get_resolution(cell)
    zone = cellids.to_hex(cell)
    href = f"{prefix}/dggs/{DGGRS_ID}/zones/{zone}"
    geometry = _geometry(cell)
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    lons = [p[0] for polygon in polygons for p in polygon[0]]
    lats = [p[1] for polygon in polygons for p in polygon[0]]
    lat, lng = h3i.cell_to_latlng(cell)
    links = [
        *self_link(href),
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs",
            "href": f"{prefix}/dggs/{DGGRS_ID}",
            "type": "application/json",
        },
    ]
    if ds is not None:
        links.append(
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/dggrs-zone-data",
                "href": href + "/data",
                "type": "application/json",
            }
        )
    return {
        "id": zone,
        "level": level,
        "shapeType": "pentagon" if h3i.is_pentagon(cell) else "hexagon",
        "crs": CRS84,
        "centroid": [round(lng, 7), round(lat, 7)],
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "areaMetersSquare": h3i.cell_area(cell, "m^2"),
        "geometry": geometry,
        "parent": cellids.to_hex(h3i.cell_to_parent(cell, level - 1)) if level > 0 else None,
        "links": links,
    }


def zone_data(prefix: str, ds: StatDataset, cell: int, params: Mapping[str, str]) -> dict[str, Any]:
    """The dataset's statistics of the zone (depth 0) or of its sub-zones at the relative depths
    asked (``zone-depth``: one depth or ``a-b``), sub-zones in ascending id order, null where the
    land grid has no cell."""
    unknown = sorted(set(params) - {"zone-depth", "f", "properties"})
    if unknown:
        raise InvalidInput(f"Unknown query parameter {', '.join(unknown)}; use zone-depth, properties.")
    level = h3i.get_resolution(cell)
    depths = _depths(params.get("zone-depth"))
    names = selectors.stat_names(ds)
    if params.get("properties"):
        wanted = [p.strip() for p in params["properties"].split(",") if p.strip()]
        unknown = [p for p in wanted if p not in names]
        if unknown:
            raise InvalidInput(f"Unknown properties {', '.join(unknown)}: this collection has {', '.join(names)}.")
        names = wanted
    levels = selectors.dataset_resolutions(ds)
    values: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for depth in depths:
        res = level + depth
        if res not in levels:
            raise InvalidInput(
                f"zone-depth={depth} means level {res}; this collection has levels {levels}: zone {cellids.to_hex(cell)}"
                f" (level {level}) has data at depths {[r - level for r in levels if r >= level]}."
            )
        subzones = sorted(h3i.cell_to_children(cell, res)) if depth else [cell]
        found = selectors.zone_values(ds=ds, cells=subzones, res=res)
        for n in names:
            data = [found.get(c, {}).get(n) for c in subzones]
            values[n].append(
                {"depth": depth, "shape": {"count": len(subzones), "subZones": len(subzones)}, "data": data}
            )
    href = f"{prefix}/dggs/{DGGRS_ID}/zones/{cellids.to_hex(cell)}/data"
    return {
        "dggrs": f"{prefix}/dggs/{DGGRS_ID}",
        "zoneId": cellids.to_hex(cell),
        "depths": depths,
        "schema": {"properties": {n: {"type": "number", **_column(ds, n)} for n in names}},
        "values": values,
        "links": self_link(href),
    }


def _column(ds: StatDataset, name: str) -> dict[str, Any]:
    for c in ds.columns:
        if isinstance(c, dict) and c.get("name") == name:
            return {"title": c.get("stat", name), "x-units": c.get("units") or ds.units}
    return {}


def _depths(value: str | None) -> list[int]:
    if not value:
        return [0]
    try:
        if "-" in value:
            lo, hi = (int(v) for v in value.split("-", 1))
            depths = list(range(lo, hi + 1))
        else:
            depths = [int(value)]
    except ValueError:
        raise InvalidInput(f"zone-depth={value!r}: use a depth (e.g. 1) or a range (e.g. 0-2).") from None
    if not depths or min(depths) < 0 or max(depths) > MAX_DEPTH:
        raise InvalidInput(f"zone-depth={value!r}: depths go from 0 to {MAX_DEPTH}.")
    return depths


def cell_doc(cell: int, detail: dict[str, Any], request: Any) -> dict[str, Any]:
    """``GET /api/h3/cells/{cell}``: the cell, its parent and children, and every dataset's values."""
    from django.urls import reverse

    res = detail["res"]
    url = lambda c: request.build_absolute_uri(reverse("h3grid:cell", args=[cellids.to_hex(c)]))  # noqa: E731
    parent = h3i.cell_to_parent(cell, res - 1) if res > 0 else None
    children = sorted(h3i.cell_to_children(cell, res + 1)) if res < 15 else []
    lat, lng = h3i.cell_to_latlng(cell)
    return {
        "cell": cellids.to_hex(cell),
        "cell_int": cell,
        "res": res,
        "in_grid": detail["in_grid"],
        "centroid": [round(lng, 7), round(lat, 7)],
        "geometry": _geometry(cell),
        "countries": detail["countries"],
        "parent": {"cell": cellids.to_hex(parent), "href": url(parent)} if parent is not None else None,
        "children": [{"cell": cellids.to_hex(c), "href": url(c)} for c in children],
        "datasets": [
            {"id": ds.pk, "slug": ds.slug, "title": ds.title or ds.slug, "units": ds.units, "values": values}
            for ds, values in detail["datasets"]
        ],
    }
