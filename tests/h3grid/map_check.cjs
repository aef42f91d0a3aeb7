// Open the H3 map in headless Chromium (WebGL on SwiftShader), every non-localhost request
// blocked; wait until the hexagons are drawn, then report the screenshot's colour at each given
// cell centre [lat, lng] with the colour the page's ramp gives that cell's value, and hover it.
const { chromium } = require("playwright-core");

(async () => {
  const url = process.argv[2];
  const cells = JSON.parse(process.argv[3]); // [{lat, lng, value}]
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking"],
  });
  const result = { drawn: null, res: null, samples: [], hover: "", legend: "", options: {}, external: [], errors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 }, deviceScaleFactor: 1 });
    const origin = new URL(url).origin;
    await page.route("**/*", (route) => {
      const u = route.request().url();
      if (u.startsWith(origin) || u.startsWith("data:") || u.startsWith("blob:")) return route.continue();
      result.external.push(u);
      return route.abort();
    });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.getElementById("map").dataset.drawn, null, { timeout: 60000 });
    Object.assign(result, await page.evaluate(() => ({
      drawn: document.getElementById("map").dataset.drawn,
      res: document.getElementById("map").dataset.res,
      legend: document.getElementById("legend").dataset.ready ? document.getElementById("legend").textContent : "",
      options: Object.fromEntries(["dataset", "stat", "res"].map((id) => [id, [...document.getElementById(id).options].map((o) => o.value)])),
    })));
    const xy = await page.evaluate((cs) => cs.map((c) => {
      const p = window.h3map.project([c.lng, c.lat]);
      return { x: Math.round(p.x), y: Math.round(p.y), expected: window.h3colour(c.value) };
    }), cells);
    const shot = (await page.screenshot()).toString("base64");
    const colours = await page.evaluate(async ({ b64, xy }) => {
      const img = new Image();
      img.src = "data:image/png;base64," + b64;
      await img.decode();
      const canvas = document.createElement("canvas");
      canvas.width = img.width; canvas.height = img.height;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0);
      return xy.map(({ x, y }) => Array.from(ctx.getImageData(x, y, 1, 1).data).slice(0, 3));
    }, { b64: shot, xy });
    result.samples = xy.map((p, i) => ({ ...p, got: colours[i] }));
    if (xy.length) {
      await page.mouse.move(xy[0].x, xy[0].y);
      await page.waitForFunction(() => document.getElementById("map").dataset.hover, null, { timeout: 10000 });
      result.hover = await page.evaluate(() => document.getElementById("hover").textContent);
    }
    // Zoom out: the resolution follows (coarser hexagons are loaded and drawn).
    await page.evaluate(() => { const n = document.getElementById("map"); n.dataset.drawn = ""; window.h3map.zoomTo(5, { duration: 0 }); });
    await page.waitForFunction(() => document.getElementById("map").dataset.drawn, null, { timeout: 30000 });
    result.zoomedOut = await page.evaluate(() => ({ res: document.getElementById("map").dataset.res, drawn: document.getElementById("map").dataset.drawn }));
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
    console.log(JSON.stringify(result));
  }
})();
