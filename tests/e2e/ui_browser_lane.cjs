// The cockpit's session view shows the session's lane (issue 41) in a real browser, run by
// tests/e2e/test_ui_browser.py:
//   node ui_browser_lane.cjs <node_modules> <chromium> <base url> <password> <artifact dir> <lane id> <plain id>
// Logs in, opens the session in a lane and one in none; collects console errors, page errors
// and failed requests (a CSP violation is a console error) and axe-core's serious and critical
// violations. Prints one JSON line: {errors, a11y, lane_text, lane_visible, plain_visible}.
'use strict';
const path = require('path');
const { run, login } = require('./ui_browser_lib.cjs');
const [nodeModules, chromium, base, password, outDir, laneId, plainId] = process.argv.slice(2);

run('ui_browser_lane', nodeModules, chromium, {}, async ({ page, result, axe }) => {
  await login(page, base, password);
  await page.goto(base + '/ui/#session/' + laneId);
  await page.locator('#session-lane').waitFor({ state: 'visible' });
  result.lane_text = await page.locator('#session-lane').innerText();
  result.lane_visible = await page.locator('#session-lane').isVisible();
  await axe('session');
  await page.screenshot({ path: path.join(outDir, 'session-lane-desktop.png'), fullPage: true });
  await page.goto(base + '/ui/#session/' + plainId);
  await page.locator('#session-title').filter({ hasText: 'hello' }).or(
    page.locator('#session-meta').filter({ hasText: '#' + plainId + ' ' })).first().waitFor();
  result.plain_visible = await page.locator('#session-lane').isVisible();
});
