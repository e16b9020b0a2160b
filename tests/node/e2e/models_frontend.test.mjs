// Models through a frontend end to end: the real modelsync discovers a simulated fleet,
// the ingress lists the union per frontend, and real clients (ollama-js, openai) pull and delete
// through a frontend: one merged progress stream, the model then on every backend, RequiredModels
// kept in configd's database.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, waitFor, assertCleanStop, sleep } from './flow.mjs';
import { rawRequest } from '../sim/sim.mjs';

const PULLED = 'tinyllama';
const LEFT = 'smollm';           // pulled by a client that leaves
const SYNC_TIMEOUT = 30000;     // modelsync's discovery and pulls, on a busy machine
let flow;
let ollama;

// A backend's own list, asked of the simulator directly
async function simList(name, path = '/api/tags') {
  const response = await fetch(`${flow.sim.url(name)}${path}`);
  return response.json();
}
const names = (list) => list.models.map((m) => m.name).sort();
const union = (...lists) => [...new Set(lists.flat())].sort();

// The frontend's RequiredModels as configd committed them (its SQLite database)
function requiredModels(frontend) {
  const out = execFileSync('sqlite3', [join(flow.dir, 'ollamaflow.db'),
    `SELECT requiredmodels FROM frontends WHERE identifier = '${frontend}'`]).toString().trim();
  return JSON.parse(out || '[]');
}

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 200, load_ms: 10, parallel: 2, pull_bandwidth: 20e6, keep_alive: '30m' },
      registry: [{ name: PULLED, size: 30e6, family: 'llama' }, { name: LEFT, size: 30e6 }],
      backends: [
        { name: 'a', models: ['llama3.2', { name: 'all-minilm', embedding: true }] },
        { name: 'b', models: ['llama3.2', { name: 'qwen2.5:0.5b', loaded: true }] },
        { name: 'c', models: ['gemma:2b'] },
        { name: 'v', api: 'openai', models: ['mistral-7b'] },
      ],
    },
    backends: (sim) => ['a', 'b', 'c', 'v'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), HealthyThreshold: 1,
      ...(name === 'v' ? { ApiFormat: 'OpenAI', HealthCheckUrl: '/health' } : {}),
    })),
    frontends: [
      { Identifier: 'main', Hostname: '*', Backends: ['a', 'b', 'v'] },
      { Identifier: 'other', Hostname: 'other.local', Backends: ['c'] },
    ],
    settings: { Models: { IntervalMs: 500 } },
  });
  ollama = new Ollama({ host: flow.url() });
  // Every backend discovered and healthy: the listing holds the whole fleet of main
  await waitFor(async () => {
    const list = await ollama.list();
    const openai = await (await fetch(`${flow.url()}/v1/models`)).json();
    return list.models.length === 4 && openai.data.length === 4;
  }, { timeout: SYNC_TIMEOUT, what: 'the inventories of a, b and v through the frontend' });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('/api/tags through a frontend is the union of its backends\' models, and only theirs', async () => {
  const [a, b, c] = [await simList('a'), await simList('b'), await simList('c')];
  const listed = await ollama.list();
  // The OpenAI-format backend's models too: Ollama's chat reaches it, translated
  assert.deepEqual(names(listed), union(union(names(a), names(b)), ['mistral-7b:latest']));
  // One entry per name and digest, with what the backend said about it
  for (const model of listed.models.filter((m) => m.name !== 'mistral-7b:latest')) {
    const source = [...a.models, ...b.models].find((m) => m.name === model.name);
    assert.equal(model.digest, source.digest);
    assert.equal(model.size, source.size);
    assert.equal(model.details.family, source.details.family);
  }
  assert.ok(!names(listed).includes('gemma:2b'), 'a model of another frontend\'s backend');
  const other = await rawRequest({ port: flow.port(), path: '/api/tags', headers: { host: 'other.local' } });
  assert.equal(other.status, 200);
  assert.deepEqual(names(JSON.parse(other.body)), names(c));
});

test('/api/ps and /v1/models agree with the simulator', async () => {
  // Load llama3.2 on a (straight at the backend), as traffic would
  await fetch(`${flow.sim.url('a')}/api/generate`, {
    method: 'POST', body: JSON.stringify({ model: 'llama3.2', prompt: '', keep_alive: '30m' }),
  }).then((r) => r.text());
  const expected = union(names(await simList('a', '/api/ps')), names(await simList('b', '/api/ps')));
  assert.deepEqual(expected, ['llama3.2:latest', 'qwen2.5:0.5b']);
  await waitFor(async () => JSON.stringify(names(await ollama.ps())) === JSON.stringify(expected),
    { timeout: SYNC_TIMEOUT, what: `/api/ps to list ${expected}` });

  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
  const ids = [];
  for await (const model of openai.models.list()) ids.push(model.id);
  const simIds = [];
  for (const name of ['a', 'b', 'v']) simIds.push(...(await simList(name, '/v1/models')).data.map((m) => m.id));
  assert.deepEqual(ids.sort(), union(simIds));
  const one = await openai.models.retrieve('qwen2.5:0.5b');
  assert.equal(one.id, 'qwen2.5:0.5b');
  assert.equal(one.object, 'model');
  await assert.rejects(openai.models.retrieve('gemma:2b'), (error) => {
    assert.equal(error.status, 404);
    assert.match(error.message, /model 'gemma:2b' not found/);
    return true;
  });
  assert.deepEqual(await ollama.version(), { version: '0.13.0' });
});

