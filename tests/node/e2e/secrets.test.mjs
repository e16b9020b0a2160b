// Secrets never shown: with the tap's request/reply copies on (Bus.Tap), every service logging at
// debug level and the access log on, a whole session of admin writes (a backend created and
// patched with a BearerToken and a secret header, a client API key created and regenerated) and
// client requests (with Authorization, x-api-key, an API key of ours, a wrong one) leaves none
// of those secrets in the tap's output, any service's log or the access log. The tap with
// --show-secrets does show the backend's token, so the search is known to look in the right
// place.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTap, waitFor, waitHealthy, assertCleanStop, sleep } from './flow.mjs';
import { admin, startAdminFlow, TOKEN } from './admin.mjs';

const MODEL = 'llama3.2';
const SECRETS = {
  seededToken: 'seeded-bearer-7f3a91',
  seededHeader: 'seeded-header-2c8e44',
  createdToken: 'created-bearer-b61d05',
  createdHeader: 'created-header-93aa17',
  patchedToken: 'patched-bearer-4e0c6b',
  clientAuthorization: 'client-authorization-d27f83',
  clientApiKey: 'client-x-api-key-5b19ce',
};
let flow;
let dir;
let accessLog;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ollamaflow-secrets-'));
  accessLog = join(dir, 'access.log');
  flow = await startAdminFlow({
    backends: (sim) => [
      { Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1,
        BearerToken: SECRETS.seededToken, Headers: { 'X-Backend-Key': SECRETS.seededHeader } },
      { Identifier: 'b', Hostname: '127.0.0.1', Port: sim.port('b'), HealthyThreshold: 1 },
    ],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'], PassClientCredentials: true }],
    settings: { Bus: { Tap: true }, Logging: { Level: 'debug' },
      AccessLog: { SampleEvery: 1, File: accessLog } },
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
  rmSync(dir, { recursive: true, force: true });
});

// Everything a person watching could read: the tap's lines, every log, the access log
function everythingShown(tapLines) {
  const logs = ['configd', 'scheduler', 'healthmon', 'modelsync', 'ingress0'].map((name) => flow.log(name));
  let access = '';
  try { access = readFileSync(accessLog, 'utf8'); } catch { /* not written yet */ }
  return [JSON.stringify(tapLines), ...logs, access].join('\n');
}

test('a session of admin writes and client requests shows no secret on the tap or in any log',
  async () => {
  const tap = startTap(flow, []);
  const revealing = startTap(flow, ['--show-secrets']);
  const secrets = { ...SECRETS };
  try {
    await sleep(300);   // both taps subscribed
    // Admin: a backend created with secrets, patched, and a client API key made twice
    let response = await admin(flow, 'PUT', '/backends', { body: { Identifier: 'c', Hostname: '127.0.0.1',
      Port: flow.sim.port('b'), BearerToken: SECRETS.createdToken, Headers: { Authorization: `Bearer ${SECRETS.createdHeader}` } } });
    assert.equal(response.status, 201, response.text);
    response = await admin(flow, 'PATCH', '/backends/c', { body: { BearerToken: SECRETS.patchedToken } });
    assert.equal(response.status, 200, response.text);
    response = await admin(flow, 'PUT', '/keys', { body: { Identifier: 'k1' } });
    assert.equal(response.status, 201, response.text);
    secrets.firstKey = response.json.Secret;
    response = await admin(flow, 'POST', '/keys/k1/regenerate');
    assert.equal(response.status, 200, response.text);
    secrets.apiKey = response.json.Secret;
    assert.ok(secrets.firstKey && secrets.apiKey);
    // Clients: their own credentials (passed on to b, which has none), our key, a wrong key
    const chat = (headers) => fetch(`${flow.url()}/api/chat`, { method: 'POST', headers: {
      'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: MODEL, stream: false,
      messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 2 } }) });
    for (const headers of [
      { authorization: `Bearer ${SECRETS.clientAuthorization}`, 'x-api-key': SECRETS.clientApiKey },
      { authorization: `Bearer ${secrets.apiKey}` },
      { 'x-api-key': secrets.firstKey },
      { authorization: `Bearer ${secrets.apiKey}x` },
    ]) {
      for (let i = 0; i < 2; i++) {
        const answer = await chat(headers);
        const text = await answer.text();
        assert.equal(answer.status, 200, text);
      }
    }
    const ollama = await fetch(`${flow.url()}/v1/chat/completions`, { method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secrets.apiKey}` },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }) });
    assert.equal(ollama.status, 200);
    await ollama.text();
    // The admin token is a secret too
    secrets.adminToken = TOKEN;
    // What the tap saw must include the writes (or the search proves nothing)
    await waitFor(() => JSON.stringify(revealing.lines).includes(SECRETS.patchedToken),
      { what: 'the patch on the revealing tap' });
    await waitFor(() => JSON.stringify(tap.lines).includes('"Identifier":"c"'), { what: 'the writes on the tap' });
    await waitFor(() => readFileSync(accessLog, 'utf8').split('\n').length > 9, { what: 'the access log' });
    const shown = everythingShown(tap.lines);
    for (const [name, secret] of Object.entries(secrets))
      assert.ok(!shown.includes(secret), `${name} (${secret}) was shown`);
    // ...and not in pieces either (the start of a token is enough to guess nothing, but show none)
    for (const [name, secret] of Object.entries(secrets))
      assert.ok(!shown.includes(secret.slice(0, 16)), `the start of ${name} was shown`);
  } finally {
    await tap.stop();
    await revealing.stop();
  }
});
