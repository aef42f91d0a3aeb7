// The H3 hexagon map: MapLibre (vendored, static/vendor/maplibre) over the platform's basemap,
// hexagons as a GeoJSON fill layer from /api/h3/stats/{id}/cells?f=geojson (polygons derived
// from the cell ids by the server). Resolution follows the zoom unless one is picked; a
// continuous colour ramp (viridis) over the values on screen, with its legend; hover shows the value.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("h3-config").textContent);
  const node = document.getElementById("map");
  const el = (id) => document.getElementById(id);
  const RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
  const LIMIT = 5000;
  let datasets = [];
  let current = null;
  let range = [0, 1];
  let loading = 0;

  const map = new maplibregl.Map({
    container: "map",
    style: GeoplatformBasemap.maplibreStyle({
      sources: { cells: { type: "geojson", data: { type: "FeatureCollection", features: [] } } },
      layers: [
        { id: "cells", type: "fill", source: "cells", paint: { "fill-color": "#888888", "fill-opacity": 0.9 } },
        { id: "cells-line", type: "line", source: "cells", paint: { "line-color": "#ffffff", "line-width": 0.3, "line-opacity": 0.6 } },
      ],
    }),
    center: [0, 10],
    zoom: 1.5,
    attributionControl: false,
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  window.h3map = map;

  // Zoom -> H3 resolution (a hexagon stays a few to a few tens of pixels wide).
  function resForZoom(zoom) {
    const wanted = Math.max(0, Math.min(15, Math.round(zoom * 0.85 - 0.5)));
    const avail = current ? current.resolutions : [wanted];
    return avail.reduce((best, r) => (Math.abs(r - wanted) < Math.abs(best - wanted) ? r : best), avail[0]);
  }

  function hex(c) { return "#" + c.map((v) => Math.round(v).toString(16).padStart(2, "0")).join(""); }
  function rgb(h) { return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)); }
  // The ramp colour of a value (the same as the layer's interpolate expression), for tests and the legend.
  function colour(value) {
    const t = range[1] > range[0] ? Math.max(0, Math.min(1, (value - range[0]) / (range[1] - range[0]))) : 0.5;
    const pos = t * (RAMP.length - 1);
    const i = Math.min(RAMP.length - 2, Math.floor(pos));
    const a = rgb(RAMP[i]), b = rgb(RAMP[i + 1]), f = pos - i;
    return hex(a.map((v, k) => v + (b[k] - v) * f));
  }
  window.h3colour = (v) => rgb(colour(v));

  function option(select, value, text) {
    const o = document.createElement("option");
    o.value = value; o.textContent = text; select.appendChild(o);
  }

  function statName() { return el("stat").value; }

  // Every resolution is served cell by cell, the Parquet tier (fine resolutions, silver zone)
  // too; the zoom reaches the finest ones only when zoomed in (resForZoom), so pages stay small.
  function servedResolutions(d) {
    return d.resolutions.slice();
  }

  function setDataset(id) {
    current = datasets.find((d) => String(d.id) === String(id) || d.slug === id) || datasets[0];
    if (current) current = Object.assign({}, current, { resolutions: servedResolutions(current) });
    if (!current || !current.resolutions.length) {
      el("status").textContent = current ? "No resolution of this dataset is served cell by cell." : "No H3 statistics yet.";
      node.dataset.drawn = "empty";
      return;
    }
    el("dataset").value = String(current.id);
    el("stat").innerHTML = "";
    current.stats.forEach((s) => option(el("stat"), s.name, s.name + (s.units ? " (" + s.units + ")" : "")));
    if (cfg.stat && current.stats.some((s) => s.name === cfg.stat)) el("stat").value = cfg.stat;
    el("res").innerHTML = "";
    option(el("res"), "auto", "follows the zoom");
    current.resolutions.forEach((r) => option(el("res"), String(r), "resolution " + r));
    // Frame the dataset: its coarsest cells, then the zoom decides.
    const url = cellsUrl(current.resolutions[0], null, 2000);
    fetch(url).then((r) => r.json()).then((fc) => {
      const b = bounds(fc);
      if (b) map.fitBounds(b, { padding: 20, animate: false });
      load();
    });
  }

  function bounds(fc) {
    let w = 180, s = 90, e = -180, n = -90;
    for (const f of fc.features || []) for (const [x, y] of f.geometry.coordinates[0]) {
      w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y);
    }
    return w < e ? [[w, s], [e, n]] : null;
  }

  function cellsUrl(res, bbox, limit) {
    const q = new URLSearchParams({ f: "geojson", res: String(res), limit: String(limit || LIMIT) });
    if (statName()) q.set("stat", statName());
    if (bbox) q.set("bbox", bbox.map((v) => v.toFixed(5)).join(","));
    return current.links.find((l) => l.rel === "items").href.split("?")[0] + "?" + q.toString();
  }

  function viewBbox() {
    const b = map.getBounds();
    const w = Math.max(-180, b.getWest()), e = Math.min(180, b.getEast());
    const s = Math.max(-85, b.getSouth()), n = Math.min(85, b.getNorth());
    return w < e && s < n ? [w, s, e, n] : null;
  }

  function load() {
    if (!current) return;
    const res = el("res").value === "auto" ? resForZoom(map.getZoom()) : Number(el("res").value);
    const token = ++loading;
    el("status").textContent = "Loading resolution " + res + "…";
    fetch(cellsUrl(res, viewBbox()))
      .then((r) => r.ok ? r.json() : r.json().then((b) => Promise.reject(new Error(b.message || r.status))))
      .then((fc) => {
        if (token !== loading) return;
        const stat = statName();
        const vals = fc.features.map((f) => f.properties[stat]).filter((v) => v !== null && Number.isFinite(v));
        range = vals.length ? [Math.min(...vals), Math.max(...vals)] : [0, 1];
        const stops = RAMP.flatMap((c, i) => [range[0] + (range[1] - range[0] || 1) * i / (RAMP.length - 1), c]);
        map.setPaintProperty("cells", "fill-color", ["case", ["==", ["typeof", ["get", stat]], "number"],
          ["interpolate", ["linear"], ["get", stat], ...stops], "#bbbbbb"]);
        map.getSource("cells").setData(fc);
        legend(stat);
        const more = (fc.links || []).some((l) => l.rel === "next");
        el("status").textContent = fc.numberReturned + " cells at resolution " + res + (more ? " (first " + LIMIT + "; zoom in for all)" : "");
        node.dataset.res = String(res);
        map.once("idle", () => { if (token === loading) node.dataset.drawn = fc.numberReturned ? "yes" : "empty"; });
      })
      .catch((e) => { el("status").textContent = String(e.message || e); node.dataset.drawn = "error"; });
  }

  function legend(stat) {
    const col = current.stats.find((s) => s.name === stat) || {};
    const units = col.units || current.units || "";
    const fmt = (v) => Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(4);
    el("legend").innerHTML = "";
    const title = document.createElement("div");
    title.textContent = stat + (units ? " (" + units + ")" : "");
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.background = "linear-gradient(to right, " + RAMP.join(", ") + ")";
    const ticks = document.createElement("div");
    ticks.className = "ticks";
    [range[0], (range[0] + range[1]) / 2, range[1]].forEach((v) => { const s = document.createElement("span"); s.textContent = fmt(v); ticks.appendChild(s); });
    el("legend").append(title, bar, ticks);
    el("legend").dataset.ready = "yes";
  }

  map.on("mousemove", "cells", (e) => {
    const f = e.features && e.features[0];
    if (!f) return;
    const v = f.properties[statName()];
    const text = f.properties.cell + ": " + statName() + " = " + (v === null || v === undefined ? "no value" : Number(v).toPrecision(6));
    el("hover").textContent = text;
    node.dataset.hover = text;
    map.getCanvas().style.cursor = "pointer";
  });
  map.on("mouseleave", "cells", () => { map.getCanvas().style.cursor = ""; });

  let timer = null;
  map.on("moveend", () => { clearTimeout(timer); timer = setTimeout(load, 150); });
  el("dataset").addEventListener("change", () => setDataset(el("dataset").value));
  el("stat").addEventListener("change", load);
  el("res").addEventListener("change", load);

  map.on("load", () => {
    fetch(cfg.registry).then((r) => r.json()).then((reg) => {
      datasets = reg.datasets;
      datasets.forEach((d) => option(el("dataset"), String(d.id), d.title));
      setDataset(cfg.dataset || (datasets[0] && datasets[0].id));
    });
  });
})();
