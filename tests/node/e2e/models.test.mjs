// Models end to end: modelsync's published inventories against the simulator's own lists,
// routing only to backends that have the model (counted by the simulator), RequiredModels pulled
// onto every backend of a frontend within the per-backend limit, a failed pull retried, an ask for
// a model being pulled waiting for it, unknown models refused with Ollama's 404 in both dialects,
// and the only backend with a model going down refused quickly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, waitFor, assertCleanStop, hostRequest } from './flow.mjs';

const DEFAULT_BIN = fileURLToPath(new URL('../../../build/bin', import.meta.url));
const LLAMA = 'llama3.2';
const MISTRAL = 'mistral:7b';           // on b only
const MINILM = 'all-minilm';            // on a only
const QWEN = 'qwen2.5:7b';              // on v only (OpenAI format)
const REQUIRED = ['r1', 'r2', 'r3', 'r4:latest', 'r5'];
const PER_BACKEND = 2;
const PULL_SIZE = 100e6;                // bytes; at 20 MB/s each pull lasts 5 s

let flow;
let tap;

// Follows modelsync's PUB through ollamaflow-tap: every message, and the last STATE
function startTap(settingsFile) {
  const bin = process.env.OF_BIN_DIR || DEFAULT_BIN;
  const child = spawn(join(bin, 'ollamaflow-tap'), ['--config', settingsFile, '-s', 'modelsync'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const self = { child, messages: [], state: null };
  let pending = '';
  child.stdout.on('data', (data) => {
    pending += data;
    let newline;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const message = JSON.parse(line);
      self.messages.push(message);
      if (message.Command === 'STATE') self.state = message.Body;
    }
  });
  self.exited = new Promise((resolve) => child.once('exit', resolve));
  return self;
}

const inventory = (backend) => tap.state?.Inventories.find((record) => record.Backend === backend);
const names = (list) => list.map((entry) => entry.Name ?? entry.name ?? entry.id).sort();
const key = (name) => (name.includes(':') ? name : `${name}:latest`);

async function simTags(name) {
  return (await (await fetch(`${flow.sim.url(name)}/api/tags`)).json()).models;
}

before(async () => {
  const registry = [...REQUIRED, 'r6'].map((name) => ({ name: key(name), size: PULL_SIZE, family: 'llama' }));
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      registry,
      defaults: { decode_rate: 0, prefill_rate: 0, load_ms: 1, parallel: 8 },
      backends: [
        { name: 'a', models: [{ name: LLAMA, loaded: true }, { name: MINILM, embedding: true, family: 'bert' }] },
        { name: 'b', models: [LLAMA, MISTRAL] },
        { name: 'v', api: 'openai', models: [QWEN] },
        { name: 'c', models: [LLAMA], pull_bandwidth: 20e6 },
        { name: 'd', models: [LLAMA], pull_bandwidth: 20e6 },
        { name: 'e', models: [LLAMA], pull_bandwidth: 0, faults: { pull_fail: true } },
      ],
    },
    backends: (sim) => ['a', 'b', 'v', 'c', 'd', 'e'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), MaxParallelRequests: 8,
      HealthyThreshold: 1, UnhealthyThreshold: 1,
      ...(name === 'v' ? { ApiFormat: 'OpenAI', HealthCheckUrl: '/health' } : {}),
    })),
    frontends: [
      { Identifier: 'main', Hostname: '*', Backends: ['a', 'b', 'v'], TimeoutMs: 10000 },
      { Identifier: 'stock', Hostname: 'stock.local', Backends: ['c', 'd'], RequiredModels: REQUIRED },
      { Identifier: 'flaky', Hostname: 'flaky.local', Backends: ['e'], RequiredModels: ['r6'] },
    ],
    settings: { Models: { IntervalMs: 500, PullsPerBackend: PER_BACKEND, PullRetryMs: 300 } },
  });
  tap = startTap(flow.settingsFile);
  // Every inventory fetched once, so the scheduler filters every backend by model
  await waitFor(() => ['a', 'b', 'v', 'c', 'd', 'e'].every((name) => inventory(name)?.FetchedUtc),
    { timeout: 30000, what: 'every inventory fetched' });
});

after(async () => {
  tap.child.kill('SIGTERM');
  await tap.exited;
  assertCleanStop(assert, await flow.stop());
});

