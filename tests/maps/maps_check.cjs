// Open map pages in headless Chromium with every non-localhost request blocked; report, per
// page, the basemap tiles loaded (and that they hold a picture), blocked/failed requests, errors.
const { chromium } = require("playwright-core");

(async () => {
  const urls = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const pages = [];
  try {
    for (const url of urls) {
      const result = { url, basemapTiles: 0, drawn: false, datasets: 0, legend: "", blocked: [], failed: [], errors: [] };
      pages.push(result);
      const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
      await page.route("**/*", (route) => {
        const host = new URL(route.request().url()).hostname;
        if (["localhost", "127.0.0.1"].includes(host) || route.request().url().startsWith("data:")) return route.continue();
        result.blocked.push(route.request().url());
        return route.abort();
      });
      page.on("requestfailed", (r) => result.failed.push(r.url()));
      page.on("response", (r) => { if (r.status() >= 400) result.failed.push(`${r.status()} ${r.url()}`); });
      page.on("pageerror", (e) => result.errors.push(String(e)));
      try {
        await page.goto(url, { waitUntil: "load" });
        await page.waitForFunction(
          () => document.querySelectorAll(".geoplatform-basemap img.leaflet-tile-loaded").length > 0, null, { timeout: 20000 });
        await page.waitForLoadState("networkidle");
        Object.assign(result, await page.evaluate(() => {
          const imgs = [...document.querySelectorAll(".geoplatform-basemap img.leaflet-tile-loaded")];
          // Read one tile's pixels back (same origin: the canvas is not tainted): relief, not blank.
          const canvas = document.createElement("canvas");
          canvas.width = canvas.height = 64;
          const ctx = canvas.getContext("2d");
          const colours = new Set();
          for (const img of imgs) {
            ctx.drawImage(img, 0, 0, 64, 64);
            const px = ctx.getImageData(0, 0, 64, 64).data;
            for (let i = 0; i < px.length; i += 4) colours.add((px[i] >> 3) + "," + (px[i + 1] >> 3) + "," + (px[i + 2] >> 3));
          }
          const legend = document.getElementById("legend");
          return {
            basemapTiles: imgs.length,
            colours: colours.size,
            sizes: [...new Set(imgs.map((i) => i.naturalWidth))],
            drawn: imgs.every((i) => i.naturalWidth >= 256) && colours.size > 8,
            datasets: document.querySelectorAll("tr[data-dataset]").length,
            legend: legend && legend.dataset.ready ? legend.className : "",
          };
        }));
      } catch (e) {
        result.errors.push(String(e));
      }
      await page.close();
    }
  } finally {
    await browser.close();
    console.log(JSON.stringify(pages));
  }
})();
