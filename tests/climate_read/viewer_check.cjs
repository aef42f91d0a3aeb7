// Open the climate viewer in headless Chromium: tiles load, the slider moves in time, a click
// draws the time series (uPlot canvas). Reports failed and external requests and page errors.
const { chromium } = require("playwright-core");

(async () => {
  const url = process.argv[2];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const result = { ok: false, tiles: 0, failed: [], external: [], errors: [] };
  try {
    const page = await browser.newPage();
    const origin = new URL(url).origin;
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) result.external.push(r.url()); });
    // Tiles Leaflet drops when the slider moves are aborted, not failed.
    page.on("requestfailed", (r) => { if ((r.failure() || {}).errorText !== "net::ERR_ABORTED") result.failed.push(r.url()); });
    page.on("response", (r) => { if (r.status() >= 400) result.failed.push(`${r.status()} ${r.url()}`); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelectorAll("img.leaflet-tile-loaded").length > 0, null, { timeout: 30000 });
    result.tiles = await page.evaluate(() => document.querySelectorAll("img.leaflet-tile-loaded").length);
    result.steps = await page.evaluate(() => +document.getElementById("time-slider").max + 1);
    await page.evaluate(() => { const s = document.getElementById("time-slider"); s.value = s.max; s.dispatchEvent(new Event("input")); });
    result.time = await page.evaluate(() => document.getElementById("time-label").textContent);
    result.legend = await page.evaluate(() => document.getElementById("legend-units").textContent);
    const box = await page.locator("#map").boundingBox();
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForFunction(() => document.querySelector("#chart canvas") !== null, null, { timeout: 15000 });
    result.chart = await page.evaluate(() => document.getElementById("chart-title").textContent);
    result.ok = result.tiles > 0 && result.external.length === 0 && result.errors.length === 0;
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
    console.log(JSON.stringify(result));
  }
})();
