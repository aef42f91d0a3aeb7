"""Raster attribute tables (GDAL PAM ``.aux.xml`` sidecars) -> STAC ``classification:classes``.

GeoTIFF has no RAT of its own: GDAL keeps it in ``<file>.aux.xml`` beside the file, which a
raster upload may carry. The first band's table gives each class value its name (a field of
usage Name, or one called class/name/label/description) and, when present, its colour.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

CLASSIFICATION_EXT = "https://stac-extensions.github.io/classification/v2.0.0/schema.json"
_MAX_BYTES = 16 * 1024 * 1024
_VALUE_USAGES = {"5", "3"}  # MinMax, Min
_NAME_USAGE = "2"
_RGB_USAGES = ("6", "7", "8")
_NAME_FIELDS = ("class_name", "classname", "class", "name", "label", "description", "land_cover")
_VALUE_FIELDS = ("value", "val", "code", "class_value", "id")


def _field_index(fields: list[tuple[str, str, str]], usages: set[str], names: tuple[str, ...]) -> int | None:
    for i, (_name, _type, usage) in enumerate(fields):
        if usage in usages:
            return i
    lowered = [f[0].lower() for f in fields]
    for candidate in names:
        if candidate in lowered:
            return lowered.index(candidate)
    return None


def classes_from_aux_xml(text: str | bytes) -> list[dict[str, Any]]:
    """The classes of band 1's attribute table, or [] when there is none (or it names none)."""
    raw = text.encode() if isinstance(text, str) else text
    # No DTD, no entities (the entity-expansion attacks need one); PAM files never have one.
    if len(raw) > _MAX_BYTES or b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return []
    try:
        root = ET.fromstring(raw)  # noqa: S314  (DTD-free input, checked above)
    except ET.ParseError:
        return []
    table = root.find("./PAMRasterBand/GDALRasterAttributeTable")
    if table is None:
        return []
    fields = [
        (f.findtext("Name", ""), f.findtext("Type", ""), f.findtext("Usage", "0"))
        for f in sorted(table.findall("FieldDefn"), key=lambda f: int(f.get("index", "0")))
    ]
    value_i = _field_index(fields, _VALUE_USAGES, _VALUE_FIELDS)
    name_i = _field_index(fields, {_NAME_USAGE}, _NAME_FIELDS)
    if value_i is None or name_i is None:
        return []
    rgb_i = [next((i for i, f in enumerate(fields) if f[2] == u), None) for u in _RGB_USAGES]
    classes: list[dict[str, Any]] = []
    for row in table.findall("Row"):
        cells = [c.text or "" for c in row.findall("F")]
        try:
            value = int(float(cells[value_i]))
        except (ValueError, IndexError):
            continue
        name = cells[name_i].strip() if name_i < len(cells) else ""
        if not name:
            continue
        entry: dict[str, Any] = {"value": value, "name": _slug(name), "description": name}
        if all(i is not None and i < len(cells) for i in rgb_i):
            try:
                rgb = [int(float(cells[i])) for i in rgb_i if i is not None]
                # GDAL writes 0..255 integers or 0..1 reals.
                if all(0 <= v <= 1 for v in rgb) and any("." in cells[i] for i in rgb_i if i is not None):
                    rgb = [round(float(cells[i]) * 255) for i in rgb_i if i is not None]
                entry["color_hint"] = "".join(f"{v:02X}" for v in rgb)
            except ValueError:
                pass
        classes.append(entry)
    return classes


def _slug(name: str) -> str:
    """classification:classes ``name`` must be a short identifier; ``description`` keeps the text."""
    out = "".join(ch if ch.isalnum() else "_" for ch in name.strip().lower())
    return "_".join(part for part in out.split("_") if part) or "class"


def apply_classes(item: dict[str, Any], classes: list[dict[str, Any]]) -> None:
    """Put ``classes`` on the first band of every data/visual asset of ``item`` (in place)."""
    if not classes:
        return
    for asset in item.get("assets", {}).values():
        bands = asset.get("bands")
        if bands:
            bands[0]["classification:classes"] = classes
    extensions = item.setdefault("stac_extensions", [])
    if CLASSIFICATION_EXT not in extensions:
        extensions.append(CLASSIFICATION_EXT)
