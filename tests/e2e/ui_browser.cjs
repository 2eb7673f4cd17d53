// The cockpit in a real browser: Debian's chromium driven over CDP by playwright-core (no
// browser download). Run by tests/e2e/test_ui_browser.py:
//   node ui_browser.cjs <node_modules> <chromium> <base url> <password> <artifact dir>
// At phone and desktop width: a wrong password is refused, the right one logs in, the
// Sessions page lists, search finds, a session opens, Spend and Health render; every console
// error, page error and failed request is collected (a CSP violation is a console error).
// axe-core checks each page (serious and critical violations are reported).
// Prints one JSON line: {errors, a11y, a11y_checked, pages: {width: {...numbers read off the
// page}}, screenshots}.
'use strict';
const fs = require('fs');
const path = require('path');
const [nodeModules, chromium, base, password, outDir] = process.argv.slice(2);
const { chromium: pw } = require(path.join(nodeModules, 'playwright-core'));

// Injected through CDP (Runtime.evaluate), which the page's CSP does not govern.
const AXE = fs.readFileSync(path.join(nodeModules, 'axe-core', 'axe.min.js'), 'utf8');

// waits scale with conftest.py's SLOW, as the Python side's do
const SLOW = Math.max(1, Number(process.env.HERMETIC_E2E_SLOW) || 1);

const WIDTHS = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 900 } };

