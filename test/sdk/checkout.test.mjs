// kassa's hosted checkout and bitpay.js modal in a real browser (Chromium
// through playwright-core), against the kassa that the Go test
// TestCheckoutInBrowser (internal/cli/checkout_browser_test.go) starts on loopback
// with a btcd regtest node. The Go test passes the kassa and shop URLs and a
// pos token; this script creates invoices through the BitPay API, asks the
// Go side to pay and mine through POST /demo/pay and /demo/mine, and checks
// what the buyer and the shop page see. QR codes are decoded from
// screenshots with jsQR. Failures leave a screenshot in $ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.KASSA_URL;
const posToken = process.env.KASSA_POS_TOKEN;
const shop = process.env.SHOP_URL;
const artifacts = process.env.ARTIFACTS || 'artifacts';
const jsqrPath = createRequire(import.meta.url).resolve('jsqr');
// Live updates arrive within a few seconds; these bounds only catch hangs.
const WAIT = 60_000;

let browser;

before(async () => {
  assert.ok(base && posToken && shop, 'KASSA_URL, KASSA_POS_TOKEN and SHOP_URL come from the Go test');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

// createInvoice creates an invoice as a shop would: POST /invoices with a
// bearer pos token.
async function createInvoice(fields) {
  const res = await fetch(base + '/invoices', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Accept-Version': '2.0.0' },
    body: JSON.stringify({ token: posToken, price: 10, currency: 'USD', ...fields }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  // 10 USD at the test's fixed 50,000 USD/BTC.
  assert.equal(body.data.btcDue, '0.0002');
  return body.data;
}

// demo asks the Go side to pay or mine on the regtest node.
async function demo(what, form) {
  const res = await fetch(`${base}/demo/${what}`, { method: 'POST', body: new URLSearchParams(form) });
  const text = await res.text();
  assert.equal(res.status, 200, `demo ${what}: ${text}`);
  return text.trim();
}

// withPage runs fn on a fresh page of a new context; on failure it saves a
// screenshot of the page to $ARTIFACTS/<name>.png before failing.
async function withPage(name, options, fn) {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 }, ...options.context });
  if (options.init) {
    await context.addInitScript(options.init);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await fn(page, requests, context);
    assert.deepEqual(errors, [], 'the page threw');
  } catch (err) {
    await mkdir(artifacts, { recursive: true });
    const file = path.join(artifacts, `checkout-${name}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.error(`screenshot: ${file}`);
    throw err;
  } finally {
    await context.close();
  }
}

// decodeQR screenshots an element and decodes the picture with jsQR in a
// blank page, so what is checked is the pixels a phone camera would see.
async function decodeQR(locator) {
  const png = await locator.screenshot();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.addScriptTag({ path: jsqrPath });
    return await page.evaluate(async (b64) => {
      const img = new Image();
      img.src = 'data:image/png;base64,' + b64;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const code = window.jsQR(data.data, data.width, data.height);
      return code ? code.data : null;
    }, png.toString('base64'));
  } finally {
    await context.close();
  }
}

function state(page) {
  return page.locator('#checkout').getAttribute('data-state');
}

async function waitForState(page, want) {
  await page.waitForFunction((s) => document.getElementById('checkout').getAttribute('data-state') === s, want, { timeout: WAIT });
}

test('the checkout shows the payment, follows it live and returns to the shop', async () => {
  const redirectURL = `${shop}/thanks?order=web-1&redirect=false`;
  const inv = await createInvoice({
    orderId: 'web-1<script>window.__xss=1</script>',
    itemDesc: 'Mug <script>window.__xss=1</script><img src=x onerror="window.__xss=2">',
    redirectURL,
    buyer: { name: '<script>window.__xss=3</script>', email: 'jo@example.com' },
  });
  assert.equal(inv.url, `${base}/invoice?id=${inv.id}`);
  await withPage('live', { context: { permissions: ['clipboard-read', 'clipboard-write'] } }, async (page, requests) => {
    await page.goto(inv.url);
    assert.equal(await state(page), 'waiting');
    assert.equal(await page.textContent('#status'), 'Waiting for your payment.');
    assert.equal(await page.textContent('#address'), inv.bitcoinAddress);
    assert.equal(await page.textContent('#amount'), '0.0002');
    assert.equal(await page.textContent('#price'), '10.00 USD');
    const [min, sec] = (await page.textContent('#countdown')).split(':').map(Number);
    assert.ok(min * 60 + sec > 0 && min * 60 + sec <= 15 * 60, 'the countdown shows the time left of the 15 minutes');

    // The QR code is the exact BIP21 request.
    const uri = await decodeQR(page.locator('#qr svg'));
    assert.equal(uri, `bitcoin:${inv.bitcoinAddress}?amount=0.0002`);
    assert.equal(uri, inv.paymentUrls.BIP21);

    // Injected markup shows as text and never runs.
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.textContent('#item'), 'Mug <script>window.__xss=1</script><img src=x onerror="window.__xss=2">');
    assert.equal(await page.textContent('#order'), 'web-1<script>window.__xss=1</script>');

    // Mobile width without sideways scrolling; every control has a name.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    const unnamed = await page.evaluate(() => [...document.querySelectorAll('button, a')]
      .filter((el) => el.offsetParent !== null && !(el.getAttribute('aria-label') || el.textContent.trim()))
      .map((el) => el.outerHTML));
    assert.deepEqual(unnamed, []);

    // The copy button puts the exact amount on the clipboard.
    await page.click('button[data-copy="amount"]');
    await page.waitForFunction(() => document.getElementById('copy-log').textContent !== '');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), '0.0002');

    // Pay from outside; the page must change without reloading.
    await page.evaluate(() => { window.__marker = 'same page'; });
    const txid = await demo('pay', { invoice: inv.id });
    assert.match(txid, /^[0-9a-f]{64}$/);
    await waitForState(page, 'paid');
    assert.equal(await page.evaluate(() => window.__marker), 'same page');
    assert.equal(await page.textContent('#status'), 'Payment received. Waiting for the network to confirm it.');
    assert.ok(await page.isVisible('#return'));

    await demo('mine', { blocks: '1' });
    await waitForState(page, 'confirmed');
    assert.equal(await page.evaluate(() => window.__marker), 'same page');
    assert.equal(await page.textContent('#status'), 'Payment confirmed. Thank you!');

    // Nothing was loaded from anywhere but kassa.
    const foreign = requests.filter((u) => !u.startsWith(base + '/') && !u.startsWith('data:'));
    assert.deepEqual(foreign, []);
    const streamed = requests.some((u) => u.startsWith(`${base}/events?invoiceId=${inv.id}`));
    const polls = requests.filter((u) => u === `${base}/invoices/${inv.id}`).length;
    console.log(`live updates: event stream requested ${streamed}, ${polls} polls`);

    // The merchant's redirect, query string intact (WooCommerce's &redirect=false).
    await Promise.all([page.waitForURL(redirectURL), page.click('#return')]);
    assert.equal(await page.textContent('#thanks'), 'Thank you for your order');
  });
});

test('autoRedirect returns the buyer to the shop once paid', async () => {
  const redirectURL = `${shop}/thanks?order=web-2`;
  const inv = await createInvoice({ orderId: 'web-2', redirectURL, autoRedirect: true });
  await withPage('autoredirect', {}, async (page) => {
    await page.goto(inv.url);
    assert.equal(await state(page), 'waiting');
    await demo('pay', { invoice: inv.id });
    await page.waitForURL(redirectURL);
  });
});

test('a partial payment shows what is still due and a new QR code', async () => {
  const inv = await createInvoice({ orderId: 'web-3' });
  await withPage('partial', { context: { locale: 'de-DE' } }, async (page) => {
    await page.goto(inv.url);
    assert.equal(await page.getAttribute('html', 'lang'), 'de');
    assert.equal(await page.textContent('#price'), '10,00 USD');
    await demo('pay', { invoice: inv.id, btc: '0.00005' });
    await waitForState(page, 'partial');
    assert.equal(await page.textContent('#status'), 'Zahlung von 0.00005 BTC erhalten. Es fehlen noch 0.00015 BTC: bitte senden Sie den Rest.');
    assert.equal(await page.textContent('#amount'), '0.00015');
    const img = page.locator('#qr img');
    await img.waitFor();
    await page.waitForFunction(() => document.querySelector('#qr img').complete && document.querySelector('#qr img').naturalWidth > 0);
    assert.equal(await decodeQR(img), `bitcoin:${inv.bitcoinAddress}?amount=0.00015`);
    assert.equal(await page.getAttribute('#wallet', 'href'), `bitcoin:${inv.bitcoinAddress}?amount=0.00015`);
  });
});

test('an unpaid invoice expires on the page and offers the way back', async () => {
  const closeURL = `${shop}/thanks?order=web-5&cancelled=1`;
  const inv = await createInvoice({ orderId: 'web-5', closeURL, acceptanceWindow: 4000 });
  await withPage('expiry', {}, async (page) => {
    await page.goto(inv.url);
    await waitForState(page, 'expired');
    assert.equal(await page.textContent('#status'), 'This invoice has expired. Do not send a payment to it.');
    assert.ok(!(await page.isVisible('#qr')), 'no QR code for an expired invoice');
    // The server agrees, and the page is still the same one.
    const deadline = Date.now() + WAIT;
    let status;
    while (Date.now() < deadline) {
      status = (await (await fetch(`${base}/invoices/${inv.id}`)).json()).data.status;
      if (status === 'expired') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 'expired');
    await Promise.all([page.waitForURL(closeURL), page.click('.closed a')]);
  });
});

test('the shop page opens the modal and receives the status messages (polling, no EventSource)', async () => {
  const inv = await createInvoice({ orderId: 'web-4', redirectURL: `${shop}/thanks?order=web-4` });
  // Without EventSource the checkout must fall back to polling.
  const init = () => { delete window.EventSource; };
  await withPage('modal', { init }, async (page, requests) => {
    await page.goto(`${shop}/index.html?kassa=${encodeURIComponent(base)}&invoice=${inv.id}`);
    await page.click('#pay:not([disabled])');
    const frameEl = page.locator('iframe[name="bitpay"]');
    await frameEl.waitFor();
    assert.equal(await frameEl.getAttribute('src'), `${base}/invoice?id=${inv.id}&view=modal`);
    const frame = page.frameLocator('iframe[name="bitpay"]');
    await frame.locator('#checkout[data-state="waiting"]').waitFor();
    await page.waitForFunction(() => window.shopMessages.some((m) => m.status === 'new'));
    assert.deepEqual(await page.evaluate(() => window.shopEvents), ['enter']);

    // The demo button inside the modal pays; the shop hears 'paid'.
    await frame.locator('#demo-pay').click();
    await page.waitForFunction(() => window.shopMessages.some((m) => m.status === 'paid'), null, { timeout: WAIT });
    await frame.locator('#checkout[data-state="paid"]').waitFor();
    await frame.locator('.done .demo button').click();
    await page.waitForFunction(() => window.shopMessages.some((m) => m.status === 'confirmed'), null, { timeout: WAIT });
    assert.ok(!requests.some((u) => u.includes('/events')), 'EventSource was removed: no stream requests');
    assert.ok(requests.some((u) => u === `${base}/invoices/${inv.id}`), 'the checkout polled the invoice');

    // Closing tells the shop and removes the frame.
    await frame.locator('#close').click();
    await page.waitForFunction(() => window.shopEvents.includes('leave'));
    assert.equal(await page.locator('iframe[name="bitpay"]').count(), 0);
    assert.ok(await page.isVisible('#thanks'));
    const messages = await page.evaluate(() => window.shopMessages);
    assert.deepEqual(messages.map((m) => m.status), ['new', 'paid', 'confirmed', 'close']);
    assert.ok(messages.every((m) => m.invoiceId === inv.id));
    assert.deepEqual(await page.evaluate(() => window.shopEvents), ['enter', 'leave']);
  });
});

test('bitpay.js keeps its API, prefix override and a not-found invoice in the modal', async () => {
  await withPage('bitpayjs', {}, async (page) => {
    await page.goto(`${shop}/index.html?kassa=${encodeURIComponent(base)}&invoice=NoSuchInvoice12345678&script=bitpay.js`);
    await page.waitForSelector('#pay:not([disabled])');
    const api = await page.evaluate(() => Object.keys(window.bitpay).sort());
    assert.deepEqual(api, ['enableTestMode', 'hideFrame', 'onModalWillEnter', 'onModalWillLeave', 'setApiUrlPrefix', 'showInvoice']);
    // Test mode only moves bitpay.com; a prefix with a trailing slash works.
    await page.evaluate((b) => { window.bitpay.enableTestMode(); window.bitpay.setApiUrlPrefix(b + '/'); }, base);
    await page.click('#pay');
    const frame = page.frameLocator('iframe[name="bitpay"]');
    assert.equal(await page.getAttribute('iframe[name="bitpay"]', 'src'), `${base}/invoice?id=NoSuchInvoice12345678&view=modal`);
    assert.equal(await frame.locator('h1').textContent(), 'Invoice not found');
    await frame.locator('#close').click();
    await page.waitForFunction(() => window.shopEvents.includes('leave'));
    assert.equal(await page.locator('iframe').count(), 0);
  });
});

test('without JavaScript the page still shows amount, address and QR code', async () => {
  const inv = await createInvoice({ orderId: 'web-6' });
  await withPage('nojs', { context: { javaScriptEnabled: false } }, async (page) => {
    await page.goto(inv.url);
    assert.equal(await page.textContent('#amount'), '0.0002');
    assert.equal(await page.textContent('#address'), inv.bitcoinAddress);
    assert.ok(await page.isVisible('#qr svg'));
    assert.equal(await decodeQR(page.locator('#qr svg')), inv.paymentUrls.BIP21);
    assert.ok(await page.isVisible('text=Expires at'));
    assert.ok(!(await page.isVisible('button[data-copy="amount"]')), 'copy buttons need JavaScript');
    assert.equal(await page.getAttribute('#wallet', 'href'), inv.paymentUrls.BIP21);
  });
});
