// Drives the review admin in headless Chromium: log in, open the pending queue,
// approve one release, reject another with a reason. Prints one JSON line.
// usage: node admin_review.cjs <base_url> <username> <password> <approve_id> <reject_id>
const { chromium } = require("playwright-core");

async function main() {
  const [base, username, password, approveId, rejectId] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const steps = [];
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(`${base}/admin/login/?next=/admin/publishing/pendingrelease/`);
    await page.fill("#id_username", username);
    await page.fill("#id_password", password);
    await Promise.all([page.waitForURL(/pendingrelease/), page.click("input[type=submit]")]);
    const queue = await page.textContent("#result_list");
    if (!queue.includes(approveId) || !queue.includes(rejectId)) throw new Error("releases missing from the queue");
    steps.push("queue");

    await page.click(`a[href*="/pendingrelease/${approveId}/change/"]`);
    await page.click("a.review-approve");
    await page.check("input[name=clearance_state][value=public]");
    await page.fill("textarea[name=notes]", "looks right");
    await Promise.all([page.waitForURL(/\/release\/.+\/change\//), page.click("input[name=confirm]")]);
    const approved = await page.textContent(".messagelist");
    if (!approved.includes("Approved 1 release(s).")) throw new Error(`approve message: ${approved}`);
    steps.push("approved");

    await page.goto(`${base}/admin/publishing/pendingrelease/`);
    await page.click(`a[href*="/pendingrelease/${rejectId}/change/"]`);
    await page.click("a.review-reject");
    await page.fill("textarea[name=reason]", "coordinates are swapped");
    await Promise.all([page.waitForURL(/\/release\/.+\/change\//), page.click("input[name=confirm]")]);
    const rejected = await page.textContent(".messagelist");
    if (!rejected.includes("Rejected 1 release(s).")) throw new Error(`reject message: ${rejected}`);
    steps.push("rejected");
    console.log(JSON.stringify({ ok: true, steps }));
  } catch (err) {
    console.log(JSON.stringify({ ok: false, steps, error: String(err) }));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main();
