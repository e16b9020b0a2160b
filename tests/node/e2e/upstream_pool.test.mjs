// The ingress's pool of kept-alive connections to backends, HTTP and HTTPS (ollama-sim serving
// TLS with a CA made here by the openssl command), counted by /metrics
// (ollamaflow_ingress_upstream_connects_total, _reuses_total, _idle_connections): sequential
// requests all go over the one connection kept; after a wave of 100 requests at once every
// connection it opened is kept (more than the 64 an older pool kept), and a second wave reuses
// them; the connections a backend dropped leave the pool and are never reused; idle ones close
// after Upstream.IdleTimeoutMs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFlow, waitFor, hostRequest, metric, sleep, assertCleanStop } from './flow.mjs';
import { makeCa } from './certs.mjs';

const MODEL = 'llama3.2';
const IDLE_MS = 8000;       // Upstream.IdleTimeoutMs
const WAVE = 100;           // requests at once
const certs = mkdtempSync(join(tmpdir(), 'ollamaflow-pool-'));
let flow;

// The two backends, each behind a frontend of its own (by Host)
const KINDS = [{ name: 'plain', host: 'plain.local' }, { name: 'secure', host: 'secure.local' }];

const generate = (host, tokens) => hostRequest(flow, host, '/api/generate',
  { model: MODEL, prompt: 'x', stream: false, options: { num_predict: tokens } });

const counts = async () => ({
  connects: await metric(flow, 'ollamaflow_ingress_upstream_connects_total'),
  reuses: await metric(flow, 'ollamaflow_ingress_upstream_reuses_total'),
  idle: await metric(flow, 'ollamaflow_ingress_upstream_idle_connections'),
});

const since = (start, end) => ({ connects: end.connects - start.connects, reuses: end.reuses - start.reuses });

before(async () => {
  const ca = makeCa(certs, 'pool');
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      // 50 tokens/s: a request of 15 tokens lasts 300 ms, so a wave's requests overlap
      defaults: { decode_rate: 50, prefill_rate: 0, load_ms: 0, parallel: 2 * WAVE, max_queue: 4 * WAVE },
      backends: [{ name: 'plain', models: [MODEL] },
        { name: 'secure', models: [MODEL], tls_cert: ca.cert, tls_key: ca.key }],
    },
    backends: (sim) => KINDS.map(({ name }) => ({ Identifier: name, Hostname: '127.0.0.1',
      Port: sim.port(name), Ssl: name === 'secure', HealthyThreshold: 1, MaxParallelRequests: 2 * WAVE,
      RateLimitRequestsThreshold: 10 * WAVE })),
    frontends: KINDS.map(({ name, host }) => ({ Identifier: name, Hostname: host, Backends: [name] })),
    settings: { Upstream: { IdleTimeoutMs: IDLE_MS } },
    env: { ingress: { SSL_CERT_FILE: ca.ca }, healthmon: { SSL_CERT_FILE: ca.ca },
      modelsync: { SSL_CERT_FILE: ca.ca } },
  });
  for (const { host } of KINDS)
    await waitFor(async () => (await generate(host, 1)).status === 200, { what: `${host} serving` });
});

after(async () => {
  if (flow) assertCleanStop(assert, await flow.stop());
  rmSync(certs, { recursive: true, force: true });
});

for (const { name, host } of KINDS) {
  test(`${name}: sequential requests all go over the one kept connection`, async () => {
    const start = await counts();
    for (let i = 0; i < 20; i++) assert.equal((await generate(host, 1)).status, 200);
    const made = since(start, await counts());
    assert.deepEqual(made, { connects: 0, reuses: 20 }, `${name}: ${JSON.stringify(made)}`);
  });
}

for (const { name, host } of KINDS) {
  test(`${name}: every connection a wave of ${WAVE} opened is kept, and the next wave reuses them`, async () => {
    const start = await counts();
    const first = await Promise.all(Array.from({ length: WAVE }, () => generate(host, 15)));
    assert.ok(first.every((r) => r.status === 200), first.map((r) => r.status).join(' '));
    const middle = await counts();
    const opened = since(start, middle);
    assert.equal(opened.connects + opened.reuses, WAVE);
    // The wave really ran at once, beyond the 64 connections an older pool kept
    const { peak_active: peak } = await flow.sim.stats(name);
    assert.ok(peak >= 70 && opened.connects >= 70, `peak ${peak}, ${JSON.stringify(opened)}`);
    assert.equal(middle.idle, start.idle + opened.connects, `${name}: not every connection kept`);

    const second = await Promise.all(Array.from({ length: WAVE }, () => generate(host, 15)));
    assert.ok(second.every((r) => r.status === 200), second.map((r) => r.status).join(' '));
    const again = since(middle, await counts());
    assert.equal(again.connects + again.reuses, WAVE);
    // Each request of the second wave that found a kept connection took it
    assert.ok(again.reuses >= Math.min(WAVE, middle.idle - start.idle), `${name}: ${JSON.stringify(again)}`);
  });
}

test(`idle connections close after Upstream.IdleTimeoutMs (${IDLE_MS} ms), not before`, async () => {
  for (const { host } of KINDS) assert.equal((await generate(host, 1)).status, 200);
  const used = Date.now();
  await sleep(IDLE_MS / 2);
  assert.ok((await counts()).idle >= 2, 'closed before their time');
  await waitFor(async () => (await counts()).idle === 0, { timeout: IDLE_MS + 5000, what: 'idle connections closed' });
  assert.ok(Date.now() - used >= IDLE_MS - 100, `closed after ${Date.now() - used} ms`);
  // The next requests connect afresh
  const start = await counts();
  for (const { host } of KINDS) assert.equal((await generate(host, 1)).status, 200);
  assert.deepEqual(since(start, await counts()), { connects: 2, reuses: 0 });
});

for (const { name, host } of KINDS) {
  test(`${name}: connections the backend dropped leave the pool and are never reused`, async () => {
    for (let i = 0; i < 3; i++) assert.equal((await generate(host, 1)).status, 200);
    const start = await counts();
    assert.ok(start.idle >= 1, JSON.stringify(start));
    // The backend goes down: its open connections, the idle ones included, are dropped
    await flow.sim.faults(name, { refuse: true });
    await waitFor(async () => (await counts()).idle === 0, { what: `${name}'s dropped connections gone from the pool` });
    await flow.sim.faults(name, { refuse: false });
    await waitFor(async () => (await generate(host, 1)).status === 200, { what: `${name} serving again` });
    const made = since(start, await counts());
    assert.equal(made.reuses, 0, `${name}: ${JSON.stringify(made)}`);
    assert.ok(made.connects >= 1, JSON.stringify(made));
  });
}
