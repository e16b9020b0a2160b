// A real Prometheus server (Debian's prometheus, started here with a generated config on free
// ports) scrapes two ingress replicas while the test sends a steady 20 requests a second; its
// HTTP API then says the rate the test sent (within 10%) and a TTFB p50 in the bucket of the
// TTFB the test measured itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFlow, freePort, waitFor, waitServing, waitHealthy, sleep, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
const FIRST_BYTE_MS = 150;              // the sim's delay: TTFB lands in the (0.1, 0.25] bucket
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const RATE = 20;                        // requests per second, over both replicas
const LOAD_MS = 10000;
let flow;
let prometheus;
let promUrl;
const dir = mkdtempSync(join(tmpdir(), 'ollamaflow-prom-'));

before(async () => {
  flow = await startFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 0, load_ms: 1, parallel: 8 },
      backends: [{ name: 'a', models: [MODEL] }, { name: 'b', models: [MODEL] }] },
    backends: (sim) => ['a', 'b'].map((name) => ({ Identifier: name, Hostname: '127.0.0.1',
      Port: sim.port(name), MaxParallelRequests: 8, HealthyThreshold: 1 })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'] }],
    replicas: 2,
    //  The sim delays health probes too: a timeout longer than its delay
    settings: { Health: { IntervalMs: 200, TimeoutMs: 2000 } },
  });
  await waitServing(flow, '/api/generate', { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } }, 2);
  await waitHealthy(flow, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } }, { replica: 1 });
  for (const name of ['a', 'b']) await flow.sim.faults(name, { slow_first_byte_ms: FIRST_BYTE_MS });
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'prometheus.yml'), [
    'global:', '  scrape_interval: 1s', '  scrape_timeout: 900ms',
    'scrape_configs:', '  - job_name: ollamaflow', '    static_configs:',
    `      - targets: ['127.0.0.1:${flow.port(0)}', '127.0.0.1:${flow.port(1)}']`, ''].join('\n'));
  prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  prometheus.stderr.on('data', (data) => { log += data; });
  prometheus.exited = new Promise((resolve) => prometheus.once('exit', (code, signal) => resolve({ code, signal })));
  prometheus.log = () => log;
  await waitFor(async () => (await fetch(`${promUrl}/-/ready`)).ok, { timeout: 30000, what: 'prometheus ready' });
});

after(async () => {
  if (prometheus) {
    prometheus.kill('SIGTERM');
    const result = await prometheus.exited;
    if (result.code !== 0) process.stderr.write(`--- prometheus log ---\n${prometheus.log()}\n`);
    assert.deepEqual(result, { code: 0, signal: null }, 'prometheus stopped cleanly');
  }
  assertCleanStop(assert, await flow.stop());
  rmSync(dir, { recursive: true, force: true });
});

const query = async (expression, time) => {
  const params = new URLSearchParams({ query: expression, time: String(time) });
  const answer = await (await fetch(`${promUrl}/api/v1/query?${params}`)).json();
  assert.equal(answer.status, 'success', JSON.stringify(answer));
  return answer.data.result;
};

// One streamed generate, timed to its first body byte
async function timed(replica) {
  const started = performance.now();
  const response = await fetch(`${flow.url(replica)}/api/generate`, { method: 'POST',
    body: JSON.stringify({ model: MODEL, prompt: 'p', stream: true, options: { num_predict: 2 } }) });
  const reader = response.body.getReader();
  await reader.read();
  const ttfb = (performance.now() - started) / 1000;
  while (!(await reader.read()).done);
  assert.equal(response.status, 200);
  return ttfb;
}

test('Prometheus scrapes both replicas: the request rate within 10%, the TTFB p50 in the measured bucket', async (t) => {
  await waitFor(async () => {
    const up = await query('up{job="ollamaflow"}', Date.now() / 1000);
    return up.length === 2 && up.every((series) => series.value[1] === '1');
  }, { timeout: 10000, what: 'both replicas up in prometheus' });
  const jobs = [];
  const started = Date.now();
  for (let i = 0; Date.now() - started < LOAD_MS; i++) {
    jobs.push(timed(i % 2).catch((error) => error));
    await sleep(Math.max(0, started + ((i + 1) * 1000) / RATE - Date.now()));
  }
  const ended = Date.now();
  const results = await Promise.all(jobs);
  const failed = results.filter((result) => result instanceof Error);
  assert.equal(failed.length, 0, `failed requests: ${failed.slice(0, 3).map((e) => e.message)}`);
  const ttfbs = results.sort((x, y) => x - y);
  const sent = jobs.length / ((ended - started) / 1000);
  //  Evaluated inside the load, once Prometheus has scraped past it
  const at = (ended - 2000) / 1000;
  await sleep(3000);
  const rate = await query('sum(rate(ollamaflow_ingress_requests_total{outcome="ok"}[6s]))', at);
  const measured = Number(rate[0].value[1]);
  assert.ok(Math.abs(measured - sent) <= 0.1 * sent, `prometheus ${measured.toFixed(2)}/s, sent ${sent.toFixed(2)}/s`);
  const perReplica = await query('sum by (instance) (rate(ollamaflow_ingress_requests_total{outcome="ok"}[6s]))', at);
  assert.equal(perReplica.length, 2, 'both replicas counted');
  for (const series of perReplica) assert.ok(Number(series.value[1]) > sent / 4, `${series.metric.instance} served its half`);

  const p50 = Number((await query('histogram_quantile(0.5, sum by (le) (rate(ollamaflow_ingress_ttfb_seconds_bucket[6s])))', at))[0].value[1]);
  const median = ttfbs[Math.floor(ttfbs.length / 2)];
  const bucket = (x) => BOUNDS.findIndex((bound) => x <= bound);
  t.diagnostic(`sent ${sent.toFixed(2)}/s, prometheus ${measured.toFixed(2)}/s; TTFB median ${median.toFixed(3)} s, p50 ${p50.toFixed(3)} s`);
  assert.equal(bucket(p50), bucket(median), `p50 ${p50.toFixed(3)} s and the measured median ${median.toFixed(3)} s`);
  //  The fleet series: the same on both replicas
  const healthy = await query('ollamaflow_backend_up', at);
  assert.equal(healthy.length, 4, 'two backends on each of two replicas');
  assert.ok(healthy.every((series) => series.value[1] === '1'));
});
