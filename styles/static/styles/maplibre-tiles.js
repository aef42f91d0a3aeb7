// The style page's MapLibre source: the style's MapLibre encoding (application/vnd.mapbox.style+json,
// styles/encodings.py) is already over the collection's vector tiles (a TileJSON URL, every layer
// reading the tiles' one layer, named after the collection); the page inlines the TileJSON it has
// fetched anyway, so that MapLibre asks no tile beyond z16 (over-zoomed after) or outside the data's
// bounds clamped to WebMercatorQuad. Rules' filters, zoom ranges and paint are kept as they are.
(function () {
  "use strict";

  // MapLibre over-zooms the last tiles it asks for: beyond z16 the tiles add nothing for a map page.
  const MAX_TILE_ZOOM = 16;
  const MAX_LAT = 85.0511287798;  // WebMercatorQuad's edge: no tile is asked outside the data's bounds

  function clampedBounds(b) {
    if (!b) return [-180, -MAX_LAT, 180, MAX_LAT];
    const lat = (v) => Math.max(-MAX_LAT, Math.min(MAX_LAT, v));
    return [Math.max(-180, b[0]), lat(b[1]), Math.min(180, b[2]), lat(b[3])];
  }

  function onVectorTiles(style, tilejson, sourceLayer) {
    const out = Object.assign({}, style, { sources: Object.assign({}, style.sources), layers: [] });
    const names = Object.keys(style.sources || {});
    for (const name of names) {
      out.sources[name] = {
        type: "vector",
        tiles: tilejson.tiles,
        minzoom: tilejson.minzoom,
        maxzoom: Math.min(tilejson.maxzoom, MAX_TILE_ZOOM),
        bounds: clampedBounds(tilejson.bounds),
      };
    }
    out.layers = (style.layers || []).map((layer) =>
      names.includes(layer.source) ? Object.assign({}, layer, { "source-layer": sourceLayer }) : layer,
    );
    return out;
  }

  window.GeoPlatformVectorStyle = { onVectorTiles };
})();
