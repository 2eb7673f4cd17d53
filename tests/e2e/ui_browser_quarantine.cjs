// The cockpit's quarantined skills in a real browser (issue 43), run by
// tests/e2e/test_ui_browser.py:
//   node ui_browser_quarantine.cjs <node_modules> <chromium> <base url> <password> <artifact dir>
// Logs in, opens Memory, reads the quarantined skill's review, checks it with axe-core, presses
// Approve and waits for the skill among the skills. Collects console errors, page errors and
// failed requests. Prints one JSON line: {errors, a11y, review, status, skills, quarantine_hidden}.
'use strict';
const path = require('path');
const { run, login } = require('./ui_browser_lib.cjs');
const [nodeModules, chromium, base, password, outDir] = process.argv.slice(2);

run('ui_browser_quarantine', nodeModules, chromium, {}, async ({ page, result, axe }) => {
  await login(page, base, password);
  await page.click('nav a[href="#memory"]');
  await page.locator('#quarantine-list li').first().waitFor();
  result.review = await page.locator('#quarantine-list').innerText();
  await axe('quarantine');
  await page.screenshot({ path: path.join(outDir, 'quarantine-desktop.png'), fullPage: true });
  await page.click('#quarantine-list button');
  await page.locator('#status').filter({ hasText: 'Approved' }).waitFor();
  result.status = await page.locator('#status').innerText();
  await page.locator('#quarantine').waitFor({ state: 'hidden' });
  result.quarantine_hidden = true;
  result.skills = await page.locator('#skill-list').innerText();
});
