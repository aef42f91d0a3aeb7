"""OGC API EDR 1.1: the documents (landing, conformance, collections) and the three queries.

Queries are parsed here (WKT ``coords``, ``bbox``, ``datetime`` in the dataset's calendar,
``parameter-name``, ``z``) and run with :mod:`.cube`; answers are rendered by the views with
:mod:`.coveragejson` and :mod:`.formats`. Only the conformance classes this module passes are
declared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely.validation
import shapely.wkt
import xarray as xr
from django.conf import settings
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from . import cube
from .errors import InvalidQuery
from .formats import MEDIA_TYPES
from .sources import Source

EDR = "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    f"{EDR}/core",
    f"{EDR}/collections",
    f"{EDR}/json",
    f"{EDR}/html",
    f"{EDR}/geojson",
    f"{EDR}/covjson",
]
QUERIES = ("position", "area", "cube")
OUTPUTS = {
    "position": ["CoverageJSON", "GeoJSON", "CSV", "NetCDF"],
    "area": ["CoverageJSON", "CSV", "NetCDF"],
    "cube": ["CoverageJSON", "CSV", "NetCDF"],
}


def max_values() -> int:
    return int(getattr(settings, "GEOPLATFORM_CLIMATE_MAX_VALUES", 2_000_000))


# --- documents ----------------------------------------------------------------------------------


def landing(url: Callable[[str], str], title: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": "Climate datasets as OGC API EDR 1.1: position, area and cube queries.",
        "links": [
            {"href": url(""), "rel": "self", "type": "application/json", "title": "This document"},
            {"href": url("?f=html"), "rel": "alternate", "type": "text/html", "title": "This document as HTML"},
            {"href": url("conformance"), "rel": "conformance", "type": "application/json", "title": "Conformance"},
            {"href": url("collections"), "rel": "data", "type": "application/json", "title": "Collections"},
            {
                "href": url("/api/schema/"),
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
            },
        ],
    }


def _temporal(ds: xr.Dataset, axes: cube.Axes) -> dict[str, Any] | None:
    times = cube.time_values(ds, axes)
    if not times:
        return None
    return {
        "interval": [[times[0], times[-1]]],
        "values": [f"{times[0]}/{times[-1]}"] if len(times) > 50 else times,
        "trs": 'TIMECRS["DateTime",TDATUM["Gregorian Calendar"],CS[TemporalDateTime,1],AXIS["Time (T)",future]]',
        "calendar": cube.calendar_of(ds, axes),
    }


def collection(source: Source, ds: xr.Dataset, url: Callable[[str], str]) -> dict[str, Any]:
    axes = cube.axes_of(ds)
    base = f"collections/{source.edr_id}"
    extent: dict[str, Any] = {"spatial": {"bbox": [list(cube.extent(ds, axes))], "crs": "OGC:CRS84"}}
    temporal = _temporal(ds, axes)
    if temporal:
        extent["temporal"] = temporal
    if axes.z is not None:
        levels = [float(v) for v in np.atleast_1d(ds[axes.z].values)]
        extent["vertical"] = {
            "interval": [[min(levels), max(levels)]],
            "values": levels,
            "vrs": str(ds[axes.z].attrs.get("units", "")),
        }
    data_queries = {
        query: {
            "link": {
                "href": url(f"{base}/{query}"),
                "rel": "data",
                "variables": {
                    "query_type": query,
                    "output_formats": OUTPUTS[query],
                    "default_output_format": "CoverageJSON",
                    "crs_details": [{"crs": "OGC:CRS84", "wkt": 'GEOGCS["WGS 84"]'}],
                },
            }
        }
        for query in QUERIES
    }
    return {
        "id": source.edr_id,
        "title": source.title,
        "description": f"Climate item {source.item_id} of collection {source.collection_id}.",
        "links": [
            {"href": url(base), "rel": "self", "type": "application/json"},
            {"href": url(f"{base}?f=html"), "rel": "alternate", "type": "text/html"},
            {
                "href": url(f"/api/xarray/{source.collection_id}/{source.item_id}/viewer"),
                "rel": "preview",
                "type": "text/html",
                "title": "Map viewer (tiles, time slider, time series)",
            },
            {
                "href": url(f"/api/stac/collections/{source.collection_id}/items/{source.item_id}"),
                "rel": "describedby",
                "type": "application/geo+json",
            },
        ],
        "extent": extent,
        "data_queries": data_queries,
        "crs": ["OGC:CRS84"],
        "output_formats": sorted({f for formats in OUTPUTS.values() for f in formats}),
        "parameter_names": {name: _parameter(ds, name) for name in cube.parameters(ds, axes)},
    }


def _parameter(ds: xr.Dataset, name: str) -> dict[str, Any]:
    unit = cube.units(ds, name)
    body: dict[str, Any] = {
        "type": "Parameter",
        "id": name,
        "description": cube.label(ds, name),
        "unit": {"symbol": unit} if unit else {"label": "unitless"},
        "observedProperty": {"label": cube.label(ds, name)},
    }
    standard = ds[name].attrs.get("standard_name")
    if standard:
        body["observedProperty"]["id"] = f"http://vocab.nerc.ac.uk/standard_name/{standard}/"
    return body


# --- queries ------------------------------------------------------------------------------------


@dataclass
class Subset:
    """A query's answer before rendering: the dataset subset, its parameters, a polygon mask."""

    ds: xr.Dataset
    names: list[str]
    point: bool
    mask: np.ndarray | None = None


