// The admin diagnostics page in headless Chromium: log in, follow the link from the admin
// index, wait for the charts; report charts drawn, failed and external requests, page errors.
// usage: node admin_page.cjs <base_url> <username> <password>. Prints one JSON line.
const { chromium } = require("playwright-core");

(async () => {
  const [base, username, password] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const result = { ok: false, charts: 0, drawn: 0, failed: [], external: [], errors: [], sections: [] };
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(20000);
    const origin = new URL(base).origin;
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) result.external.push(r.url()); });
    page.on("requestfailed", (r) => result.failed.push(r.url()));
    page.on("response", (r) => { if (r.status() >= 400) result.failed.push(`${r.status()} ${r.url()}`); });
    page.on("pageerror", (e) => result.errors.push(String(e)));
    await page.goto(`${base}/admin/login/?next=/admin/`);
    await page.fill("#id_username", username);
    await page.fill("#id_password", password);
    await Promise.all([page.waitForURL(/\/admin\/$/), page.click("input[type=submit]")]);
    await Promise.all([page.waitForURL(/\/admin\/diagnostics\/$/), page.click("#diagnostics-link a >> nth=0")]);
    await page.waitForFunction(() => window.diagnosticsCharts && window.diagnosticsCharts.length === 5);
    result.charts = await page.evaluate(() => window.diagnosticsCharts.length);
    // A drawn canvas has non-transparent pixels.
    result.drawn = await page.evaluate(() => [...document.querySelectorAll("canvas")].filter((c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
      return false;
    }).length);
    result.sections = await page.evaluate(() => [...document.querySelectorAll("#diag-sections details")].map(
      (d) => [d.dataset.section, d.querySelector(".diag-summary").textContent]));
    result.ok = result.charts === 5 && result.drawn === 5 && result.external.length === 0 && result.errors.length === 0 && result.failed.length === 0;
  } catch (e) {
    result.errors.push(String(e));
  } finally {
    await browser.close();
    console.log(JSON.stringify(result));
  }
})();
