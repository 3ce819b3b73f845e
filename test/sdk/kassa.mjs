// What the SDK scripts share: the official BitPay Node SDK pointed at the
// kassa whose URL the Go test passes in KASSA_URL, a merchant client from a
// pairing code, and BitPay's zod schemas to check responses against.
import assert from 'node:assert/strict';
import { Client, KeyUtils, TokenContainer } from 'bitpay-sdk';
import { BitPayClient } from 'bitpay-sdk/client';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The zod schemas BitPay ships for its responses: the package's exports
// map hides them, so they are loaded by file name.
const require = createRequire(import.meta.url);
const model = (file) => require(fileURLToPath(new URL('node_modules/bitpay-sdk/dist/Model/' + file, import.meta.url)));
export const schemas = {
  currency: model('Currency/Currency.zod.js').currencyInterfaceSchema,
  rate: model('Rates/Rate.zod.js').rateInterfaceSchema,
  wallet: model('Wallet/Wallet.zod.js').walletInterfaceSchema,
  invoice: model('Invoice/Invoice.zod.js').invoiceSchema,
  refund: model('Invoice/Refund.zod.js').refundInterfaceSchema,
};

// conforms fails with zod's own account of every field that breaks it.
export function conforms(schema, value, what) {
  const r = schema.safeParse(value);
  assert.ok(r.success, `${what} breaks BitPay's schema: ${r.success ? '' : JSON.stringify(r.error.issues)}`);
}

export const base = process.env.KASSA_URL + '/'; // the SDK wants the trailing slash

// claim pairs a new key with a merchant pairing code and returns a merchant
// client signing with it.
export async function claim(code) {
  const keyUtils = new KeyUtils();
  const key = keyUtils.generate_keypair();
  const transport = new BitPayClient(base, key, keyUtils.getPublicKeyFromPrivateKey(key));
  const claimed = JSON.parse(await transport.post('tokens', { id: keyUtils.get_sin_from_key(key), pairingCode: code }, false));
  assert.equal(claimed[0].facade, 'merchant');
  return client({ merchant: claimed[0].token }, key);
}

// The SDK hard-codes bitpay.com; its Client takes a transport as the 7th
// argument, which is how an existing integration is pointed at kassa.
export function client(tokens, key) {
  const keyUtils = new KeyUtils();
  const identity = key ? keyUtils.getPublicKeyFromPrivateKey(key) : null;
  return new Client(null, null, new TokenContainer(tokens), null, undefined, undefined,
    new BitPayClient(base, key ?? null, identity));
}