test('published inventories match what each simulated backend lists', async () => {
  for (const name of ['a', 'b', 'c', 'd', 'e']) {
    await waitFor(async () => {
      const tags = await simTags(name);
      const ps = (await (await fetch(`${flow.sim.url(name)}/api/ps`)).json()).models;
      const record = inventory(name);
      if (!record || record.Error) return false;
      assert.equal(record.ApiFormat, 'Ollama');
      if (JSON.stringify(names(record.Models)) !== JSON.stringify(names(tags))) return false;
      for (const model of tags) {
        const mine = record.Models.find((entry) => entry.Name === model.name);
        assert.equal(mine.Digest, model.digest);
        assert.equal(mine.Size, model.size);
        assert.equal(mine.Details.Family, model.details.family);
      }
      return JSON.stringify(names(record.Loaded)) === JSON.stringify(names(ps));
    }, { timeout: 20000, what: `the inventory of ${name}` });
  }
  assert.deepEqual(names(inventory('a').Loaded), [`${LLAMA}:latest`]);
  const v = inventory('v');
  assert.equal(v.ApiFormat, 'OpenAI');
  const listed = (await (await fetch(`${flow.sim.url('v')}/v1/models`)).json()).data;
  assert.deepEqual(names(v.Models), names(listed));
  assert.deepEqual(v.Loaded, []);
});

// Requests per route at a backend since the start (the simulator's counters are never reset here)
async function routes(name) {
  return (await flow.sim.stats(name)).routes;
}

test('over 200 requests go only to backends that have the model asked for', async () => {
  // Each model served once first: the scheduler follows healthmon on its own, so it may learn a
  // backend is healthy a moment after modelsync has listed it (warm-ups precede the baseline)
  const warmUps = [
    ['/api/generate', { model: MISTRAL, prompt: 'w', stream: false, options: { num_predict: 1 } }],
    ['/api/embed', { model: MINILM, input: 'w' }],
    ['/v1/chat/completions', { model: QWEN, messages: [{ role: 'user', content: 'w' }], max_tokens: 1 }],
  ];
  for (const [path, body] of warmUps) {
    await waitFor(async () => {
      const response = await fetch(`${flow.url()}${path}`, { method: 'POST', body: JSON.stringify(body) });
      await response.text();
      return response.ok;
    }, { what: `${body.model} served through ollamaflow` });
  }
  const before = {};
  for (const name of ['a', 'b', 'v']) before[name] = await routes(name);
  const ollama = new Ollama({ host: flow.url() });
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
  const jobs = [];
  for (let i = 0; i < 90; i++) jobs.push(() => ollama.generate({ model: MISTRAL, prompt: `p${i}`, options: { num_predict: 2 } }));
  for (let i = 0; i < 60; i++) jobs.push(() => ollama.embed({ model: MINILM, input: `x${i}` }));
  for (let i = 0; i < 60; i++) jobs.push(() => openai.chat.completions.create({
    model: QWEN, messages: [{ role: 'user', content: `q${i}` }], max_tokens: 2 }));
  for (let i = 0; i < jobs.length; i += 10) await Promise.all(jobs.slice(i, i + 10).map((job) => job()));

  const count = {};
  for (const name of ['a', 'b', 'v']) {
    const now = await routes(name);
    count[name] = (route) => (now[route] ?? 0) - (before[name][route] ?? 0);
  }
  assert.equal(count.b('/api/generate'), 90);
  assert.equal(count.a('/api/embed'), 60);
  assert.equal(count.v('/v1/chat/completions'), 60);
  // Nothing reached a backend lacking the model
  assert.equal(count.a('/api/generate'), 0);
  assert.equal(count.v('/api/generate'), 0);
  assert.equal(count.b('/api/embed'), 0);
  assert.equal(count.v('/api/embed'), 0);
  assert.equal(count.a('/v1/chat/completions'), 0);
  assert.equal(count.b('/v1/chat/completions'), 0);
});

test('an unknown model is refused with Ollama\'s 404 "model \'X\' not found" in both dialects', async () => {
  const ollama = new Ollama({ host: flow.url() });
  await assert.rejects(ollama.generate({ model: 'nope', prompt: 'x' }), (error) => {
    assert.equal(error.status_code, 404);
    assert.equal(error.error, "model 'nope' not found");
    return true;
  });
  const response = await fetch(`${flow.url()}/api/chat`, { method: 'POST',
    body: JSON.stringify({ model: 'nope:7b', messages: [{ role: 'user', content: 'x' }] }) });
  assert.equal(response.status, 404);
  assert.deepEqual(await response.json(), { error: "model 'nope:7b' not found" });
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
  await assert.rejects(openai.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (error) => {
      assert.equal(error.status, 404);
      assert.equal(error.error.message, "model 'nope' not found");
      assert.equal(error.error.type, 'not_found_error');
      return true;
    });
});

