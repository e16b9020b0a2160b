// Client API keys end to end: the /v1.0/keys admin routes (a secret made by ollamaflow and shown
// once, stored as a hash, regenerated; every field validated, naming the field),
// ollamaflowctl's keys commands, and the ingress's check of every request with the real
// `ollama` and `openai` clients, on two replicas.
//
// Frontends by Host: main (127.0.0.1) and team (localhost) require a key; open (open.local)
// does not. The slow-down test sends from 127.0.0.2, an address of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { assertCleanStop, waitFor } from './flow.mjs';
import { admin, startAdminFlow, TOKEN } from './admin.mjs';
import { runCtl, EXIT } from './ctl.mjs';

const SECRET = /^ofk-[0-9a-f]{64}$/;
const MODEL = 'llama3.2';
const teamUrl = (replica = 0) => `http://localhost:${flow.port(replica)}`;
const logDir = mkdtempSync(join(tmpdir(), 'ollamaflow-keys-'));
const ACCESS_LOG = join(logDir, 'access.log');
let flow;

before(async () => {
  flow = await startAdminFlow({
    replicas: 2,
    settings: { AccessLog: { SampleEvery: 1, File: ACCESS_LOG }, Metrics: { KeyLabelsMax: 2 } },
    frontends: [
      { Identifier: 'main', Hostname: '127.0.0.1', Backends: ['a'], RequireApiKey: true,
        PassClientCredentials: true },
      { Identifier: 'team', Hostname: 'localhost', Backends: ['b'], RequireApiKey: true,
        PassClientCredentials: true },
      { Identifier: 'open', Hostname: 'open.local', Backends: ['b'], PassClientCredentials: true },
    ],
  });
});

// A request with any headers (Host included), on one replica, from localAddress
function raw(method, path, { host, headers = {}, body, replica = 0, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: flow.port(replica), method, path, localAddress,
      headers: { ...(host ? { host } : {}), 'content-type': 'application/json', ...headers } },
    (response) => {
      let data = '';
      response.on('data', (chunk) => { data += chunk; });
      response.on('end', () => {
        let json;
        try { json = JSON.parse(data); } catch { json = undefined; }
        resolve({ status: response.statusCode, headers: response.headers, data, json });
      });
    });
    request.on('error', reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const CHAT = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: false,
  options: { num_predict: 2 } };
const bearer = (secret) => ({ authorization: `Bearer ${secret}` });

after(async () => {
  assertCleanStop(assert, await flow.stop());
  rmSync(logDir, { recursive: true, force: true });
});

// Creates key id (fields) and returns the answer's object, Secret included. A write is
// acknowledged once committed and reaches the replicas' config copies just after: with
// known, waits until both have it (a listing with the key on frontend main is no longer 401)
async function createKey(id, fields = {}, { known = true } = {}) {
  const response = await admin(flow, 'PUT', '/keys', { body: { Identifier: id, ...fields } });
  assert.equal(response.status, 201, response.text);
  if (known)
    for (const replica of [0, 1])
      await waitFor(async () => (await raw('GET', '/api/tags', { headers: bearer(response.json.Secret),
        replica })).status !== 401, { what: `${id} on replica ${replica}` });
  return response.json;
}

test('a new key has a secret made by ollamaflow, shown once, stored only as a hash', async () => {
  const key = await createKey('k-once', { Name: 'Once', Owner: 'team-a', Frontends: ['main'] });
  assert.match(key.Secret, SECRET);
  assert.equal(key.SecretHash, '********');
  assert.deepEqual(key.Frontends, ['main']);
  assert.deepEqual(key.Models, []);
  assert.equal(key.Priority, 'Normal');
  assert.equal(key.Active, true);
  assert.equal(key.ExpiresUtc, undefined);       // null, left out as every null is
  assert.equal(typeof key.CreatedUtc, 'string');
  // Never again: not in a GET, not in a list, not on the bus's object
  const got = await admin(flow, 'GET', '/keys/k-once');
  assert.equal(got.status, 200);
  assert.equal(got.json.Secret, undefined);
  assert.equal(got.json.SecretHash, '********');
  assert.ok(!got.text.includes(key.Secret.slice(4)));
  const list = await admin(flow, 'GET', '/keys?limit=1');
  assert.equal(list.status, 200);
  assert.equal(list.headers.get('x-total-count') >= 1, true);
  assert.ok(!list.text.includes(key.Secret.slice(4)));
  // Two keys never share a secret
  const other = await createKey('k-other');
  assert.notEqual(other.Secret, key.Secret);
  assert.deepEqual(other.Frontends, ['*']);
});

