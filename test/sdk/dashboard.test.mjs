// kassa's merchant dashboard in a real browser (Chromium through
// playwright-core), against the kassa that the Go test
// TestDashboardInBrowser (internal/dashboard/browser_test.go) starts on
// loopback. The Go side passes the URL, a regtest tpub with the three
// addresses it derives, and a mainnet xpub. The steps run in order, as a
// merchant would: the setup wizard, 2FA, a token for a CRM (seed 000), a
// pairing the official SDK requests (spec §2.3), the point of sale, and
// an employee. Every page is saved as a screenshot in $ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Client, KeyUtils, TokenContainer, Facade, Models } from 'bitpay-sdk';
import { BitPayClient } from 'bitpay-sdk/client';

const base = process.env.KASSA_URL;
const tpub = process.env.KASSA_TPUB;
const expected = (process.env.KASSA_ADDRESSES || '').split(',');
const xpub = process.env.KASSA_MAINNET_XPUB;
const artifacts = process.env.ARTIFACTS || 'artifacts/dashboard';
const jsqrPath = createRequire(import.meta.url).resolve('jsqr');
// Pages answer in milliseconds; these bounds only catch hangs.
const WAIT = 60_000;
const OWNER = { email: 'owner@example.com', password: 'owner password 123' };
const EMPLOYEE = { email: 'cashier@example.com', password: 'cashier password 1' };

let browser;
let ownerContext;
let owner;
let storeId;
let totpSecret;
let enrolStep;

before(async () => {
  assert.ok(base && tpub && expected.length === 3 && xpub, 'KASSA_URL, KASSA_TPUB, KASSA_ADDRESSES and KASSA_MAINNET_XPUB come from the Go test');
  await mkdir(artifacts, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  ownerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  owner = await newPage(ownerContext);
});

after(async () => {
  await browser?.close();
});

// newPage opens a page that fails the test on any script error.
async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => {
    throw new Error(`page error on ${page.url()}: ${e}`);
  });
  return page;
}

// shot saves the whole page for the README and for debugging.
async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

// sdkClient is the official SDK pointed at kassa, as sdk.test.mjs does.
function sdkClient(tokens, key) {
  const keyUtils = new KeyUtils();
  const identity = key ? keyUtils.getPublicKeyFromPrivateKey(key) : null;
  return new Client(null, null, new TokenContainer(tokens), null, undefined, undefined,
    new BitPayClient(base + '/', key ?? null, identity));
}

// totp computes an authenticator app's code (RFC 6238: HMAC-SHA1, 6
// digits, 30-second steps) for a base32 secret and a step.
function totp(secret, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const c of secret.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
      value &= (1 << bits) - 1;
    }
  }
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', Buffer.from(bytes)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const stepNow = () => Math.floor(Date.now() / 30_000);

// decodeQR reads a QR code from the pixels of an element, with jsQR.
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

test('setup wizard: the owner account, then a store with a tpub and the live address preview', async () => {
  await owner.goto(base + '/dashboard/');
  assert.equal(new URL(owner.url()).pathname, '/dashboard/setup', 'an empty kassa leads to the setup');
  await shot(owner, '01-setup-account');
  await owner.fill('#email', OWNER.email);
  await owner.fill('#password', OWNER.password);
  await owner.fill('#password2', OWNER.password);
  await owner.click('#setup-form button[type=submit]');
  await owner.waitForURL('**/dashboard/stores/new?setup=1');
  assert.match(await owner.textContent('main'), /Step 2 of 2/);

  await owner.fill('#name', 'Corner Café');
  // A mainnet key on this regtest kassa: the preview names its network.
  await owner.fill('#key', xpub);
  await owner.waitForSelector('#preview .bad');
  const refusal = await owner.textContent('#preview');
  assert.match(refusal, /mainnet key \(xpub\)/);
  assert.match(refusal, /regtest/);
  await shot(owner, '02-store-wrong-network');

  // The tpub: its first three addresses appear as it is typed, and they
  // are the ones the wallet code derives.
  await owner.fill('#key', tpub);
  await owner.waitForFunction(() => document.querySelectorAll('#preview li').length === 3);
  assert.deepEqual(await owner.locator('#preview code').allTextContents(), expected);
  await owner.selectOption('#speed', 'medium');
  await owner.fill('#expiry', '15');
  await owner.fill('#gap_limit', '20');
  await shot(owner, '03-store-preview');
  await owner.click('#create-store');
  await owner.waitForURL(/\/dashboard\/stores\/[^/]+\/tokens\?done=store$/);
  storeId = new URL(owner.url()).pathname.split('/')[3];
  assert.equal(await owner.textContent('#store-name'), 'Corner Café');
});

