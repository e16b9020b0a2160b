// Queue depth per backend: with MaxParallelRequests 1, asks waiting show on the backends that
// could serve them (their candidates), not on every backend of their frontend, in
// /v1.0/backends/{id}/health and in `ollamaflowctl health`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { waitFor, assertCleanStop } from './flow.mjs';
import { admin, startAdminFlow, TOKEN } from './admin.mjs';
import { runCtl } from './ctl.mjs';

const MODEL = 'llama3.2';
const ONLY_A = 'phi3';        // a model backend a has and b lacks
const HOLD_TOKENS = 400;      // a stream that holds its slot ~20 s at 20 tokens/s (cut short below)
let flow;
const open = [];              // every request sent, to abort at the end

before(async () => {
  flow = await startAdminFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 20, load_ms: 1, parallel: 8 },
      backends: [{ name: 'a', models: [MODEL, ONLY_A] }, { name: 'b', models: [MODEL] }] },
    backends: (sim) => ['a', 'b'].map((id) => ({ Identifier: id, Hostname: '127.0.0.1', Port: sim.port(id),
      HealthyThreshold: 1, MaxParallelRequests: 1 })),
    frontends: [
      { Identifier: 'fa', Hostname: 'fa.local', Backends: ['a'] },
      { Identifier: 'fb', Hostname: 'fb.local', Backends: ['b'] },
      { Identifier: 'shared', Hostname: 'shared.local', Backends: ['a', 'b'] },
    ],
  });
  await waitFor(async () => (await admin(flow, 'GET', '/backends/health')).json
    .every((b) => b.Healthy && b.ModelsKnown && b.QueueDepth === 0), { what: 'both backends healthy, models known' });
});

after(async () => {
  for (const request of open) request.destroy();
  assertCleanStop(assert, await flow.stop());
});

// Sends a generation through the frontend of host; onFirstChunk(status, chunk) when the answer starts
function generate(host, model, onFirstChunk = () => {}) {
  const request = http.request({ host: '127.0.0.1', port: flow.port(), method: 'POST', path: '/api/generate',
    agent: false, headers: { host, 'content-type': 'application/json' } }, (response) => {
    response.once('data', (chunk) => onFirstChunk(response.statusCode, String(chunk)));
    response.on('error', () => {});
  });
  request.on('error', () => {});
  request.end(JSON.stringify({ model, prompt: 'hold', stream: true, options: { num_predict: HOLD_TOKENS } }));
  open.push(request);
  return request;
}

// Takes the slot of the frontend's one backend with a long stream (again while the scheduler,
// which follows healthmon and modelsync on its own, does not serve it yet)
async function hold(host) {
  let last;
  await waitFor(async () => {
    let started;
    generate(host, MODEL, (status, chunk) => { started = { status, chunk }; });
    await waitFor(() => started, { what: `an answer through ${host}` });
    last = started;
    return started.status === 200;
  }, { what: `a stream through ${host}` }).catch((error) => {
    throw new Error(`${error.message}; last answer ${last?.status}: ${last?.chunk}`);
  });
}

const health = async (id) => (await admin(flow, 'GET', `/backends/${id}/health`)).json;

// Waits until the backends show exactly these queue depths (the STATE comes every 200 ms)
async function expectDepths(expected, what) {
  let last;
  try {
    await waitFor(async () => {
      last = { a: (await health('a')).QueueDepth, b: (await health('b')).QueueDepth };
      return last.a === expected.a && last.b === expected.b;
    }, { timeout: 10000, what });
  } catch (error) {
    assert.deepEqual(last, expected, what);
    throw error;
  }
}

test('asks waiting count on the backends that could serve them, and only there', async () => {
  await hold('fa.local');
  let seen;
  await waitFor(async () => (seen = await health('a')).ActiveRequests === 1, { what: 'the lease on a in ActiveRequests' })
    .catch((error) => { throw new Error(`${error.message}: ${JSON.stringify(seen)}`); });
  generate('fa.local', MODEL);
  generate('fa.local', MODEL);
  await expectDepths({ a: 2, b: 0 }, 'two asks waiting on fa show on a only');

  await hold('fb.local');
  generate('fb.local', MODEL);
  await expectDepths({ a: 2, b: 1 }, 'one ask waiting on fb shows on b only');

  // shared uses a and b: an ask for a model only a has waits for a alone...
  generate('shared.local', ONLY_A);
  await expectDepths({ a: 3, b: 1 }, 'an ask for a model only a has counts on a, not on b');
  // ...and one that either could serve waits for both
  generate('shared.local', MODEL);
  await expectDepths({ a: 4, b: 2 }, 'an ask either backend could serve counts on both');
  const scheduler = (await admin(flow, 'GET', '/status')).json.Scheduler;
  assert.equal(scheduler.Asks, 5, 'five asks wait in all');

  // ollamaflowctl shows the same numbers, in a table and in JSON
  const table = await runCtl(flow.url(), TOKEN, ['health']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^BACKEND\s+STATE\s+SINCE\s+ACTIVE\s+QUEUE\s/);
  assert.match(table.stdout, /\na\s+Healthy\s+\S+\s+1\s+4\s/);
  assert.match(table.stdout, /\nb\s+Healthy\s+\S+\s+1\s+2\s/);
  const one = await runCtl(flow.url(), TOKEN, ['health', 'b'], { json: true });
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.json.QueueDepth, 2);

  // Clients gone: their asks are cancelled and the depths fall to 0
  for (const request of open.splice(0)) request.destroy();
  await expectDepths({ a: 0, b: 0 }, 'cancelled asks leave the queues');
});
