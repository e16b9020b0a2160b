// Several ingress replicas on one host share one port (SO_REUSEPORT): the kernel spreads new
// connections over them, each answers under its own id, and they share one scheduler's limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startFlow, waitFor, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
let flow;

// One request on a new connection; resolves with the replica that answered
function once() {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: flow.port(), method: 'POST', path: '/api/embed',
      agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode,
        replica: (response.headers['x-ollamaflow-request'] || '').replace(/-\d+$/, '') }));
    });
    request.on('error', reject);
    request.end(JSON.stringify({ model: 'all-minilm', input: 'x' }));
  });
}

before(async () => {
  flow = await startFlow({
    replicas: 2,
    sharedPort: true,
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 0, load_ms: 1, parallel: 8 },
      backends: [{ name: 'a', models: [MODEL, 'all-minilm'] }] },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'] }],
  });
  // Each replica learns health and links to the scheduler on its own: one replica's 200 says
  // nothing of the other's, so wait until both have served (the kernel picks the replica)
  const ready = new Set();
  await waitFor(async () => {
    const { status, replica } = await once();
    if (status === 200) ready.add(replica);
    return ready.size === 2;
  }, { what: 'both replicas serving' });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('two replicas on one port both serve, each under its own id', async () => {
  const seen = new Map();
  for (let i = 0; i < 40; i++) {
    const { status, replica } = await once();
    assert.equal(status, 200);
    seen.set(replica, (seen.get(replica) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ['replica-0', 'replica-1'], JSON.stringify([...seen]));
});