test('every keys route needs an admin token (401 without, or with a client key)', async () => {
  const { Secret: secret } = await createKey('k-auth', {}, { known: false });
  const routes = [['GET', '/keys'], ['PUT', '/keys', { Identifier: 'k-x' }], ['GET', '/keys/k-auth'],
    ['PATCH', '/keys/k-auth', { Name: 'n' }], ['DELETE', '/keys/k-auth'],
    ['POST', '/keys/k-auth/regenerate'], ['GET', '/keys/usage'], ['GET', '/keys/k-auth/usage']];
  for (const [method, path, body] of routes)
    for (const token of [null, 'wrong', secret]) {
      const response = await admin(flow, method, path, { body, token });
      assert.equal(response.status, 401, `${method} ${path}: ${response.text}`);
    }
  assert.equal((await admin(flow, 'GET', '/keys/k-auth')).status, 200);
});

test('bad key objects are refused with a message naming the field', async () => {
  const cases = [
    [{ Identifier: 'bad', Priority: 'Urgent' }, 400, /^Priority: must be High, Normal or Low/],
    [{ Identifier: 'bad', Frontends: ['*', 'main'] }, 400, /^Frontends: "\*" \(every frontend\) must be the only entry/],
    [{ Identifier: 'bad', Frontends: ['ghost'] }, 409, /^Frontends: no frontend with Identifier ghost/],
    [{ Identifier: 'bad', ExpiresUtc: 'tomorrow' }, 400, /^ExpiresUtc: a UTC time/],
    [{ Identifier: 'bad', RequestsPerMinute: -1 }, 400, /^RequestsPerMinute: must be an integer from 0/],
    [{ Identifier: 'bad', MaxConcurrentRequests: 'two' }, 400, /^MaxConcurrentRequests:/],
    [{ Identifier: 'bad', Models: [''] }, 400, /^Models: item 0/],
    [{ Identifier: 'bad', Active: 'yes' }, 400, /^Active: must be true or false/],
    [{ Identifier: 'bad', SecretHash: 'a'.repeat(64) }, 400, /^SecretHash: set by the server/],
    [{ Identifier: 'bad', Secret: 'mine' }, 400, /^Secret: unknown field of a key/],
    [{ Identifier: 'bad key' }, 400, /^Identifier:/],
  ];
  for (const [body, status, description] of cases) {
    const response = await admin(flow, 'PUT', '/keys', { body });
    assert.equal(response.status, status, `${JSON.stringify(body)}: ${response.text}`);
    assert.match(response.json.Description, description, JSON.stringify(body));
  }
  assert.equal((await admin(flow, 'GET', '/keys/bad')).status, 404);
  // Creating an existing one; writing a hash through PATCH or PUT
  await createKey('k-fixed');
  assert.equal((await admin(flow, 'PUT', '/keys', { body: { Identifier: 'k-fixed' } })).status, 409);
  for (const method of ['PATCH', 'PUT']) {
    const response = await admin(flow, method, '/keys/k-fixed', { body: { SecretHash: 'b'.repeat(64) } });
    assert.equal(response.status, 400, response.text);
    assert.match(response.json.Description, /^SecretHash: set by the server/);
  }
});

