// The cockpit's quarantined skills in a real browser (issue 43), run by
// tests/e2e/test_ui_browser.py:
//   node ui_browser_quarantine.cjs <node_modules> <chromium> <base url> <password> <artifact dir>
// Logs in, opens Memory, reads the quarantined skill's review, checks it with axe-core, presses
// Approve and waits for the skill among the skills. Collects console errors, page errors and
// failed requests. Prints one JSON line: {errors, a11y, review, status, skills, quarantine_hidden}.
'use strict';
const fs = require('fs');
const path = require('path');
const [nodeModules, chromium, base, password, outDir] = process.argv.slice(2);
const { chromium: pw } = require(path.join(nodeModules, 'playwright-core'));

const AXE = fs.readFileSync(path.join(nodeModules, 'axe-core', 'axe.min.js'), 'utf8');

setTimeout(() => {
  console.error('ui_browser_quarantine: stuck after 60 s');
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
    await page.click('nav a[href="#memory"]');
    await page.locator('#quarantine-list li').first().waitFor();
    result.review = await page.locator('#quarantine-list').innerText();
    await page.evaluate(AXE);
    const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    for (const v of r.violations) {
      if (v.impact === 'serious' || v.impact === 'critical') result.a11y.push(`quarantine: ${v.id}: ${v.help}`);
    }
    await page.screenshot({ path: path.join(outDir, 'quarantine-desktop.png'), fullPage: true });
    await page.click('#quarantine-list button');
    await page.locator('#status').filter({ hasText: 'Approved' }).waitFor();
    result.status = await page.locator('#status').innerText();
    await page.locator('#quarantine').waitFor({ state: 'hidden' });
    result.quarantine_hidden = true;
    result.skills = await page.locator('#skill-list').innerText();
    await context.close();
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
