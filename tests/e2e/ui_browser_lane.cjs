// The cockpit's session view shows the session's lane (issue 41) in a real browser, run by
// tests/e2e/test_ui_browser.py:
//   node ui_browser_lane.cjs <node_modules> <chromium> <base url> <password> <artifact dir> <lane id> <plain id>
// Logs in, opens the session in a lane and one in none; collects console errors, page errors
// and failed requests (a CSP violation is a console error) and axe-core's serious and critical
// violations. Prints one JSON line: {errors, a11y, lane_text, lane_visible, plain_visible}.
'use strict';
const fs = require('fs');
const path = require('path');
const [nodeModules, chromium, base, password, outDir, laneId, plainId] = process.argv.slice(2);
const { chromium: pw } = require(path.join(nodeModules, 'playwright-core'));

const AXE = fs.readFileSync(path.join(nodeModules, 'axe-core', 'axe.min.js'), 'utf8');

setTimeout(() => {
  console.error('ui_browser_lane: stuck after 60 s');
  process.exit(2);
}, 60000).unref();

(async () => {
  const result = { errors: [], a11y: [] };
  const browser = await pw.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(20000);
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') result.errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => result.errors.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => result.errors.push(`request failed: ${r.url()} ${r.failure().errorText}`));
    await page.goto(base + '/ui/');
    await page.fill('#password', password);
    await page.click('#login-form button[type=submit]');
    await page.locator('#nav').waitFor({ state: 'visible' });
    await page.goto(base + '/ui/#session/' + laneId);
    await page.locator('#session-lane').waitFor({ state: 'visible' });
    result.lane_text = await page.locator('#session-lane').innerText();
    result.lane_visible = await page.locator('#session-lane').isVisible();
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE);
    const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    for (const v of r.violations) {
      if (v.impact === 'serious' || v.impact === 'critical') result.a11y.push(`session: ${v.id}: ${v.help}`);
    }
    await page.screenshot({ path: path.join(outDir, 'session-lane-desktop.png'), fullPage: true });
    await page.goto(base + '/ui/#session/' + plainId);
    await page.locator('#session-title').filter({ hasText: 'hello' }).or(
      page.locator('#session-meta').filter({ hasText: '#' + plainId + ' ' })).first().waitFor();
    result.plain_visible = await page.locator('#session-lane').isVisible();
    await context.close();
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