test('RequiredModels reach every backend of the frontend, at most N pulls at once per backend, and an ask for a model on its way waits for it', async () => {
  // r5 is last in line: still missing while the first pulls run
  await waitFor(() => tap.state?.Pulls.some((pull) => pull.Model === 'r5' && !pull.Done),
    { timeout: 20000, what: 'r5 waiting to be pulled' });
  const missing = !(await simTags('c')).some((model) => model.name === 'r5:latest')
    && !(await simTags('d')).some((model) => model.name === 'r5:latest');
  assert.ok(missing, 'r5 is already on a backend: the wait would not be tested');
  const started = Date.now();
  const answer = await hostRequest(flow, 'stock.local', '/api/generate', { model: 'r5', prompt: 'hi', stream: false,
    options: { num_predict: 2 } });
  assert.equal(answer.status, 200, answer.data);
  assert.ok(['c', 'd'].includes(answer.backend));
  assert.ok(Date.now() - started > 500, 'the ask did not wait for the pull');

  for (const name of ['c', 'd']) {
    await waitFor(async () => {
      const have = new Set((await simTags(name)).map((model) => model.name));
      return REQUIRED.every((model) => have.has(key(model)));
    }, { timeout: 60000, what: `every required model on ${name}` });
    const stats = await flow.sim.stats(name);
    assert.ok(stats.peak_pulls <= PER_BACKEND, `${name}: ${stats.peak_pulls} pulls at once`);
    assert.equal(stats.peak_pulls, PER_BACKEND, `${name}: the limit was never reached`);
    // One pull per model: none started twice
    assert.equal(stats.routes['/api/pull'], REQUIRED.length, `${name}: pulls`);
  }
  // The progress went out, named and numbered, ending in success
  const pulls = tap.messages.filter((message) => message.Command === 'PULL' && message.Body.Backend === 'c');
  for (const model of REQUIRED) {
    const mine = pulls.filter((message) => message.Body.Model === model);
    assert.ok(mine.some((message) => message.Body.Status.startsWith('pulling ') && message.Body.Total === PULL_SIZE));
    assert.equal(mine.at(-1).Body.Status, 'success');
    assert.equal(mine.at(-1).Body.Done, true);
  }
  // The inventory listing a model went out before the pull's end
  const end = tap.messages.findIndex((message) => message.Command === 'PULL' && message.Body.Backend === 'd'
    && message.Body.Model === 'r1' && message.Body.Done);
  const listed = tap.messages.findIndex((message) => message.Command === 'INVENTORY' && message.Body.Backend === 'd'
    && message.Body.Models.some((model) => model.Name === 'r1:latest'));
  assert.ok(listed >= 0 && listed < end, `INVENTORY at ${listed}, PULL Done at ${end}`);
});

test('a failed pull is retried after a backoff until it succeeds', async () => {
  await waitFor(() => tap.messages.filter((message) => message.Command === 'PULL' && message.Body.Backend === 'e'
    && message.Body.Done && /unexpected EOF/.test(message.Body.Error ?? '')).length >= 2,
  { timeout: 20000, what: 'two failed pulls of r6' });
  assert.ok(!(await simTags('e')).some((model) => model.name === 'r6:latest'));
  await flow.sim.faults('e', { pull_fail: false });
  await waitFor(async () => (await simTags('e')).some((model) => model.name === 'r6:latest'),
    { timeout: 20000, what: 'r6 pulled after the fault cleared' });
  await waitFor(() => tap.messages.some((message) => message.Command === 'PULL' && message.Body.Backend === 'e'
    && message.Body.Status === 'success' && message.Body.Done), { what: 'the success published' });
});

test('the only backend with a model going down: a clear error at once, not a hang', async () => {
  await flow.sim.faults('b', { refuse: true });
  const ollama = new Ollama({ host: flow.url() });
  // healthmon notices within a few probes; from then on the refusal is immediate
  await waitFor(async () => {
    const response = await fetch(`${flow.url()}/api/generate`, { method: 'POST',
      body: JSON.stringify({ model: MISTRAL, prompt: 'x', stream: false }) });
    await response.text();
    return response.status === 503;
  }, { timeout: 10000, what: 'b seen unhealthy' });
  const started = Date.now();
  await assert.rejects(ollama.generate({ model: MISTRAL, prompt: 'x' }), (error) => {
    assert.equal(error.status_code, 503);
    assert.equal(error.error, `no healthy backend of 'main' has model '${MISTRAL}'`);
    return true;
  });
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  // Models elsewhere still work
  const reply = await ollama.generate({ model: LLAMA, prompt: 'x', options: { num_predict: 1 } });
  assert.equal(reply.done, true);
  await flow.sim.faults('b', { refuse: false });
});
