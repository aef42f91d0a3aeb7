"""Translations of a CartoSym-JSON style: MapLibre (Mapbox GL) style v8 and a Leaflet style.

Leaflet style (``application/vnd.geoplatform.leaflet-style+json;version=1``): ``{"version": 1,
"rules": [{"name", "filter" (CQL2-JSON or null), "minZoom", "maxZoom", "path" (Leaflet path
options), "marker" (circleMarker options or null), "label" ({"property", "size", "color"} or
null)}]}``; every matching rule's options apply, in order (static/styles/leaflet-style.js).
"""

from __future__ import annotations

from typing import Any

from . import cartosym, cql2
from .errors import Untranslatable
from .symbolizers import Paint, Stroke, paint

MAPBOX_MEDIA_TYPE = "application/vnd.mapbox.style+json"
LEAFLET_MEDIA_TYPE = "application/vnd.geoplatform.leaflet-style+json;version=1"
SOURCE = "collection"
FONT = ["Open Sans Regular"]


def _zoom(layer: dict[str, Any], rule: cartosym.Rule) -> dict[str, Any]:
    if rule.min_zoom is not None:
        layer["minzoom"] = max(0.0, min(24.0, rule.min_zoom))
    if rule.max_zoom is not None:
        layer["maxzoom"] = max(0.0, min(24.0, rule.max_zoom))
    return layer


def _geometry(kind: str) -> list[Any]:
    return ["==", ["geometry-type"], kind]


def _line_paint(stroke: Stroke, opacity: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "line-color": stroke.color,
        "line-width": stroke.width,
        "line-opacity": round(stroke.opacity * opacity, 4),
    }
    if stroke.dash:
        # MapLibre dashes are in line widths, CartoSym's in pixels.
        out["line-dasharray"] = [round(d / max(stroke.width, 0.1), 3) for d in stroke.dash]
    return out


def to_mapbox(
    doc: dict[str, Any],
    *,
    name: str,
    source_url: str,
    glyphs: str = "",
    bounds: list[float] | None = None,
    source_layer: str = "",
) -> dict[str, Any]:
    """The style as MapLibre style v8 over one source: with ``source_layer``, the collection's
    vector tiles (``source_url`` their TileJSON; every layer reads ``source_layer``, the tiles'
    one layer), else one GeoJSON document (``source_url`` the items)."""
    layers: list[dict[str, Any]] = []
    needs_glyphs = False
    for index, rule in enumerate(cartosym.rules(doc)):
        p: Paint = paint(rule)
        selector = cql2.maplibre(rule.selector, rule.name) if rule.selector is not None else None
        base = f"r{index}"

        def layer(
            kind: str,
            suffix: str,
            geometry: list[Any] | None,
            paint_: dict[str, Any],
            *,
            rule: cartosym.Rule = rule,
            selector: Any = selector,
            base: str = base,
            **more: Any,
        ) -> None:
            parts = [f for f in (geometry, selector) if f is not None]
            entry: dict[str, Any] = {"id": f"{base}-{suffix}", "type": kind, "source": SOURCE, **more}
            if source_layer:
                entry["source-layer"] = source_layer
            if parts:
                entry["filter"] = parts[0] if len(parts) == 1 else ["all", *parts]
            entry["paint"] = paint_
            entry["metadata"] = {"cartosym:rule": rule.name}
            layers.append(_zoom(entry, rule))

        polygon = ["any", _geometry("Polygon"), _geometry("MultiPolygon")]
        if p.fill is not None:
            layer("fill", "fill", polygon, {"fill-color": p.fill, "fill-opacity": round(p.fill_opacity * p.opacity, 4)})
        if p.stroke is not None:
            # A fill's outline has no width in MapLibre: strokes are line layers (of polygons too).
            line = None if p.marker is None else ["!", ["any", _geometry("Point"), _geometry("MultiPoint")]]
            layer("line", "line", line, _line_paint(p.stroke, p.opacity))
        if p.marker is not None:
            m = p.marker
            circle: dict[str, Any] = {
                "circle-radius": m.radius,
                "circle-color": m.fill or "#000000",
                "circle-opacity": round((m.fill_opacity if m.fill else 0) * p.opacity, 4),
            }
            if m.stroke is not None:
                circle |= {
                    "circle-stroke-color": m.stroke.color,
                    "circle-stroke-width": m.stroke.width,
                    "circle-stroke-opacity": round(m.stroke.opacity * p.opacity, 4),
                }
            layer("circle", "marker", ["any", _geometry("Point"), _geometry("MultiPoint")], circle)
        if p.label is not None:
            if not glyphs:
                raise Untranslatable(
                    f"Rule {rule.name!r}: labels need glyphs in the mapbox encoding and none are served "
                    "(set GEOPLATFORM_STYLES_GLYPHS_URL).",
                )
            needs_glyphs = True
            layer(
                "symbol",
                "label",
                None,
                {"text-color": p.label.color, "text-opacity": p.opacity},
                layout={
                    "text-field": ["to-string", ["get", p.label.property]],
                    "text-size": p.label.size,
                    "text-font": FONT,
                },
            )
    source: dict[str, Any] = (
        {"type": "vector", "url": source_url} if source_layer else {"type": "geojson", "data": source_url}
    )
    style: dict[str, Any] = {"version": 8, "name": name, "sources": {SOURCE: source}, "layers": layers}
    if needs_glyphs:
        style["glyphs"] = glyphs
    if bounds:
        style["center"] = [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2]
    return style


def to_leaflet(doc: dict[str, Any], *, name: str) -> dict[str, Any]:
    out = []
    for rule in cartosym.rules(doc):
        p = paint(rule)
        cql2.check(rule.selector, rule.name)
        path: dict[str, Any] = {"opacity": p.opacity}
        if p.fill is not None:
            path |= {"fill": True, "fillColor": p.fill, "fillOpacity": round(p.fill_opacity * p.opacity, 4)}
        if p.stroke is not None:
            s = p.stroke
            path |= {"stroke": True, "color": s.color, "weight": s.width, "opacity": round(s.opacity * p.opacity, 4)}
            if s.dash:
                path["dashArray"] = " ".join(f"{d:g}" for d in s.dash)
        marker = None
        if p.marker is not None:
            m = p.marker
            marker = {
                "radius": m.radius,
                "fill": m.fill is not None,
                "fillColor": m.fill,
                "fillOpacity": round(m.fill_opacity * p.opacity, 4),
                "stroke": m.stroke is not None,
            }
            if m.stroke is not None:
                marker |= {"color": m.stroke.color, "weight": m.stroke.width, "opacity": m.stroke.opacity}
        label = None
        if p.label is not None:
            label = {"property": p.label.property, "size": p.label.size, "color": p.label.color}
        out.append(
            {
                "name": rule.name,
                "filter": rule.selector,
                "minZoom": rule.min_zoom,
                "maxZoom": rule.max_zoom,
                "path": path,
                "marker": marker,
                "label": label,
            }
        )
    return {"version": 1, "name": name, "rules": out}


def legend(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per rule (its name, fill/stroke/marker colours) for map legends."""
    entries = []
    for rule in cartosym.rules(doc):
        p = paint(rule)
        entries.append(
            {
                "name": rule.name,
                "fill": p.fill if p.fill is not None else (p.marker.fill if p.marker else None),
                "stroke": p.stroke.color
                if p.stroke
                else (p.marker.stroke.color if p.marker and p.marker.stroke else None),
            }
        )
    return entries
