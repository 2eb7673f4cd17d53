// The cockpit's Tasks and Pools views in a real browser (issues 40 and 42), run by
// tests/e2e/test_ui_browser.py:
//   node ui_browser_views.cjs <node_modules> <chromium> <base url> <password> <artifact dir>
// Logs in, opens Tasks, the first task's tree and Pools; collects console errors, page errors
// and failed requests (a CSP violation is a console error) and axe-core's serious and critical
// violations. Prints one JSON line: {errors, a11y, tasks, task_title, task_tree, pools}.
'use strict';
const path = require('path');
const { run, login } = require('./ui_browser_lib.cjs');
const [nodeModules, chromium, base, password, outDir] = process.argv.slice(2);

run('ui_browser_views', nodeModules, chromium, {}, async ({ page, result, axe }) => {
  const a11y = async (what) => {
    await axe(what);
    await page.screenshot({ path: path.join(outDir, `${what}-desktop.png`), fullPage: true });
  };
  await login(page, base, password);
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
});
