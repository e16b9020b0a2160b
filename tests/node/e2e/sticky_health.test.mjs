// Sticky sessions across replicas, health leaving and returning, and a Host no frontend serves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startFlow, waitFor, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
let flow;

function embed(replica, headers = {}) {
  return fetch(`${flow.url(replica)}/api/embed`, {
    method: 'POST', headers, body: JSON.stringify({ model: 'all-minilm', input: 'x' }),
  }).then(async (response) => ({ status: response.status, backend: response.headers.get('x-ollamaflow-backend'),
    sticky: response.headers.get('x-ollamaflow-sticky'), body: await response.text() }));
}

before(async () => {
  flow = await startFlow({
    replicas: 2,
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 0, load_ms: 1, parallel: 8 },
      backends: ['a', 'b', 'c'].map((name) => ({ name, models: [MODEL, 'all-minilm'] })),
    },
    backends: (sim) => ['a', 'b', 'c'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), MaxParallelRequests: 8,
      HealthyThreshold: 2, UnhealthyThreshold: 2,
    })),
    frontends: [{ Identifier: 'chat', Hostname: 'chat.local', Backends: ['a', 'b', 'c'],
      UseStickySessions: true, StickySessionExpirationMs: 60000, TimeoutMs: 2000 }],
  });
  // chat.local only: requests need that Host (plain http below); fetch goes to a Host with no frontend
  await waitFor(async () => (await hostEmbed('chat.local', 0)).status === 200, { what: 'a healthy fleet' });
  await waitFor(async () => {
    const seen = new Set();
    //  Sticky by client: a new conversation each time, or every request lands on one backend
    for (let i = 0; i < 9; i++)
      seen.add((await hostEmbed('chat.local', 0, { 'x-conversation-id': `warm-${Math.random()}` })).backend);
    return seen.size === 3;
  }, { what: 'three healthy backends' });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

function hostEmbed(host, replica, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: flow.port(replica), method: 'POST',
      path: '/api/embed', headers: { host, 'content-type': 'application/json', ...headers } }, (response) => {
      let data = '';
      response.on('data', (chunk) => { data += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, data,
        backend: response.headers['x-ollamaflow-backend'], sticky: response.headers['x-ollamaflow-sticky'] }));
    });
    request.on('error', reject);
    request.end(JSON.stringify({ model: 'all-minilm', input: 'x' }));
  });
}

test('a Host that no frontend serves: 404 in the dialect', async () => {
  const response = await embed(0);
  assert.equal(response.status, 404);
  assert.match(JSON.parse(response.body).error, /no active frontend serves host/);
});

test('the same x-conversation-id reaches the same backend through different replicas', async () => {
  const first = await hostEmbed('chat.local', 0, { 'x-conversation-id': 'talk-1' });
  assert.equal(first.status, 200);
  for (let i = 0; i < 8; i++) {
    const again = await hostEmbed('chat.local', i % 2, { 'x-conversation-id': 'talk-1' });
    assert.equal(again.backend, first.backend, `request ${i} left the session`);
    assert.equal(again.sticky, 'true');
  }
  // Other conversations still spread
  const seen = new Set();
  for (let i = 0; i < 9; i++)
    seen.add((await hostEmbed('chat.local', i % 2, { 'x-conversation-id': `other-${i}` })).backend);
  assert.ok(seen.size >= 2, `only ${[...seen]}`);
});

test('when the session\'s backend turns unhealthy, the session moves and stays on the new one', async () => {
  const first = await hostEmbed('chat.local', 0, { 'x-conversation-id': 'talk-2' });
  const pinned = first.backend;
  await flow.sim.faults(pinned, { hang: true });
  try {
    // Hanging probes time out: Unhealthy after UnhealthyThreshold, then the session moves
    const moved = await waitFor(async () => {
      const response = await hostEmbed('chat.local', 1, { 'x-conversation-id': 'talk-2' });
      return response.status === 200 && response.backend !== pinned ? response : null;
    }, { timeout: 15000, what: 'the session to move' });
    for (let i = 0; i < 4; i++)
      assert.equal((await hostEmbed('chat.local', i % 2, { 'x-conversation-id': 'talk-2' })).backend,
        moved.backend);
    // The hung backend left the rotation
    for (let i = 0; i < 6; i++)
      assert.notEqual((await hostEmbed('chat.local', 0, { 'x-conversation-id': `spread-${i}` })).backend,
        pinned);
  } finally {
    await flow.sim.faults(pinned, { hang: false });
  }
  // It comes back after HealthyThreshold good probes
  await waitFor(async () => {
    const seen = new Set();
    for (let i = 0; i < 6; i++)
      seen.add((await hostEmbed('chat.local', 0, { 'x-conversation-id': `back-${Math.random()}` })).backend);
    return seen.has(pinned);
  }, { timeout: 15000, what: 'the backend back in rotation' });
});
