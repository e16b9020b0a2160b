// LeastLatency: with two simulated servers of very different speeds, ollamaflow learns which
// answers first from the releases, sends the requests to the fast one while it has a free slot,
// keeps its MaxParallelRequests, and still tries a backend it knows nothing about (the exploration
// rule: an unexplored backend with the model loaded gets the next ask it can serve).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFlow, waitFor, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
const PROMPT = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
let flow;

// One streamed generation; resolves with its status when it ends
async function generate(tokens = 4) {
  const response = await fetch(`${flow.url()}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model: MODEL, prompt: PROMPT, options: { num_predict: tokens } }),
  });
  const text = await response.text();
  // A refusal shows what the ingress and the scheduler said about it
  assert.equal(response.status, 200, response.status === 200 ? text : `${text}\n${['ingress0', 'scheduler']
    .map((name) => `--- ${name} log ---\n${flow.log(name).slice(-3000)}`).join('\n')}`);
  assert.match(text, /"done":true/);
  return response.status;
}

// Generations a backend served (its health probes are other routes)
const generated = (stats) => stats.routes['/api/generate'] ?? 0;
const requests = async (name) => generated(await flow.sim.stats(name));

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { load_ms: 1, parallel: 16 },
      backends: [
        // 40 prompt words: 10 ms then 5 ms a token on the fast one; 400 ms then 100 ms on the slow
        // Both with the model loaded from the start: exploration never costs a cold load while a
        // warm backend has room, so a cold 'slow' would (rightly) not be tried while 'fast' is free
        { name: 'fast', models: [{ name: MODEL, loaded: true }], decode_rate: 200, prefill_rate: 4000 },
        { name: 'slow', models: [{ name: MODEL, loaded: true }], decode_rate: 10, prefill_rate: 100 },
      ],
    },
    backends: (sim) => ['slow', 'fast'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), HealthyThreshold: 1,
      MaxParallelRequests: 2, RateLimitRequestsThreshold: 32,
    })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['slow', 'fast'],
      LoadBalancing: 'LeastLatency' }],
  });
  // Until each has served one request: once the scheduler has a backend healthy with the model
  // loaded (health and modelsync's inventory, each on its own schedule) and has learned nothing of
  // it, the next request goes there, so this ends a request after the later one is seen
  await waitFor(async () => {
    await fetch(`${flow.url()}/api/generate`, {
      method: 'POST', body: JSON.stringify({ model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } }),
    }).then((response) => response.text()).catch(() => '');
    return (await requests('fast')) > 0 && (await requests('slow')) > 0;
  }, { what: 'both backends tried' });
  // A few releases of each to learn from
  for (let i = 0; i < 4; i++) await generate();
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('one request at a time: the fast backend takes (nearly) all of them', async () => {
  await flow.sim.reset();
  for (let i = 0; i < 20; i++) await generate();
  const fast = await requests('fast');
  const slow = await requests('slow');
  assert.equal(fast + slow, 20);
  assert.ok(fast >= 18, `fast served ${fast} of 20, slow ${slow}`);
});

test('a burst: the fast backend\'s 2 slots stay full, and waiting for them beats the slow one', async () => {
  await flow.sim.reset();
  await Promise.all(Array.from({ length: 12 }, () => generate()));
  const fast = await flow.sim.stats('fast');
  const slow = await flow.sim.stats('slow');
  assert.equal(generated(fast) + generated(slow), 12);
  assert.ok(fast.peak_active <= 2 && slow.peak_active <= 2, 'MaxParallelRequests holds');
  // A fast request takes ~30 ms and a slow one ~800 ms: most asks wait for a fast slot
  assert.ok(generated(fast) >= 9, `fast served ${generated(fast)} of 12, slow ${generated(slow)}`);
});
