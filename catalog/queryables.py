"""Queryables: the JSON type pgSTAC reads each item property as (pure rules, no SQL).

pgSTAC compares and sorts a property through a wrapper chosen from its queryable's JSON
Schema (``queryable_wrapper()``: ``integer`` -> ``to_int``, ``number`` -> ``to_float``,
``format: date-time`` -> ``to_tstz``, anything else ``to_text``). A property without a
queryable sorts as text ("10" before "9"), and a filter on it guesses from the literal
(a number literal -> ``to_float``, which fails on an item whose value is a word). So the
catalogue declares queryables in two ways:

- :data:`PLATFORM`: the properties the platform's own items carry (rasters, vectors, Zarr)
  and the numeric fields of the common STAC extensions, whose types their schemas fix. One
  row each for every collection (pgSTAC's ``collection_ids`` NULL), installed by migration
  ``0005`` and kept by ``post_migrate`` (``services.platform_queryables_ensure``).
- Derived from the items themselves, per collection, on every write through
  ``catalog.services`` (pipelines and the transactions API alike): the first time a
  top-level scalar property appears in a collection it is declared with the type of its
  values (:func:`observed_kinds`, :func:`declarations`). When a later item gives it a value
  of another type the declaration widens to the union of the types, read as text
  (``property_wrapper`` ``to_text``), so a search never fails on a value the declaration
  did not allow. Declarations only widen: deleting items does not narrow them.

A declaration an operator made (a row for every collection, one shared by several
collections, one pgSTAC indexes, or one without a JSON ``type``) is never changed here. An
indexed row refuses a value of another type at write time (PostgreSQL cannot index it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

# The kinds of value told apart: each maps to one JSON Schema type ("date-time" is a string
# that pgSTAC then reads with to_tstz).
NUMBER, STRING, DATE_TIME, BOOLEAN = "number", "string", "date-time", "boolean"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

# Names pgSTAC does not read under properties: its items columns (read as themselves) and the
# top-level members its queryable_path_elements() resolves at the root of the item.
_NOT_PROPERTIES = frozenset(
    {"id", "geometry", "collection", "datetime", "start_datetime", "end_datetime"}
    | {"assets", "links", "bbox", "stac_version", "stac_extensions", "properties"}
)


def _date_time(title: str) -> dict[str, Any]:
    return {"title": title, "type": "string", "format": "date-time"}


def _typed(title: str, json_type: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"title": title, "type": json_type, **extra}


PLATFORM: dict[str, dict[str, Any]] = {
    # STAC common metadata, written on every raster and Zarr item.
    "created": _date_time("Created"),
    "updated": _date_time("Updated"),
    # pgSTAC reads these as its own columns; declared so the queryables document lists them.
    "start_datetime": _date_time("Start of the time span"),
    "end_datetime": _date_time("End of the time span"),
    # The platform's own properties (rasters/stac.py, climate/stac.py, features/services.py).
    "geoplatform:feature_count": _typed("Features in the vector dataset", "integer", minimum=0),
    "geoplatform:geometry_type": _typed("Geometry type of the vector dataset", "string"),
    "geoplatform:raster_type": _typed("Raster type (continuous, dem, multispectral, ...)", "string"),
    "geoplatform:source_count": _typed("Source files of the Zarr dataset", "integer", minimum=0),
    "geoplatform:kind": _typed("Kind of dataset", "string"),
    "geoplatform:job_id": _typed("The job that published the item", "string"),
    "geoplatform:source": _typed("Where the data came from", "string"),
    "proj:code": _typed("Projection code (projection extension v2)", ["string", "null"]),
    # Numeric fields of common STAC extensions (their JSON schemas say number or integer):
    # external items carry them (managed STAC sources, the transactions API).
    "proj:epsg": _typed("EPSG code (projection extension v1)", ["integer", "null"]),
    "gsd": _typed("Ground sample distance (m)", "number", exclusiveMinimum=0),
    "eo:cloud_cover": _typed("Cloud cover (%)", "number", minimum=0, maximum=100),
    "eo:snow_cover": _typed("Snow and ice cover (%)", "number", minimum=0, maximum=100),
    "view:off_nadir": _typed("Off-nadir angle (degrees)", "number", minimum=0, maximum=90),
    "view:incidence_angle": _typed("Incidence angle (degrees)", "number", minimum=0, maximum=90),
    "view:azimuth": _typed("Viewing azimuth (degrees)", "number", minimum=0, maximum=360),
    "view:sun_azimuth": _typed("Sun azimuth (degrees)", "number", minimum=0, maximum=360),
    "view:sun_elevation": _typed("Sun elevation (degrees)", "number", minimum=-90, maximum=90),
    "sat:relative_orbit": _typed("Relative orbit number", "integer", minimum=1),
    "sat:absolute_orbit": _typed("Absolute orbit number", "integer", minimum=1),
}


def _kind(value: Any) -> str | None:
    """The kind of one property value; None for null, arrays and objects (never declared:
    pgSTAC would read an array through to_text_array, which changes what = means)."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        if _RFC3339.match(value):
            try:
                dt.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
            except ValueError:
                return STRING  # the shape of a date-time, but no real instant (2021-02-30)
            return DATE_TIME
        return STRING
    return None


