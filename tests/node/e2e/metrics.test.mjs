// GET /metrics: promtool passes on a scrape taken under load; the traffic series count exactly
// what real clients sent (requests by outcome, tokens the clients were told, refusals by
// reason); the fleet series say what the bus says; the settings that protect or turn it off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, binPath, freePort, waitFor, waitServing, hostRequest, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
const TOKEN = 'metrics-admin-token';
let flow;

before(async () => {
  flow = await startFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 400, load_ms: 1, parallel: 16 },
      backends: [{ name: 'a', models: [MODEL, 'all-minilm'] }, { name: 'b', models: [MODEL, 'all-minilm'] }] },
    backends: (sim) => ['a', 'b'].map((name) => ({ Identifier: name, Hostname: '127.0.0.1',
      Port: sim.port(name), MaxParallelRequests: 12, RateLimitRequestsThreshold: 1000,
      HealthyThreshold: 1 })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'], LoadBalancing: 'RoundRobin' },
      { Identifier: 'noembed', Hostname: 'noembed.local', Backends: ['a'], AllowEmbeddings: false },
      { Identifier: 'small', Hostname: 'small.local', Backends: ['a'], MaxRequestBodySize: 100 }],
    // A deployment name of this test's own: the Metrics.Port case shares replica 0's port
    settings: { AdminBearerTokens: [TOKEN], Models: { IntervalMs: 300 },
      Ingress: { Deployment: `e2e-metrics-${process.pid}` } },
  });
  await waitServing(flow, '/api/generate', { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } }, 2);
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

const scrape = async (url = flow.url(), headers = {}) => {
  const response = await fetch(`${url}/metrics`, { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};

// The value of one sample (exact series text, labels in the order written), or undefined
const sample = (text, series) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

const promtool = (text) => spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });

test('a scrape under load passes promtool check metrics, and the counts are exact once it is over', async () => {
  const before = await scrape();
  assert.equal(before.status, 200);
  assert.equal(before.type, 'text/plain; version=0.0.4; charset=utf-8');
  const ok = (kind) => sample(before.text, `ollamaflow_ingress_requests_total{frontend="main",kind="${kind}",outcome="ok"}`);
  const start = { completions: ok('completions'), embeddings: ok('embeddings') };
  const tokensBefore = sample(before.text, 'ollamaflow_ingress_tokens_total{frontend="main",type="completion"}');

  const ollama = new Ollama({ host: flow.url() });
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
  let told = 0;      // completion tokens the clients were told
  //  Scraped while the requests run (started first: the client issues 160 requests at once)
  const scraping = waitFor(async () => {
    const s = await scrape();
    return sample(s.text, 'ollamaflow_ingress_calls') > 0 && s;
  }, { interval: 5, what: 'a scrape with calls in progress' });
  const jobs = [];
  for (let i = 0; i < 40; i++) {
    jobs.push((async () => {
      let last;
      for await (const part of await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: `s${i}` }],
        stream: true, options: { num_predict: 20 } })) last = part;
      told += last.eval_count;
    })());
    jobs.push(ollama.generate({ model: MODEL, prompt: `g${i}`, stream: false, options: { num_predict: 5 } })
      .then((r) => { told += r.eval_count; }));
    jobs.push(openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `o${i}` }],
      max_tokens: 7, stream: true, stream_options: { include_usage: true } }).then(async (stream) => {
      for await (const chunk of stream) if (chunk.usage) told += chunk.usage.completion_tokens;
    }));
    jobs.push(ollama.embed({ model: 'all-minilm', input: `e${i}` }));
  }
  await Promise.all(jobs);
  const during = await scraping;
  const checked = promtool(during.text);
  assert.equal(checked.status, 0, `promtool: ${checked.stdout}${checked.stderr}`);
  assert.equal(checked.stdout + checked.stderr, '', 'no lint finding');

  const after = await scrape();
  assert.equal(promtool(after.text).status, 0);
  assert.equal(ok('completions') === undefined, false);
  const now = (kind) => sample(after.text, `ollamaflow_ingress_requests_total{frontend="main",kind="${kind}",outcome="ok"}`);
  assert.equal(now('completions') - start.completions, 120);
  assert.equal(now('embeddings') - start.embeddings, 40);
  assert.equal(sample(after.text, 'ollamaflow_ingress_tokens_total{frontend="main",type="completion"}') - tokensBefore, told);
  const perBackend = ['a', 'b'].map((b) => sample(after.text, `ollamaflow_ingress_backend_requests_total{backend="${b}",outcome="ok"}`));
  assert.ok(perBackend.every((n) => n >= 70), `round robin over both: ${perBackend}`);
  assert.equal(sample(after.text, 'ollamaflow_ingress_ttfb_seconds_count{frontend="main"}'),
    sample(after.text, 'ollamaflow_ingress_ttfb_seconds_bucket{frontend="main",le="+Inf"}'));
  assert.ok(sample(after.text, 'ollamaflow_ingress_response_bytes_total{frontend="main"}') > 0);
  assert.ok(sample(after.text, 'ollamaflow_ingress_upstream_reuses_total') > 0);
  // Ingress.MaxConnections 0 (the default): the open-files hard limit (the ingress raises its
  // soft one to it) less the 256 descriptors kept for backends and the bus
  const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  if (hard !== 'unlimited')
    assert.equal(sample(after.text, 'ollamaflow_ingress_connections_max'), Math.min(Number(hard) - 256, 1000000));
  assert.equal(sample(after.text, 'ollamaflow_ingress_calls'), 0);
});

