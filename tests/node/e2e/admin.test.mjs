// The admin API end to end: every route with and without a valid token, OllamaFlow's routes and
// shapes for frontends and backends, every validation rule, paging, secrets, live views.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFlow, waitFor, assertCleanStop } from './flow.mjs';
import { admin, startAdminFlow, TOKEN, OTHER_TOKEN } from './admin.mjs';

let flow;

before(async () => {
  flow = await startAdminFlow();
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

// Every admin route: method, path, body
const ROUTES = [
  ['GET', '/frontends'], ['PUT', '/frontends', { Identifier: 'x1' }], ['GET', '/frontends/main'],
  ['HEAD', '/frontends/main'], ['PUT', '/frontends/main', { Backends: ['a'] }],
  ['PATCH', '/frontends/main', { Name: 'n' }], ['DELETE', '/frontends/none'],
  ['GET', '/frontends/main/models'],
  ['GET', '/backends'], ['PUT', '/backends', { Identifier: 'y1' }], ['GET', '/backends/a'],
  ['HEAD', '/backends/a'], ['PUT', '/backends/none', { Port: 1 }], ['PATCH', '/backends/none', { Port: 1 }],
  ['DELETE', '/backends/none'], ['GET', '/backends/health'], ['GET', '/backends/a/health'],
  ['GET', '/sessions'], ['DELETE', '/sessions?frontend=none'], ['GET', '/sessions/nobody'],
  ['DELETE', '/sessions/nobody'], ['GET', '/status'],
];

function assertError(response, status, error, fragment) {
  assert.equal(response.status, status, response.text);
  if (response.json === undefined) return;  // HEAD: no body
  assert.equal(response.json.StatusCode, status);
  assert.equal(response.json.Error, error);
  assert.equal(typeof response.json.Message, 'string');
  if (fragment) assert.match(response.json.Description, fragment);
}

test('every route refuses a missing or wrong token with 401 in OllamaFlow\'s shape', async () => {
  for (const [method, path, body] of ROUTES) {
    for (const token of [null, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const response = await admin(flow, method, path, { body, token });
      assertError(response, 401, 'AuthenticationFailed');
      if (method !== 'HEAD') assert.equal(response.json.Message, 'Your authentication material was not accepted.');
    }
  }
  // Not a bearer token at all
  const response = await fetch(`${flow.url()}/v1.0/status`, { headers: { authorization: `Basic ${TOKEN}` } });
  assert.equal(response.status, 401);
  assert.match(response.headers.get('www-authenticate'), /Bearer/);
});

test('every route answers a valid token (either configured token) with its own status', async () => {
  const expected = {
    'PUT /frontends': 201, 'PUT /backends': 201, 'DELETE /frontends/none': 404, 'PUT /backends/none': 404,
    'PATCH /backends/none': 404, 'DELETE /backends/none': 404, 'GET /sessions/nobody': 404,
    'DELETE /sessions/nobody': 404,
  };
  for (const [method, path, body] of ROUTES) {
    const token = path.length % 2 ? TOKEN : OTHER_TOKEN;
    const response = await admin(flow, method, path, { body, token });
    assert.equal(response.status, expected[`${method} ${path}`] ?? 200, `${method} ${path}: ${response.text}`);
  }
  assert.equal((await admin(flow, 'DELETE', '/frontends/x1')).status, 204);
  assert.equal((await admin(flow, 'DELETE', '/backends/y1')).status, 204);
});

test('frontends: list, get, exists, create 201, duplicate 409, full replace, patch, delete 204', async () => {
  let response = await admin(flow, 'GET', '/frontends');
  assert.ok(Array.isArray(response.json));
  assert.equal(response.headers.get('x-total-count'), String(response.json.length));
  response = await admin(flow, 'GET', '/frontends/main');
  assert.equal(response.json.Identifier, 'main');
  assert.equal(response.json.LoadBalancing, 'RoundRobin', 'enums are strings');
  assert.equal((await admin(flow, 'HEAD', '/frontends/main')).status, 200);
  assert.equal((await admin(flow, 'HEAD', '/frontends/nope')).status, 404);

  response = await admin(flow, 'PUT', '/frontends', { body: { Identifier: 'f2', Hostname: 'f2.local',
    Backends: ['a', 'b'], TimeoutMs: 1234, LoadBalancing: 'random' } });
  assert.equal(response.status, 201);
  assert.equal(response.json.LoadBalancing, 'Random', 'enum spellings are canonical');
  assert.equal(response.json.Name, undefined, 'nulls are left out, as OllamaFlow does');
  assert.ok(response.json.CreatedUtc && response.json.LastUpdateUtc);
  assertError(await admin(flow, 'PUT', '/frontends', { body: { Identifier: 'f2' } }), 409, 'Conflict', /f2/);

  // Full replace: omitted fields take their defaults; CreatedUtc is kept
  response = await admin(flow, 'PUT', '/frontends/f2', { body: { Backends: ['b'] } });
  assert.equal(response.status, 200);
  assert.equal(response.json.TimeoutMs, 60000);
  assert.equal(response.json.Hostname, '*');
  assert.deepEqual(response.json.Backends, ['b']);
  assertError(await admin(flow, 'PUT', '/frontends/f2', { body: { Identifier: 'other' } }), 400, 'BadRequest', /Identifier/);
  assertError(await admin(flow, 'PUT', '/frontends/ghost', { body: {} }), 404, 'NotFound', /ghost/);

  // PATCH: a JSON merge patch; null restores a default
  response = await admin(flow, 'PATCH', '/frontends/f2', { body: { TimeoutMs: 5000, Name: 'two' } });
  assert.equal(response.json.TimeoutMs, 5000);
  assert.deepEqual(response.json.Backends, ['b'], 'what the patch does not name stays');
  response = await admin(flow, 'PATCH', '/frontends/f2', { body: { TimeoutMs: null } });
  assert.equal(response.json.TimeoutMs, 60000);
  assert.equal(response.json.Name, 'two');
  assertError(await admin(flow, 'PATCH', '/frontends/f2', { body: { Identifier: 'f3' } }), 400, 'BadRequest', /Identifier/);
  assertError(await admin(flow, 'PATCH', '/frontends/f2', { raw: '[1]' }), 400, 'BadRequest', /object/);
  assertError(await admin(flow, 'PATCH', '/frontends/f2', { raw: '{"a":' }), 400, 'BadRequest', /invalid JSON/);
  assertError(await admin(flow, 'PUT', '/frontends', {}), 400, 'BadRequest', /JSON object is required/);

  response = await admin(flow, 'DELETE', '/frontends/f2');
  assert.equal(response.status, 204);
  assert.equal(response.text, '');
  assertError(await admin(flow, 'GET', '/frontends/f2'), 404, 'NotFound', /f2/);
  assertError(await admin(flow, 'DELETE', '/frontends/f2'), 404, 'NotFound');
});

test('backends: a backend a frontend uses cannot be deleted (409 naming the frontends)', async () => {
  assert.equal((await admin(flow, 'PUT', '/frontends', { body: { Identifier: 'user1', Hostname: 'u1', Backends: ['b'] } })).status, 201);
  assert.equal((await admin(flow, 'PUT', '/frontends', { body: { Identifier: 'user2', Hostname: 'u2', Backends: ['b'] } })).status, 201);
  const response = await admin(flow, 'DELETE', '/backends/b');
  assertError(response, 409, 'Conflict', /user1/);
  assert.match(response.json.Description, /user2/);
  await admin(flow, 'DELETE', '/frontends/user1');
  await admin(flow, 'DELETE', '/frontends/user2');
  assert.equal((await admin(flow, 'PUT', '/backends', { body: { Identifier: 'gone', Port: 9 } })).status, 201);
  assert.equal((await admin(flow, 'DELETE', '/backends/gone')).status, 204);
});

test('secrets are write-only: never returned, and a GET-edit-PUT round trip keeps them', async () => {
  for (const path of ['/backends/a', '/backends', '/backends/health', '/backends/a/health']) {
    const { text } = await admin(flow, 'GET', path);
    assert.ok(!text.includes('secret-a') && !text.includes('hidden'), `${path} shows a secret`);
  }
  const shown = (await admin(flow, 'GET', '/backends/a')).json;
  assert.equal(shown.BearerToken, '********');
  assert.deepEqual(shown.Headers, { 'X-Key': '********' }, 'header names stay visible');
  // Write it back as read (runtime fields OllamaFlow returns are accepted and ignored)
  const replaced = await admin(flow, 'PUT', '/backends/a', { body: { ...shown, HealthySinceUtc: 'x', Name: 'edited' } });
  assert.equal(replaced.status, 200, replaced.text);
  assert.equal(replaced.json.Name, 'edited');
  // The backend still gets the real token and header: with its health probes...
  await waitFor(async () => {
    const last = await flow.sim.control('/backends/a/last');
    return last.path === '/' && last.headers.authorization === 'Bearer secret-a';
  }, { what: 'a probe of backend a with its token' });
  // ...and with each request
  const seen = await waitFor(async () => {
    const response = await fetch(`${flow.url()}/api/embed`, { method: 'POST',
      body: JSON.stringify({ model: 'all-minilm', input: 'x' }) });
    await response.text();
    const last = await flow.sim.control('/backends/a/last');
    return last.path === '/api/embed' ? last : null;
  }, { what: 'a request on backend a' });
  assert.equal(seen.headers.authorization, 'Bearer secret-a');
  assert.equal(seen.headers['x-key'], 'hidden');
});

// One bad value per rule of of_schema: [kind, field, bad value, status]
const BAD = [
  ['frontends', 'Identifier', 'has space'], ['frontends', 'Identifier', 'x'.repeat(65)], ['frontends', 'Identifier', 'a/b'],
  ['frontends', 'Name', 7], ['frontends', 'Name', 'n'.repeat(257)], ['frontends', 'Hostname', 'http://x'],
  ['frontends', 'Hostname', ''], ['frontends', 'TimeoutMs', -1], ['frontends', 'TimeoutMs', 86400001],
  ['frontends', 'TimeoutMs', '60000'], ['frontends', 'TimeoutMs', 1.5], ['frontends', 'LoadBalancing', 'Fastest'],
  ['frontends', 'BlockHttp10', 'yes'], ['frontends', 'MaxRequestBodySize', 0],
  ['frontends', 'MaxRequestBodySize', 2147483648], ['frontends', 'Backends', 'a'], ['frontends', 'Backends', ['a', 'a']],
  ['frontends', 'Backends', ['bad id']], ['frontends', 'Backends', ['nosuch'], 409], ['frontends', 'RequiredModels', [7]],
  ['frontends', 'RequiredModels', ['']], ['frontends', 'LogRequestFull', 1], ['frontends', 'LogRequestBody', 'no'],
  ['frontends', 'LogResponseBody', 'null'], ['frontends', 'UseStickySessions', 'true'],
  ['frontends', 'StickySessionExpirationMs', 9999], ['frontends', 'StickySessionExpirationMs', 86400001],
  ['frontends', 'PinnedEmbeddingsProperties', []], ['frontends', 'PinnedCompletionsProperties', 'x'],
  ['frontends', 'AllowEmbeddings', 0], ['frontends', 'AllowCompletions', 'false'], ['frontends', 'AllowRetries', []],
  ['frontends', 'Active', {}], ['frontends', 'Speed', 1],
  ['backends', 'Identifier', ''], ['backends', 'Identifier', 'é'], ['backends', 'Name', false],
  ['backends', 'Hostname', 'a b'], ['backends', 'Hostname', 'h/path'], ['backends', 'Port', 0], ['backends', 'Port', 65536],
  ['backends', 'Ssl', 'no'], ['backends', 'UnhealthyThreshold', 0], ['backends', 'UnhealthyThreshold', 101],
  ['backends', 'HealthyThreshold', 0], ['backends', 'HealthyThreshold', 101], ['backends', 'HealthCheckMethod', 'POST'],
  ['backends', 'HealthCheckUrl', 'health'], ['backends', 'HealthCheckUrl', '/a b'], ['backends', 'MaxParallelRequests', 0],
  ['backends', 'MaxParallelRequests', 100001], ['backends', 'RateLimitRequestsThreshold', 0],
  ['backends', 'RateLimitRequestsThreshold', 1000001], ['backends', 'LogRequestFull', 'x'], ['backends', 'LogRequestBody', 2],
  ['backends', 'LogResponseBody', 'x'], ['backends', 'ApiFormat', 'Grpc'], ['backends', 'Labels', 'eu'], ['backends', 'Labels', [1]],
  ['backends', 'PinnedEmbeddingsProperties', 1], ['backends', 'PinnedCompletionsProperties', [1]],
  ['backends', 'AllowEmbeddings', 'x'], ['backends', 'AllowCompletions', 'x'], ['backends', 'BearerToken', 'has space'],
  ['backends', 'BearerToken', ''], ['backends', 'BearerToken', 5], ['backends', 'Querystring', 'a b'],
  ['backends', 'Querystring', 'a#b'], ['backends', 'Headers', { 'X-A': 1 }], ['backends', 'Headers', []],
  ['backends', 'Active', 'x'], ['backends', 'Speed', 'fast'],
];

test('every validation rule: a bad value is refused with the field and its rule', async () => {
  let n = 0;
  for (const [kind, field, value, status = 400] of BAD) {
    const id = field === 'Identifier' ? value : `v${n++}`;
    const body = { Identifier: id, [field]: value };
    for (const [method, path] of [['PUT', `/${kind}`], ['PATCH', `/${kind}/${kind === 'frontends' ? 'main' : 'a'}`]]) {
      if (method === 'PATCH' && field === 'Identifier') continue;
      const patch = method === 'PATCH' ? { [field]: value } : body;
      const response = await admin(flow, method, path, { body: patch });
      assertError(response, status, status === 409 ? 'Conflict' : 'BadRequest');
      assert.ok(response.json.Description.includes(field === 'Backends' && status === 409 ? 'nosuch' : field),
        `${method} ${kind}.${field}=${JSON.stringify(value)}: ${response.json.Description}`);
    }
  }
  // A missing Identifier, and nothing was stored by any refused write
  assertError(await admin(flow, 'PUT', '/backends', { body: { Port: 1 } }), 400, 'BadRequest', /Identifier/);
  const names = (await admin(flow, 'GET', '/backends')).json.map((b) => b.Identifier);
  assert.deepEqual(names.sort(), ['a', 'b']);
  assert.equal((await admin(flow, 'GET', '/frontends/main')).json.Name, 'n', 'refused patches changed nothing');
});

test('paging and ordering of lists, and their bad parameters', async () => {
  for (const id of ['p3', 'p1', 'p2'])
    await admin(flow, 'PUT', '/backends', { body: { Identifier: id, Port: 100 + Number(id[1]) } });
  let response = await admin(flow, 'GET', '/backends?limit=2');
  assert.deepEqual(response.json.map((b) => b.Identifier), ['a', 'b']);
  assert.equal(response.headers.get('x-total-count'), '5');
  response = await admin(flow, 'GET', '/backends?order=desc&offset=1&limit=2');
  assert.deepEqual(response.json.map((b) => b.Identifier), ['p2', 'p1']);
  response = await admin(flow, 'GET', '/backends?order-by=port&limit=2&offset=1');
  assert.deepEqual(response.json.map((b) => b.Identifier), ['p2', 'p3'], 'numbers order as numbers');
  response = await admin(flow, 'GET', '/backends/health?offset=4');
  assert.deepEqual(response.json.map((b) => b.Identifier), ['p3']);
  for (const [query, field] of [['limit=0', 'limit'], ['limit=10001', 'limit'], ['offset=-1', 'offset'],
    ['order=sideways', 'order'], ['order-by=Speed', 'order-by'], ['color=red', 'color'], ['limit=1&limit=2', 'limit']])
    assertError(await admin(flow, 'GET', `/backends?${query}`), 400, 'BadRequest', new RegExp(field));
  for (const id of ['p1', 'p2', 'p3']) assert.equal((await admin(flow, 'DELETE', `/backends/${id}`)).status, 204);
});

test('unknown admin routes are 404, wrong methods 405 with Allow, big bodies 413', async () => {
  assertError(await admin(flow, 'GET', '/models'), 404, 'NotFound');
  assertError(await admin(flow, 'GET', '/frontends/main/extra/more'), 404, 'NotFound');
  assertError(await admin(flow, 'GET', '/frontends/'), 404, 'NotFound');
  let response = await admin(flow, 'POST', '/frontends', { body: {} });
  assertError(response, 405, 'BadRequest');
  assert.equal(response.headers.get('allow'), 'GET, HEAD, PUT');
  assertError(await admin(flow, 'POST', '/status'), 405, 'BadRequest');
  response = await admin(flow, 'PUT', '/backends', { raw: JSON.stringify({ Identifier: 'big', Name: 'x'.repeat(1100000) }) });
  assertError(response, 413, 'TooLarge');
});

test('backend health: state and since when, leases, queue depth, models, pulls', async () => {
  const all = await waitFor(async () => {
    const list = (await admin(flow, 'GET', '/backends/health')).json;
    return list.every((b) => b.Healthy) ? list : null;
  }, { what: 'every backend healthy in /v1.0/backends/health' });
  for (const record of all) {
    assert.equal(record.State, 'Healthy');
    assert.ok(Date.parse(record.HealthySinceUtc) <= Date.now());
    assert.match(record.Uptime, /^\d\d:\d\d:\d\d\.\d{7}$/);
    assert.ok(record.LastCheckUtc && record.ConsecutiveSuccesses >= 1);
    assert.equal(record.HealthStale, false);
    for (const field of ['ActiveRequests', 'QueueDepth', 'Sessions']) assert.equal(typeof record[field], 'number');
    assert.ok(Array.isArray(record.Models) && Array.isArray(record.LoadedModels) && Array.isArray(record.Pulls));
  }
  // A stream in flight shows as an active request (the scheduler's STATE comes every 200 ms)
  await flow.sim.configure('a', { decode_rate: 20 });
  const stream = fetch(`${flow.url()}/api/generate`, { method: 'POST',
    body: JSON.stringify({ model: 'llama3.2', prompt: 'x', stream: true, options: { num_predict: 40 } }) });
  await waitFor(async () => (await admin(flow, 'GET', '/backends/a/health')).json.ActiveRequests === 1,
    { what: 'the lease in ActiveRequests' });
  await (await stream).text();
  await flow.sim.configure('a', { decode_rate: 0 });
  assertError(await admin(flow, 'GET', '/backends/nope/health'), 404, 'NotFound', /nope/);
});

test('a frontend\'s models, and 404 for an unknown frontend', async () => {
  const response = await admin(flow, 'GET', '/frontends/main/models');
  assert.equal(response.json.Frontend, 'main');
  assert.ok(Array.isArray(response.json.Models) && Array.isArray(response.json.Pulls));
  assert.deepEqual(response.json.Backends.map((b) => b.Backend), ['a']);
  assert.equal(typeof response.json.ModelsStale, 'boolean');
  assertError(await admin(flow, 'GET', '/frontends/nope/models'), 404, 'NotFound', /nope/);
  // RequiredModels as the replica's copy has them (inactive: modelsync pulls nothing for it)
  const body = { Identifier: 'rm', Hostname: 'rm.local', Active: false, Backends: ['a'],
    RequiredModels: ['m1', 'm2:7b'] };
  assert.equal((await admin(flow, 'PUT', '/frontends', { body })).status, 201);
  const view = await waitFor(async () => {
    const got = await admin(flow, 'GET', '/frontends/rm/models');
    return got.status === 200 && got;
  }, { what: 'frontend rm on the replica' });
  assert.deepEqual(view.json.RequiredModels, ['m1', 'm2:7b']);
  assert.deepEqual(view.json.Backends.map((b) => b.Backend), ['a']);
  assert.equal((await admin(flow, 'DELETE', '/frontends/rm')).status, 204);
});

test('sessions: listed from the scheduler, one client\'s, deleted', async () => {
  // (an earlier test replaced main whole, which turned sticky sessions off)
  assert.equal((await admin(flow, 'PATCH', '/frontends/main', { body: { UseStickySessions: true } })).status, 200);
  // The scheduler pins sessions once it has applied the patch: ask until it has
  for (const client of ['alice', 'bob'])
    await waitFor(async () => {
      const request = await fetch(`${flow.url()}/api/embed`, { method: 'POST',
        headers: { 'x-thread-id': client }, body: JSON.stringify({ model: 'all-minilm', input: 'x' }) });
      assert.equal(request.status, 200, await request.text());
      return (await admin(flow, 'GET', `/sessions/${client}`)).status === 200;
    }, { what: `a session for ${client}` });
  let response = await admin(flow, 'GET', '/sessions');
  const clients = response.json.map((s) => s.ClientId).sort();
  assert.deepEqual(clients, ['alice', 'bob']);
  assert.equal(response.headers.get('x-total-count'), '2');
  const alice = response.json.find((s) => s.ClientId === 'alice');
  assert.equal(alice.Frontend, 'main');
  assert.equal(alice.Backend, 'a');
  assert.ok(alice.ExpiresInMs > 0 && Date.parse(alice.ExpiresUtc) > Date.now());
  response = await admin(flow, 'GET', '/sessions/alice');
  assert.deepEqual(response.json.map((s) => s.ClientId), ['alice']);
  assert.equal((await admin(flow, 'GET', '/sessions?frontend=main&limit=1')).json.length, 1);
  assertError(await admin(flow, 'GET', '/sessions?frontend=bad%20id'), 400, 'BadRequest', /Frontend/);
  response = await admin(flow, 'DELETE', '/sessions/alice');
  assert.deepEqual(response.json, { Deleted: 1 });
  assertError(await admin(flow, 'GET', '/sessions/alice'), 404, 'NotFound');
  response = await admin(flow, 'DELETE', '/sessions?frontend=main');
  assert.deepEqual(response.json, { Deleted: 1 });
  assert.deepEqual((await admin(flow, 'GET', '/sessions')).json, []);
});

test('status: version, uptime, and every service alive with its epoch and last heartbeat', async () => {
  const status = await waitFor(async () => {
    const json = (await admin(flow, 'GET', '/status')).json;
    return json.Services.every((s) => s.Alive) ? json : null;
  }, { what: 'every service alive in /v1.0/status' });
  assert.match(status.Version, /^\d+\.\d+\.\d+/);
  assert.equal(status.Ingress, 'replica-0');
  assert.ok(status.UptimeMs >= 0);
  assert.deepEqual(status.Services.map((s) => s.Service), ['configd', 'scheduler', 'healthmon', 'modelsync']);
  for (const service of status.Services) {
    assert.match(service.Epoch, /^[0-9a-f]{16}$/);
    assert.ok(Date.parse(service.LastHeartbeatUtc) <= Date.now() + 1000);
  }
  assert.equal(status.Config.Ready, true);
  assert.equal(status.Scheduler.Linked, true);
  assert.equal(status.Scheduler.Ingresses, 1);
  // A service that stops is reported gone after Bus.LivenessMs
  await flow.kill('healthmon', 'SIGTERM');
  await waitFor(async () => !(await admin(flow, 'GET', '/status')).json.Services.find((s) => s.Service === 'healthmon').Alive,
    { what: 'healthmon reported gone' });
  assert.equal((await admin(flow, 'GET', '/backends/a/health')).json.HealthStale, true);
  flow.restart('healthmon');
});

test('with no AdminBearerTokens the admin API is disabled (403), whatever the client sends', async () => {
  const bare = await startFlow({
    fleet: { host: '127.0.0.1', backends: [{ name: 'a', models: ['llama3.2'] }] },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a') }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'] }],
  });
  try {
    const response = await waitFor(async () => {
      const r = await admin(bare, 'GET', '/frontends');
      return r.status === 403 ? r : null;
    }, { what: 'the disabled admin API' });
    assertError(response, 403, 'AuthorizationFailed', /disabled/);
    assertError(await admin(bare, 'GET', '/status', { token: null }), 403, 'AuthorizationFailed');
  } finally {
    assertCleanStop(assert, await bare.stop());
  }
});
