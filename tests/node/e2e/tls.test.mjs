// TLS to backends (Ssl: true): ollama-sim serves HTTPS with certificates made here by the openssl
// command. ollamaflow trusts only the test's CA (SSL_CERT_FILE, which OpenSSL's default trust
// store honours). Requests reach a trusted backend by IP address and by name, streamed and not;
// a backend whose certificate is not trusted is refused, by healthmon (Unhealthy, the reason
// naming TLS) and by the ingress itself (502 naming TLS) even when healthmon has been told to
// trust it: verification is on by default in both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { rawRequest } from '../sim/sim.mjs';
import { startFlow, startTap, waitFor, waitHealthy, assertCleanStop } from './flow.mjs';
import { makeCa as makeCaIn } from './certs.mjs';

const MODEL = 'llama3.2';
const certs = mkdtempSync(join(tmpdir(), 'ollamaflow-tls-'));
let flow;

const makeCa = (name) => makeCaIn(certs, name);

// A POST with a chosen Host header, answered as {status, body}
const post = (host, path, body) => rawRequest({ port: flow.port(), method: 'POST', path, body,
  headers: { host, 'content-type': 'application/json' } });

before(async () => {
  const fleetCa = makeCa('fleet');       // trusted by every service
  const odd = makeCa('odd');             // trusted by healthmon only
  const rogue = makeCa('rogue');         // trusted by nobody
  const both = join(certs, 'fleet-and-odd.pem');
  writeFileSync(both, readFileSync(fleetCa.ca, 'utf8') + readFileSync(odd.ca, 'utf8'));
  const tls = (pair) => ({ tls_cert: pair.cert, tls_key: pair.key });
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 40, prefill_rate: 0, load_ms: 0, parallel: 4 },
      backends: [
        { name: 'secure', models: [MODEL], ...tls(fleetCa) },
        { name: 'odd', models: [MODEL], ...tls(odd) },
        { name: 'rogue', models: [MODEL], ...tls(rogue) },
      ],
    },
    backends: (sim) => [
      { Identifier: 'by-ip', Hostname: '127.0.0.1', Port: sim.port('secure'), Ssl: true, HealthyThreshold: 1 },
      { Identifier: 'by-name', Hostname: 'localhost', Port: sim.port('secure'), Ssl: true, HealthyThreshold: 1 },
      { Identifier: 'odd', Hostname: '127.0.0.1', Port: sim.port('odd'), Ssl: true, HealthyThreshold: 1 },
      { Identifier: 'rogue', Hostname: '127.0.0.1', Port: sim.port('rogue'), Ssl: true, HealthyThreshold: 1,
        UnhealthyThreshold: 1 },
    ],
    frontends: [
      { Identifier: 'main', Hostname: '*', Backends: ['by-ip', 'by-name'] },
      { Identifier: 'odd', Hostname: 'odd.local', Backends: ['odd'] },
      { Identifier: 'rogue', Hostname: 'rogue.local', Backends: ['rogue'] },
    ],
    env: {
      ingress: { SSL_CERT_FILE: fleetCa.ca },
      healthmon: { SSL_CERT_FILE: both },
      modelsync: { SSL_CERT_FILE: fleetCa.ca },
    },
  });
  assert.equal(flow.sim.ports.backends.every((backend) => backend.tls), true);
  await waitHealthy(flow, { model: MODEL, prompt: 'warm up', stream: false, options: { num_predict: 1 } });
});

after(async () => {
  if (flow) assertCleanStop(assert, await flow.stop());
  rmSync(certs, { recursive: true, force: true });
});

test('requests reach an Ssl backend by address and by name, streamed and not', async () => {
  await flow.sim.reset();
  const ollama = new Ollama({ host: flow.url() });
  const seen = new Set();
  for (let i = 0; i < 4; i++) {
    let text = '';
    let parts = 0;
    for await (const part of await ollama.chat({ model: MODEL, stream: true,
      messages: [{ role: 'user', content: `secret ${i}` }], options: { num_predict: 6, seed: 4 } })) {
      text += part.message.content;
      parts++;
    }
    assert.equal(parts, 7);
    assert.ok(text.length > 0);
  }
  // Not in step with the streams above: round robin then hands these to both backends
  for (let i = 0; i < 4; i++) {
    const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
    const { data, response } = await openai.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: `plain ${i}` }], max_tokens: 3,
    }).withResponse();
    assert.equal(data.usage.completion_tokens, 3);
    seen.add(response.headers.get('x-ollamaflow-backend'));
  }
  assert.deepEqual([...seen].sort(), ['by-ip', 'by-name'], 'both the address and the name verify');
  const stats = await flow.sim.stats('secure');
  assert.equal(stats.routes['/api/chat'], 4);
  assert.equal(stats.routes['/v1/chat/completions'], 4);
});

test('a backend whose certificate nobody trusts: healthmon marks it Unhealthy, naming TLS', async () => {
  const tap = startTap(flow, ['-s', 'healthmon', '-m', 'STATE']);
  try {
    const state = await tap.find(0, (body) => body.Backends.some((backend) => backend.Backend === 'rogue'
      && backend.State === 'Unhealthy'));
    const rogue = state.Body.Backends.find((backend) => backend.Backend === 'rogue');
    assert.match(rogue.Reason, /^tls: certificate verify failed: /);
    assert.equal(state.Body.Backends.find((backend) => backend.Backend === 'odd').State, 'Healthy');
  } finally {
    await tap.stop();
  }
  const refused = await post('rogue.local', '/api/generate', { model: MODEL, prompt: 'x', stream: false });
  assert.equal(refused.status, 503);
  assert.equal((await flow.sim.stats('rogue')).routes['/api/generate'] ?? 0, 0);
});

test('the ingress verifies too: a certificate only healthmon trusts gets 502 naming TLS', async () => {
  await flow.sim.reset();
  const refused = await post('odd.local', '/api/generate', { model: MODEL, prompt: 'x', stream: false });
  assert.equal(refused.status, 502, refused.body);
  assert.match(JSON.parse(refused.body).error,
    /^backend 'odd' failed: tls: certificate verify failed: /);
  const openai = await post('odd.local', '/v1/chat/completions', { model: MODEL, messages: [] });
  assert.equal(openai.status, 502);
  assert.match(JSON.parse(openai.body).error.message, /tls: certificate verify failed/);
  // The handshake failed: the backend never saw a request
  assert.equal((await flow.sim.stats('odd')).routes['/api/generate'] ?? 0, 0);
  await waitFor(() => /backend odd \(attempt 1\): tls: certificate verify failed/.test(flow.log('ingress0')),
    { what: 'the log line' });
});