test('PATCH, a GET-edit-PUT round trip and regenerate: only regenerate changes the secret', async () => {
  const key = await createKey('k-edit', { Frontends: ['main', 'team'], TokensPerMinute: 1000 });
  const patched = await admin(flow, 'PATCH', '/keys/k-edit', { body: { Priority: 'high', TokensPerMinute: null } });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.json.Priority, 'High');
  assert.equal(patched.json.TokensPerMinute, 0);
  assert.equal(patched.json.Secret, undefined);
  const got = (await admin(flow, 'GET', '/keys/k-edit')).json;
  got.Name = 'edited';
  const replaced = await admin(flow, 'PUT', '/keys/k-edit', { body: got });
  assert.equal(replaced.status, 200, replaced.text);
  assert.equal(replaced.json.Name, 'edited');
  assert.equal(replaced.json.SecretHash, '********');
  // A full replace that leaves SecretHash out keeps it too
  const bare = await admin(flow, 'PUT', '/keys/k-edit', { body: { Frontends: ['main'] } });
  assert.equal(bare.status, 200, bare.text);
  assert.equal(bare.json.SecretHash, '********');
  const fresh = await admin(flow, 'POST', '/keys/k-edit/regenerate');
  assert.equal(fresh.status, 200, fresh.text);
  assert.match(fresh.json.Secret, SECRET);
  assert.notEqual(fresh.json.Secret, key.Secret);
  assert.equal((await admin(flow, 'POST', '/keys/none/regenerate')).status, 404);
  assert.equal((await admin(flow, 'GET', '/keys/k-edit/regenerate')).status, 405);
  // A frontend a key names cannot be deleted
  const refused = await admin(flow, 'DELETE', '/frontends/main');
  assert.equal(refused.status, 409);
  assert.match(refused.json.Description, /is used by keys: .*k-edit/);
  assert.equal((await admin(flow, 'DELETE', '/keys/k-edit')).status, 204);
  assert.equal((await admin(flow, 'GET', '/keys/k-edit')).status, 404);
});

test('ollamaflowctl creates, lists, regenerates and deletes keys', async () => {
  const created = await runCtl(flow.url(), TOKEN, ['keys', 'create', 'k-ctl', '--set', 'Frontends=["team"]',
    '--set', 'Owner=ops']);
  assert.equal(created.code, EXIT.ok, created.stderr);
  assert.match(created.stdout, /created key 'k-ctl'/);
  assert.match(created.stdout, /ofk-[0-9a-f]{64}/);
  assert.match(created.stderr, /shown this once/);
  const listed = await runCtl(flow.url(), TOKEN, ['keys', 'list']);
  assert.equal(listed.code, EXIT.ok, listed.stderr);
  assert.match(listed.stdout, /IDENTIFIER.*OWNER.*FRONTENDS.*PRIORITY/);
  assert.match(listed.stdout, /k-ctl.*ops/);
  assert.ok(!/ofk-/.test(listed.stdout));
  const regenerated = await runCtl(flow.url(), TOKEN, ['keys', 'regenerate', 'k-ctl'], { json: true });
  assert.equal(regenerated.code, EXIT.ok, regenerated.stderr);
  assert.match(regenerated.json.Secret, SECRET);
  const invalid = await runCtl(flow.url(), TOKEN, ['keys', 'patch', 'k-ctl', '--set', 'Priority=urgent']);
  assert.equal(invalid.code, EXIT.invalid);
  assert.match(invalid.stderr, /Priority/);
  const deleted = await runCtl(flow.url(), TOKEN, ['keys', 'delete', 'k-ctl']);
  assert.equal(deleted.code, EXIT.ok, deleted.stderr);
  assert.equal((await runCtl(flow.url(), TOKEN, ['keys', 'get', 'k-ctl'])).code, EXIT.notFound);
});

// The headers of the last chat backend name received
async function lastChatHeaders(name) {
  const last = await flow.sim.control(`/backends/${name}/last/api/chat`);
  return last && last.headers ? last.headers : {};
}

