// modelsync against a misbehaving fleet: a backend that turns unhealthy leaves its
// frontend's listings and comes back, a backend answering its listings with broken JSON gets an
// inventory Error while modelsync and the other backends go on, Models.MaxPulls holds over all
// backends at once, and a RequiredModels pull cut short by a modelsync restart is started again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startFlow, startTap, waitFor, assertCleanStop, sleep } from './flow.mjs';

const STOCKED = ['c', 'd', 'e'];
const REQUIRED = ['p1', 'p2', 'p3', 'p4'];
const MAX_PULLS = 2;
const PULL_SIZE = 20e6;                 // at 10 MB/s: 2 s per pull, 12 pulls
const BIG = 'big';                      // 40 MB at 4 MB/s on g: 10 s
const SYNC_TIMEOUT = 60000;             // a loaded 2-core machine
let flow;
let tap;
let ollama;
const sampled = { simPeak: 0, statePeak: 0, samples: 0 };
let sampling = true;
let sampler;

const key = (name) => (name.includes(':') ? name : `${name}:latest`);
const simNames = async (name) => (await (await fetch(`${flow.sim.url(name)}/api/tags`)).json()).models.map((m) => m.name);
const lastState = () => tap.lines.findLast((line) => line.Command === 'STATE')?.Body;
const inventory = (backend) => lastState()?.Inventories.find((record) => record.Backend === backend);
// Pulls running by modelsync's own account: not over, and past the wait for a slot
const running = (state) => state.Pulls.filter((pull) => !pull.Done && pull.Status !== '').length;

// The simulator's pulls streaming now, summed over the whole fleet, sampled as fast as it answers
async function sample() {
  while (sampling) {
    const fleet = await flow.sim.control('/fleet');
    const now = fleet.backends.reduce((sum, backend) => sum + backend.stats.pulls, 0);
    sampled.simPeak = Math.max(sampled.simPeak, now);
    sampled.samples++;
    await sleep(10);
  }
}

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 0, load_ms: 1, parallel: 8, pull_bandwidth: 10e6 },
      registry: [...REQUIRED.map((name) => ({ name: key(name), size: PULL_SIZE })), { name: key(BIG), size: 40e6 }],
      backends: [
        { name: 'a', models: [{ name: 'llama3.2', loaded: true }, 'all-minilm'] },
        { name: 'b', models: [{ name: 'mistral:7b', loaded: true }] },
        ...STOCKED.map((name) => ({ name, models: ['llama3.2'] })),
        { name: 'g', models: ['llama3.2'], pull_bandwidth: 4e6, faults: { refuse: true } },
      ],
    },
    backends: (sim) => ['a', 'b', ...STOCKED, 'g'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), HealthyThreshold: 1, UnhealthyThreshold: 1,
    })),
    frontends: [
      { Identifier: 'main', Hostname: '*', Backends: ['a', 'b'] },
      { Identifier: 'stock', Hostname: 'stock.local', Backends: STOCKED, RequiredModels: REQUIRED },
      { Identifier: 'late', Hostname: 'late.local', Backends: ['g'], RequiredModels: [BIG] },
    ],
    settings: { Models: { IntervalMs: 500, PullsPerBackend: 2, MaxPulls: MAX_PULLS, PullRetryMs: 300 } },
  });
  tap = startTap(flow, ['-s', 'modelsync', '-m', 'STATE']);
  sampler = sample();
  ollama = new Ollama({ host: flow.url() });
  await waitFor(async () => (await ollama.list()).models.length === 3,
    { timeout: SYNC_TIMEOUT, what: 'the inventories of a and b through main' });
});

after(async () => {
  sampling = false;
  await sampler;
  await tap.stop();
  assertCleanStop(assert, await flow.stop());
});

const names = (list) => list.map((entry) => entry.name ?? entry.id).sort();
async function listings() {
  return {
    tags: names((await ollama.list()).models),
    ps: names((await ollama.ps()).models),
    openai: names((await (await fetch(`${flow.url()}/v1/models`)).json()).data),
  };
}