def parse_wkt(text: str | None, allowed: tuple[type[BaseGeometry], ...], query: str) -> BaseGeometry:
    if not text:
        raise InvalidQuery(f"coords: required for a {query} query, as WKT (e.g. POINT(-75 40)).")
    try:
        geom = shapely.wkt.loads(text)
    except (ShapelyError, ValueError, TypeError) as exc:
        raise InvalidQuery(f"coords: {text!r} is not valid WKT ({exc}).") from exc
    if not isinstance(geom, allowed):
        names = " or ".join(t.__name__.upper() for t in allowed)
        raise InvalidQuery(f"coords: a {query} query takes a {names}, not a {geom.geom_type.upper()}.")
    if geom.is_empty:
        raise InvalidQuery("coords: the geometry is empty.")
    if not geom.is_valid:
        raise InvalidQuery(f"coords: the geometry is invalid ({shapely.validation.explain_validity(geom)}).")
    return geom


def parse_bbox(text: str | None) -> tuple[float, float, float, float]:
    if not text:
        raise InvalidQuery("bbox: required for a cube query, as west,south,east,north in degrees.")
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise InvalidQuery(f"bbox: {text!r} is not four numbers west,south,east,north.") from exc
    if len(values) != 4:
        raise InvalidQuery(f"bbox: {text!r} has {len(values)} numbers; give west,south,east,north.")
    west, south, east, north = values
    if not (-180 <= west <= 360 and -180 <= east <= 360 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidQuery(f"bbox: {text!r} is not in longitude/latitude degrees.")
    return west, south, east, north


def _common(ds: xr.Dataset, params: Mapping[str, str]) -> tuple[xr.Dataset, cube.Axes, list[str]]:
    axes = cube.axes_of(ds)
    names = cube.select_parameters(ds, params.get("parameter-name"))
    crs = params.get("crs")
    if crs and crs not in ("OGC:CRS84", "CRS84", "EPSG:4326", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        raise InvalidQuery(f"crs: {crs!r} is not supported; use OGC:CRS84.")
    keep = names + [c for c in (axes.time,) if c and c in ds.data_vars]
    ds = ds[keep]
    ds = cube.select_time(ds, axes, cube.parse_datetime(params.get("datetime"), cube.calendar_of(ds, axes)))
    ds = cube.select_z(ds, axes, params.get("z"))
    return ds, axes, names


def position(ds: xr.Dataset, params: Mapping[str, str]) -> Subset:
    geom = parse_wkt(params.get("coords"), (Point,), "position")
    assert isinstance(geom, Point)
    ds, axes, names = _common(ds, params)
    sub = cube.select_point(ds, axes, geom.x, geom.y)
    cube.check_size(sub, names, max_values())
    return Subset(sub, names, point=True)


def area(ds: xr.Dataset, params: Mapping[str, str]) -> Subset:
    geom = parse_wkt(params.get("coords"), (Polygon, MultiPolygon), "area")
    ds, axes, names = _common(ds, params)
    sub, mask = cube.select_polygon(ds, axes, geom)
    cube.check_size(sub, names, max_values())
    return Subset(sub, names, point=False, mask=mask)


def cube_query(ds: xr.Dataset, params: Mapping[str, str]) -> Subset:
    bbox = parse_bbox(params.get("bbox"))
    ds, axes, names = _common(ds, params)
    sub = cube.select_bbox(ds, axes, bbox)
    cube.check_size(sub, names, max_values())
    return Subset(sub, names, point=False)


RUNNERS: dict[str, Callable[[xr.Dataset, Mapping[str, str]], Subset]] = {
    "position": position,
    "area": area,
    "cube": cube_query,
}


def output_format(query: str, requested: str | None, accept: str) -> str:
    """The answer's format from ``f`` (names as in data_queries, case-insensitive) or Accept."""
    names = {f.lower(): f for f in OUTPUTS[query]}
    aliases = {"covjson": "CoverageJSON", "json": "CoverageJSON", "nc": "NetCDF", "netcdf4": "NetCDF"}
    if requested:
        key = requested.lower()
        found = names.get(key) or (aliases.get(key) if aliases.get(key) in OUTPUTS[query] else None)
        if key == "html":
            return "HTML"
        if not found:
            raise InvalidQuery(
                f"f: {requested!r} is not an output of a {query} query; use one of {', '.join(OUTPUTS[query])}."
            )
        return found
    if "text/html" in accept:
        return "HTML"
    for name in OUTPUTS[query]:
        if MEDIA_TYPES[name] in accept:
            return name
    return "CoverageJSON"
