// Open a features collection page (MapLibre over the collection's vector tiles) in headless
// Chromium, every non-localhost request blocked; report what the map drew from the MVT tiles.
const { chromium } = require("playwright-core");

(async () => {
  const url = process.argv[2];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // SwiftShader: WebGL without a GPU.
    args: ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking"],
  });
  const result = { rendered: null, tiles: [], blocked: [], failed: [], errors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await page.route("**/*", (route) => {
      const u = route.request().url();
      if (["localhost", "127.0.0.1"].includes(new URL(u).hostname) || u.startsWith("data:") || u.startsWith("blob:")) return route.continue();
      result.blocked.push(u);
      return route.abort();
    });
    page.on("response", (r) => {
      if (r.url().includes("/tiles/WebMercatorQuad/")) result.tiles.push([r.status(), r.headers()["content-type"] || ""]);
      else if (r.status() >= 400) result.failed.push(`${r.status()} ${r.url()}`);
    });
    page.on("requestfailed", (r) => result.failed.push(r.url()));
    page.on("pageerror", (e) => result.errors.push(String(e)));
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.getElementById("map").dataset.rendered, null, { timeout: 60000 });
    result.rendered = await page.evaluate(() => document.getElementById("map").dataset.rendered);
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
    console.log(JSON.stringify(result));
  }
})();
