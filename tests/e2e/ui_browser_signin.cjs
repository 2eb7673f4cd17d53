// The cockpit lists an MCP server's pending sign-in with its button (issue 48), run by
// tests/e2e/test_ui_browser.py:
//   node ui_browser_signin.cjs <node_modules> <chromium> <base url> <password> <artifact dir> <server>
// Logs in, opens the Chat page and waits for the "Sign in to <server>" item; collects console
// errors, page errors and failed requests and axe-core's serious and critical violations.
// Prints one JSON line: {errors, a11y, title, button, href, target}.
'use strict';
const path = require('path');
const { run, login } = require('./ui_browser_lib.cjs');
const [nodeModules, chromium, base, password, outDir, server] = process.argv.slice(2);

run('ui_browser_signin', nodeModules, chromium, {}, async ({ page, result, axe }) => {
  await login(page, base, password);
  await page.goto(base + '/ui/#chat');
  const item = page.locator(`#approval-list [data-signin="${server}"]`);
  await item.waitFor({ state: 'visible' });
  result.title = await item.locator('.title').innerText();
  const a = item.locator('a.button');
  result.button = await a.innerText();
  result.href = await a.getAttribute('href');
  result.target = await a.getAttribute('target');
  await axe('chat with a sign-in');
  await page.screenshot({ path: path.join(outDir, 'chat-signin-desktop.png'), fullPage: true });
});
