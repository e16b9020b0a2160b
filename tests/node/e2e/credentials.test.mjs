// What a backend receives from ollamaflow, whoever sends it: the proxy (a chat), modelsync (the
// listing, /api/tags) and healthmon (the probe, /). The simulator records the last exchange of
// each route with its headers, so each of the three is read on its own.
//   - a 4,000-byte BearerToken arrives whole from all three;
//   - a backend with both a BearerToken and a Headers.Authorization gets the token from all three;
//   - a client's Authorization and x-api-key: never forwarded by default; with the frontend's
//     PassClientCredentials, forwarded to a backend without credentials of its own only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startFlow, waitFor, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
const LONG = 'L'.repeat(4000);
const BOTH = 'b'.repeat(1500);
const CLIENT = { authorization: 'Bearer client-secret', 'x-api-key': 'client-key' };
let flow;

// A chat through the frontend of host, with the client's credentials
function chat(host) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: flow.port(), method: 'POST',
      path: '/api/chat', headers: { host, 'content-type': 'application/json', ...CLIENT } },
    (response) => {
      let data = '';
      response.on('data', (chunk) => { data += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, data }));
    });
    request.on('error', reject);
    request.end(JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }],
      stream: false, options: { num_predict: 1 } }));
  });
}

// The headers of the last exchange on route at backend name, once there is one
const seen = (name, route) => waitFor(async () => {
  const last = await flow.sim.control(`/backends/${name}/last${route}`);
  return last && last.headers ? last.headers : null;
}, { what: `a request to ${name} on ${route}` });

// The headers the proxy sent for a chat on host (served by backend name)
async function proxied(host, name) {
  const response = await waitFor(async () => {
    const r = await chat(host);
    return r.status === 200 ? r : null;
  }, { what: `a chat through ${host}` });
  assert.equal(response.status, 200, response.data);
  return seen(name, '/api/chat');
}

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 0, load_ms: 0 },
      backends: ['long', 'both', 'bare'].map((name) => ({ name, models: [MODEL] })),
    },
    backends: (sim) => [
      { Identifier: 'long', BearerToken: LONG },
      { Identifier: 'both', BearerToken: BOTH, Headers: { Authorization: 'Bearer other', 'X-Extra': 'x' } },
      { Identifier: 'bare' },
    ].map((backend) => ({ Hostname: '127.0.0.1', Port: sim.port(backend.Identifier), HealthyThreshold: 1,
      ...backend })),
    frontends: [
      { Identifier: 'long', Hostname: 'long.local', Backends: ['long'] },
      { Identifier: 'both', Hostname: 'both.local', Backends: ['both'] },
      { Identifier: 'bare', Hostname: 'bare.local', Backends: ['bare'] },
      { Identifier: 'pass', Hostname: 'pass.local', Backends: ['bare'], PassClientCredentials: true },
      { Identifier: 'passlong', Hostname: 'passlong.local', Backends: ['long'], PassClientCredentials: true },
    ],
  });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('a 4,000-byte BearerToken reaches the backend whole from the proxy, the listings and the probes', async () => {
  const expected = `Bearer ${LONG}`;
  const chatHeaders = await proxied('long.local', 'long');
  assert.equal(chatHeaders.authorization.length, expected.length, 'the proxy cut the token');
  assert.equal(chatHeaders.authorization, expected);
  assert.equal((await seen('long', '/api/tags')).authorization, expected, 'modelsync\'s listing');
  assert.equal((await seen('long', '/')).authorization, expected, 'healthmon\'s probe');
});

test('BearerToken wins over Headers.Authorization, the same from all three', async () => {
  const expected = `Bearer ${BOTH}`;
  const chatHeaders = await proxied('both.local', 'both');
  const tags = await seen('both', '/api/tags');
  const probe = await seen('both', '/');
  for (const [who, headers] of [['the proxy', chatHeaders], ['modelsync', tags], ['healthmon', probe]]) {
    assert.equal(headers.authorization, expected, who);
    assert.equal(headers['x-extra'], 'x', `${who}: the other Headers still travel`);
    assert.equal(headers.host, `127.0.0.1:${flow.sim.port('both')}`, `${who}: the backend's Host`);
  }
});

test('a client\'s Authorization and x-api-key are not forwarded by default', async () => {
  const headers = await proxied('bare.local', 'bare');
  assert.equal(headers.authorization, undefined);
  assert.equal(headers['x-api-key'], undefined);
});

test('PassClientCredentials forwards them to a backend without credentials of its own', async () => {
  const headers = await proxied('pass.local', 'bare');
  assert.equal(headers.authorization, CLIENT.authorization);
  assert.equal(headers['x-api-key'], CLIENT['x-api-key']);
});

test('PassClientCredentials never forwards them to a backend with credentials of its own', async () => {
  const headers = await proxied('passlong.local', 'long');
  assert.equal(headers.authorization, `Bearer ${LONG}`);
  assert.equal(headers['x-api-key'], undefined);
});
