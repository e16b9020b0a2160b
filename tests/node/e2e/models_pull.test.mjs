// Pulls through a frontend with two ingress replicas: RequiredModels changed by both
// replicas at the same instant keeps both changes (configd's EDIT, no read-modify-write), the
// backends a pull leaves out are named to the client, and a pull that a client follows survives a
// modelsync restart: the stream goes on and ends in success with the model on every backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { waitFor, assertCleanStop, sleep } from './flow.mjs';
import { admin, startAdminFlow } from './admin.mjs';

const ROUNDS = 10;                      // pairs of simultaneous pulls, one per replica
const RACED = Array.from({ length: 2 * ROUNDS }, (_, i) => `race${i}`);
const SLOW = 'slow';                    // 40 MB at 4 MB/s: 10 s per backend
const SLOW_SIZE = 40e6;
const SYNC_TIMEOUT = 60000;             // a loaded 2-core machine
let flow;

const simNames = async (name) => (await (await fetch(`${flow.sim.url(name)}/api/tags`)).json()).models.map((m) => m.name);

// RequiredModels of main as configd has it, through the admin API of a replica
async function requiredModels(replica = 0) {
  const response = await admin(flow, 'GET', '/frontends/main', { replica });
  assert.equal(response.status, 200, response.text);
  return response.json.RequiredModels;
}

// One pull with stream:false through a replica; resolves { status, headers, json }
async function pull(model, replica) {
  const response = await fetch(`${flow.url(replica)}/api/pull`, {
    method: 'POST', body: JSON.stringify({ model, stream: false }),
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

before(async () => {
  flow = await startAdminFlow({
    replicas: 2,
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 0, load_ms: 1, parallel: 8, pull_bandwidth: 0 },
      registry: [...RACED.map((name) => ({ name, size: 1000 })), { name: SLOW, size: SLOW_SIZE }],
      backends: [
        { name: 'a', models: ['llama3.2'] },
        { name: 'b', models: ['llama3.2'] },
        { name: 'v', api: 'openai', models: ['qwen2.5:7b'] },
        { name: 'x', models: ['llama3.2'], faults: { refuse: true } },
      ],
    },
    backends: (sim) => ['a', 'b', 'v', 'x'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), HealthyThreshold: 1,
      ...(name === 'v' ? { ApiFormat: 'OpenAI', HealthCheckUrl: '/health' } : {}),
    })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b', 'v', 'x'] }],
    settings: { Models: { IntervalMs: 500 } },
  });
  // Both replicas list a, b and v: modelsync and healthmon have spoken to both
  for (const replica of [0, 1])
    await waitFor(async () => {
      const listed = await (await fetch(`${flow.url(replica)}/v1/models`)).json();
      return listed.data?.length === 2;
    }, { timeout: SYNC_TIMEOUT, what: `the listing through replica ${replica}` });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('a pull names the backends it leaves out, with why, in X-OllamaFlow-Pull-Skipped', async () => {
  const response = await fetch(`${flow.url()}/api/pull`, { method: 'POST', body: JSON.stringify({ model: RACED[0] }) });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-ollamaflow-pull-skipped'), 'v (OpenAI format), x (unhealthy)');
  const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(lines.at(-1).status, 'success');
  for (const name of ['a', 'b']) assert.ok((await simNames(name)).includes(`${RACED[0]}:latest`), name);
  assert.equal((await flow.sim.stats('x')).routes['/api/pull'] ?? 0, 0, 'a pull reached the unhealthy x');
  // The same with stream:false
  const once = await pull(RACED[0], 1);
  assert.equal(once.status, 200);
  assert.deepEqual(once.json, { status: 'success' });
  assert.equal(once.headers.get('x-ollamaflow-pull-skipped'), 'v (OpenAI format), x (unhealthy)');
});

test('two replicas adding to one frontend\'s RequiredModels at the same instant: both changes kept', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const mine = [RACED[2 * round], RACED[2 * round + 1]];
    const answers = await Promise.all([pull(mine[0], 0), pull(mine[1], 1)]);
    for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.json));
    const required = await requiredModels(round % 2);
    for (const model of mine) assert.ok(required.includes(model), `round ${round}: ${model} lost: ${required}`);
  }
  const required = await requiredModels();
  assert.deepEqual([...required].sort(), [...RACED].sort());
  // The same model under two names from both replicas at once: one entry
  const same = await Promise.all([pull(RACED[0], 0), pull(`${RACED[0]}:latest`, 1)]);
  for (const answer of same) assert.equal(answer.status, 200);
  assert.equal((await requiredModels()).filter((m) => m.startsWith(RACED[0])).length, 1);
  // Removals race the same way: deletes from both replicas at once leave neither (x is down, so
  // each delete reports it as failed; RequiredModels is changed before any backend is asked)
  for (let round = 0; round < ROUNDS; round++) {
    const pair = [RACED[2 * round], RACED[2 * round + 1]];
    const deleted = await Promise.all(pair.map((model, replica) => fetch(`${flow.url(replica)}/api/delete`, {
      method: 'DELETE', body: JSON.stringify({ model }),
    })));
    for (const response of deleted) {
      const text = await response.text();
      assert.equal(response.status, 502, text);
      assert.match(JSON.parse(text).error, /failed on 1 of 3 backends: x \(/);
    }
  }
  assert.deepEqual(await requiredModels(), []);
});

test('modelsync restarting during a pull a client follows: the stream goes on and ends in success', async () => {
  for (const name of ['a', 'b']) await flow.sim.configure(name, { pull_bandwidth: 4e6 });
  const before = {};
  for (const name of ['a', 'b']) before[name] = (await flow.sim.stats(name)).routes['/api/pull'] ?? 0;
  const ollama = new Ollama({ host: flow.url(1) });
  const parts = [];
  let restarted = false;
  for await (const part of await ollama.pull({ model: SLOW, stream: true })) {
    parts.push(part);
    if (!restarted && part.completed > 0) {
      restarted = true;
      await flow.kill('modelsync');
      await sleep(2500);        // past Bus.LivenessMs: the ingress sees modelsync gone
      flow.restart('modelsync');
    }
  }
  assert.ok(restarted, JSON.stringify(parts));
  assert.equal(parts[0].status, 'pulling manifest');
  assert.equal(parts.at(-1).status, 'success', JSON.stringify(parts.slice(-5)));
  assert.ok(!parts.some((part) => part.error), JSON.stringify(parts));
  // What the client saw never went back, and reached the whole of both backends
  const layers = parts.filter((p) => p.digest);
  const seen = new Map();
  for (const part of layers) {
    assert.ok(part.completed >= (seen.get(part.digest) ?? 0), `completed went back: ${JSON.stringify(parts)}`);
    assert.ok(part.completed <= part.total);
    seen.set(part.digest, part.completed);
  }
  assert.equal(layers.at(-1).total, 2 * SLOW_SIZE);
  for (const name of ['a', 'b']) {
    assert.ok((await simNames(name)).includes(`${SLOW}:latest`), name);
    // Started again by the new modelsync: a second /api/pull at the backend
    const pulls = (await flow.sim.stats(name)).routes['/api/pull'] - before[name];
    assert.ok(pulls >= 2, `${name}: ${pulls} pulls`);
  }
  assert.ok((await requiredModels()).includes(SLOW));
  await waitFor(async () => (await (await fetch(`${flow.url(0)}/api/tags`)).json()).models
    .some((m) => m.name === `${SLOW}:latest`), { timeout: SYNC_TIMEOUT, what: 'the model listed' });
});
