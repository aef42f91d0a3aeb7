// A raster legend (JSON from /api/raster/.../legend) drawn as HTML: a colour bar with the
// rescale values, or the categories with their names. GeoplatformLegend.load(url, element).
(function () {
  "use strict";
  function fmt(v) { return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : v.toPrecision(3); }

  function render(el, doc) {
    el.textContent = "";
    el.className = "geoplatform-legend legend-" + doc.type;
    if (doc.type === "continuous") {
      const bar = document.createElement("div");
      bar.className = "legend-bar";
      bar.style.cssText = "height:12px;border:1px solid #999;background:linear-gradient(to right," +
        doc.stops.map((s) => s.color).join(",") + ")";
      const labels = document.createElement("div");
      labels.style.cssText = "display:flex;justify-content:space-between;font-size:12px";
      labels.innerHTML = "<span class=legend-min></span><span class=legend-name></span><span class=legend-max></span>";
      labels.querySelector(".legend-min").textContent = fmt(doc.min);
      labels.querySelector(".legend-max").textContent = fmt(doc.max);
      labels.querySelector(".legend-name").textContent = doc.colormap_name;
      el.append(bar, labels);
    } else if (doc.type === "categorical") {
      const list = document.createElement("ul");
      list.style.cssText = "list-style:none;margin:0;padding:0;font-size:12px;max-height:240px;overflow:auto";
      for (const c of doc.classes) {
        const li = document.createElement("li");
        const sw = document.createElement("span");
        sw.className = "legend-swatch";
        sw.style.cssText = "display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle;border:1px solid #999;background:" + c.color;
        li.append(sw, document.createTextNode(c.name + (c.name !== String(c.value) ? " (" + c.value + ")" : "")));
        list.append(li);
      }
      el.append(list);
    } else if (doc.type === "rgb") {
      el.textContent = "RGB: " + doc.bands.join(", ") + (doc.rescale.length ? " · rescale " + doc.rescale.map((r) => r.join("–")).join(", ") : "");
    }
    el.dataset.ready = "1";
  }

  function load(url, el) {
    return fetch(url).then((r) => r.json()).then((doc) => { if (doc.type) render(el, doc); return doc; });
  }

  window.GeoplatformLegend = { render, load };
})();
