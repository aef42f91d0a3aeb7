"""SLD 1.1 (OGC 05-078r4 with Symbology Encoding 1.1 and Filter Encoding 1.1) of a style.

Scale ranges are CartoSym's own scale denominators (Min/MaxScaleDenominator), so nothing is
lost to zoom levels. SLD 1.0 is not produced (a request for it is a 406)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from . import cartosym, cql2
from .symbolizers import Stroke, paint

MEDIA_TYPE = "application/vnd.ogc.sld+xml;version=1.1"
SLD, SE, OGC = "http://www.opengis.net/sld", "http://www.opengis.net/se", "http://www.opengis.net/ogc"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
for _prefix, _uri in (("sld", SLD), ("se", SE), ("ogc", OGC), ("xsi", XSI)):
    ET.register_namespace(_prefix, _uri)

_OPS = {"=": "PropertyIsEqualTo", "<>": "PropertyIsNotEqualTo", "<": "PropertyIsLessThan",
        ">": "PropertyIsGreaterThan", "<=": "PropertyIsLessThanOrEqualTo", ">=": "PropertyIsGreaterThanOrEqualTo"}  # fmt: skip


def _sub(parent: ET.Element, ns: str, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        el.text = text if isinstance(text, str) else f"{text:g}" if isinstance(text, float) else str(text)
    return el


def _param(parent: ET.Element, kind: str, name: str, value: Any) -> None:
    _sub(parent, SE, f"{kind}Parameter", value, name=name)


def _filter(parent: ET.Element, expr: dict[str, Any]) -> None:
    op, args = expr["op"], expr["args"]
    if op in ("and", "or", "not"):
        group = _sub(parent, OGC, {"and": "And", "or": "Or", "not": "Not"}[op])
        for a in args:
            _filter(group, a)
        return
    prop = args[0]["property"]
    if op in _OPS:
        el = _sub(parent, OGC, _OPS[op])
        _sub(el, OGC, "PropertyName", prop)
        _sub(el, OGC, "Literal", args[1])
    elif op == "in":  # Filter 1.1 has no IN: an Or of equalities
        group = _sub(parent, OGC, "Or") if len(args[1]) != 1 else parent
        for v in args[1]:
            el = _sub(group, OGC, "PropertyIsEqualTo")
            _sub(el, OGC, "PropertyName", prop)
            _sub(el, OGC, "Literal", v)
    elif op == "between":
        el = _sub(parent, OGC, "PropertyIsBetween")
        _sub(el, OGC, "PropertyName", prop)
        _sub(_sub(el, OGC, "LowerBoundary"), OGC, "Literal", args[1])
        _sub(_sub(el, OGC, "UpperBoundary"), OGC, "Literal", args[2])
    elif op == "like":
        el = _sub(parent, OGC, "PropertyIsLike", wildCard="%", singleChar="_", escapeChar="\\")
        _sub(el, OGC, "PropertyName", prop)
        _sub(el, OGC, "Literal", args[1])
    else:  # isNull
        el = _sub(parent, OGC, "PropertyIsNull")
        _sub(el, OGC, "PropertyName", prop)


def _stroke(parent: ET.Element, s: Stroke, opacity: float) -> None:
    el = _sub(parent, SE, "Stroke")
    _param(el, "Svg", "stroke", s.color)
    _param(el, "Svg", "stroke-width", s.width)
    _param(el, "Svg", "stroke-opacity", round(s.opacity * opacity, 4))
    if s.dash:
        _param(el, "Svg", "stroke-dasharray", " ".join(f"{d:g}" for d in s.dash))


def _fill(parent: ET.Element, colour: str, opacity: float) -> None:
    el = _sub(parent, SE, "Fill")
    _param(el, "Svg", "fill", colour)
    _param(el, "Svg", "fill-opacity", round(opacity, 4))


def to_sld(doc: dict[str, Any], *, layer: str, name: str) -> bytes:
    root = ET.Element(f"{{{SLD}}}StyledLayerDescriptor", {"version": "1.1.0", f"{{{XSI}}}schemaLocation": (
        "http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd")})  # fmt: skip
    named = _sub(root, SLD, "NamedLayer")
    _sub(named, SE, "Name", layer)
    user = _sub(named, SLD, "UserStyle")
    _sub(user, SE, "Name", name)
    fts = _sub(user, SE, "FeatureTypeStyle")
    for rule in cartosym.rules(doc):
        p = paint(rule)
        cql2.check(rule.selector, rule.name)
        r = _sub(fts, SE, "Rule")
        _sub(r, SE, "Name", rule.name)
        if rule.selector is not None:
            _filter(_sub(r, OGC, "Filter"), rule.selector)
        for c in rule.extra.get("scale", []):
            op, values = c["op"], c["args"][1:]
            if op == "between":
                _sub(r, SE, "MinScaleDenominator", float(values[0]))
                _sub(r, SE, "MaxScaleDenominator", float(values[1]))
            else:
                _sub(r, SE, "MaxScaleDenominator" if op in ("<", "<=") else "MinScaleDenominator", float(values[0]))
        if p.fill is not None:
            sym = _sub(r, SE, "PolygonSymbolizer")
            _fill(sym, p.fill, p.fill_opacity * p.opacity)
            if p.stroke is not None:
                _stroke(sym, p.stroke, p.opacity)
        elif p.stroke is not None:
            _stroke(_sub(r, SE, "LineSymbolizer"), p.stroke, p.opacity)
        if p.marker is not None:
            m = p.marker
            graphic = _sub(_sub(r, SE, "PointSymbolizer"), SE, "Graphic")
            mark = _sub(graphic, SE, "Mark")
            _sub(mark, SE, "WellKnownName", "circle")
            if m.fill is not None:
                _fill(mark, m.fill, m.fill_opacity * p.opacity)
            if m.stroke is not None:
                _stroke(mark, m.stroke, p.opacity)
            _sub(graphic, SE, "Size", m.radius * 2)
        if p.label is not None:
            text = _sub(r, SE, "TextSymbolizer")
            _sub(_sub(text, SE, "Label"), OGC, "PropertyName", p.label.property)
            font = _sub(text, SE, "Font")
            _param(font, "Svg", "font-size", p.label.size)
            _fill(text, p.label.color, p.opacity)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
