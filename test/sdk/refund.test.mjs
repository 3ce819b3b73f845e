// kassa's buyer refund page in a real browser (Chromium through
// playwright-core), against the kassa that the Go test TestRefundPageInBrowser
// (internal/cli/refund_browser_test.go) starts on loopback. The Go test
// made a refund without an address and caught the buyer's mail on its SMTP
// server; it passes the link from that mail and addresses to try. The page
// runs without JavaScript here, as the buyer's mail client may open it.
// Failures leave a screenshot in $ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

const link = process.env.REFUND_LINK;
const address = process.env.REFUND_ADDRESS;
const ownAddress = process.env.STORE_ADDRESS;
const artifacts = process.env.ARTIFACTS || 'artifacts';
const WAIT = 60_000;

let browser;

before(async () => {
  assert.ok(link && address && ownAddress, 'REFUND_LINK, REFUND_ADDRESS and STORE_ADDRESS come from the Go test');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

test('the buyer gives a refund address from the mailed link', async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 }, locale: 'fr-FR', javaScriptEnabled: false });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  try {
    // The link opens in the browser's language, French here.
    await page.goto(link);
    await assert.doesNotReject(page.getByRole('heading', { name: 'Votre remboursement' }).waitFor());
    assert.match(await page.locator('#amount').innerText(), /0,0001 BTC/);
    assert.match(await page.locator('#amount').innerText(), /5,00 USD/);
    await page.locator('a[hreflang=en]').click();
    await page.getByRole('heading', { name: 'Your refund' }).waitFor();
    assert.match(await page.locator('.store').innerText(), /Browser Refund Shop/);

    // The store's own address is refused on the page, nothing changed.
    await page.getByLabel('Your bitcoin address').fill(ownAddress);
    await page.getByRole('button', { name: 'Send my refund here' }).click();
    await page.locator('#error').waitFor();
    assert.match(await page.locator('#error').innerText(), /belongs to the shop/);
    assert.equal(await page.getByLabel('Your bitcoin address').inputValue(), ownAddress);

    // The buyer's own address is taken: the page says where it goes.
    await page.getByLabel('Your bitcoin address').fill(address);
    await page.getByRole('button', { name: 'Send my refund here' }).click();
    await page.locator('#status', { hasText: 'will be sent to' }).waitFor();
    assert.match(await page.locator('#status').innerText(), new RegExp(address));
    assert.equal(await page.locator('form').count(), 0, 'no form once the address is given');
  } catch (err) {
    await mkdir(artifacts, { recursive: true });
    const file = path.join(artifacts, 'refund-page.png');
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.error(`screenshot: ${file}`);
    throw err;
  } finally {
    await context.close();
  }
});
