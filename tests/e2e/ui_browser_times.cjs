// The cockpit's times in a real browser whose own zone is not the config's, run by
// tests/e2e/test_ui_browser.py with TZ set for node and so for Chromium:
//   node ui_browser_times.cjs <node_modules> <chromium> <base url> <password> <artifact dir>
// Logs in, reads the browser's own zone, the Sessions list, the Jobs tables and the Spend
// table's day header. Prints one JSON line: {errors, a11y, browser_zone, sessions, cron,
// reminders, spend_day}.
'use strict';
const path = require('path');
const { run, login } = require('./ui_browser_lib.cjs');
const [nodeModules, chromium, base, password, outDir] = process.argv.slice(2);

run('ui_browser_times', nodeModules, chromium, {}, async ({ page, result, axe }) => {
  await login(page, base, password);
  result.browser_zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  await page.click('nav a[href="#sessions"]');
  await page.locator('#session-list li').first().waitFor();
  result.sessions = await page.locator('#session-list').innerText();
  await page.click('nav a[href="#jobs"]');
  await page.locator('#jobs-table tbody td').first().waitFor();
  result.cron = await page.locator('#jobs-table tbody').innerText();
  result.reminders = await page.locator('#reminders-table tbody').innerText();
  await axe('jobs-times');
  await page.screenshot({ path: path.join(outDir, 'jobs-times-desktop.png'), fullPage: true });
  await page.click('nav a[href="#spend"]');
  await page.locator('#spend-table thead th').first().waitFor();
  result.spend_day = await page.locator('#spend-table thead th').first().innerText();
});
