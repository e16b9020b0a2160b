// Chaos: 3 minutes (OF_CHAOS_SECONDS) of steady streams through two ingress replicas and admin
// writes, while configd, the scheduler, healthmon, modelsync and one replica are in turn killed
// with SIGKILL and restarted. Checked from the simulator's side and the clients': no backend
// ever ran more than its MaxParallelRequests at once; no acknowledged admin write was lost;
// every stream that ended cleanly carried exactly the text the simulator generates for its
// prompt and seed, and ended with done:true (never a clean end short of it); on the replica
// that survives every stream that started finished; the killed replica's clients in flight
// saw a cut; new requests were served again within 5 s of each kill; and every process, the
// restarted ones included, stops cleanly at the end (under ASan: nothing leaked).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFlow, waitFor, assertCleanStop, sleep } from './flow.mjs';
import { admin, TOKEN } from './admin.mjs';

const MODEL = 'llama3.2';
const DURATION_MS = Number(process.env.OF_CHAOS_SECONDS ?? 180) * 1000;
const SLOTS = 2;                 // MaxParallelRequests of each backend
const TOKENS = 12;
const PROMPTS = ['chaos one', 'chaos two', 'chaos three', 'chaos four'];
const KILLED = ['configd', 'scheduler', 'healthmon', 'modelsync', 'ingress1'];
const RECOVERY_MS = 5000;
let flow;
const reference = [];

const body = (prompt, stream = true, tokens = TOKENS) => JSON.stringify({ model: MODEL, prompt, stream,
  options: { num_predict: tokens, seed: 11 } });

