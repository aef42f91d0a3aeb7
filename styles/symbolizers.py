"""A CartoSym symbolizer read into the plain facts every encoding renders (``Paint``); what no
encoding here can express is an Untranslatable naming the rule."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .cartosym import Rule, check_keys, color, number, pixels
from .errors import Untranslatable


@dataclass
class Stroke:
    color: str = "#000000"
    width: float = 1.0
    opacity: float = 1.0
    dash: list[float] | None = None


@dataclass
class Marker:
    radius: float = 5.0
    fill: str | None = "#000000"
    fill_opacity: float = 1.0
    stroke: Stroke | None = None


@dataclass
class Label:
    property: str
    size: float = 12.0
    color: str = "#000000"


@dataclass
class Paint:
    fill: str | None = None
    fill_opacity: float = 1.0
    stroke: Stroke | None = None
    marker: Marker | None = None
    label: Label | None = None
    opacity: float = 1.0


_SYMBOLIZER_KEYS = {"fill", "stroke", "marker", "label", "opacity", "visibility", "zOrder"}


def paint(rule: Rule) -> Paint:
    sym, name = rule.symbolizer, rule.name
    check_keys(sym, _SYMBOLIZER_KEYS, name, "symbolizer properties")
    if "visibility" in sym and sym["visibility"] is not True:
        raise Untranslatable(f"Rule {name!r}: only 'visibility': true is supported; use a selector instead.")
    if "zOrder" in sym:
        number(sym["zOrder"], name, "zOrder")  # rules keep their order: a literal is accepted, not used
    out = Paint(opacity=number(sym.get("opacity", 1), name, "opacity"))
    if "fill" in sym:
        out.fill, out.fill_opacity = _fill(sym["fill"], name)
    if "stroke" in sym:
        out.stroke = _stroke(sym["stroke"], name)
    if "marker" in sym:
        out.marker = _marker(sym["marker"], name)
    if "label" in sym:
        out.label = _label(sym["label"], name)
    return out


def _object(value: Any, name: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or "property" in value or "sysId" in value or "op" in value:
        raise Untranslatable(f"Rule {name!r}: {what} must be a literal object, not {json.dumps(value)[:80]}.")
    return value


def _fill(value: Any, name: str) -> tuple[str, float]:
    fill = _object(value, name, "fill")
    check_keys(fill, {"color", "opacity"}, name, "fill properties")
    return color(fill.get("color", [128, 128, 128]), name), number(fill.get("opacity", 1), name, "fill opacity")


def _stroke(value: Any, name: str) -> Stroke:
    stroke = _object(value, name, "stroke")
    check_keys(stroke, {"color", "width", "opacity", "dashPattern", "join", "cap"}, name, "stroke properties")
    dash = stroke.get("dashPattern")
    if dash is not None and not isinstance(dash, list):
        raise Untranslatable(f"Rule {name!r}: dashPattern must be a list of lengths.")
    return Stroke(
        color=color(stroke.get("color", [0, 0, 0]), name),
        width=pixels(stroke.get("width", 1), name, "stroke width"),
        opacity=number(stroke.get("opacity", 1), name, "stroke opacity"),
        dash=[float(d) for d in dash] if dash else None,
    )


def _elements(value: Any, name: str, what: str) -> list[dict[str, Any]]:
    graphic = _object(value, name, what)
    check_keys(graphic, {"elements", "opacity", "placement"}, name, f"{what} properties")
    elements = graphic.get("elements") or []
    if len(elements) != 1:
        raise Untranslatable(f"Rule {name!r}: a {what} must have exactly one element here.")
    return [_object(e, name, f"{what} element") for e in elements]


def _marker(value: Any, name: str) -> Marker:
    (shape,) = _elements(value, name, "marker")
    if shape.get("type") not in ("Circle", "Dot"):
        raise Untranslatable(f"Rule {name!r}: only Circle and Dot markers are supported, not {shape.get('type')!r}.")
    check_keys(shape, {"type", "radius", "fill", "stroke", "opacity", "center", "position"}, name, "marker properties")
    marker = Marker(radius=pixels(shape.get("radius", 5 if shape["type"] == "Circle" else 2), name, "marker radius"))
    if "fill" in shape:
        marker.fill, marker.fill_opacity = _fill(shape["fill"], name)
    if "stroke" in shape:
        marker.stroke = _stroke(shape["stroke"], name)
    return marker


def _label(value: Any, name: str) -> Label:
    (text,) = _elements(value, name, "label")
    if text.get("type") != "Text":
        raise Untranslatable(f"Rule {name!r}: a label element must be of type Text.")
    check_keys(text, {"type", "text", "font", "opacity", "alignment", "position"}, name, "label properties")
    prop = text.get("text")
    if not (isinstance(prop, dict) and set(prop) == {"property"}):
        raise Untranslatable(f'Rule {name!r}: a label\'s text must be a property, e.g. {{"property": "name"}}.')
    font = _object(text.get("font") or {}, name, "font")
    check_keys(font, {"size", "color", "face"}, name, "font properties")
    return Label(
        property=prop["property"],
        size=pixels(font.get("size", 12), name, "font size"),
        color=color(font.get("color", [0, 0, 0]), name),
    )
