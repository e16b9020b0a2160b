// Timeouts: a backend that sends nothing within the frontend's TimeoutMs gets a 504; a long but
// live stream is never cut; a stream that falls silent for Ingress.IdleTimeoutMs is cut; a client
// that leaves while waiting for a non-streamed answer cancels it at the backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFlow, waitFor, assertCleanStop, sleep } from './flow.mjs';

const MODEL = 'llama3.2';
let flow;

function generate(label, body, signal) {
  return fetch(`${flow.url()}/api/generate`, {
    method: 'POST', signal, headers: { 'X-OllamaFlow-Label': label },
    body: JSON.stringify({ model: MODEL, prompt: 'time', ...body }),
  });
}

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { load_ms: 1, parallel: 4, models: [MODEL] },
      backends: [
        { name: 'late', decode_rate: 100, faults: { slow_first_byte_ms: 800 } },
        { name: 'live', decode_rate: 5 },
      ],
    },
    backends: (sim) => ['late', 'live'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), HealthyThreshold: 1,
      Labels: [name],
    })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['late', 'live'], TimeoutMs: 400 }],
    // Probes wait 1500 ms: the late backend (800 ms) stays healthy
    settings: { Health: { IntervalMs: 3000, TimeoutMs: 1500 }, Ingress: { IdleTimeoutMs: 1000 } },
  });
  for (const label of ['late', 'live'])
    await waitFor(async () => (await generate(label, { stream: false, options: { num_predict: 1 } }))
      .status !== 503, { what: `backend ${label} healthy` });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('nothing within the frontend\'s TimeoutMs: 504, and the slot is free again', async () => {
  const started = Date.now();
  const response = await generate('late', { options: { num_predict: 2 } });
  assert.equal(response.status, 504);
  assert.match((await response.json()).error, /TimeoutMs \(400 ms\)/);
  const took = Date.now() - started;
  assert.ok(took >= 350 && took < 5000, `answered after ${took} ms`);
  // The lease was released: the next ask is granted at once and ends the same way
  const again = await generate('late', { options: { num_predict: 2 } });
  assert.equal(again.status, 504);
  await again.text();
});

test('a long but live stream is never cut for its length', async () => {
  const started = Date.now();
  const response = await generate('live', { options: { num_predict: 12 } });
  assert.equal(response.status, 200);
  const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(lines.at(-1).done, true);
  assert.equal(lines.at(-1).eval_count, 12);
  // 12 tokens at 5 per second: far longer than TimeoutMs (400) and IdleTimeoutMs (1000)
  assert.ok(Date.now() - started > 2000);
});

test('a stream silent for IdleTimeoutMs is cut: the client sees an abort', async () => {
  // The backend sends 2 tokens, then nothing more, keeping the connection open
  await flow.sim.faults('live', { stall_after_tokens: 2 });
  const response = await generate('live', { options: { num_predict: 40 } });
  assert.equal(response.status, 200);
  const reader = response.body.getReader();
  await reader.read();
  const started = Date.now();
  try {
    await assert.rejects(async () => {
      for (;;) {
        const { done } = await reader.read();
        if (done) throw new Error('the stream ended cleanly');
      }
    }, (error) => !/ended cleanly/.test(error.message));
  } finally {
    await flow.sim.faults('live', { stall_after_tokens: -1 });
  }
  const took = Date.now() - started;
  assert.ok(took >= 900 && took < 10000, `cut after ${took} ms of silence`);
  // The backend saw the connection go: its slot is free
  await waitFor(async () => (await flow.sim.stats('live')).active === 0, { what: 'the stalled slot freed' });
});

test('a client that leaves while waiting for a non-streamed answer cancels it', async () => {
  await waitFor(async () => (await flow.sim.stats('live')).active === 0, { what: 'an idle backend' });
  await flow.sim.reset();
  const controller = new AbortController();
  const pending = generate('live', { stream: false, options: { num_predict: 50 } }, controller.signal)
    .catch((error) => error.name);
  await waitFor(async () => (await flow.sim.stats('live')).active === 1, { what: 'the generation' });
  await sleep(100);
  controller.abort();
  const aborted = Date.now();
  assert.equal(await pending, 'AbortError');
  await waitFor(async () => (await flow.sim.stats('live')).cancelled === 1, { timeout: 3000, interval: 10,
    what: 'the cancellation at the backend' });
  const took = Date.now() - aborted;
  assert.ok(took < 1000, `cancelled ${took} ms after the client left`);
  assert.equal((await flow.sim.stats('live')).active, 0);
});
