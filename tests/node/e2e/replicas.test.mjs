// Several ingress replicas on one host share one port (SO_REUSEPORT): the kernel spreads new
// connections over them, each answers under its own id. Only the ingresses of one
// Ingress.Deployment share it: another deployment's, or one with none, is refused the port
// with the reason, and a replica of the same deployment joins.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startFlow, waitFor, assertCleanStop, binPath, freePort } from './flow.mjs';

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

// One more ingress on the stack's settings and port, with env: its exit and its log
function extraIngress(env) {
  const child = spawn(binPath('ingress'), ['--config', flow.settingsFile], { stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, OLLAMAFLOW_PORT: String(flow.port()), ...env } });
  let log = '';
  child.stderr.on('data', (data) => { log += data; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, log: () => log };
}

// Starts an ingress that must be refused: resolves with its log once it has exited non-zero;
// one that listens instead is stopped and fails the test
async function refused(env, what) {
  const ingress = extraIngress(env);
  let exit;
  ingress.exited.then((result) => { exit = result; });
  await waitFor(() => exit || /listening on/.test(ingress.log()), { what: `${what}: an exit or a listen` });
  if (!exit) {
    ingress.child.kill('SIGTERM');
    await ingress.exited;
    assert.fail(`${what} shared the port`);
  }
  assert.notEqual(exit.code, 0, what);
  return ingress.log();
}

test('another deployment, or an ingress with none, is refused the port, with the reason', async () => {
  const deployment = JSON.parse(readFileSync(flow.settingsFile, 'utf8')).Ingress.Deployment;
  const other = await refused({ OLLAMAFLOW_DEPLOYMENT: 'someone-else', OLLAMAFLOW_INGRESS_ID: 'other' },
    'another deployment');
  assert.match(other, new RegExp(`port ${flow.port()} is shared by the ingresses of deployment '${deployment}', `
    + "and this one is 'someone-else' \\(Ingress.Deployment\\)"));
  const none = await refused({ OLLAMAFLOW_DEPLOYMENT: '', OLLAMAFLOW_INGRESS_ID: 'none' }, 'no deployment');
  assert.match(none, /Address already in use \(ingresses meant to share a port need one Ingress.Deployment\)/);
  const bad = await refused({ OLLAMAFLOW_DEPLOYMENT: 'no/slashes', OLLAMAFLOW_INGRESS_ID: 'bad' }, 'a bad name');
  assert.match(bad, /Ingress.Deployment 'no\/slashes'/);
  // Every request still reaches one of the two replicas
  for (let i = 0; i < 10; i++) assert.match((await once()).replica, /^replica-[01]$/);
});

test('a replica of the same deployment joins the port and serves', async () => {
  const third = extraIngress({ OLLAMAFLOW_INGRESS_ID: 'replica-2' });
  try {
    const seen = new Set();
    await waitFor(async () => {
      const { status, replica } = await once();
      if (status === 200) seen.add(replica);
      return seen.has('replica-2');
    }, { what: 'the third replica serving on the shared port' });
  } finally {
    third.child.kill('SIGTERM');
    assert.deepEqual(await third.exited, { code: 0, signal: null }, third.log());
  }
});

test('with no deployment, a port is one ingress\'s alone', async () => {
  const port = await freePort();
  const first = extraIngress({ OLLAMAFLOW_DEPLOYMENT: '', OLLAMAFLOW_PORT: String(port), OLLAMAFLOW_INGRESS_ID: 'alone-1' });
  try {
    await waitFor(() => /listening on/.test(first.log()), { what: 'the first ingress listening' });
    for (const deployment of ['', 'late']) {
      const log = await refused({ OLLAMAFLOW_DEPLOYMENT: deployment, OLLAMAFLOW_PORT: String(port),
        OLLAMAFLOW_INGRESS_ID: 'alone-2' }, `a second ingress (deployment '${deployment}')`);
      assert.match(log, deployment ? /Address already in use \(by a program that does not share it\)/
        : /Address already in use \(ingresses meant to share a port need one Ingress.Deployment\)/);
    }
  } finally {
    first.child.kill('SIGTERM');
    assert.deepEqual(await first.exited, { code: 0, signal: null }, first.log());
  }
});
