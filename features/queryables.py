"""``/collections/{id}/queryables`` (OGC API Features Part 3): what a filter may name, as a
JSON Schema (draft 2020-12) document, served as ``application/schema+json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import cql2, sql
from .models import VectorDataset

SCHEMA_JSON = "application/schema+json"
_FORMATS = {"date": "date", "timestamp": "date-time", "timestamptz": "date-time", "time": "time"}
_GEOMETRY_FORMATS = {
    "MultiPoint": "geometry-multipoint",
    "MultiLineString": "geometry-multilinestring",
    "MultiPolygon": "geometry-multipolygon",
}


def _schema(name: str, pgtype: str, title: str) -> dict[str, Any]:
    kind = sql.JSON_TYPES.get(pgtype, "string")
    out: dict[str, Any] = {"title": title, "type": kind}
    if kind == "string" and pgtype in _FORMATS:
        out["format"] = _FORMATS[pgtype]
    return out


def queryables_document(dataset: VectorDataset, url: Callable[[str], str]) -> dict[str, Any]:
    """``url(path)`` makes an absolute URL for a path below /api/features/. The properties are
    exactly what :func:`features.cql2.filter_clause` accepts (others are refused with 400)."""
    cid = dataset.collection_id
    titles = {a["name"]: str(a.get("source_name") or a["name"]) for a in dataset.attributes}
    properties: dict[str, Any] = {
        "geometry": {
            "title": "Geometry",
            "format": _GEOMETRY_FORMATS.get(dataset.geometry_type, "geometry-any"),
            "x-ogc-role": "primary-geometry",
        },
        "id": {"title": "Feature id", "type": "integer", "x-ogc-role": "id"},
    }
    for name, pgtype in cql2.queryables(dataset).items():
        if name in properties:
            continue
        properties[name] = _schema(name, pgtype, titles.get(name, name))
        if name == dataset.temporal_property:
            properties[name]["x-ogc-role"] = "primary-instant"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url(f"collections/{cid}/queryables"),
        "type": "object",
        "title": dataset.title or cid,
        "properties": properties,
        "additionalProperties": False,
    }
