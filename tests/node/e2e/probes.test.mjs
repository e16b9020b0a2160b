// The operator's probes and request ids: /livez and /readyz (and what /readyz says is missing
// while the scheduler is down or no backend is healthy), and X-Request-Id from real clients to
// the backend, back to the client and onto the tap.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, startTap, waitFor, waitHealthy, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
let flow;

before(async () => {
  flow = await startFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 0, load_ms: 1, parallel: 4 },
      backends: [{ name: 'a', models: [MODEL] }] },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'),
      HealthyThreshold: 1, UnhealthyThreshold: 1 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'] }],
    settings: { Bus: { Tap: true } },
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'warm up', stream: false, options: { num_predict: 1 } });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

const probe = async (path, init) => {
  const response = await fetch(`${flow.url()}${path}`, init);
  return { status: response.status, text: await response.text(), headers: response.headers };
};

// The last /api/chat the backend received
const lastChat = () => flow.sim.control('/backends/a/last/api/chat');

test('/livez and /readyz answer 200 on a ready ingress, to GET and HEAD, and refuse POST', async () => {
  assert.deepEqual((await probe('/livez')).text, 'alive\n');
  const ready = await waitFor(async () => { const r = await probe('/readyz'); return r.status === 200 && r; },
    { what: '/readyz 200' });
  assert.equal(ready.text, 'ready\n');
  assert.equal(ready.headers.get('cache-control'), 'no-store');
  assert.equal((await probe('/readyz', { method: 'HEAD' })).status, 200);
  const posted = await probe('/livez', { method: 'POST', body: '{}' });
  assert.equal(posted.status, 405);
  assert.equal(posted.headers.get('allow'), 'GET, HEAD');
});

test('/readyz says which backend health is missing, and recovers', async () => {
  await flow.sim.faults('a', { refuse: true });
  const down = await waitFor(async () => { const r = await probe('/readyz'); return r.status === 503 && r; },
    { what: '/readyz 503 with the backend down' });
  assert.equal(down.text, 'no active frontend has a healthy active backend\n');
  assert.equal((await probe('/livez')).status, 200, 'still alive');
  await flow.sim.faults('a', { refuse: false });
  await waitFor(async () => (await probe('/readyz')).status === 200, { what: '/readyz back to 200' });
});

test('/readyz says the scheduler is missing while it is down, and recovers when it is back', async () => {
  await flow.kill('scheduler');
  const down = await waitFor(async () => { const r = await probe('/readyz'); return r.status === 503 && r; },
    { what: '/readyz 503 without the scheduler' });
  assert.match(down.text, /^not linked to the scheduler/m);
  flow.restart('scheduler');
  await waitFor(async () => (await probe('/readyz')).status === 200, { what: '/readyz back to 200' });
  //  The new scheduler learns healthmon's state from its next heartbeat, on its own
  await waitHealthy(flow, { model: MODEL, prompt: 'again', stream: false, options: { num_predict: 1 } });
});

test('a well-formed X-Request-Id from the openai client is echoed and reaches the backend', async () => {
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0,
    defaultHeaders: { 'X-Request-Id': 'trace-01:abc.DEF_9' } });
  const { data, response } = await openai.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2,
  }).withResponse();
  assert.ok(data.choices[0].message.content.length > 0);
  assert.equal(response.headers.get('x-request-id'), 'trace-01:abc.DEF_9');
  assert.equal(response.headers.get('x-ollamaflow-request'), 'trace-01:abc.DEF_9');
  const last = await flow.sim.control('/backends/a/last/v1/chat/completions');
  assert.equal(last.headers['x-request-id'], 'trace-01:abc.DEF_9');
});

test('a malformed X-Request-Id is replaced by the ingress\'s own id, the same at the backend and on the tap',
  async () => {
    const tap = startTap(flow, ['-s', 'scheduler', '-m', 'LEASE']);
    try {
      //  The tap's subscription joins late: generate until it sees a LEASE
      const ollama = new Ollama({ host: flow.url() });
      await waitFor(async () => {
        await ollama.generate({ model: MODEL, prompt: 'x', stream: false, options: { num_predict: 1 } });
        return tap.count() > 0;
      }, { what: 'the tap following the scheduler' });
      for (const bad of ['has space', 'x'.repeat(129), 'a/b']) {
        let seen;
        const ollama = new Ollama({ host: flow.url(), headers: { 'X-Request-Id': bad },
          fetch: async (url, init) => { const r = await fetch(url, init); seen = r.headers; return r; } });
        await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: false,
          options: { num_predict: 1 } });
        const id = seen.get('x-ollamaflow-request');
        assert.match(id, /^replica-0-\d+$/, `'${bad}' replaced`);
        assert.equal(seen.get('x-request-id'), id);
        assert.equal((await lastChat()).headers['x-request-id'], id);
        await tap.find(0, (body) => body && body.RequestId === id);
      }
    } finally {
      await tap.stop();
    }
  });

test('without X-Request-Id every answer gets a fresh id, errors and probes included', async () => {
  const one = await probe('/api/chat', { method: 'POST', body: 'not json' });
  const two = await probe('/livez');
  assert.equal(one.status, 400);
  const ids = [one, two].map((r) => r.headers.get('x-ollamaflow-request'));
  assert.match(ids[0], /^replica-0-\d+$/);
  assert.notEqual(ids[0], ids[1]);
  assert.equal(one.headers.get('x-request-id'), ids[0]);
});