def _observed(pairs: Iterable[tuple[str, str | None]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, kind in pairs:
        if kind is None or name in _NOT_PROPERTIES or "." in name or not name.strip():
            continue
        out.setdefault(name, set()).add(kind)
    return out


def observed_kinds(items: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Per top-level property name of the items: the kinds of its values."""
    properties = (item.get("properties") for item in items)
    return _observed((name, _kind(value)) for p in properties if isinstance(p, dict) for name, value in p.items())


_JSON_KINDS = {"number": NUMBER, "boolean": BOOLEAN, "string": STRING}


def stored_kinds(rows: Iterable[tuple[str, str, str | None]]) -> dict[str, set[str]]:
    """:func:`observed_kinds` from ``pgstac.item_property_types`` rows (name, JSON type, the text
    of a string shaped like a date-time)."""
    return _observed((name, _kind(text) if text is not None else _JSON_KINDS.get(t)) for name, t, text in rows)


DATE_TIME_SHAPE = _RFC3339.pattern


def declared_kinds(definition: Mapping[str, Any] | None) -> set[str] | None:
    """The kinds a definition accepts; None when it declares no JSON type (e.g. a bare $ref)."""
    json_types = (definition or {}).get("type")
    if json_types is None:
        return None
    kinds: set[str] = set()
    for json_type in [json_types] if isinstance(json_types, str) else json_types:
        if json_type in ("integer", "number"):
            kinds.add(NUMBER)
        elif json_type == "string":
            is_date_time = (definition or {}).get("format") == "date-time"
            kinds |= {DATE_TIME} if is_date_time else {STRING, DATE_TIME}
        elif json_type == "boolean":
            kinds.add(BOOLEAN)
    return kinds


def definition_of(kinds: set[str]) -> tuple[dict[str, Any], str | None]:
    """(JSON Schema, property_wrapper) for properties whose values are of these kinds. One
    JSON type lets pgSTAC infer the wrapper; several are read as text (no value can fail)."""
    if kinds == {NUMBER}:
        return {"type": "number"}, None
    if kinds == {DATE_TIME}:
        return {"type": "string", "format": "date-time"}, None
    if kinds <= {STRING, DATE_TIME}:
        return {"type": "string"}, None
    if kinds == {BOOLEAN}:
        return {"type": "boolean"}, None
    json_types = sorted({STRING if k == DATE_TIME else k for k in kinds})
    return {"type": json_types}, "to_text"


def declarations(
    observed: Mapping[str, set[str]], existing: Mapping[str, tuple[dict[str, Any] | None, bool]]
) -> dict[str, tuple[dict[str, Any], str | None]]:
    """The queryables of one collection to write for the kinds ``observed`` in its new items.

    ``existing``: name -> (definition, whether the row may be widened: this collection's alone,
    not indexed) for the rows a search of the collection reads. Names without a row are
    declared; rows that may be widened widen when a value falls outside them; others stay.
    """
    out: dict[str, tuple[dict[str, Any], str | None]] = {}
    for name, kinds in observed.items():
        if name not in existing:
            out[name] = definition_of(kinds)
            continue
        definition, own = existing[name]
        accepted = declared_kinds(definition)
        if not own or accepted is None or kinds <= accepted:
            continue
        out[name] = definition_of(accepted | kinds)
    return out
