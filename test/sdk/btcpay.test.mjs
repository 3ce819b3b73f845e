// An older client, node-btcpay 0.2.5 (written for BTCPay Server's BitPay
// API), against a kassa that the Go test TestOfficialSDK starts: it pairs
// with a merchant pairing code and signs every call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const btcpay = require('btcpay');

const base = process.env.KASSA_URL;
const pairingCode = process.env.KASSA_PAIRING_CODE_BTCPAY;

test('btcpay 0.2.5 pairs, creates and reads an invoice', async () => {
  const key = btcpay.crypto.generate_keypair();
  const tokens = await new btcpay.BTCPayClient(base, key).pair_client(pairingCode);
  assert.ok(tokens.merchant);

  const client = new btcpay.BTCPayClient(base, key, tokens);
  const created = await client.create_invoice({ price: 20, currency: 'USD', orderId: 'btcpay-1' });
  assert.equal(created.status, 'new');
  assert.equal(created.price, 20);
  assert.equal(created.btcPrice, '0.0004');

  const read = await client.get_invoice(created.id);
  assert.equal(read.id, created.id);

  const listed = await client.get_invoices({ orderId: 'btcpay-1' });
  assert.deepEqual(listed.map((i) => i.id), [created.id]);

  const rates = await client.get_rates(['BTC_USD'], 'store');
  assert.ok(rates.some((r) => r.code === 'USD'));
});
