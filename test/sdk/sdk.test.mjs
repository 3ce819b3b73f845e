// The official BitPay Node SDK (bitpay-sdk, pinned in package.json) against a
// kassa that the Go test TestOfficialSDK starts on loopback. The Go test
// passes the base URL, a bearer pos token and a merchant pairing code in the
// environment. A failing SDK call fails the test, and CI with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyUtils, Facade, Models } from 'bitpay-sdk';
import { BitPayClient } from 'bitpay-sdk/client';
import { base, claim, client, conforms, schemas } from './kassa.mjs';

const posToken = process.env.KASSA_POS_TOKEN;
const pairingCode = process.env.KASSA_PAIRING_CODE;

test('a bearer pos token creates and reads invoices unsigned', async () => {
  const pos = client({ pos: posToken });
  const request = new Models.Invoice(10, 'USD');
  request.orderId = 'sdk-order-1';
  request.guid = 'sdk-guid-1';
  request.notificationURL = 'https://shop.example.com/ipn';
  const created = await pos.createInvoice(request, Facade.Pos, false);
  assert.equal(created.status, 'new');
  assert.equal(created.orderId, 'sdk-order-1');
  assert.equal(created.price, 10);
  assert.equal(created.exceptionStatus, false);
  assert.match(created.url, /\/invoice\?id=/);
  assert.ok(created.paymentCodes.BTC.BIP21.startsWith('bitcoin:bcrt1'));

  const read = await pos.getInvoice(created.id, Facade.Pos, false);
  assert.equal(read.id, created.id);
  assert.equal(read.token, created.token);

  const byGuid = await pos.getInvoiceByGuid('sdk-guid-1', Facade.Pos, false);
  assert.equal(byGuid.id, created.id);

  // The same guid again is the same invoice.
  const again = new Models.Invoice(10, 'USD');
  again.guid = 'sdk-guid-1';
  assert.equal((await pos.createInvoice(again, Facade.Pos, false)).id, created.id);
});

test('rates are served in the shape the SDK parses', async () => {
  const pos = client({ pos: posToken });
  const rate = await pos.getRate('BTC', 'USD');
  assert.equal(rate.code, 'USD');
  assert.equal(rate.rate, 50000);
  const rates = await pos.getRates('BTC');
  assert.equal(rates.getRate('EUR'), 45000);
});

test('a client claims a merchant pairing code and signs merchant calls', async () => {
  const keyUtils = new KeyUtils();
  const key = keyUtils.generate_keypair();
  const sin = keyUtils.get_sin_from_key(key);
  const transport = new BitPayClient(base, key, keyUtils.getPublicKeyFromPrivateKey(key));

  const claimed = JSON.parse(await transport.post('tokens', { id: sin, pairingCode }, false));
  const token = claimed[0].token;
  assert.equal(claimed[0].facade, 'merchant');

  const merchant = client({ merchant: token }, key);
  const request = new Models.Invoice(12.5, 'EUR');
  request.orderId = 'sdk-order-2';
  request.buyer = { name: 'Jo Buyer', email: 'jo@example.com' };
  const created = await merchant.createInvoice(request, Facade.Merchant, true);
  assert.equal(created.status, 'new');
  assert.equal(created.transactionSpeed, 'medium');
  assert.equal(created.buyer.email, 'jo@example.com');
  const read = await merchant.getInvoice(created.id, Facade.Merchant, true);
  assert.equal(read.id, created.id);
  assert.equal(read.targetConfirmations, 6);

  const today = new Date().toISOString().slice(0, 10);
  const listed = await merchant.getInvoices({ dateStart: today, dateEnd: today, status: 'new', orderId: 'sdk-order-2', limit: 10, offset: 0 });
  assert.deepEqual(listed.map((i) => i.id), [created.id]);

  const pass = await merchant.getInvoiceEventToken(created.id);
  assert.ok(pass.token);
  assert.deepEqual(pass.events, ['payment', 'confirmation']);

  assert.equal(await merchant.requestInvoiceWebhookToBeResent(created.id, created.token), true);

  // An endpoint kassa does not serve yet answers a JSON error the SDK shows.
  await assert.rejects(merchant.getLedgers(), (e) => e.message.includes('kassa does not serve GET /ledgers'));

  const cancelled = await merchant.cancelInvoice(created.id);
  assert.equal(cancelled.status, 'expired');
  assert.equal(cancelled.isCancelled, true);
});

test('currencies, rates, wallets and invoices match BitPay\'s zod schemas', async () => {
  const get = async (path) => {
    const res = await fetch(process.env.KASSA_URL + path, { headers: { 'X-Accept-Version': '2.0.0' } });
    assert.equal(res.status, 200, path);
    return (await res.json()).data;
  };
  const currencies = await get('/currencies');
  assert.ok(currencies.length > 10);
  for (const c of currencies) conforms(schemas.currency, c, 'currency ' + c.code);
  for (const r of await get('/rates/BTC')) conforms(schemas.rate, r, 'rate ' + r.code);
  for (const w of await get('/supportedWallets')) conforms(schemas.wallet, w, 'wallet ' + w.key);
  const pos = client({ pos: posToken });
  const created = await pos.createInvoice(new Models.Invoice(3, 'USD'), Facade.Pos, false);
  conforms(schemas.invoice, await get('/invoices/' + created.id + '?token=' + posToken), 'invoice');
});