test('/api/show goes to a backend that has the model', async () => {
  for (let i = 0; i < 6; i++) {
    const response = await fetch(`${flow.url()}/api/show`, {
      method: 'POST', body: JSON.stringify({ model: 'qwen2.5:0.5b' }),
    });
    assert.equal(response.status, 200, await response.text());
    assert.equal(response.headers.get('x-ollamaflow-backend'), 'b');
  }
});

test('ollama-js pull through a frontend: monotonic merged progress, success, the model on every backend', async () => {
  const parts = [];
  for await (const part of await ollama.pull({ model: PULLED, stream: true })) parts.push(part);
  assert.equal(parts[0].status, 'pulling manifest');
  assert.equal(parts.at(-1).status, 'success');
  const layers = parts.filter((p) => p.digest);
  assert.ok(layers.length >= 2, JSON.stringify(parts));
  const seen = new Map();
  for (const part of layers) {
    const last = seen.get(part.digest) ?? 0;
    assert.ok(part.completed >= last, `completed went back: ${JSON.stringify(parts)}`);
    assert.ok(part.completed <= part.total);
    seen.set(part.digest, part.completed);
  }
  // Summed over the two Ollama backends of the frontend
  assert.equal(layers.at(-1).total, 2 * 30e6);
  for (const name of ['a', 'b']) assert.ok(names(await simList(name)).includes(`${PULLED}:latest`), name);
  assert.ok(!names(await simList('c')).includes(`${PULLED}:latest`), 'pulled onto another frontend\'s backend');
  assert.ok(requiredModels('main').includes(PULLED), JSON.stringify(requiredModels('main')));
  await waitFor(async () => names(await ollama.list()).includes(`${PULLED}:latest`),
    { timeout: SYNC_TIMEOUT, what: 'the pulled model in the listing' });
});

test('delete through a frontend removes the model everywhere and from RequiredModels', async () => {
  assert.deepEqual(await ollama.delete({ model: PULLED }), { status: 'success' });
  for (const name of ['a', 'b']) assert.ok(!names(await simList(name)).includes(`${PULLED}:latest`), name);
  assert.ok(!requiredModels('main').includes(PULLED));
  // No sync brings it back
  await sleep(1500);
  for (const name of ['a', 'b']) assert.ok(!names(await simList(name)).includes(`${PULLED}:latest`), name);
  await assert.rejects(ollama.delete({ model: PULLED }), (error) => {
    assert.equal(error.status_code, 404);
    assert.equal(error.message, `model '${PULLED}' not found`);
    return true;
  });
});

test('a client that leaves a pull stops following it; the pull goes on to every backend', async () => {
  const controller = new AbortController();
  const response = await fetch(`${flow.url()}/api/pull`, {
    method: 'POST', body: JSON.stringify({ model: LEFT }), signal: controller.signal,
  });
  assert.equal(response.status, 200);
  const reader = response.body.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /pulling manifest/);
  controller.abort();
  for (const name of ['a', 'b'])
    await waitFor(async () => names(await simList(name)).includes(`${LEFT}:latest`),
      { timeout: SYNC_TIMEOUT, what: `${LEFT} on ${name}` });
  assert.ok(requiredModels('main').includes(LEFT));
  // The ingress serves on, and the model goes as it came
  assert.deepEqual(await ollama.delete({ model: LEFT }), { status: 'success' });
});

test('a pull that fails names the backends; stream:false answers once', async () => {
  await assert.rejects(async () => {
    for await (const part of await ollama.pull({ model: 'no-such-model', stream: true })) void part;
  }, /failed on 2 of 2 backends: .*file does not exist/);
  const response = await fetch(`${flow.url()}/api/pull`, {
    method: 'POST', body: JSON.stringify({ name: 'no-such-model', stream: false }),
  });
  assert.equal(response.status, 500);
  assert.match((await response.json()).error, /failed on 2 of 2 backends/);
  // Not required any more
  await assert.rejects(ollama.delete({ model: 'no-such-model' }), /not found/);
  assert.ok(!requiredModels('main').includes('no-such-model'));
});

test('modelsync gone: pull is refused at once, listings are served stale', async () => {
  await flow.kill('modelsync');
  await sleep(1200);      // Bus.LivenessMs
  const started = Date.now();
  await assert.rejects(ollama.pull({ model: PULLED, stream: true }), (error) => {
    assert.equal(error.status_code, 503);
    assert.match(error.message, /modelsync is not running/);
    return true;
  });
  assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`);
  const tags = await fetch(`${flow.url()}/api/tags`);
  assert.equal(tags.status, 200);
  assert.equal(tags.headers.get('x-ollamaflow-stale'), 'inventory');
  flow.restart('modelsync');
  await waitFor(async () => !(await fetch(`${flow.url()}/api/tags`)).headers.get('x-ollamaflow-stale'),
    { timeout: SYNC_TIMEOUT, what: 'modelsync back' });
});