test('refusals are counted with their reason (413 from the headers too); nothing names a client address', async () => {
  const base = await scrape();
  const reason = (text, kind, why) => sample(text, `ollamaflow_ingress_refused_total{kind="${kind}",reason="${why}"}`);
  const noembed = await hostRequest(flow, 'noembed.local', '/api/embed', { model: 'all-minilm', input: 'x' });
  assert.equal(noembed.status, 403);
  const invalid = await fetch(`${flow.url()}/api/chat`, { method: 'POST', body: '{not json' });
  assert.equal(invalid.status, 400);
  const missing = await fetch(`${flow.url()}/api/generate`, { method: 'POST',
    body: JSON.stringify({ model: 'no-such-model', prompt: 'x' }) });
  assert.equal(missing.status, 404);
  //  Refused from its Content-Length, before the body is read
  const large = await hostRequest(flow, 'small.local', '/api/generate', { model: MODEL, prompt: 'x'.repeat(200) });
  assert.equal(large.status, 413);
  const after = await scrape();
  assert.equal(reason(after.text, 'completions', 'too_large') - reason(base.text, 'completions', 'too_large'), 1);
  assert.equal(reason(after.text, 'embeddings', 'not_allowed') - reason(base.text, 'embeddings', 'not_allowed'), 1);
  assert.equal(reason(after.text, 'completions', 'invalid_request') - reason(base.text, 'completions', 'invalid_request'), 1);
  assert.equal(reason(after.text, 'completions', 'not_found') - reason(base.text, 'completions', 'not_found'), 1);
  assert.equal(sample(after.text, 'ollamaflow_ingress_requests_total{frontend="main",kind="completions",outcome="refused"}')
    - sample(base.text, 'ollamaflow_ingress_requests_total{frontend="main",kind="completions",outcome="refused"}'), 1);
  assert.doesNotMatch(after.text, /127\.0\.0\.1/);
  assert.doesNotMatch(after.text, new RegExp(TOKEN));
});

test('the fleet series say what the bus says', async () => {
  const { text } = await waitFor(async () => {
    const s = await scrape();
    return sample(s.text, 'ollamaflow_backend_models_loaded{backend="a"}') >= 1 && s;
  }, { what: 'the inventories in /metrics' });
  for (const service of ['configd', 'scheduler', 'healthmon', 'modelsync'])
    assert.equal(sample(text, `ollamaflow_service_up{service="${service}"}`), 1, service);
  for (const b of ['a', 'b']) {
    assert.equal(sample(text, `ollamaflow_backend_up{backend="${b}"}`), 1);
    assert.equal(sample(text, `ollamaflow_backend_health_state{backend="${b}",state="Healthy"}`), 1);
    assert.equal(sample(text, `ollamaflow_backend_max_parallel_requests{backend="${b}"}`), 12);
    assert.equal(sample(text, `ollamaflow_backend_models{backend="${b}"}`), 2);
    assert.ok(sample(text, `ollamaflow_backend_health_since_timestamp_seconds{backend="${b}"}`) * 1000 <= Date.now());
  }
  assert.equal(sample(text, 'ollamaflow_backend_model_loaded{backend="a",model="llama3.2:latest"}'), 1);
  assert.equal(sample(text, 'ollamaflow_ingress_ready'), 1);
  assert.equal(sample(text, 'ollamaflow_scheduler_ingresses'), 1);
  await flow.sim.faults('b', { refuse: true });
  const down = await waitFor(async () => {
    const s = await scrape();
    return sample(s.text, 'ollamaflow_backend_up{backend="b"}') === 0 && s;
  }, { what: 'b down in /metrics' });
  assert.equal(sample(down.text, 'ollamaflow_backend_health_state{backend="b",state="Unhealthy"}'), 1);
  await flow.sim.faults('b', { refuse: false });
});

