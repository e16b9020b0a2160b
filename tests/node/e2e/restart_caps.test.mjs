// A backend's cap across a scheduler restart, when one replica is slow to come back: replica 0
// streams on the only slot of backend a, is stopped (SIGSTOP) so it cannot declare its lease at
// once, and the scheduler is killed and restarted; replica 1 then asks for a at once. The new
// epoch must not grant a before replica 0 has declared the lease it still runs (proto/lease.md,
// HELLO's Peers): the simulator never sees two requests at once, replica 0's stream ends whole,
// and replica 1 is served after it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFlow, waitFor, assertCleanStop, sleep } from './flow.mjs';

const MODEL = 'llama3.2';
const TOKENS = 100;                 // at 20 tokens/s: a 5 s stream
const STOPPED_MS = 1500;            // how long replica 0 is stopped
let flow;

const body = (prompt, stream, tokens) => JSON.stringify({ model: MODEL, prompt, stream,
  options: { num_predict: tokens, seed: 3 } });

before(async () => {
  flow = await startFlow({
    replicas: 2,
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 20, load_ms: 1, parallel: 4 },
      backends: [{ name: 'a', models: [MODEL] }] },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1,
      MaxParallelRequests: 1 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'] }],
    // Liveness well above the stop: the stopped replica is not deemed gone, its lease stands
    settings: { Bus: { LivenessMs: 6000 } },
  });
  for (const replica of [0, 1])
    await waitFor(async () => (await fetch(`${flow.url(replica)}/api/generate`, { method: 'POST',
      body: body('w', false, 1) })).status === 200, { what: `replica ${replica} serving` });
  // A few heartbeats: each replica's last PONG names the other
  await sleep(1000);
  await flow.sim.reset();
});

after(async () => {
  flow.signal('ingress0', 'SIGCONT');
  assertCleanStop(assert, await flow.stop());
});

// Asks through replica 1 until it is served, as a client retrying a 503 would
async function askUntilServed() {
  for (;;) {
    const response = await fetch(`${flow.url(1)}/api/generate`, { method: 'POST', body: body('second', false, 2) });
    const text = await response.text();
    if (response.status === 200) return { at: Date.now(), answer: JSON.parse(text) };
    assert.equal(response.status, 503, text);
    await sleep(100);
  }
}

test('a restarted scheduler grants a slot only once the replica running on it has declared its lease', async () => {
  const started = Date.now();
  const first = fetch(`${flow.url(0)}/api/generate`, { method: 'POST', body: body('first', true, TOKENS) })
    .then(async (response) => ({ status: response.status, text: await response.text(), at: Date.now() }));
  await waitFor(async () => (await flow.sim.stats('a')).active === 1, { what: 'the stream running on a' });
  flow.signal('ingress0', 'SIGSTOP');
  await flow.kill('scheduler');
  flow.restart('scheduler');
  const second = askUntilServed();
  await sleep(STOPPED_MS);
  flow.signal('ingress0', 'SIGCONT');
  const [one, two] = await Promise.all([first, second]);

  assert.equal(one.status, 200);
  const lines = one.text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
  assert.equal(lines.at(-1).done, true, 'replica 0\'s stream ended whole');
  assert.equal(lines.at(-1).eval_count, TOKENS);
  assert.equal(two.answer.done, true);
  const stats = await flow.sim.stats('a');
  assert.equal(stats.peak_active, 1, `backend a ran ${stats.peak_active} at once (MaxParallelRequests 1)`);
  // The stream lasts 5 s from its start: replica 1 waited for its end, not only for the restart
  assert.ok(two.at - started >= 4000, `replica 1 was served ${two.at - started} ms after the stream began`);
  assert.ok(Date.now() - started < 20000);
});
