// A draft card in the cockpit in a real browser (docs/security.md, "Review before anything
// leaves"): the chat's turn loads a skill whose workflow asks for review, its web_fetch becomes
// a card in the stream with the marked sentences in <mark>; Edit opens the draft in a text box
// and sends the new one, the card comes again (version 2), Approve decides it. Run by
// tests/e2e/test_lane_review.py:
//   node ui_browser_draft.cjs <node_modules> <chromium> <base url> <password> <artifact dir> <edit>
// Prints one JSON line: {errors, a11y, seen}.
'use strict';
const path = require('path');
const { run, login } = require('./ui_browser_lib.cjs');
const [nodeModules, chromium, base, password, outDir, edited] = process.argv.slice(2);

// no request-failed check: the page's own stream request is cut when the turn ends
run('ui_browser_draft', nodeModules, chromium, { stuckS: 120, requestFailed: false, result: { seen: {} } },
  async ({ page, result, axe }) => {
    const seen = result.seen;
    await login(page, base, password, '#chat');
    await page.click('nav a[href="#chat"]');
    await page.fill('#message', 'Send the meeting tasks');
    await page.click('#send');
    const cards = page.locator('#transcript li.question', { hasText: 'Draft for review' });
    await cards.first().locator('mark').first().waitFor();
    seen.marks = await cards.first().locator('mark').allInnerTexts();
    seen.card = await cards.first().innerText();
    seen.buttons = await cards.first().locator('.row button').allInnerTexts();
    await page.screenshot({ path: path.join(outDir, 'draft-card.png'), fullPage: true });
    await axe('draft card');
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
  });
