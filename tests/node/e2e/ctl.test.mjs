// ollamaflowctl round trips against a whole ollamaflow: every command in both output modes
// (tables and --json), and its exit codes for not found, invalid, conflict, denied, unreachable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, assertCleanStop } from './flow.mjs';
import { admin, startAdminFlow, TOKEN } from './admin.mjs';
import { EXIT, runCtl } from './ctl.mjs';

let flow;

// Runs ollamaflowctl against the flow; resolves { code, stdout, stderr, json }
const ctl = (args, options = {}) => runCtl(flow.url(), TOKEN, args, options);

// Runs the command in both modes: checks the table with table(stdout), the JSON with check(json)
async function both(args, table, check) {
  const human = await ctl(args);
  assert.equal(human.code, 0, `${args.join(' ')}: ${human.stderr}`);
  table(human.stdout);
  const machine = await ctl(args, { json: true });
  assert.equal(machine.code, 0, `--json ${args.join(' ')}: ${machine.stderr}`);
  assert.notEqual(machine.json, undefined, `--json ${args.join(' ')} printed no JSON: ${machine.stdout}`);
  check(machine.json);
}

before(async () => {
  flow = await startAdminFlow();
  await waitFor(async () => (await admin(flow, 'GET', '/backends/health')).json.every((b) => b.Healthy),
    { what: 'healthy backends' });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('frontends and backends: list and get, in tables and JSON', async () => {
  await both(['frontends', 'list'], (out) => {
    assert.match(out, /^IDENTIFIER\s+NAME\s+HOSTNAME\s+BALANCING/);
    assert.match(out, /\nmain\s+-\s+\*\s+RoundRobin\s+a\s+true\s+true\n/);
  }, (json) => assert.deepEqual(json.map((f) => f.Identifier), ['main']));
  await both(['backends', 'list', '--limit', '1', '--desc'], (out) => {
    assert.match(out, /\nb\s+-\s+127\.0\.0\.1:\d+\s+Ollama\s+8/);
    assert.doesNotMatch(out, /\na\s/);
  }, (json) => assert.deepEqual(json.map((b) => b.Identifier), ['b']));
  await both(['backends', 'get', 'a'], (out) => {
    assert.match(out, /^Identifier\s+a$/m);
    assert.match(out, /^BearerToken\s+\*{8}$/m, 'the secret stays masked');
    assert.doesNotMatch(out, /secret-a|hidden/);
  }, (json) => assert.equal(json.BearerToken, '********'));
  await both(['frontends', 'exists', 'main'], (out) => assert.match(out, /frontend 'main' exists/),
    (json) => assert.equal(json, true));
  const missing = await ctl(['frontends', 'exists', 'nope'], { json: true });
  assert.equal(missing.code, EXIT.notFound);
  assert.equal(missing.stdout.trim(), 'false');
});

test('create, replace, patch and delete, from flags and from a file', async () => {
  // Flags, tables
  let result = await ctl(['frontends', 'create', 'cf1', '--set', 'Hostname=cf1.local', '--set', 'Backends=["a","b"]',
    '--set', 'TimeoutMs=1234']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^created frontend 'cf1'$/m);
  assert.match(result.stdout, /^Backends\s+a, b$/m);
  result = await ctl(['frontends', 'patch', 'cf1', '--set', 'TimeoutMs=5000', '--set', 'Name=patched']);
  assert.match(result.stdout, /^patched frontend 'cf1'$/m);
  assert.match(result.stdout, /^TimeoutMs\s+5000$/m);
  assert.match(result.stdout, /^Backends\s+a, b$/m, 'a patch keeps what it does not name');
  // A file, JSON
  const file = join(flow.dir, 'frontend.json');
  writeFileSync(file, JSON.stringify({ Identifier: 'cf2', Hostname: 'cf2.local', Backends: ['b'] }));
  result = await ctl(['frontends', 'create', '--file', file], { json: true });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.json.Identifier, 'cf2');
  assert.deepEqual(result.json.Backends, ['b']);
  writeFileSync(file, JSON.stringify({ Backends: ['a'] }));
  result = await ctl(['frontends', 'replace', 'cf1', '--file', file], { json: true });
  assert.equal(result.json.TimeoutMs, 60000, 'a replace resets what it does not give');
  assert.deepEqual(result.json.Backends, ['a']);
  result = await ctl(['frontends', 'replace', 'cf1', '--file', file]);
  assert.match(result.stdout, /^replaced frontend 'cf1'$/m);
  result = await ctl(['backends', 'patch', 'b', '--set', 'Labels=["eu"]'], { json: true });
  assert.deepEqual(result.json.Labels, ['eu']);
  // Deletes
  result = await ctl(['frontends', 'delete', 'cf1']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /deleted frontend 'cf1'/);
  result = await ctl(['frontends', 'delete', 'cf2'], { json: true });
  assert.deepEqual(result.json, { Deleted: 'frontend', Identifier: 'cf2' });
  result = await ctl(['frontends', 'delete', 'cf2']);
  assert.equal(result.code, EXIT.notFound);
  assert.match(result.stderr, /no frontend with Identifier 'cf2' \(NotFound, HTTP 404\)/);
});

test('exit codes: invalid, conflict, denied, unreachable, usage', async () => {
  let result = await ctl(['backends', 'create', 'bad', '--set', 'Port=70000']);
  assert.equal(result.code, EXIT.invalid);
  assert.match(result.stderr, /Port/);
  result = await ctl(['backends', 'create', 'bad', '--set', 'Port=70000'], { json: true });
  assert.equal(result.code, EXIT.invalid);
  assert.equal(result.json.Error, 'BadRequest', '--json prints the error object too');
  result = await ctl(['backends', 'create', 'a']);
  assert.equal(result.code, EXIT.conflict);
  result = await ctl(['backends', 'delete', 'a']);
  assert.equal(result.code, EXIT.conflict);
  assert.match(result.stderr, /main/);
  result = await ctl(['status'], { env: { OLLAMAFLOW_ADMIN_TOKEN: 'wrong' } });
  assert.equal(result.code, EXIT.denied);
  assert.match(result.stderr, /AuthenticationFailed, HTTP 401/);
  result = await ctl(['status', '--url', 'http://127.0.0.1:1']);
  assert.equal(result.code, EXIT.unreachable);
  assert.match(result.stderr, /cannot connect/);
  for (const args of [['frobnicate'], [], ['frontends', 'get'], ['frontends', 'create', '--set', 'nonsense'],
    ['frontends', 'create', '--file', '/nonexistent.json']]) {
    result = await ctl(args);
    assert.equal(result.code, EXIT.usage, `${args.join(' ')}: ${result.stderr}`);
  }
  assert.equal((await ctl(['--help'])).code, 0);
});

test('health, models, pulls and status', async () => {
  await both(['health'], (out) => {
    assert.match(out, /^BACKEND\s+STATE\s+SINCE\s+ACTIVE\s+QUEUE/);
    assert.match(out, /\na\s+Healthy\s+\d{4}-/);
  }, (json) => assert.deepEqual(json.map((b) => [b.Identifier, b.State]), [['a', 'Healthy'], ['b', 'Healthy']]));
  await both(['backends', 'health', 'b'], (out) => assert.match(out, /^State\s+Healthy$/m),
    (json) => assert.equal(json.Healthy, true));
  await both(['models', 'main'], (out) => {
    assert.match(out, /^frontend main, required models: -/);
    assert.match(out, /\nBACKEND\s+STATE\s+FORMAT/);
    assert.match(out, /pulls running or finished|BACKEND\s+MODEL\s+STATUS/);
  }, (json) => assert.equal(json.Frontend, 'main'));
  await both(['pulls'], (out) => assert.ok(out.length > 0), (json) => assert.ok(Array.isArray(json)));
  await both(['status'], (out) => {
    assert.match(out, /^Version\s+\d+\.\d+\.\d+$/m);
    assert.match(out, /\nSERVICE\s+ALIVE\s+EPOCH/);
    assert.match(out, /\nconfigd\s+true\s+[0-9a-f]{16}/);
  }, (json) => assert.equal(json.Services.length, 4));
  assert.equal((await ctl(['models', 'nope'])).code, EXIT.notFound);
  assert.equal((await ctl(['health', 'nope'])).code, EXIT.notFound);
});

test('sessions: list, get and delete', async () => {
  for (const client of ['carol', 'dave'])
    await waitFor(async () => {
      const response = await fetch(`${flow.url()}/api/embed`, { method: 'POST', headers: { 'x-thread-id': client },
        body: JSON.stringify({ model: 'all-minilm', input: 'x' }) });
      assert.equal(response.status, 200, await response.text());
      return (await admin(flow, 'GET', `/sessions/${client}`)).status === 200;
    }, { what: `a session for ${client}` });
  await both(['sessions'], (out) => {
    assert.match(out, /^CLIENT\s+FRONTEND\s+BACKEND\s+EXPIRES IN/);
    assert.match(out, /\ncarol\s+main\s+a\s+\d+m\d+s/);
  }, (json) => assert.deepEqual(json.map((s) => s.ClientId).sort(), ['carol', 'dave']));
  await both(['sessions', 'get', 'dave', '--frontend', 'main'], (out) => assert.match(out, /\ndave\s+main/),
    (json) => assert.deepEqual(json.map((s) => s.ClientId), ['dave']));
  let result = await ctl(['sessions', 'delete', 'dave']);
  assert.match(result.stdout, /deleted 1 sessions/);
  assert.equal((await ctl(['sessions', 'get', 'dave'])).code, EXIT.notFound);
  result = await ctl(['sessions', 'delete', '--frontend', 'main'], { json: true });
  assert.deepEqual(result.json, { Deleted: 1 });
});

test('tail shows the bus traffic about one frontend or backend', async () => {
  for (const json of [false, true]) {
    const tail = ctl(['tail', '--config', flow.settingsFile, '--frontend', 'main', '-n', '1', '--for', '20000'], { json });
    const name = `tailed-${json}`;
    // Keep changing main until the tail has seen one change (it subscribes after it starts)
    let done = false;
    tail.then(() => { done = true; });
    while (!done) {
      await admin(flow, 'PATCH', '/frontends/main', { body: { Name: name } });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const result = await tail;
    assert.equal(result.code, 0, result.stderr);
    const line = JSON.parse(result.stdout.trim().split('\n')[0]);
    assert.equal(line.Service, 'configd');
    assert.equal(line.Command, 'UPDATE');
    assert.equal(line.Body.Identifier, 'main');
  }
  // About a backend: its health transitions or leases only; nothing about main's other traffic
  const quiet = await ctl(['tail', '--config', flow.settingsFile, '--backend', 'nope', '--for', '500']);
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stdout, '');
});
