// The cockpit's Tasks and Pools views in a real browser (issues 40 and 42), run by
// tests/e2e/test_ui_browser.py:
//   node ui_browser_views.cjs <node_modules> <chromium> <base url> <password> <artifact dir>
// Logs in, opens Tasks, the first task's tree and Pools; collects console errors, page errors
// and failed requests (a CSP violation is a console error) and axe-core's serious and critical
// violations. Prints one JSON line: {errors, a11y, tasks, task_title, task_tree, pools}.
'use strict';
const fs = require('fs');
const path = require('path');
const [nodeModules, chromium, base, password, outDir] = process.argv.slice(2);
const { chromium: pw } = require(path.join(nodeModules, 'playwright-core'));

const AXE = fs.readFileSync(path.join(nodeModules, 'axe-core', 'axe.min.js'), 'utf8');

setTimeout(() => {
  console.error('ui_browser_views: stuck after 60 s');
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
    const a11y = async (what) => {
      if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE);
      const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      for (const v of r.violations) {
        if (v.impact === 'serious' || v.impact === 'critical') result.a11y.push(`${what}: ${v.id}: ${v.help}`);
      }
      await page.screenshot({ path: path.join(outDir, `${what}-desktop.png`), fullPage: true });
    };
    await page.goto(base + '/ui/');
    await page.fill('#password', password);
    await page.click('#login-form button[type=submit]');
    await page.locator('#nav').waitFor({ state: 'visible' });
    await page.click('nav a[href="#tasks"]');
    await page.locator('#tasks-table tbody a').first().waitFor();
    result.tasks = await page.locator('#tasks-table tbody').innerText();
    await a11y('tasks');
    await page.locator('#tasks-table tbody a').first().click();
    await page.locator('#task-tree li').first().waitFor();
    result.task_title = await page.locator('#task-title').innerText();
    result.task_tree = await page.locator('#task-tree').innerText();
    result.stop_hidden = await page.locator('#task-stop').isHidden();
    await a11y('task');
    await page.click('nav a[href="#pools"]');
    await page.locator('#pool-list h2').first().waitFor();
    result.pools = await page.locator('#pool-list').innerText();
    await a11y('pools');
    await context.close();
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