async function run(browser, name, viewport, result) {
  const context = await browser.newContext({ viewport, colorScheme: name === 'phone' ? 'dark' : 'light' });
  context.setDefaultTimeout(20000 * SLOW);
  const page = await context.newPage();
  let step = 'start';
  const watchdog = setInterval(() => { current.step = `${name}: ${step}`; }, 100);
  let expected = null; // while set, a console error matching it is expected (the wrong password's 401)
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (expected && expected.test(m.text())) return;
    result.errors.push(`${name}: console: ${m.text()}`);
  });
  page.on('pageerror', (e) => result.errors.push(`${name}: page error: ${e.message}`));
  page.on('requestfailed', (r) => result.errors.push(`${name}: request failed: ${r.url()} ${r.failure().errorText} (${step})`));
  const shot = async (what) => {
    const file = path.join(outDir, `${what}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    result.screenshots.push(file);
  };
  const seen = {};
  const finished = [];
  page.on('requestfinished', (r) => finished.push(r));
  // Bytes on the wire (bodies as sent, gzip for the assets, plus headers) of what finished.
  const bytes = async () => {
    let n = 0;
    for (const r of finished.splice(0)) {
      const z = await r.sizes();
      n += z.responseBodySize + z.responseHeadersSize + z.requestBodySize + z.requestHeadersSize;
    }
    return n;
  };
  // axe-core over the page as shown: serious and critical violations are failures.
  const a11y = async (what) => {
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE);
    const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    for (const v of r.violations) {
      if (v.impact !== 'serious' && v.impact !== 'critical') continue;
      const where = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ');
      result.a11y.push(`${name} ${what}: ${v.id} (${v.impact}) at ${where}: ${v.help}`);
    }
    result.a11y_checked.push(`${name} ${what}`);
  };

  try {
    await steps();
  } catch (e) {
    let shown = '';
    try {
      await page.screenshot({ path: path.join(outDir, `failure-${name}.png`), fullPage: true });
      shown = await page.locator('main').innerText({ timeout: 2000 });
    } catch (e2) { /* the page is gone */ }
    throw new Error(`${name} at step ${step}: ${e.message}\npage: ${shown}\nerrors: ${result.errors.join('; ')}`);
  }
  clearInterval(watchdog);
  result.pages[name] = seen;
  await context.close();

  async function steps() {
  await page.goto(base + '/ui/');
  await page.locator('#login').waitFor({ state: 'visible' });
  await shot('login');
  await a11y('login');
  expected = /status of 401/;
  await page.fill('#password', 'not the password');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-error', { hasText: 'wrong password' }).waitFor();
  expected = null;
  seen.wrong_password_refused = true;

  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
  await page.locator('#chat').waitFor({ state: 'visible' });
  await page.click('nav a[href="#sessions"]');
  await page.locator('#session-list li a').first().waitFor();
  seen.load_bytes = await bytes(); // the login page, logging in, the chat and sessions pages
  seen.sessions = await page.locator('#session-list li a').count();
  await shot('sessions');
  await a11y('sessions');

  await page.fill('#q', 'zebra');
  await page.click('#search-form button[type=submit]');
  await page.locator('#search-result a').first().waitFor();
  seen.search_hits = await page.locator('#search-result a').count();
  await page.locator('#search-result a').first().click();
  await page.locator('#messages li').first().waitFor();
  seen.session_messages = await page.locator('#messages li').count();
  seen.session_text = await page.locator('#messages').innerText();
  seen.export_md = await page.locator('#export-md').getAttribute('href');
  seen.continue_where = await page.locator('#continue-where').innerText();
  seen.continue_hidden = await page.locator('#continue-session').isHidden();
  await shot('session');
  await a11y('session');

  await page.click('nav a[href="#spend"]');
  await page.locator('#spend-table tfoot td').first().waitFor();
  seen.spend_total_usd = await page.locator('#spend-table tfoot td').nth(6).innerText();
  seen.spend_rows = await page.locator('#spend-table tbody tr').count();
  seen.chart_bars = await page.locator('#chart rect').count();
  // The page fills the table, then the breaker, then the balances, each from its own request:
  // wait for the last one so that none is read half-drawn (an ASan build is slow enough).
  await page.locator('#breaker-state', { hasText: /\S/ }).waitFor();
  await page.locator('#balances dt').first().waitFor();
  seen.breaker = await page.locator('#breaker-state').innerText();
  seen.balances = await page.locator('#balances').innerText();
  await shot('spend');
  await a11y('spend');
  if (name === 'phone') {
    // A state change without the session's CSRF token: a script of the page that leaves it
    // out, and a form posted from another site (no token; the browser adds Origin: null and,
    // SameSite=Strict, no cookie). Both are refused and the breaker stays open.
    step = 'csrf';
    expected = /status of (401|403|415)/;
    seen.no_token_status = await page.evaluate(async () => (await fetch('/v1/ui/breaker/resume', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{}',
    })).status);
    const other = await context.newPage();
    await other.setContent(`<form method="post" enctype="text/plain" action="${base}/v1/ui/breaker/resume">` +
      '<input name="{&quot;x&quot;:&quot;" value="&quot;}"><button>Send</button></form>');
    const [answer] = await Promise.all([other.waitForResponse((r) => r.url().endsWith('/v1/ui/breaker/resume')),
      other.click('button')]);
    seen.cross_site_status = answer.status();
    // The form's answer is a navigation of that page: closing it before the navigation ends
    // hung now and then (Page.close never returned), so it is let finish first.
    step = 'csrf close';
    await other.waitForLoadState('load');
    await other.close();
    expected = null;
    await page.evaluate(() => route());
    await page.locator('#breaker-state', { hasText: /\S/ }).waitFor();
    seen.breaker_after_csrf = await page.locator('#breaker-state').innerText();
  } else {
    step = 'resume';
    await page.click('#resume');
    await page.locator('#breaker-state', { hasText: 'Closed' }).waitFor();
    seen.breaker_resumed = await page.locator('#breaker-state').innerText();
    seen.resume_hidden = await page.locator('#resume').isHidden();
  }

  step = 'memory';
  await page.click('nav a[href="#memory"]');
  await page.locator('#skill-list li button').first().waitFor();
  seen.memory = await page.locator('#memory-text').innerText();
  await page.locator('#skill-list li button').first().click();
  await page.locator('#skill-text').waitFor({ state: 'visible' });
  seen.skill_text = await page.locator('#skill-text').innerText();
  step = 'memory screenshot';
  await shot('memory');
  await a11y('memory');
  if (name === 'phone') {
    // Edit MEMORY.md in the page (phone first): the editor holds the file, Save writes it
    // through the memory tool's writer, and the page shows it as saved.
    step = 'edit memory';
    await page.click('#edit-memory');
    await page.locator('#editor-text').waitFor({ state: 'visible' });
    seen.editor_before = await page.locator('#editor-text').inputValue();
    await page.fill('#editor-text', 'The NAS is called okapi.\n§\nBackups run at 02:00.');
    await shot('memory-edit');
    await a11y('memory editor');
    await page.click('#editor-save');
    await page.locator('#memory-text', { hasText: 'okapi' }).waitFor();
    seen.memory_saved = await page.locator('#memory-text').innerText();
    // the status line is set once the whole page has reloaded (its quarantine list too)
    await page.locator('#status', { hasText: 'Saved' }).waitFor();
    seen.memory_status = await page.locator('#status').innerText();
    seen.memory_meta = await page.locator('#memory-meta').innerText();
    // A new skill whose front matter names another skill: the validator's words in the
    // editor, the text kept; fixed, it is created and shown; then deleted after a confirm.
    step = 'new skill';
    expected = /status of 422/;
    await page.click('#new-skill');
    await page.fill('#skill-name', 'deploy');
    await page.fill('#editor-text', '---\nname: backup\ndescription: Roll out.\n---\n# Steps\n');
    await page.click('#editor-save');
    await page.locator('#editor-error').waitFor({ state: 'visible' });
    seen.skill_error = await page.locator('#editor-error').innerText();
    expected = null;
    await page.fill('#editor-text', '---\nname: deploy\ndescription: Roll out.\n---\n# Steps\n');
    await page.click('#editor-save');
    await page.locator('#skill-title', { hasText: 'deploy' }).waitFor();
    seen.skill_created = await page.locator('#skill-text').innerText();
    seen.skills_after_create = await page.locator('#skill-list').innerText();
    step = 'delete skill';
    await page.click('#delete-skill');
    await page.locator('#delete-yes').waitFor({ state: 'visible' });
    seen.delete_question = await page.locator('#delete-question').innerText();
    await page.click('#delete-yes');
    await page.locator('#status', { hasText: 'Deleted skill deploy.' }).waitFor();
    seen.skills_after_delete = await page.locator('#skill-list').innerText();
  }

  await page.click('nav a[href="#jobs"]');
  await page.locator('#jobs-table tbody tr').first().waitFor();
  seen.jobs = await page.locator('#jobs-table tbody').innerText();
  if (name === 'desktop') {
    // "Run now": the job runs as its schedule would, then the page shows its last run.
    step = 'run now';
    await page.locator('#jobs-table tbody button', { hasText: 'Run now' }).first().click();
    for (let i = 0; i < 100; i++) {
      await page.evaluate(() => route());
      await page.locator('#jobs-table tbody tr').first().waitFor();
      seen.jobs_after_run = await page.locator('#jobs-table tbody').innerText();
      if (/ · ok · /.test(seen.jobs_after_run)) break;
      await page.waitForTimeout(200);
    }
  }
  await shot('jobs');
  await a11y('jobs');

  await page.click('nav a[href="#health"]');
  await page.locator('#health-list dt').first().waitFor();
  seen.health = await page.locator('#health-list').innerText();
  await page.locator('#log-lines', { hasText: /\S/ }).waitFor();
  seen.log = await page.locator('#log-lines').innerText();
  await shot('health');
  await a11y('health');

  if (name === 'desktop') {
    // The scripted model answers with a tool call, then streams text; the next answer is slow
    // enough to stop.
    await page.click('nav a[href="#chat"]');
    await page.fill('#message', 'What time is it?');
    await page.click('#send');
    // The time tool needs approval (approvals.tools): the question comes in the stream and is
    // approved in place.
    step = 'approve';
    await page.locator('#transcript li.question button', { hasText: 'Approve' }).first().waitFor();
    seen.question = await page.locator('#transcript li.question pre').first().innerText();
    await shot('approval');
    await a11y('approval');
    await page.locator('#transcript li.question button', { hasText: 'Approve' }).first().click();
    await page.locator('#transcript li.question .row', { hasText: '→ Approved' }).waitFor();
    seen.question_outcome = await page.locator('#transcript li.question .row').first().innerText();
    step = 'chat';
    await page.locator('#transcript .usage').first().waitFor();
    await page.locator('#send:enabled').waitFor(); // the stream has ended
    seen.chat_tool = await page.locator('#transcript details summary').first().innerText();
    seen.chat_tool_result = await page.locator('#transcript details pre').nth(1).textContent();
    seen.chat_answer = await page.locator('#transcript li.assistant .text').first().innerText();
    seen.chat_usage = await page.locator('#transcript .usage').first().innerText();
    step = 'slow chat';
    await page.fill('#message', 'Tell me a long story');
    await page.click('#send');
    await page.locator('#transcript li.assistant .text').nth(1).waitFor();
    await page.waitForFunction(() => {
      const t = document.querySelectorAll('#transcript li.assistant .text');
      return t.length > 1 && t[1].textContent.length > 20;
    });
    step = 'stop';
    await page.click('#stop');
    await page.locator('#transcript .usage').nth(1).waitFor();
    seen.chat_stopped = await page.locator('#transcript .usage').nth(1).innerText();
    await page.locator('#send:enabled').waitFor();
    step = 'chat screenshot';
    await shot('chat');
    await a11y('chat');
    step = 'reload';
    // A reload keeps the login (the cookie) and shows the open session's messages again.
    await page.goto(base + '/ui/#chat');
    await page.locator('#transcript li.user').first().waitFor();
    seen.chat_history = await page.locator('#transcript').innerText();
    // New session, then the earlier one picked from the sessions list and continued.
    step = 'continue';
    const earlier = /session #(\d+)/.exec(seen.chat_usage)[1];
    await page.click('#new-chat');
    await page.waitForFunction(() => !document.querySelector('#transcript li'));
    await page.click('nav a[href="#sessions"]');
    await page.locator(`#session-list a[href="#session/${earlier}"]`).click();
    await page.locator('#continue-session').waitFor({ state: 'visible' });
    seen.continue_mine = await page.locator('#continue-where').innerText();
    await page.click('#continue-session');
    await page.locator('#chat').waitFor({ state: 'visible' });
    seen.continue_transcript = await page.locator('#transcript').innerText();
    await page.fill('#message', 'And where does the zebra live?');
    await page.click('#send');
    await page.locator('#transcript .usage').first().waitFor();
    await page.locator('#send:enabled').waitFor();
    seen.continue_usage = await page.locator('#transcript .usage').first().innerText();
    seen.continue_earlier = earlier;
    step = 'after chat';
  }

  await page.click('#logout');
  await page.locator('#login').waitFor({ state: 'visible' });
  seen.logged_out = true;
  }
}

const current = { step: 'launch' };
setTimeout(() => {
  console.error(`ui_browser: stuck at ${current.step} after ${150 * SLOW} s`);
  process.exit(2);
}, 150000 * SLOW).unref();

(async () => {
  const result = { errors: [], a11y: [], a11y_checked: [], pages: {}, screenshots: [] };
  const browser = await pw.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'] });
  try {
    for (const [name, viewport] of Object.entries(WIDTHS)) await run(browser, name, viewport, result);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
