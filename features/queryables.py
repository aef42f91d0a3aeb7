"""``/collections/{id}/queryables`` (OGC API Features Part 3): what a filter may name, as a
JSON Schema (draft 2020-12) document, served as ``application/schema+json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ogc
from .models import VectorDataset

SCHEMA_JSON = "application/schema+json"
_GEOMETRY_FORMATS = {
    "MultiPoint": "geometry-multipoint",
    "MultiLineString": "geometry-multilinestring",
    "MultiPolygon": "geometry-multipolygon",
}


def queryables_document(dataset: VectorDataset, url: Callable[[str], str]) -> dict[str, Any]:
    """``url(path)`` makes an absolute URL for a path below /api/features/. The properties are
    exactly what :func:`features.cql2.filter_clause` accepts (others are refused with 400)."""
    cid = dataset.collection_id
    properties: dict[str, Any] = {
        "geometry": {
            "title": "Geometry",
            "format": _GEOMETRY_FORMATS.get(dataset.geometry_type, "geometry-any"),
            "x-ogc-role": "primary-geometry",
        },
        "id": {"title": "Feature id", "type": "integer", "x-ogc-role": "id"},
    }
    for attribute in dataset.attributes:  # the same schema as the collection's "properties"
        if attribute["name"] in properties:  # a source column called "geometry" (see cql2.queryables)
            continue
        properties[attribute["name"]] = ogc.property_document(attribute)
        if attribute["name"] == dataset.temporal_property:
            properties[attribute["name"]]["x-ogc-role"] = "primary-instant"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url(f"collections/{cid}/queryables"),
        "type": "object",
        "title": dataset.title or cid,
        "properties": properties,
        "additionalProperties": False,
    }