test('supported wallets and currencies', async () => {
  const pos = client({ pos: posToken });
  const wallets = await pos.getSupportedWallets();
  assert.ok(wallets.length >= 1);
  const usd = await pos.getCurrencyInfo('USD');
  assert.equal(usd.precision, 2);
});

test('a client requests a token and gets a 7-character pairing code', async () => {
  const keyUtils = new KeyUtils();
  const key = keyUtils.generate_keypair();
  const transport = new BitPayClient(base, key, keyUtils.getPublicKeyFromPrivateKey(key));
  const res = JSON.parse(await transport.post('tokens', { id: keyUtils.get_sin_from_key(key), facade: 'pos' }, false));
  assert.match(res[0].pairingCode, /^[A-Za-z0-9]{7}$/);
  assert.equal(res[0].facade, 'pos');
});

test('an unknown invoice id with a valid token is "Object not found"', async () => {
  const pos = client({ pos: posToken });
  await assert.rejects(pos.getInvoice('1', Facade.Pos, false), (e) => e.message === 'Object not found');
});

// The Go test pays and completes an invoice of 10 USD (20,000 sats at
// 50,000 USD a bitcoin) and passes its id; the SDK refunds it.
test('refunds: create, read, confirm, list, notify and cancel through the SDK', async () => {
  const merchant = await claim(process.env.KASSA_PAIRING_CODE_REFUNDS);
  const invoiceId = process.env.KASSA_PAID_INVOICE;

  const request = new Models.Refund(4, invoiceId);
  request.currency = 'USD';
  request.preview = true;
  request.immediate = false;
  request.buyerPaysRefundFee = true;
  request.guid = 'sdk-refund-1';
  const preview = await merchant.createRefund(request);
  conforms(schemas.refund, preview, 'created refund');
  assert.equal(preview.status, 'preview');
  assert.equal(preview.invoice, invoiceId);
  assert.equal(preview.amount, 4);
  assert.equal(preview.currency, 'USD');
  assert.equal(preview.guid, 'sdk-refund-1');
  assert.equal(preview.transactionCurrency, 'BTC');
  assert.equal(preview.transactionAmount, 0.00008);
  assert.equal(preview.buyerPaysRefundFee, true);
  assert.ok(preview.token, 'the refund carries its own token');

  // The same guid again is the same refund.
  assert.equal((await merchant.createRefund(request)).id, preview.id);

  const read = await merchant.getRefund(preview.id);
  conforms(schemas.refund, read, 'refund');
  assert.equal(read.id, preview.id);
  const byGuid = await merchant.getRefundByGuid('sdk-refund-1');
  conforms(schemas.refund, byGuid, 'refund by guid');
  assert.equal(byGuid.id, preview.id);

  const confirmed = await merchant.updateRefund(preview.id, 'created');
  conforms(schemas.refund, confirmed, 'confirmed refund');
  assert.equal(confirmed.status, 'created');

  // A second refund, in BTC, confirmed by guid.
  const second = new Models.Refund(0.00002, invoiceId);
  second.currency = 'BTC';
  second.preview = true;
  second.guid = 'sdk-refund-2';
  await merchant.createRefund(second);
  const byGuidConfirmed = await merchant.updateRefundByGuid('sdk-refund-2', 'created');
  conforms(schemas.refund, byGuidConfirmed, 'refund confirmed by guid');
  assert.equal(byGuidConfirmed.status, 'created');

  const list = await merchant.getRefunds(invoiceId);
  assert.deepEqual(list.map((r) => r.id).sort(), [preview.id, byGuidConfirmed.id].sort());
  for (const r of list) conforms(schemas.refund, r, 'listed refund');

  // The invoice shows its refunds, in BitPay's schema.
  const inv = await merchant.getInvoice(invoiceId, Facade.Merchant, true);
  conforms(schemas.invoice, inv, 'refunded invoice');
  assert.equal(inv.status, 'complete');
  assert.equal(inv.refundAddressRequestPending, true);
  assert.equal(inv.refundInfo.supportRequest, byGuidConfirmed.id);

  assert.equal(await merchant.sendRefundNotification(preview.id, preview.token), true);

  // More than the invoice can still refund is refused in the envelope.
  await assert.rejects(merchant.createRefund(new Models.Refund(100, invoiceId)), (e) => /at most/.test(e.message));

  const cancelled = await merchant.cancelRefund(preview.id);
  conforms(schemas.refund, cancelled, 'cancelled refund');
  assert.equal(cancelled.status, 'cancelled');
  const cancelledByGuid = await merchant.cancelRefundByGuid('sdk-refund-2');
  assert.equal(cancelledByGuid.status, 'cancelled');
  // A cancelled refund is announced no more than it was; its last event
  // can still be sent again.
  assert.equal(await merchant.sendRefundNotification(preview.id, preview.token), true);
});
