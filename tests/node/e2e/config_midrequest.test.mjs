// A config change seen while a request is under way does not change that request: it keeps the
// frontend it began with (the ingress holds the config records of its start), and the next
// request gets the new one. Here the change is the frontend's TimeoutMs, which a request reads
// only when it is sent, after waiting in the queue for the backend's one slot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, assertCleanStop } from './flow.mjs';
import { admin, startAdminFlow } from './admin.mjs';

const MODEL = 'llama3.2';
const FIRST_BYTE_MS = 600;    // how long the backend takes to answer, once it is slowed
let flow;

function generate(body, signal) {
  return fetch(`${flow.url()}/api/generate`, {
    method: 'POST', signal, body: JSON.stringify({ model: MODEL, prompt: 'hold', ...body }),
  });
}

before(async () => {
  flow = await startAdminFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 10, load_ms: 1, parallel: 4 },
      backends: [{ name: 'a', models: [MODEL] }] },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'),
      HealthyThreshold: 1, MaxParallelRequests: 1 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'], TimeoutMs: 3000 }],
    // Probes wait longer than the slowed backend takes: it stays healthy
    settings: { Health: { IntervalMs: 3000, TimeoutMs: 2500 } },
  });
  await waitFor(async () => (await generate({ stream: false, options: { num_predict: 1 } })).status === 200,
    { what: 'backend a serving' });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('a request keeps the TimeoutMs it began with; the next one gets the new one', async () => {
  await flow.sim.faults('a', { slow_first_byte_ms: FIRST_BYTE_MS });
  // The first request holds the backend's only slot, streaming for seconds
  const holder = new AbortController();
  const first = await generate({ options: { num_predict: 100 } }, holder.signal);
  assert.equal(first.status, 200);
  // The second begins and waits for the slot
  const second = generate({ options: { num_predict: 2 } });
  await waitFor(async () => (await admin(flow, 'GET', '/backends/a/health')).json.QueueDepth === 1,
    { what: 'the second request waiting' });
  // The frontend's TimeoutMs falls below the backend's first byte, and the ingress has the change
  const sequence = (await admin(flow, 'GET', '/status')).json.Config.Sequence;
  const patched = await admin(flow, 'PATCH', '/frontends/main', { body: { TimeoutMs: 200 } });
  assert.equal(patched.status, 200, patched.text);
  await waitFor(async () => (await admin(flow, 'GET', '/status')).json.Config.Sequence > sequence,
    { what: 'the ingress applying the change' });
  // The slot frees: the second request goes out now, under the TimeoutMs it began with
  holder.abort();
  await first.text().catch(() => {});
  const answer = await second;
  assert.equal(answer.status, 200, 'sent after the change, timed by the frontend it began with');
  const lines = (await answer.text()).trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(lines.at(-1).done, true);
  // A request that begins after the change is timed by the new TimeoutMs
  const third = await generate({ options: { num_predict: 2 } });
  assert.equal(third.status, 504);
  assert.match((await third.json()).error, /TimeoutMs \(200 ms\)/);
});
