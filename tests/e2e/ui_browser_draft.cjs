// A draft card in the cockpit in a real browser (docs/security.md, "Review before anything
// leaves"): the chat's turn loads a skill whose workflow asks for review, its web_fetch becomes
// a card in the stream with the marked sentences in <mark>; Edit opens the draft in a text box
// and sends the new one, the card comes again (version 2), Approve decides it. Run by
// tests/e2e/test_lane_review.py:
//   node ui_browser_draft.cjs <node_modules> <chromium> <base url> <password> <artifact dir> <edit>
// Prints one JSON line: {errors, a11y, seen}.
'use strict';
const fs = require('fs');
const path = require('path');
const [nodeModules, chromium, base, password, outDir, edited] = process.argv.slice(2);
const { chromium: pw } = require(path.join(nodeModules, 'playwright-core'));
const AXE = fs.readFileSync(path.join(nodeModules, 'axe-core', 'axe.min.js'), 'utf8');

setTimeout(() => { console.error('ui_browser_draft: stuck after 120 s'); process.exit(2); }, 120000).unref();

(async () => {
  const result = { errors: [], a11y: [], seen: {} };
  const seen = result.seen;
  const browser = await pw.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(20000);
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') result.errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => result.errors.push(`page error: ${e.message}`));
    await page.goto(base + '/ui/');
    await page.fill('#password', password);
    await page.click('#login-form button[type=submit]');
    await page.locator('#chat').waitFor({ state: 'visible' });
    await page.click('nav a[href="#chat"]');
    await page.fill('#message', 'Send the meeting tasks');
    await page.click('#send');
    const cards = page.locator('#transcript li.question', { hasText: 'Draft for review' });
    await cards.first().locator('mark').first().waitFor();
    seen.marks = await cards.first().locator('mark').allInnerTexts();
    seen.card = await cards.first().innerText();
    seen.buttons = await cards.first().locator('.row button').allInnerTexts();
    await page.screenshot({ path: path.join(outDir, 'draft-card.png'), fullPage: true });
    await page.evaluate(AXE);
    const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    for (const v of r.violations)
      if (v.impact === 'serious' || v.impact === 'critical') result.a11y.push(`${v.id}: ${v.help}`);
    // Edit: the draft in a text box, changed, sent; the card comes again as version 2.
    await cards.first().locator('.row button', { hasText: 'Edit' }).click();
    const box = cards.first().locator('textarea');
    await box.waitFor({ state: 'visible' });
    seen.box_before = await box.inputValue();
    await box.fill(edited);
    await cards.first().locator('.row button', { hasText: 'Edit' }).click();
    await cards.nth(1).waitFor();
    seen.card2 = await cards.nth(1).innerText();
    seen.marks2 = await cards.nth(1).locator('mark').count();
    await cards.nth(1).locator('.row button', { hasText: 'Approve' }).click();
    await cards.nth(1).locator('.row', { hasText: '→' }).waitFor();
    seen.outcome = await cards.nth(1).locator('.row').innerText();
    seen.outcome1 = await cards.first().locator('.row').innerText();
    await page.locator('#send:enabled').waitFor(); // the stream has ended
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