test('a key works on its frontend with both clients and is refused on another (403)', async () => {
  const { Secret: secret } = await createKey('k-main', { Frontends: ['main'] });
  const ollama = new Ollama({ host: flow.url(), headers: bearer(secret) });
  const first = await waitFor(async () => {
    try { return await ollama.chat(CHAT); } catch { return null; }
  }, { what: 'a chat with a key through main' });
  assert.ok(first.message.content.length > 0);
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: secret, maxRetries: 0 });
  const completion = await openai.chat.completions.create({ model: MODEL, max_tokens: 2,
    messages: [{ role: 'user', content: 'hi' }] });
  assert.ok(completion.choices[0].message.content.length > 0);
  const models = await openai.models.list();
  assert.ok(models.data.length > 0);
  // x-api-key does as well
  const viaHeader = await raw('POST', '/api/chat', { headers: { 'x-api-key': secret }, body: CHAT });
  assert.equal(viaHeader.status, 200, viaHeader.data);
  // The backend got its own token, never the client's key (PassClientCredentials or not)
  const seen = await lastChatHeaders('a');
  assert.equal(seen.authorization, 'Bearer secret-a');
  assert.equal(seen['x-api-key'], undefined);
  assert.ok(!JSON.stringify(seen).includes(secret.slice(4)));
  // The access log names the key, never its secret
  const lines = await waitFor(() => {
    const text = readFileSync(ACCESS_LOG, 'utf8');
    return text.includes('"Key":"k-main"') ? text : null;
  }, { what: 'an access log line with the key' });
  assert.ok(!lines.includes(secret.slice(4)));

  // Another frontend: 403 in each dialect
  const teamOllama = new Ollama({ host: teamUrl(), headers: bearer(secret) });
  await assert.rejects(teamOllama.chat(CHAT), (error) => {
    assert.equal(error.status_code, 403);
    assert.equal(error.error, "API key 'k-main' may not use frontend 'team'");
    return true;
  });
  const teamOpenai = new OpenAI({ baseURL: `${teamUrl()}/v1`, apiKey: secret, maxRetries: 0 });
  await assert.rejects(teamOpenai.chat.completions.create({ model: MODEL,
    messages: [{ role: 'user', content: 'hi' }] }), (error) => {
    assert.equal(error.status, 403);
    assert.equal(error.code, 'api_key_not_allowed');
    return true;
  });
  await assert.rejects(teamOpenai.models.list(), (error) => error.status === 403);
});

test('no key, an unknown key: 401 in the route\'s dialect (OpenAI\'s invalid_api_key)', async () => {
  const ollama = new Ollama({ host: flow.url() });
  await assert.rejects(ollama.chat(CHAT), (error) => {
    assert.equal(error.status_code, 401);
    assert.match(error.error, /frontend 'main' requires an API key/);
    return true;
  });
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'ofk-wrong', maxRetries: 0 });
  await assert.rejects(openai.chat.completions.create({ model: MODEL,
    messages: [{ role: 'user', content: 'hi' }] }), (error) => {
    assert.ok(error instanceof OpenAI.AuthenticationError);
    assert.equal(error.status, 401);
    assert.equal(error.code, 'invalid_api_key');
    assert.equal(error.error.message, 'invalid API key');
    return true;
  });
  const ollamaWrong = new Ollama({ host: flow.url(), headers: { 'x-api-key': 'nope' } });
  await assert.rejects(ollamaWrong.generate({ model: MODEL, prompt: 'x' }),
    (error) => error.status_code === 401 && error.error === 'invalid API key');
  // Listings and pulls are checked too
  for (const [method, path] of [['GET', '/api/tags'], ['GET', '/v1/models'], ['POST', '/api/pull']]) {
    const response = await raw(method, path, { body: method === 'POST' ? { model: MODEL } : undefined });
    assert.equal(response.status, 401, `${method} ${path}: ${response.data}`);
  }
});

test('inactive, expired and regenerated keys get 401; a key limited to models gets 403 on others', async () => {
  const { Secret: secret } = await createKey('k-states', { Frontends: ['main'], Models: ['all-minilm'] });
  const ollama = new Ollama({ host: flow.url(), headers: bearer(secret) });
  const embedded = await ollama.embed({ model: 'all-minilm', input: 'x' });
  assert.equal(embedded.embeddings.length, 1);
  await assert.rejects(ollama.chat(CHAT), (error) => {
    assert.equal(error.status_code, 403);
    assert.equal(error.error, "API key 'k-states' may not use model 'llama3.2'");
    return true;
  });
  assert.equal((await admin(flow, 'PATCH', '/keys/k-states', { body: { Active: false } })).status, 200);
  await assert.rejects(ollama.embed({ model: 'all-minilm', input: 'x' }),
    (error) => error.status_code === 401 && /API key 'k-states' is not active/.test(error.error));
  assert.equal((await admin(flow, 'PATCH', '/keys/k-states',
    { body: { Active: true, ExpiresUtc: '2020-01-01T00:00:00Z' } })).status, 200);
  await assert.rejects(ollama.embed({ model: 'all-minilm', input: 'x' }),
    (error) => error.status_code === 401 && /expired at 2020-01-01T00:00:00.000000Z/.test(error.error));
  assert.equal((await admin(flow, 'PATCH', '/keys/k-states', { body: { ExpiresUtc: null } })).status, 200);
  assert.equal((await ollama.embed({ model: 'all-minilm', input: 'x' })).embeddings.length, 1);
  const fresh = (await admin(flow, 'POST', '/keys/k-states/regenerate')).json.Secret;
  await assert.rejects(ollama.embed({ model: 'all-minilm', input: 'x' }),
    (error) => error.status_code === 401);
  const renewed = new Ollama({ host: flow.url(), headers: bearer(fresh) });
  assert.equal((await renewed.embed({ model: 'all-minilm', input: 'x' })).embeddings.length, 1);
});

