// Open a features items page (Leaflet) or a style page (MapLibre) in headless Chromium, wait until it is drawn with its style, and
// report the screenshot's colour at each [lat, lng] given (argv[3], JSON), the vector tile responses
// ([status, content type]), the GeoJSON items requests and the features MapLibre drew (data-rendered).
const { chromium } = require("playwright-core");

(async () => {
  const url = process.argv[2];
  const points = JSON.parse(process.argv[3]);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // SwiftShader: WebGL without a GPU, for the MapLibre page.
    args: ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking"],
  });
  const result = { ok: false, styled: null, colours: [], external: [], errors: [], legend: "", tiles: [], items: [], rendered: null };
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
    const origin = new URL(url).origin;
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:") && !r.url().startsWith("blob:" + origin)) result.external.push(r.url()); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    page.on("response", (r) => {
      const path = new URL(r.url()).pathname;
      if (/\/tiles\/WebMercatorQuad\/\d+\/\d+\/\d+$/.test(path)) result.tiles.push([r.status(), r.headers()["content-type"] || ""]);
      if (/\/items$/.test(path)) result.items.push(r.url());
    });
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.getElementById("map").dataset.styled, null, { timeout: 30000 });
    result.styled = await page.evaluate(() => document.getElementById("map").dataset.styled);
    result.rendered = await page.evaluate(() => document.getElementById("map").dataset.rendered || null);
    result.legend = await page.evaluate(() => (document.querySelector(".legend") || {}).textContent || "");
    const xy = await page.evaluate((pts) => {
      const box = document.getElementById("map").getBoundingClientRect();
      return pts.map((p) => { const c = window.mlmap ? window.mlmap.project([p[1], p[0]]) : map.latLngToContainerPoint(p); return [Math.round(box.left + c.x + window.scrollX), Math.round(box.top + c.y + window.scrollY)]; });
    }, points);
    // Leaflet's canvas renderer and MapLibre paint on animation frames: on a loaded machine the first
    // screenshot can come before the features are painted. Sample until two screenshots 250 ms apart agree.
    const sample = async () => {
      const shot = (await page.screenshot({ fullPage: true })).toString("base64");
      return page.evaluate(async ({ b64, xy }) => {
        const img = new Image();
        img.src = "data:image/png;base64," + b64;
        await img.decode();
        const canvas = document.createElement("canvas");
        canvas.width = img.width; canvas.height = img.height;
        const ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        return xy.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data).slice(0, 3));
      }, { b64: shot, xy });
    };
    let previous = null;
    for (let i = 0; i < 40; i++) {
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      result.colours = await sample();
      if (previous && JSON.stringify(previous) === JSON.stringify(result.colours)) break;
      previous = result.colours;
      await page.waitForTimeout(250);
    }
    result.ok = result.external.length === 0 && result.errors.length === 0;
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
    console.log(JSON.stringify(result));
  }
})();