test('two-factor authentication: enrol by QR code, sign in with a TOTP code', async () => {
  await owner.goto(base + '/dashboard/account');
  await owner.click('#start-totp');
  await owner.waitForSelector('#totp-qr svg');
  totpSecret = (await owner.textContent('#totp-secret')).trim();
  assert.match(totpSecret, /^[A-Z2-7]{32}$/);
  const uri = await decodeQR(owner.locator('#totp-qr svg'));
  assert.ok(uri && uri.startsWith('otpauth://totp/'), `QR code holds ${uri}`);
  assert.equal(new URL(uri).searchParams.get('secret'), totpSecret);
  await shot(owner, '04-2fa-enrol');
  enrolStep = stepNow();
  await owner.fill('#code', totp(totpSecret, enrolStep));
  await owner.click('#confirm-totp');
  await owner.waitForSelector('#recovery-codes');
  assert.equal(await owner.locator('#recovery-codes li').count(), 10);
  await shot(owner, '05-recovery-codes');

  await owner.click('#logout');
  await owner.waitForURL('**/dashboard/login');
  await shot(owner, '06-login');
  await owner.fill('#email', OWNER.email);
  await owner.fill('#password', 'not the password');
  await owner.click('#login-form button[type=submit]');
  assert.equal(await owner.textContent('#error'), 'Wrong email or password.');
  await owner.fill('#password', OWNER.password);
  await owner.click('#login-form button[type=submit]');
  await owner.waitForURL('**/dashboard/login/2fa**');
  await shot(owner, '07-2fa');
  // The enrolment spent its step's code: a reused code is refused, and
  // the next step's code (within the ±30 s window) is accepted.
  await owner.fill('#code', totp(totpSecret, enrolStep));
  await owner.click('#totp-form button[type=submit]');
  assert.equal(await owner.textContent('#error'), 'Wrong or already used code.');
  await owner.fill('#code', totp(totpSecret, enrolStep + 1));
  await owner.click('#totp-form button[type=submit]');
  await owner.waitForURL(`**/dashboard/stores/${storeId}`);
  await shot(owner, '08-overview');
});

test('a bearer pos token, shown once, creates an invoice through the SDK', async () => {
  await owner.goto(`${base}/dashboard/stores/${storeId}/tokens`);
  await owner.fill('#label', 'Konnektive CRM');
  assert.equal(await owner.isChecked('#require_auth'), false);
  await owner.click('#add-token');
  await owner.waitForSelector('#new-token');
  const token = (await owner.textContent('#new-token')).trim();
  assert.match(token, /^[1-9A-HJ-NP-Za-km-z]{44}$/);
  await shot(owner, '09-token-created');

  const pos = sdkClient({ pos: token });
  const created = await pos.createInvoice(new Models.Invoice(10, 'USD'), Facade.Pos, false);
  assert.equal(created.status, 'new');
  assert.equal(created.url, `${base}/invoice?id=${created.id}`);

  await owner.goto(`${base}/dashboard/stores/${storeId}/tokens`);
  const list = await owner.textContent('#tokens');
  assert.match(list, /Konnektive CRM/);
  assert.match(list, /bearer/);
  assert.ok(!list.includes(token), 'the token value is shown only once');
  await shot(owner, '10-tokens');

  // The invoice shows in the list, and the CSV export downloads it.
  await owner.goto(`${base}/dashboard/stores/${storeId}/invoices`);
  assert.ok((await owner.textContent('main')).includes(created.id), 'the new invoice is listed');
  await shot(owner, '10b-invoices');
  const [download] = await Promise.all([owner.waitForEvent('download'), owner.click('#export')]);
  assert.match(download.suggestedFilename(), /\.csv$/);
  const csv = readFileSync(await download.path(), 'utf8');
  assert.match(csv.split('\n')[0], /^id,/);
  assert.ok(csv.includes(created.id), 'the CSV holds the invoice');
  await owner.goto(`${base}/dashboard/stores/${storeId}/invoices/${created.id}`);
  await shot(owner, '10c-invoice-detail');
});

