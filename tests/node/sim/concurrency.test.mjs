// Parallel slots, the bounded queue, 503 when it is full, and cancellation by client disconnect.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startSim, waitFor, sleep } from './sim.mjs';

const BUSY = { error: 'server busy, please try again.  maximum pending requests exceeded' };
let sim;

before(async () => {
  sim = await startSim({
    fleet: {
      backends: [{ name: 'a', parallel: 2, max_queue: 3, decode_rate: 50, prefill_rate: 0, load_ms: 0,
        models: ['llama3.2'] }],
    },
  });
});

after(async () => {
  // A clean exit: no crash, and no leak under AddressSanitizer
  assert.deepEqual(await sim.stop(), { code: 0, signal: null });
});
beforeEach(async () => {
  // Start each test on an idle backend, whatever the previous one left running
  await waitFor(async () => { const s = await sim.stats('a'); return s.active === 0 && s.queued === 0; }, { timeoutMs: 5000 });
  await sim.reset();
});

// 1.2 s at 50 tokens/s
const LONG = 60;
// Cancellation must free a slot long before the held stream's 20 s would have ended
const FREED_MS = 5000;

const generate = (tokens, signal, stream = false) => fetch(`${sim.url('a')}/api/generate`, {
  method: 'POST', signal,
  body: JSON.stringify({ model: 'llama3.2', prompt: 'count', stream, options: { num_predict: tokens } }),
});

// A slot held by a stream of 20 s of tokens, running (its first chunk read) until released: so
// no slot frees while a busy machine sets a test up, however slow it is
async function hold() {
  const controller = new AbortController();
  const reply = await generate(1000, controller.signal, true);
  const reader = reply.body.getReader();
  await reader.read();
  return {
    reader,
    async release() {
      controller.abort();
      await reader.read().catch(() => {});
    },
  };
}

test('2 slots and a queue of 3: the sixth concurrent request gets 503, peak concurrency is 2', async () => {
  const holders = [await hold(), await hold()];
  assert.equal((await sim.stats('a')).active, 2);
  const queued = [];
  for (let i = 0; i < 3; i++) {
    queued.push(generate(LONG));
    await waitFor(async () => (await sim.stats('a')).queued === i + 1);
  }
  const stats = await sim.stats('a');
  assert.equal(stats.active, 2);
  assert.equal(stats.queued, 3);
  const sixth = await generate(LONG);
  assert.equal(sixth.status, 503);
  assert.equal(sixth.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.deepEqual(await sixth.json(), BUSY);
  for (const holder of holders) await holder.release();
  const replies = await Promise.all(queued);
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200]);
  for (const reply of replies) assert.equal((await reply.json()).eval_count, LONG);
  const after = await waitFor(async () => { const s = await sim.stats('a'); return s.completed === 3 && s; });
  assert.equal(after.peak_active, 2);
  assert.equal(after.peak_queued, 3);
  assert.equal(after.busy, 1);
  assert.equal(after.cancelled, 2);
  assert.equal(after.active, 0);
  assert.equal(after.routes['/api/generate'], 6);
});

test('the ollama client sees the 503 as a ResponseError', async () => {
  const ollama = new Ollama({ host: sim.url('a') });
  const holders = [await hold(), await hold()];
  const queued = [];
  for (let i = 0; i < 3; i++) queued.push(ollama.generate({ model: 'llama3.2', prompt: 'x', options: { num_predict: 2 } }));
  queued.forEach((promise) => promise.catch(() => {}));   // failures are reported by Promise.all below
  await waitFor(async () => (await sim.stats('a')).queued === 3);
  await assert.rejects(ollama.generate({ model: 'llama3.2', prompt: 'x' }),
    (error) => error.status_code === 503 && error.message === BUSY.error);
  for (const holder of holders) await holder.release();
  await Promise.all(queued);
});

test('a client that disconnects mid-stream frees its slot', async () => {
  const controller = new AbortController();
  const reply = await generate(1000, controller.signal, true);   // 20 s of tokens
  const reader = reply.body.getReader();
  await reader.read();
  assert.equal((await sim.stats('a')).active, 1);
  controller.abort();
  const stats = await waitFor(async () => { const s = await sim.stats('a'); return s.active === 0 && s; }, { timeoutMs: FREED_MS });
  assert.equal(stats.cancelled, 1);
  assert.equal(stats.completed, 0);
});

test('a client that disconnects while waiting for a non-streamed reply frees its slot', async () => {
  const controller = new AbortController();
  const pending = generate(1000, controller.signal).catch((error) => error);
  await waitFor(async () => (await sim.stats('a')).active === 1);
  controller.abort();
  assert.equal((await pending).name, 'AbortError');
  const stats = await waitFor(async () => { const s = await sim.stats('a'); return s.active === 0 && s; }, { timeoutMs: FREED_MS });
  assert.equal(stats.cancelled, 1);
  assert.equal(stats.completed, 0);
});

test('a queued client that disconnects leaves the queue, and the others go on', async () => {
  const holders = [await hold(), await hold()];
  const controller = new AbortController();
  const queued = generate(5, controller.signal).catch((error) => error);
  await waitFor(async () => (await sim.stats('a')).queued === 1);
  controller.abort();
  await queued;
  const stats = await waitFor(async () => { const s = await sim.stats('a'); return s.queued === 0 && s; }, { timeoutMs: FREED_MS });
  assert.equal(stats.cancelled, 1);
  assert.equal(stats.active, 2);
  // The running streams go on: more tokens come on each
  for (const { reader } of holders) {
    const { done, value } = await reader.read();
    assert.equal(done, false);
    assert.match(new TextDecoder().decode(value), /"done":false/);
  }
  for (const holder of holders) await holder.release();
  // And the queue takes a request again
  const next = await generate(5);
  assert.equal(next.status, 200);
  assert.equal((await next.json()).eval_count, 5);
});

test('parallel and queue can be changed at run time', async () => {
  await sim.configure('a', { parallel: 1, max_queue: 0 });
  const holder = await hold();
  assert.equal((await sim.stats('a')).active, 1);
  assert.equal((await generate(1)).status, 503);
  await holder.release();
  await sim.configure('a', { parallel: 2, max_queue: 3 });
  await waitFor(async () => (await sim.stats('a')).active === 0, { timeoutMs: FREED_MS });
  const replies = await Promise.all([generate(1), generate(1)]);
  assert.deepEqual(replies.map((r) => r.status), [200, 200]);
});
