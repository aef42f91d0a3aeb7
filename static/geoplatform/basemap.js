// The basemap of every map page: configuration written by {% basemap %} (geoplatform_maps).
// Leaflet:   GeoplatformBasemap.leaflet(map)            -> the L.tileLayer, added below the data
// MapLibre:  new maplibregl.Map({style: GeoplatformBasemap.maplibreStyle(), ...})
//            or GeoplatformBasemap.addToMapLibre(map)   (adds source + layer under the others)
(function () {
  "use strict";
  const node = document.getElementById("geoplatform-basemap");
  const cfg = node ? JSON.parse(node.textContent) : { tiles: "" };
  // MapLibre needs absolute tile URLs; new URL() would escape the {z}/{x}/{y} braces.
  const tiles = cfg.tiles && cfg.tiles.startsWith("/") ? window.location.origin + cfg.tiles : cfg.tiles;

  function leaflet(map, options) {
    if (!tiles || typeof L === "undefined") return null;
    const layer = L.tileLayer(tiles, Object.assign({
      maxNativeZoom: cfg.maxzoom, maxZoom: 22, attribution: cfg.attribution, className: "geoplatform-basemap",
    }, options || {}));
    layer.addTo(map);
    layer.bringToBack();
    return layer;
  }

  function maplibreSource() {
    return { type: "raster", tiles: [tiles], tileSize: 256, maxzoom: cfg.maxzoom, attribution: cfg.attribution };
  }

  function maplibreStyle(extra) {
    const style = { version: 8, sources: {}, layers: [] };
    if (tiles) {
      style.sources.basemap = maplibreSource();
      style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    if (extra) {
      Object.assign(style.sources, extra.sources || {});
      style.layers.push(...(extra.layers || []));
      if (extra.glyphs) style.glyphs = extra.glyphs;
    }
    return style;
  }

  function addToMapLibre(map) {
    if (!tiles) return;
    const first = (map.getStyle().layers || [])[0];
    map.addSource("basemap", maplibreSource());
    map.addLayer({ id: "basemap", type: "raster", source: "basemap" }, first ? first.id : undefined);
  }

  window.GeoplatformBasemap = { config: cfg, tiles: tiles, leaflet, maplibreSource, maplibreStyle, addToMapLibre };
})();
