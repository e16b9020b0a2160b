// Client API keys end to end: the /v1.0/keys admin routes (a secret made by ollamaflow and shown
// once, stored as a hash, regenerated; every field validated, naming the field) and
// ollamaflowctl's keys commands.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertCleanStop } from './flow.mjs';
import { admin, startAdminFlow, TOKEN } from './admin.mjs';
import { runCtl, EXIT } from './ctl.mjs';

const SECRET = /^ofk-[0-9a-f]{64}$/;
let flow;

before(async () => {
  flow = await startAdminFlow({
    frontends: [
      { Identifier: 'main', Hostname: '127.0.0.1', Backends: ['a'] },
      { Identifier: 'team', Hostname: 'localhost', Backends: ['b'] },
    ],
  });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

// Creates key id (fields) and returns the answer's object, Secret included
async function createKey(id, fields = {}) {
  const response = await admin(flow, 'PUT', '/keys', { body: { Identifier: id, ...fields } });
  assert.equal(response.status, 201, response.text);
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