test('a scrape declares exactly the series docs/metrics.md lists, each with its type', async () => {
  const documented = new Map();
  for (const line of readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8').split('\n')) {
    const match = /^\| `(ollamaflow_[a-z_]+)` \| (counter|gauge|histogram) \|/.exec(line);
    if (match) documented.set(match[1], match[2]);
  }
  const { text } = await scrape();
  const declared = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
  assert.deepEqual([...declared.keys()].sort(), [...documented.keys()].sort());
  for (const [name, type] of declared) assert.equal(type, documented.get(name), name);
});

// Another ingress on the same bus with other settings
async function extraIngress(env, port) {
  port ??= await freePort();
  const child = spawn(binPath('ingress'), ['--config', flow.settingsFile], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, OLLAMAFLOW_PORT: String(port), OLLAMAFLOW_INGRESS_ID: env.OLLAMAFLOW_INGRESS_ID ?? 'extra', ...env },
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/livez`)).ok, { what: 'the extra ingress' });
  return { url, async stop() { child.kill('SIGTERM'); return exited; } };
}

test('Metrics.RequireAdminToken asks for an admin token; Metrics.Enable false turns /metrics off', async () => {
  const guarded = await extraIngress({ OLLAMAFLOW_METRICS_REQUIRE_TOKEN: 'true' });
  try {
    const refused = await scrape(guarded.url);
    assert.equal(refused.status, 401);
    assert.match(refused.text, /Metrics\.RequireAdminToken/);
    assert.equal((await scrape(guarded.url, { authorization: 'Bearer wrong' })).status, 401);
    const allowed = await scrape(guarded.url, { authorization: `Bearer ${TOKEN}` });
    assert.equal(allowed.status, 200);
    assert.match(allowed.text, /^ollamaflow_ingress_info\{ingress="extra",version="[^"]+"\} 1$/m);
  } finally {
    assert.deepEqual(await guarded.stop(), { code: 0, signal: null });
  }
  const off = await extraIngress({ OLLAMAFLOW_METRICS: 'false' });
  try {
    const answer = await scrape(off.url);
    assert.equal(answer.status, 404);
    assert.match(answer.text, /Metrics\.Enable/);
  } finally {
    assert.deepEqual(await off.stop(), { code: 0, signal: null });
  }
});

test('Metrics.Port: a replica sharing Webserver.Port with another answers /metrics on a port of its own', async () => {
  const own = await freePort();
  const sharing = await extraIngress({ OLLAMAFLOW_METRICS_PORT: String(own), OLLAMAFLOW_INGRESS_ID: 'sharing' },
    flow.port(0));
  try {
    const url = `http://127.0.0.1:${own}`;
    //  The shared port answered the start-up check for either replica: wait for this one's own
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, { what: 'the sharing replica ready' });
    for (let i = 0; i < 3; i++) {
      const mine = await scrape(url);
      assert.equal(mine.status, 200);
      assert.match(mine.text, /^ollamaflow_ingress_info\{ingress="sharing",version="[^"]+"\} 1$/m);
    }
    const other = await fetch(`${url}/api/tags`);
    assert.equal(other.status, 404);
    assert.match(await other.text(), /Metrics\.Port/);
    assert.equal((await fetch(`${url}/dashboard/`)).status, 404);
  } finally {
    assert.deepEqual(await sharing.stop(), { code: 0, signal: null });
  }
});
