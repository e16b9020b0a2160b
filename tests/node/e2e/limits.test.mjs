// Fleet-wide limits: MaxParallelRequests holds across ingress replicas, the queue waits and then
// says 429, a client that leaves the queue frees its place, and a scheduler killed mid-stream
// comes back with the cap intact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFlow, waitFor, waitHealthy, assertCleanStop, sleep } from './flow.mjs';

const MODEL = 'llama3.2';
let flow;

// A slow stream through one replica; resolves with {status, text} when it ends
function stream(replica, tokens = 10, signal) {
  return fetch(`${flow.url(replica)}/api/generate`, {
    method: 'POST', signal,
    body: JSON.stringify({ model: MODEL, prompt: 'slow', options: { num_predict: tokens } }),
  }).then(async (response) => ({ status: response.status, text: await response.text(),
    retryAfter: response.headers.get('retry-after') }));
}

before(async () => {
  flow = await startFlow({
    replicas: 3,
    fleet: {
      host: '127.0.0.1',
      // Slots on the simulated servers are plentiful: only ollamaflow may limit
      defaults: { decode_rate: 20, load_ms: 1, parallel: 16 },
      backends: [{ name: 'a', models: [MODEL] }, { name: 'b', models: [MODEL] }],
    },
    backends: (sim) => ['a', 'b'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), HealthyThreshold: 1,
      MaxParallelRequests: 2, RateLimitRequestsThreshold: 16,
    })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'],
      LoadBalancing: 'LeastOutstanding' }],
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } });
  for (let replica = 1; replica < 3; replica++)
    await waitHealthy(flow, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } },
      { replica });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('2 slots on each of 2 backends, 3 replicas, 20 slow streams: never more than 2 at once', async () => {
  await flow.sim.reset();
  const streams = [];
  for (let i = 0; i < 20; i++) streams.push(stream(i % 3, 6));
  const results = await Promise.all(streams);
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 429);
  assert.equal(ok.length + refused.length, 20, JSON.stringify(results.map((r) => r.status)));
  for (const r of ok) assert.match(r.text, /"done":true/);
  for (const r of refused) assert.ok(Number(r.retryAfter) >= 1, 'a 429 says when to retry');
  // 4 run and 16 may wait (an ask waiting for either backend counts against both
  // thresholds, proto/lease.md): all 20 finish
  assert.equal(ok.length, 20, `${ok.length} completed`);
  for (const name of ['a', 'b']) {
    const stats = await flow.sim.stats(name);
    assert.ok(stats.peak_active <= 2, `${name} saw ${stats.peak_active} at once`);
  }
});

test('past the queue limit, 429 with Retry-After in the client\'s dialect', async () => {
  await flow.sim.reset();
  const streams = [];
  for (let i = 0; i < 30; i++) streams.push(stream(i % 3, 20));
  const results = await Promise.all(streams);
  const refused = results.filter((r) => r.status === 429);
  // 4 run, 16 wait, 10 are refused
  assert.equal(refused.length, 10, JSON.stringify(results.map((r) => r.status)));
  assert.match(JSON.parse(refused[0].text).error, /./);
  assert.equal(results.filter((r) => r.status === 200).length, 20);
  for (const name of ['a', 'b'])
    assert.ok((await flow.sim.stats(name)).peak_active <= 2);
});

test('a client that leaves the queue frees its place at once', async () => {
  await flow.sim.reset();
  // Fill the 4 slots with long streams
  const long = [];
  for (let i = 0; i < 4; i++) long.push(stream(i % 3, 60));
  await waitFor(async () => (await flow.sim.stats('a')).active + (await flow.sim.stats('b')).active === 4,
    { what: '4 running streams' });
  // One waits in the queue, then gives up
  const controller = new AbortController();
  const queued = stream(0, 2, controller.signal).catch((error) => ({ aborted: error.name }));
  await sleep(200);
  controller.abort();
  assert.equal((await queued).aborted, 'AbortError');
  const generated = async (name) => (await flow.sim.stats(name)).routes['/api/generate'] ?? 0;
  try {
    // It never reached a backend
    assert.equal(await generated('a') + await generated('b'), 4);
  } finally {
    for (const s of long) assert.equal((await s).status, 200);
  }
  // and the slots serve new requests
  assert.equal((await stream(1, 2)).status, 200);
});

test('the scheduler killed and restarted during 10 long streams: they finish, the cap holds', async () => {
  await flow.sim.reset();
  const running = [];
  for (let i = 0; i < 4; i++) running.push(stream(i % 3, 40));
  await waitFor(async () => (await flow.sim.stats('a')).active + (await flow.sim.stats('b')).active === 4,
    { what: '4 running streams' });
  await flow.kill('scheduler', 'SIGKILL');
  flow.restart('scheduler');
  // Six more asks while the four still run: the new scheduler must count the four (RESUME)
  await sleep(300);
  const more = [];
  for (let i = 0; i < 6; i++) more.push(stream(i % 3, 5));
  const results = await Promise.all([...running, ...more]);
  for (let i = 0; i < 4; i++) {
    assert.equal(results[i].status, 200);
    assert.match(results[i].text, /"done":true/, 'a running stream finished');
  }
  for (let i = 4; i < 10; i++)
    assert.ok([200, 503].includes(results[i].status), `status ${results[i].status}: ${results[i].text}`);
  assert.ok(results.slice(4).filter((r) => r.status === 200).length >= 1, 'the new scheduler grants');
  for (const name of ['a', 'b'])
    assert.ok((await flow.sim.stats(name)).peak_active <= 2,
      `${name}: ${(await flow.sim.stats(name)).peak_active} at once across the restart`);
});

test('the scheduler gone: a request gets 503 within a short bound, not a hang', async () => {
  await flow.kill('scheduler', 'SIGKILL');
  try {
    // LivenessMs is 1000 here: the ingress notices the silence, then answers at once
    await sleep(1500);
    const started = Date.now();
    const result = await stream(0, 2);
    assert.equal(result.status, 503);
    assert.match(JSON.parse(result.text).error, /scheduler/);
    assert.ok(Date.now() - started < 3000, `answered after ${Date.now() - started} ms`);
  } finally {
    flow.restart('scheduler');
  }
  await waitFor(async () => (await stream(1, 1)).status === 200, { what: 'service after the restart' });
});
