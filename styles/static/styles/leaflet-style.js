// Draws a collection with its style's Leaflet encoding (application/vnd.geoplatform.leaflet-style+json;version=1,
// made by styles/encodings.py): every rule whose CQL2-JSON filter matches a feature and whose zoom
// range holds the map's zoom adds its path options, in order. Zooms in the encoding are MapLibre's
// (512-px tiles): Leaflet's zoom (256-px tiles) is one more.
(function () {
  "use strict";

  function prop(feature, name) {
    const p = feature.properties || {};
    return p[name] === undefined ? null : p[name];
  }

  function same(a, b) {
    return a === b || (a !== null && b !== null && String(a) === String(b));
  }

  function likeRegex(pattern) {
    let out = "";
    for (const ch of pattern) {
      out += ch === "%" ? ".*" : ch === "_" ? "." : ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }
    return new RegExp("^" + out + "$");
  }

  function matches(expr, feature) {
    if (expr === null || expr === undefined || expr === true) return true;
    const op = expr.op, args = expr.args;
    if (op === "and") return args.every((a) => matches(a, feature));
    if (op === "or") return args.some((a) => matches(a, feature));
    if (op === "not") return !matches(args[0], feature);
    const value = prop(feature, args[0].property);
    if (op === "isNull") return value === null;
    if (value === null) return false;
    switch (op) {
      case "=": return same(value, args[1]);
      case "<>": return !same(value, args[1]);
      case "<": return typeof args[1] === "number" ? Number(value) < args[1] : String(value) < args[1];
      case ">": return typeof args[1] === "number" ? Number(value) > args[1] : String(value) > args[1];
      case "<=": return typeof args[1] === "number" ? Number(value) <= args[1] : String(value) <= args[1];
      case ">=": return typeof args[1] === "number" ? Number(value) >= args[1] : String(value) >= args[1];
      case "in": return args[1].some((v) => same(value, v));
      case "between": return Number(value) >= args[1] && Number(value) <= args[2];
      case "like": return likeRegex(args[1]).test(String(value));
      default: return false;
    }
  }

  function compile(style) {
    const rules = style.rules || [];
    function active(feature, leafletZoom) {
      const zoom = leafletZoom - 1;
      return rules.filter((r) => (r.minZoom === null || zoom >= r.minZoom) && (r.maxZoom === null || zoom < r.maxZoom) && matches(r.filter, feature));
    }
    function pathOptions(feature, zoom) {
      const found = active(feature, zoom).filter((r) => r.path && (r.path.fill || r.path.stroke));
      if (!found.length) return { stroke: false, fill: false };
      return Object.assign({ stroke: false, fill: false }, ...found.map((r) => r.path));
    }
    function markerOptions(feature, zoom) {
      const found = active(feature, zoom).filter((r) => r.marker);
      if (!found.length) return { radius: 0, stroke: false, fill: false };
      return Object.assign({}, ...found.map((r) => r.marker));
    }
    function label(feature, zoom) {
      const found = active(feature, zoom).filter((r) => r.label);
      if (!found.length) return null;
      const l = found[found.length - 1].label, value = prop(feature, l.property);
      return value === null ? null : String(value);
    }
    return { rules, matches, pathOptions, markerOptions, label };
  }

  // Options for L.geoJSON(data, GeoPlatformStyles.geoJsonOptions(compiled, map, extra)) and a
  // restyle on zoom (rules with zoom ranges).
  function geoJsonOptions(compiled, map, extra) {
    const options = Object.assign({}, extra || {});
    const onEach = options.onEachFeature;
    options.style = (f) => compiled.pathOptions(f, map.getZoom());
    options.pointToLayer = (f, latlng) => L.circleMarker(latlng, compiled.markerOptions(f, map.getZoom()));
    options.onEachFeature = (f, layer) => {
      const text = compiled.label(f, map.getZoom());
      if (text) layer.bindTooltip(text, { permanent: true, direction: "center", className: "gp-label" });
      if (onEach) onEach(f, layer);
    };
    return options;
  }

  function restyleOnZoom(compiled, map, layer) {
    map.on("zoomend", () => layer.eachLayer((l) => {
      const f = l.feature;
      l.setStyle(f.geometry && f.geometry.type.endsWith("Point") ? compiled.markerOptions(f, map.getZoom()) : compiled.pathOptions(f, map.getZoom()));
    }));
  }

  window.GeoPlatformStyles = { matches, compile, geoJsonOptions, restyleOnZoom };
})();
