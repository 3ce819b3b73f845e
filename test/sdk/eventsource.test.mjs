// A real EventSource client (the eventsource package, pinned in
// package.json) on kassa's invoice event bus, driven by the Go test
// TestEventSourceClient, which starts kassa on a regtest node and passes the
// pass's bus URL and token and the invoice id in the environment.
//
// The script and the Go test take turns through stdout: the script prints a
// word when it is ready for the next step, the Go test acts on the chain or
// the server. Steps:
//
//  1. Subscribe as seed 002 shows (token, action=subscribe, events[]); see
//     connect and the current state, print READY; Go pays the invoice.
//  2. See statechange with status paid, print PAID; Go drops every client
//     connection. EventSource reconnects by itself, sending Last-Event-ID.
//  3. See connect again, print RECONNECTED; Go mines a block. See confirmed,
//     print CONFIRMED.
//  4. Close, open a new EventSource with ?lastEventId=, see connect, print
//     RESUMING; Go mines five blocks. See complete; the server ends the
//     stream, EventSource reconnects with Last-Event-ID and gets 204, which
//     closes it.
//
// Every statechange id must be higher than every one before it, across all
// connections: a resumed stream repeats nothing. The script prints RESULT
// and a JSON summary, and exits 0; any failed assertion exits non-zero.
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';

const busURL = process.env.KASSA_EVENTS_URL;
const token = process.env.KASSA_EVENT_TOKEN;
const invoiceId = process.env.KASSA_INVOICE_ID;
assert.ok(busURL && token && invoiceId, 'KASSA_EVENTS_URL, KASSA_EVENT_TOKEN and KASSA_INVOICE_ID must be set');

// A hang fails the script rather than the Go test's deadline.
setTimeout(() => {
  console.error('eventsource.test.mjs: timed out');
  process.exit(2);
}, 120_000).unref();

const say = (line) => console.log(line);

// requests records the Last-Event-ID header of every connection made.
const requests = [];
const recordingFetch = (input, init) => {
  requests.push(init?.headers?.['Last-Event-ID'] ?? null);
  return fetch(input, init);
};

// follow opens an EventSource and queues what it dispatches: connect and
// statechange events with their parsed data, and errors with readyState.
function follow(url) {
  const es = new EventSource(url, { fetch: recordingFetch });
  const queue = [];
  let waiter = null;
  const push = (item) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(item);
    } else {
      queue.push(item);
    }
  };
  for (const type of ['connect', 'statechange']) {
    es.addEventListener(type, (e) => push({ type, id: e.lastEventId, data: JSON.parse(e.data) }));
  }
  es.onerror = (e) => push({ type: 'error', code: e.code, readyState: es.readyState });
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiter = r; }));
  return { es, next };
}

const seen = []; // every statechange: {id, status}
let connects = 0;
let lastId = 0;

// take returns the next connect or statechange, checking statechange ids
// grow; errors while the source reconnects are skipped.
async function take(source) {
  for (;;) {
    const item = await source.next();
    if (item.type === 'error') {
      assert.notEqual(item.readyState, source.es.CLOSED, `the stream closed unexpectedly (code ${item.code})`);
      continue;
    }
    if (item.type === 'connect') {
      assert.equal(item.data.invoiceId, invoiceId);
      connects++;
      return item;
    }
    const id = Number(item.id);
    assert.ok(Number.isInteger(id) && id > lastId, `statechange id ${item.id} after ${lastId}: repeated or out of order`);
    assert.equal(item.data.id, invoiceId);
    assert.equal(item.data.token, token, 'the invoice-token view carries the token');
    assert.equal(item.data.buyer, undefined, 'the invoice-token view carries no buyer');
    lastId = id;
    seen.push({ id, status: item.data.status });
    return item;
  }
}

async function expectConnect(source) {
  const item = await take(source);
  assert.equal(item.type, 'connect', `want connect, have ${item.type}`);
}

async function until(source, status) {
  for (;;) {
    const item = await take(source);
    assert.equal(item.type, 'statechange', `want statechange, have ${item.type}`);
    if (item.data.status === status) return item;
  }
}

// Step 1.
const first = follow(`${busURL}?token=${encodeURIComponent(token)}&action=subscribe&events[]=payment&events[]=confirmation`);
await expectConnect(first);
const current = await take(first);
assert.equal(current.type, 'statechange');
assert.equal(current.data.status, 'new');
say('READY');

// Step 2.
await until(first, 'paid');
say(`PAID ${lastId}`);

// Step 3: the connection drops; EventSource reconnects on its own. The
// rest of the payment's events may arrive before the drop.
for (;;) {
  const item = await take(first);
  if (item.type === 'connect') break;
  assert.equal(item.data.status, 'paid');
}
say('RECONNECTED');
await until(first, 'confirmed');
say('CONFIRMED');
first.es.close();

// Step 4.
const second = follow(`${busURL}?token=${encodeURIComponent(token)}&events[]=payment&events[]=confirmation&lastEventId=${lastId}`);
await expectConnect(second);
say('RESUMING');
await until(second, 'complete');
for (;;) {
  const item = await second.next();
  assert.notEqual(item.type, 'statechange', 'nothing follows complete');
  if (item.type === 'error' && second.es.readyState === second.es.CLOSED) {
    assert.equal(item.code, 204, 'the server ends a finished stream with 204');
    break;
  }
}

say('RESULT ' + JSON.stringify({ connects, statechanges: seen, lastEventIdHeaders: requests }));
process.exit(0);