before(async () => {
  flow = await startFlow({
    replicas: 2,
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 60, load_ms: 1, parallel: 16 },
      backends: [{ name: 'a', models: [MODEL] }, { name: 'b', models: [MODEL] }] },
    backends: (sim) => ['a', 'b'].map((name) => ({ Identifier: name, Hostname: '127.0.0.1',
      Port: sim.port(name), HealthyThreshold: 1, MaxParallelRequests: SLOTS, RateLimitRequestsThreshold: 64 })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'], LoadBalancing: 'LeastOutstanding' }],
    settings: { AdminBearerTokens: [TOKEN] },
  });
  // What the simulator generates for each prompt, straight from a backend
  for (const prompt of PROMPTS) {
    const direct = await fetch(`${flow.sim.url('a')}/api/generate`, { method: 'POST', body: body(prompt, false) });
    reference.push((await direct.json()).response);
  }
  for (const replica of [0, 1])
    await waitFor(async () => (await fetch(`${flow.url(replica)}/api/generate`, { method: 'POST',
      body: body('w', false, 1) })).status === 200, { what: `replica ${replica} serving` });
  await flow.sim.reset();
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

// One streamed generate through a replica: 'done' (with its text), 'refused' (a status other
// than 200), 'cut' (the stream or the connection broke) or 'short' (a clean end without
// done:true, which must never happen)
async function stream(replica, index) {
  let response;
  try {
    response = await fetch(`${flow.url(replica)}/api/generate`, { method: 'POST', body: body(PROMPTS[index]) });
  } catch {
    return { kind: 'cut', started: false };
  }
  if (response.status !== 200) {
    await response.text().catch(() => {});
    return { kind: 'refused', status: response.status };
  }
  let raw = '';
  try {
    raw = await response.text();
  } catch {
    return { kind: 'cut', started: true };
  }
  const lines = raw.split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const last = lines[lines.length - 1];
  if (!last || last.done !== true) return { kind: 'short', raw };
  return { kind: 'done', text: lines.map((line) => line.response ?? '').join(''), index };
}

test(`${DURATION_MS / 1000} s of streams and admin writes while each service is killed in turn`,
  { timeout: DURATION_MS + 120000 }, async () => {
  const deadline = Date.now() + DURATION_MS;
  const results = { 0: [], 1: [] };
  const inFlight = { 1: 0 };
  const workers = [];
  for (const [replica, count] of [[0, 3], [1, 2]])
    for (let w = 0; w < count; w++)
      workers.push((async () => {
        for (let n = w; Date.now() < deadline; n++) {
          if (replica === 1) inFlight[1]++;
          const result = await stream(replica, n % PROMPTS.length);
          if (replica === 1) inFlight[1]--;
          results[replica].push({ ...result, at: Date.now() });
          if (result.kind !== 'done') await sleep(100);
        }
      })());
  // Admin writes through both replicas: what was acknowledged must be there at the end
  const acknowledged = [];
  const writer = (async () => {
    for (let n = 0; Date.now() < deadline; n++) {
      const id = `chaos-${n}`;
      const response = await admin(flow, 'PUT', '/keys', { body: { Identifier: id, Name: `n${n}` },
        replica: n % 2 }).catch(() => ({ status: 0 }));
      if (response.status === 201) acknowledged.push(id);
      await sleep(150);
    }
  })();
  // The kills, evenly spread; after each, the time until a new request is served
  const recovery = {};
  const slow = {};
  const cuts = [];
  const gap = DURATION_MS / (KILLED.length + 1);
  for (const name of KILLED) {
    await sleep(gap - 1000);
    const replica = name === 'ingress1' ? 1 : 0;
    const streamsBefore = name === 'ingress1' ? inFlight[1] : 0;
    const killedAt = Date.now();
    await flow.kill(name, 'SIGKILL');
    flow.restart(name);
    //  What each probe met, so that a slow recovery says where the time went
    const probes = [];
    const note = (what) => {
      const last = probes[probes.length - 1];
      if (last && last.what === what) last.count++;
      else probes.push({ what, from: Date.now() - killedAt, count: 1 });
    };
    await waitFor(async () => {
      try {
        const response = await fetch(`${flow.url(replica)}/api/generate`, { method: 'POST', body: body('probe', false, 1) });
        const text = await response.text();
        note(response.status === 200 ? '200' : `${response.status} ${text.slice(0, 120)}`);
        return response.status === 200;
      } catch (error) {
        note(`${error.message} ${error.cause?.code ?? ''}`);
        throw error;
      }
    }, { timeout: 30000, interval: 50, what: `requests served after ${name} was killed` });
    recovery[name] = Date.now() - killedAt;
    if (recovery[name] >= RECOVERY_MS)
      slow[name] = { probes, log: flow.log(name).slice(-3000) };
    if (name === 'ingress1') cuts.push({ streamsBefore, killedAt });
  }
  await Promise.all([...workers, writer]);
  console.log(`recovery after each kill (ms): ${JSON.stringify(recovery)}`);

  // No backend above its slots, ever
  for (const name of ['a', 'b']) {
    const stats = await flow.sim.stats(name);
    assert.ok(stats.peak_active <= SLOTS, `${name} ran ${stats.peak_active} at once`);
  }
  // Every clean end is whole and exact; none is short
  for (const replica of [0, 1]) {
    const kinds = {};
    for (const result of results[replica]) {
      kinds[result.kind] = (kinds[result.kind] ?? 0) + 1;
      assert.notEqual(result.kind, 'short', `replica ${replica}: a stream ended cleanly without done: ${result.raw}`);
      if (result.kind === 'done')
        assert.equal(result.text, reference[result.index], `replica ${replica}: a stream's text differs`);
    }
    console.log(`replica ${replica}: ${JSON.stringify(kinds)}`);
    assert.ok((kinds.done ?? 0) > 10, `replica ${replica}: only ${kinds.done ?? 0} streams completed`);
  }
  // On the replica that was never killed, no stream that started was cut
  assert.equal(results[0].filter((r) => r.kind === 'cut' && r.started).length, 0, 'replica 0 cut a stream');
  // The killed replica's clients in flight saw their streams cut
  const cutAfterKill = results[1].filter((r) => r.kind === 'cut'
    && r.at >= cuts[0].killedAt && r.at < cuts[0].killedAt + 2000);
  assert.ok(cuts[0].streamsBefore === 0 || cutAfterKill.length > 0,
    `${cuts[0].streamsBefore} streams in flight on replica 1 at its kill, none seen cut`);
  // Served again within 5 s of each kill
  for (const [name, ms] of Object.entries(recovery))
    assert.ok(ms < RECOVERY_MS, `${ms} ms to serve again after ${name} was killed; `
      + `the probes met (ms after the kill): ${JSON.stringify(slow[name]?.probes)}; its log:\n${slow[name]?.log}`);
  // Every acknowledged write is there
  assert.ok(acknowledged.length > 50, `only ${acknowledged.length} writes acknowledged`);
  for (const id of acknowledged) {
    const response = await admin(flow, 'GET', `/keys/${id}`);
    assert.equal(response.status, 200, `acknowledged key ${id} lost`);
  }
});