test('a frontend without RequireApiKey serves requests with no key or any key, and passes none on', async () => {
  const { Secret: secret } = await createKey('k-open');
  await waitFor(async () => (await raw('POST', '/api/chat', { host: 'open.local', body: CHAT })).status === 200,
    { what: 'a chat through open' });
  for (const headers of [{}, { authorization: 'Bearer unused' }, bearer(secret)]) {
    const response = await raw('POST', '/api/chat', { host: 'open.local', headers, body: CHAT });
    assert.equal(response.status, 200, response.data);
  }
  // PassClientCredentials still passes a client's own credentials, but never one of our keys
  let seen = await lastChatHeaders('b');
  assert.equal(seen.authorization, undefined);
  await raw('POST', '/api/chat', { host: 'open.local', headers: { authorization: 'Bearer theirs' }, body: CHAT });
  seen = await lastChatHeaders('b');
  assert.equal(seen.authorization, 'Bearer theirs');
});

test('a key revoked through one replica stops working on both within one second', async () => {
  const { Secret: secret } = await createKey('k-revoke', { Frontends: ['main'] });
  const tags = (replica) => raw('GET', '/api/tags', { headers: bearer(secret), replica });
  for (const replica of [0, 1])
    await waitFor(async () => (await tags(replica)).status === 200, { what: `the key on replica ${replica}` });
  const started = performance.now();
  const revoked = await admin(flow, 'PATCH', '/keys/k-revoke', { body: { Active: false }, replica: 0 });
  assert.equal(revoked.status, 200);
  const refusedAt = [];
  for (const replica of [0, 1]) {
    await waitFor(async () => (await tags(replica)).status === 401, { timeout: 2000, interval: 5,
      what: `the revocation on replica ${replica}` });
    refusedAt.push(performance.now() - started);
  }
  console.log(`revocation applied after ${refusedAt.map((ms) => ms.toFixed(0)).join(' and ')} ms`);
  assert.ok(Math.max(...refusedAt) < 1000, `revoked after ${refusedAt} ms`);
});

test('with more keys than Metrics.KeyLabelsMax, /metrics sums them without naming any', async () => {
  const metrics = await (await fetch(`${flow.url(1)}/metrics`)).text();
  assert.ok(!/^ollamaflow_key_\w+\{key=/m.test(metrics), 'a key is named');
  assert.match(metrics, /^ollamaflow_key_requests_total \d+$/m);
  assert.match(metrics, /^ollamaflow_key_running \d+$/m);
});

test('repeated unknown keys from one address are slowed down, within a bound; good keys are not', async () => {
  const { Secret: secret } = await createKey('k-slow', { Frontends: ['main'] });
  const timed = async (headers) => {
    const started = performance.now();
    const response = await raw('GET', '/api/tags', { headers, replica: 1, localAddress: '127.0.0.2' });
    return { status: response.status, ms: performance.now() - started, headers: response.headers };
  };
  const waits = [];
  for (let i = 0; i < 8; i++) {
    const answer = await timed({ authorization: `Bearer ofk-guess-${i}` });
    assert.equal(answer.status, 401);
    waits.push(answer.ms);
  }
  console.log(`unknown keys answered after ${waits.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  // Upper bounds below the first wait (250 ms), with room for a loaded machine
  for (let i = 0; i < 5; i++) assert.ok(waits[i] < 240, `attempt ${i + 1} waited ${waits[i]} ms`);
  assert.ok(waits[5] >= 240, `the 6th waited ${waits[5]} ms`);
  assert.ok(waits[6] >= 490, `the 7th waited ${waits[6]} ms`);
  assert.ok(waits[7] >= 990 && waits[7] < 4500, `the 8th waited ${waits[7]} ms`);
  const good = await timed(bearer(secret));
  assert.equal(good.status, 200);
  assert.ok(good.ms < 240, `a good key waited ${good.ms} ms`);
});
