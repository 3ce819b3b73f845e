// Creates a refund through the official BitPay Node SDK for the Go test
// TestRefundEndToEnd (internal/cli/refund_e2e_test.go): it claims the
// merchant pairing code KASSA_PAIRING_CODE, refunds REFUND_AMOUNT USD of the
// paid invoice KASSA_INVOICE without an address (the buyer gives one on the
// refund page), checks the SDK's answers against BitPay's schemas and prints
// the refund as JSON for the Go test to follow.
import assert from 'node:assert/strict';
import { Models } from 'bitpay-sdk';
import { claim, conforms, schemas } from './kassa.mjs';

const invoiceId = process.env.KASSA_INVOICE;
const merchant = await claim(process.env.KASSA_PAIRING_CODE);

const request = new Models.Refund(Number(process.env.REFUND_AMOUNT), invoiceId);
request.currency = 'USD';
request.preview = false;
request.immediate = false;
request.buyerPaysRefundFee = false;
request.guid = 'e2e-refund-1';
const created = await merchant.createRefund(request);
conforms(schemas.refund, created, 'created refund');
assert.equal(created.status, 'created');
assert.equal(created.invoice, invoiceId);

const read = await merchant.getRefund(created.id);
conforms(schemas.refund, read, 'refund');
assert.equal(read.id, created.id);
assert.equal(read.status, 'created');

process.stdout.write(JSON.stringify(read) + '\n');