test('a backend turning unhealthy leaves /api/tags, /api/ps and /v1/models of its frontend, and comes back', async () => {
  const full = {
    tags: ['all-minilm:latest', 'llama3.2:latest', 'mistral:7b'],
    ps: ['llama3.2:latest', 'mistral:7b'],
    openai: ['all-minilm:latest', 'llama3.2:latest', 'mistral:7b'],
  };
  await waitFor(async () => JSON.stringify(await listings()) === JSON.stringify(full),
    { timeout: SYNC_TIMEOUT, what: 'the full listings' });
  await flow.sim.faults('b', { refuse: true });
  const without = { tags: ['all-minilm:latest', 'llama3.2:latest'], ps: ['llama3.2:latest'],
    openai: ['all-minilm:latest', 'llama3.2:latest'] };
  await waitFor(async () => JSON.stringify(await listings()) === JSON.stringify(without),
    { timeout: SYNC_TIMEOUT, what: 'b out of the listings' });
  await flow.sim.faults('b', { refuse: false });
  await waitFor(async () => JSON.stringify(await listings()) === JSON.stringify(full),
    { timeout: SYNC_TIMEOUT, what: 'b back in the listings' });
});

test('broken JSON from a backend\'s listings: an inventory Error, modelsync goes on, the others unaffected', async () => {
  const pid = flow.pid('modelsync');
  await flow.sim.faults('a', { bad_listings: true });
  await waitFor(() => inventory('a')?.Error, { timeout: SYNC_TIMEOUT, what: 'an Error in a\'s inventory' });
  const state = lastState();
  const a = inventory('a');
  assert.match(a.Error, /JSON|json|parse/i, a.Error);
  // The last good lists stay
  assert.deepEqual(names(a.Models.map((m) => ({ name: m.Name }))), ['all-minilm:latest', 'llama3.2:latest']);
  for (const name of ['b', ...STOCKED]) assert.equal(state.Inventories.find((r) => r.Backend === name).Error, undefined, name);
  // b goes on being fetched: its FetchedUtc moves on
  const fetched = inventory('b').FetchedUtc;
  await waitFor(() => inventory('b').FetchedUtc > fetched, { timeout: SYNC_TIMEOUT, what: 'a new fetch of b' });
  process.kill(pid, 0);         // still the same process
  assert.equal(flow.pid('modelsync'), pid);
  assert.ok(names((await ollama.list()).models).includes('mistral:7b'));
  // The requests through the frontend still work, a's included
  const reply = await ollama.generate({ model: 'llama3.2', prompt: 'x', options: { num_predict: 1 } });
  assert.equal(reply.done, true);
  await flow.sim.faults('a', { bad_listings: false });
  await waitFor(() => inventory('a') && !inventory('a').Error, { timeout: SYNC_TIMEOUT, what: 'a\'s inventory good again' });
});

test('Models.MaxPulls holds over all backends at once', async () => {
  for (const name of STOCKED)
    await waitFor(async () => {
      const have = new Set(await simNames(name));
      return REQUIRED.every((model) => have.has(key(model)));
    }, { timeout: 120000, what: `every required model on ${name}` });
  for (const line of tap.lines)
    if (line.Command === 'STATE') sampled.statePeak = Math.max(sampled.statePeak, running(line.Body));
  assert.ok(sampled.samples > 100, `${sampled.samples} samples`);
  assert.ok(sampled.simPeak <= MAX_PULLS, `${sampled.simPeak} pulls at once in the fleet`);
  assert.ok(sampled.statePeak <= MAX_PULLS, `modelsync ran ${sampled.statePeak} pulls at once`);
  // The limit was reached (6 backends' worth of work waited for it), so it was tested
  assert.equal(sampled.statePeak, MAX_PULLS);
  assert.equal(sampled.simPeak, MAX_PULLS);
  for (const name of STOCKED) {
    const stats = await flow.sim.stats(name);
    assert.equal(stats.routes['/api/pull'], REQUIRED.length, `${name}: a pull started twice`);
  }
});

test('a RequiredModels pull cut short by a modelsync restart is started again and completes', async () => {
  await flow.sim.faults('g', { refuse: false });
  // g turns healthy, modelsync pulls BIG onto it: wait until bytes flow
  await waitFor(async () => (await flow.sim.stats('g')).pulls === 1,
    { timeout: SYNC_TIMEOUT, what: 'the pull of big on g' });
  await sleep(1000);
  assert.ok(!(await simNames('g')).includes(key(BIG)), 'the pull ended before the restart');
  await flow.kill('modelsync');
  await waitFor(async () => (await flow.sim.stats('g')).pulls === 0, { what: 'the pull cut short at g' });
  await sleep(1500);
  assert.ok(!(await simNames('g')).includes(key(BIG)));
  flow.restart('modelsync');
  await waitFor(async () => (await simNames('g')).includes(key(BIG)), { timeout: SYNC_TIMEOUT, what: 'big on g' });
  const stats = await flow.sim.stats('g');
  assert.equal(stats.routes['/api/pull'], 2, 'pulled once before the restart and once after');
  assert.ok(stats.cancelled >= 1, JSON.stringify(stats));
});
