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

// Long enough (1.2 s at 50 tokens/s) that no request ends while a busy machine sets the test up
const LONG = 60;

const generate = (tokens, signal, stream = false) => fetch(`${sim.url('a')}/api/generate`, {
  method: 'POST', signal,
  body: JSON.stringify({ model: 'llama3.2', prompt: 'count', stream, options: { num_predict: tokens } }),
});

test('2 slots and a queue of 3: the sixth concurrent request gets 503, peak concurrency is 2', async () => {
  const started = [];
  for (let i = 0; i < 5; i++) {
    started.push(generate(LONG));
    await waitFor(async () => (await sim.stats('a')).requests === i + 1);
  }
  const stats = await sim.stats('a');
  assert.equal(stats.active, 2);
  assert.equal(stats.queued, 3);
  const sixth = await generate(LONG);
  assert.equal(sixth.status, 503);
  assert.equal(sixth.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.deepEqual(await sixth.json(), BUSY);
  const replies = await Promise.all(started);
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200, 200]);
  for (const reply of replies) assert.equal((await reply.json()).eval_count, LONG);
  const after = await sim.stats('a');
  assert.equal(after.peak_active, 2);
  assert.equal(after.peak_queued, 3);
  assert.equal(after.busy, 1);
  assert.equal(after.completed, 5);
  assert.equal(after.active, 0);
  assert.equal(after.routes['/api/generate'], 6);
});

test('the ollama client sees the 503 as a ResponseError', async () => {
  const ollama = new Ollama({ host: sim.url('a') });
  const running = [];
  for (let i = 0; i < 5; i++) running.push(ollama.generate({ model: 'llama3.2', prompt: 'x', options: { num_predict: LONG } }));
  running.forEach((promise) => promise.catch(() => {}));   // failures are reported by Promise.all below
  await waitFor(async () => (await sim.stats('a')).queued === 3);
  await assert.rejects(ollama.generate({ model: 'llama3.2', prompt: 'x' }),
    (error) => error.status_code === 503 && error.message === BUSY.error);
  await Promise.all(running);
});

test('a client that disconnects mid-stream frees its slot at once', async () => {
  const controller = new AbortController();
  const reply = await generate(1000, controller.signal, true);   // 20 s of tokens
  const reader = reply.body.getReader();
  await reader.read();
  assert.equal((await sim.stats('a')).active, 1);
  controller.abort();
  const stats = await waitFor(async () => { const s = await sim.stats('a'); return s.active === 0 && s; }, { timeoutMs: 500 });
  assert.equal(stats.cancelled, 1);
  assert.equal(stats.completed, 0);
});

test('a client that disconnects while waiting for a non-streamed reply frees its slot', async () => {
  const controller = new AbortController();
  const pending = generate(1000, controller.signal).catch((error) => error);
  await waitFor(async () => (await sim.stats('a')).active === 1);
  controller.abort();
  assert.equal((await pending).name, 'AbortError');
  const stats = await waitFor(async () => { const s = await sim.stats('a'); return s.active === 0 && s; }, { timeoutMs: 500 });
  assert.equal(stats.cancelled, 1);
});

test('a queued client that disconnects leaves the queue, and the others go on', async () => {
  const running = [generate(LONG), generate(LONG)];
  await waitFor(async () => (await sim.stats('a')).active === 2);
  const controller = new AbortController();
  const queued = generate(5, controller.signal).catch((error) => error);
  await waitFor(async () => (await sim.stats('a')).queued === 1);
  controller.abort();
  await queued;
  const stats = await waitFor(async () => { const s = await sim.stats('a'); return s.queued === 0 && s; }, { timeoutMs: 500 });
  assert.equal(stats.cancelled, 1);
  assert.equal(stats.active, 2);
  const replies = await Promise.all(running);
  assert.deepEqual(replies.map((r) => r.status), [200, 200]);
  await sleep(20);
  const end = await sim.stats('a');
  assert.equal(end.completed, 2);
  assert.equal(end.tokens, 2 * LONG);
});

test('parallel and queue can be changed at run time', async () => {
  await sim.configure('a', { parallel: 1, max_queue: 0 });
  const first = generate(LONG);
  await waitFor(async () => (await sim.stats('a')).active === 1);
  assert.equal((await generate(1)).status, 503);
  assert.equal((await first).status, 200);
  await sim.configure('a', { parallel: 2, max_queue: 3 });
});
