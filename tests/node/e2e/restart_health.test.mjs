// Requests across a scheduler restart, before healthmon has told the new scheduler anything: the
// scheduler is killed while the fleet is idle, clients keep sending (the ingress holds their asks
// until a scheduler answers), and it is started again. A new scheduler knows every backend as
// Unknown until healthmon's first STATE, up to Bus.HeartbeatMs later; it must hold the asks that
// came first until then rather than refuse them 503 NoHealthyBackend (proto/lease.md, "A new
// epoch"). Every request must be served, by the real npm ollama client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startFlow, waitFor, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
const REQUESTS = 10;
let flow;

before(async () => {
  flow = await startFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 200, load_ms: 1, parallel: 4 },
      backends: [{ name: 'a', models: [MODEL] }, { name: 'b', models: [MODEL] }] },
    backends: (sim) => ['a', 'b'].map((name) => ({ Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name),
      HealthyThreshold: 1, MaxParallelRequests: 4 })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'] }],
    // A STATE a second apart: the new scheduler's asks come well before the first one. The ingress
    // holds its asks for LivenessMs after the scheduler's last word, far longer than a restart
    settings: { Bus: { HeartbeatMs: 1000, LivenessMs: 6000 } },
  });
  const client = new Ollama({ host: flow.url() });
  await waitFor(async () => (await client.generate({ model: MODEL, prompt: 'w', options: { num_predict: 1 } }))
    .done, { what: 'the stack serving' });
});

after(async () => assertCleanStop(assert, await flow.stop()));

test('requests sent while the scheduler is down are all served once it is back, not refused as no backend healthy', async () => {
  await flow.kill('scheduler');
  const client = new Ollama({ host: flow.url() });
  const answers = Array.from({ length: REQUESTS }, (_, i) => client.generate({ model: MODEL, prompt: `p${i}`,
    options: { num_predict: 3, seed: i } }).then((answer) => ({ answer }), (error) => ({ error })));
  // The ingress has asked for them all before the scheduler is back
  await waitFor(async () => metric(await (await fetch(`${flow.url()}/metrics`)).text(), 'ollamaflow_ingress_asks')
    === REQUESTS, { what: `${REQUESTS} asks open in the ingress` });
  flow.restart('scheduler');
  const results = await Promise.all(answers);
  const failed = results.filter((result) => result.error).map((result) => result.error.message);
  assert.deepEqual(failed, [], `${failed.length} of ${REQUESTS} requests failed`);
  for (const { answer } of results) assert.equal(answer.done, true);
});

// One gauge's value in a Prometheus text exposition
function metric(text, name) {
  const line = text.split('\n').find((row) => row.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}
