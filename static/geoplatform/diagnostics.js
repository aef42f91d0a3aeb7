// The admin diagnostics page: small charts and the raw sections (data embedded by the view).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("diagnostics-data").textContent);
  const charts = [];
  const source = (section, name) => ((data[section] || {}).sources || {})[name] || {};

  function chart(id, type, labels, datasets, extra) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    charts.push(new Chart(canvas, {
      type: type,
      data: { labels: labels, datasets: datasets },
      options: Object.assign({ animation: false, responsive: true, plugins: { legend: { display: datasets.length > 1 || type === "doughnut" } } }, extra || {}),
    }));
  }

  // Jobs: one stacked bar per job type, one series per status.
  const counts = source("jobs", "ingest").counts || {};
  const types = Object.keys(counts).sort();
  const statuses = [...new Set(types.flatMap((t) => Object.keys(counts[t])))].sort();
  chart("chart-jobs", "bar", types, statuses.map((s) => ({ label: s, data: types.map((t) => counts[t][s] || 0) })),
    { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } });

  const queues = source("queues", "ingest").queues || {};
  const qnames = Object.keys(queues).sort();
  chart("chart-queues", "bar", qnames, ["depth", "delayed", "dead_lettered"].map((k) => ({ label: k, data: qnames.map((q) => queues[q][k] || 0) })),
    { scales: { y: { beginAtZero: true } } });

  const workers = source("workers", "ingest").workers || [];
  chart("chart-workers", "bar", workers.map((w) => w.worker_id), [{ label: "RSS MiB", data: workers.map((w) => (w.rss_bytes || 0) / 1048576) }],
    { scales: { y: { beginAtZero: true } } });

  const schemas = source("database", "core").schemas || [];
  chart("chart-database", "doughnut", schemas.map((s) => s.schema), [{ label: "MiB", data: schemas.map((s) => s.bytes / 1048576) }]);

  const zones = source("storage", "core").zones || {};
  const znames = Object.keys(zones);
  chart("chart-storage", "bar", znames, [{ label: "objects", data: znames.map((z) => zones[z].objects || 0) }],
    { scales: { y: { beginAtZero: true } } });

  // Raw sections, with each contributor's status in the summary line.
  document.querySelectorAll("#diag-sections details").forEach((el) => {
    const section = data[el.dataset.section] || {};
    const sources = section.sources || {};
    const summary = Object.entries(sources).map(([name, s]) => `${name}: ${s.status} (${s.duration_ms} ms)`).join(", ");
    const span = el.querySelector(".diag-summary");
    span.textContent = section.error ? section.error : summary;
    if (section.error || Object.values(sources).some((s) => s.status !== "ok")) span.classList.add("diag-status-error");
    el.querySelector("pre").textContent = JSON.stringify(section, null, 2);
  });
  window.diagnosticsCharts = charts;
})();
