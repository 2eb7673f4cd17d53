// What the small cockpit browser scripts (ui_browser_views, _lane, _quarantine, _draft) share:
// Chromium started headless with a stuck-timer, the page's console errors, page errors and
// (unless told not to) failed requests collected, the login, axe-core's serious and critical
// violations, and the one JSON line each script prints. Each script keeps only its own steps.
'use strict';
const fs = require('fs');
const path = require('path');

// Runs steps({page, context, result, axe}) in a fresh 1280x900 page and prints result as one
// JSON line (exit 1 on an exception, 2 when stuck past stuckS seconds). opts.result: the
// script's own fields; opts.requestFailed: false when aborted requests are expected (a stream
// cut by the page).
function run(name, nodeModules, chromium, opts, steps) {
  const { chromium: pw } = require(path.join(nodeModules, 'playwright-core'));
  const AXE = fs.readFileSync(path.join(nodeModules, 'axe-core', 'axe.min.js'), 'utf8');
  // waits scale with conftest.py's SLOW, as the Python side's do
  const slow = Math.max(1, Number(process.env.HERMETIC_E2E_SLOW) || 1);
  const stuckS = (opts.stuckS || 60) * slow;
  setTimeout(() => {
    console.error(`${name}: stuck after ${stuckS} s`);
    process.exit(2);
  }, stuckS * 1000).unref();
  (async () => {
    const result = { errors: [], a11y: [], ...(opts.result || {}) };
    const browser = await pw.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'] });
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(20000 * slow);
      const page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') result.errors.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => result.errors.push(`page error: ${e.message}`));
      if (opts.requestFailed !== false)
        page.on('requestfailed', (r) => result.errors.push(`request failed: ${r.url()} ${r.failure().errorText}`));
      // axe-core's serious and critical violations of the page as it is, under label
      const axe = async (label) => {
        if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE);
        const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
        for (const v of r.violations) {
          if (v.impact === 'serious' || v.impact === 'critical') result.a11y.push(`${label}: ${v.id}: ${v.help}`);
        }
      };
      await steps({ page, context, result, axe });
      await context.close();
    } finally {
      await browser.close();
    }
    console.log(JSON.stringify(result));
  })().catch((e) => {
    console.error(e && e.stack ? e.stack : String(e));
    process.exit(1);
  });
}

// Logs in with the password and waits for `ready` (a selector) to show.
async function login(page, base, password, ready = '#nav') {
  await page.goto(base + '/ui/');
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
  await page.locator(ready).waitFor({ state: 'visible' });
}

module.exports = { run, login };