test('a pairing code requested with the SDK is approved from /api-access-request', async () => {
  const keyUtils = new KeyUtils();
  const key = keyUtils.generate_keypair();
  const sin = keyUtils.get_sin_from_key(key);
  const transport = new BitPayClient(base + '/', key, keyUtils.getPublicKeyFromPrivateKey(key));
  const requested = JSON.parse(await transport.post('tokens', { id: sin, facade: 'merchant', label: 'woo-shop' }, false));
  const { pairingCode, token } = requested[0];
  assert.match(pairingCode, /^[A-Za-z0-9]{7}$/);

  // Not approved yet: merchant calls fail.
  const merchant = sdkClient({ merchant: token }, key);
  await assert.rejects(merchant.createInvoice(new Models.Invoice(2, 'EUR'), Facade.Merchant, true));

  await owner.goto(`${base}/api-access-request?pairingCode=${pairingCode}`);
  await owner.waitForURL(`**/dashboard/pairing?pairingCode=${pairingCode}`);
  const request = await owner.textContent('#pairing-request');
  assert.ok(request.includes(sin), 'the page names the client id');
  assert.match(request, /merchant/);
  assert.match(request, /woo-shop/);
  await shot(owner, '11-pairing-approval');
  await owner.click('#approve');
  await owner.waitForURL(`**/dashboard/stores/${storeId}/tokens?done=approved`);
  await shot(owner, '12-pairing-approved');

  const created = await merchant.createInvoice(new Models.Invoice(2, 'EUR'), Facade.Merchant, true);
  assert.equal(created.status, 'new');
  assert.equal(created.currency, 'EUR');
});

test('the point of sale makes an invoice and links its checkout', async () => {
  await owner.goto(`${base}/dashboard/stores/${storeId}/pos`);
  await owner.fill('#price', '4.50');
  await owner.fill('#currency', 'EUR');
  await owner.fill('#description', 'Two coffees');
  await owner.click('#create-invoice');
  await owner.waitForSelector('#pos-created');
  const link = (await owner.textContent('#checkout-link')).trim();
  assert.match(link, new RegExp(`^${base}/invoice\\?id=\\w+$`));
  await shot(owner, '13-point-of-sale');
  await owner.click('#open-checkout');
  await owner.waitForURL(link);
  assert.equal(await owner.textContent('#price'), '4.50 EUR');
  await shot(owner, '14-checkout');
  await owner.goto(`${base}/dashboard/stores/${storeId}/settings`);
  await shot(owner, '15-settings');
});

test('an employee joins by a one-time invite and cannot reach the tokens', async () => {
  await owner.goto(`${base}/dashboard/stores/${storeId}/members`);
  await owner.selectOption('#role', 'employee');
  await owner.click('#create-invite');
  await owner.waitForSelector('#invite-link');
  const link = (await owner.textContent('#invite-link')).trim();
  await shot(owner, '16-members');

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const emp = await newPage(context);
    await emp.goto(link);
    assert.match(await emp.textContent('main'), /as employee/);
    await shot(emp, '17-invite');
    await emp.fill('#email', EMPLOYEE.email);
    await emp.fill('#password', EMPLOYEE.password);
    await emp.fill('#password2', EMPLOYEE.password);
    await emp.click('#invite-form button[type=submit]');
    await emp.waitForURL(`**/dashboard/stores/${storeId}`);
    const menu = await emp.locator('nav.tabs a').allTextContents();
    assert.deepEqual(menu, ['Overview', 'Invoices', 'Point of sale', 'Refunds', 'Coins', 'Spends']);
    await shot(emp, '18-employee-overview');

    const res = await emp.goto(`${base}/dashboard/stores/${storeId}/tokens`);
    assert.equal(res.status(), 403);
    const body = await emp.textContent('main');
    assert.match(body, /does not allow this page/);
    assert.ok(!body.includes('Konnektive'), 'no token shows to an employee');
    await shot(emp, '19-employee-forbidden');
    assert.equal((await emp.goto(`${base}/dashboard/stores/${storeId}/settings`)).status(), 403);
    assert.equal((await emp.goto(`${base}/dashboard/stores/${storeId}/pos`)).status(), 200);

    // The link was for one use.
    const again = await browser.newContext();
    const other = await again.newPage();
    assert.equal((await other.goto(link)).status(), 410);
    await again.close();
  } finally {
    await context.close();
  }
});
