// The limits of client API keys, held by the scheduler over two ingress replicas, with the real
// `ollama` and `openai` clients: MaxConcurrentRequests (measured at the simulator),
// RequestsPerMinute (counted), TokensPerMinute (charged after the fact from what the responses
// report), 429 with Retry-After in each dialect, and a scheduler restart in the middle of
// running requests (RESUME carries their key, so they still count). Then priority: frontend prio
// (Host localhost) has one backend of one slot, and Scheduler.PriorityStepMs is 500, so a Low
// ask ranks 1000 ms behind a High one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { assertCleanStop, waitFor, sleep } from './flow.mjs';
import { admin, startAdminFlow, TOKEN } from './admin.mjs';
import { runCtl, EXIT } from './ctl.mjs';

const MODEL = 'llama3.2';
let flow;

before(async () => {
  flow = await startAdminFlow({
    replicas: 2,
    // 20 tokens a second: a request of 20 tokens holds its slot for a second
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 20, load_ms: 1, parallel: 16 },
      backends: [{ name: 'a', models: [MODEL] }, { name: 'p', models: [MODEL] }] },
    backends: (sim) => [
      { Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1, MaxParallelRequests: 16 },
      { Identifier: 'p', Hostname: '127.0.0.1', Port: sim.port('p'), HealthyThreshold: 1, MaxParallelRequests: 1,
        RateLimitRequestsThreshold: 100 },
    ],
    frontends: [
      { Identifier: 'main', Hostname: '127.0.0.1', Backends: ['a'], RequireApiKey: true },
      { Identifier: 'prio', Hostname: 'localhost', Backends: ['p'], RequireApiKey: true },
    ],
    settings: { Scheduler: { PriorityStepMs: 500 } },
  });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

// Creates a key and waits until both replicas have it in their config copies (a listing with it
// is no longer 401): a write is acknowledged once committed, and reaches the copies just after
async function createKey(id, fields) {
  const response = await admin(flow, 'PUT', '/keys', { body: { Identifier: id, ...fields } });
  assert.equal(response.status, 201, response.text);
  const secret = response.json.Secret;
  for (const replica of [0, 1])
    await waitFor(async () => (await fetch(`${flow.url(replica)}/api/tags`,
      { headers: { authorization: `Bearer ${secret}` } })).status !== 401, { what: `${id} on replica ${replica}` });
  return secret;
}

const ollamaOn = (secret, replica) => new Ollama({ host: flow.url(replica),
  headers: { authorization: `Bearer ${secret}` } });
const generate = (client, tokens) => client.generate({ model: MODEL, prompt: 'hi', stream: false,
  options: { num_predict: tokens } });

// Settles every promise; returns { ok, refused: [errors] }
async function settle(promises) {
  const results = await Promise.allSettled(promises);
  return { ok: results.filter((r) => r.status === 'fulfilled').length,
    refused: results.filter((r) => r.status === 'rejected').map((r) => r.reason) };
}

test('MaxConcurrentRequests holds over two replicas, measured at the backend', async () => {
  const secret = await createKey('k-conc', { MaxConcurrentRequests: 2 });
  await waitFor(async () => { try { return await generate(ollamaOn(secret, 0), 1); } catch { return null; } },
    { what: 'a first generation' });
  await flow.sim.control('/backends/a/reset', {});
  // 3 through each replica at once, each a second long
  const jobs = [];
  for (let i = 0; i < 6; i++) jobs.push(generate(ollamaOn(secret, i % 2), 20));
  const { ok, refused } = await settle(jobs);
  const stats = await flow.sim.stats('a');
  console.log(`concurrency: ${ok} served, ${refused.length} refused, ${stats.peak_active} at once at the backend`);
  assert.equal(ok, 2);
  assert.equal(refused.length, 4);
  assert.ok(stats.peak_active <= 2, `${stats.peak_active} at once`);
  for (const error of refused) {
    assert.equal(error.status_code, 429);
    assert.match(error.error, /API key 'k-conc' has 2 requests running or waiting \(MaxConcurrentRequests 2\)/);
  }
  // Once they end, the key may run again
  assert.ok((await generate(ollamaOn(secret, 1), 1)).response.length > 0);
});

test('RequestsPerMinute is counted over both replicas; 429 with Retry-After in both dialects', async () => {
  const secret = await createKey('k-rpm', { RequestsPerMinute: 5 });
  const served = [];
  for (let i = 0; i < 5; i++) served.push(await generate(ollamaOn(secret, i % 2), 1));
  assert.equal(served.length, 5);
  // The 6th, through either replica and either dialect, is refused
  await assert.rejects(generate(ollamaOn(secret, 0), 1), (error) => {
    assert.equal(error.status_code, 429);
    assert.match(error.error, /made 5 requests in the last minute \(RequestsPerMinute 5\)/);
    return true;
  });
  const openai = new OpenAI({ baseURL: `${flow.url(1)}/v1`, apiKey: secret, maxRetries: 0 });
  await assert.rejects(openai.chat.completions.create({ model: MODEL, max_tokens: 1,
    messages: [{ role: 'user', content: 'hi' }] }), (error) => {
    assert.ok(error instanceof OpenAI.RateLimitError);
    assert.equal(error.status, 429);
    const retry = Number(error.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    return true;
  });
  // Raw: the header on the Ollama route too
  const response = await fetch(`${flow.url(0)}/api/generate`, { method: 'POST',
    headers: { authorization: `Bearer ${secret}` }, body: JSON.stringify({ model: MODEL, prompt: 'x' }) });
  assert.equal(response.status, 429);
  assert.ok(Number(response.headers.get('retry-after')) >= 1);
  assert.equal(typeof (await response.json()).error, 'string');
});

test('TokensPerMinute is charged after the fact from the reported tokens', async () => {
  const secret = await createKey('k-tpm', { TokensPerMinute: 30 });
  // One request of 40 generated tokens runs to its end, though it goes over the limit
  const first = await generate(ollamaOn(secret, 0), 40);
  assert.equal(first.eval_count, 40);
  // It is charged once released: the next asks are refused, on either replica
  for (const replica of [0, 1])
    await assert.rejects(generate(ollamaOn(secret, replica), 1), (error) => {
      assert.equal(error.status_code, 429);
      assert.match(error.error, /API key 'k-tpm' used \d+ tokens in the last minute \(TokensPerMinute 30\)/);
      return true;
    });
  // A key without limits is untouched
  const free = await createKey('k-free', {});
  assert.equal((await generate(ollamaOn(free, 1), 5)).eval_count, 5);
});

test('running requests of a key still count after a scheduler restart (RESUME carries the key)', async () => {
  const secret = await createKey('k-resume', { MaxConcurrentRequests: 2 });
  await waitFor(async () => { try { return await generate(ollamaOn(secret, 1), 1); } catch { return null; } },
    { what: 'a first generation' });
  // Two streams of 3 seconds, one per replica
  const running = [0, 1].map((replica) => generate(ollamaOn(secret, replica), 60));
  await waitFor(async () => (await flow.sim.stats('a')).active >= 2, { what: 'two running streams' });
  const usage = async () => (await admin(flow, 'GET', '/keys/k-resume/usage')).json;
  const old = (await waitFor(async () => ((await usage()).Running === 2 ? usage() : null),
    { what: 'the two leases in STATE' })).SchedulerEpoch;
  await flow.kill('scheduler', 'SIGKILL');
  flow.restart('scheduler');
  // Once the new scheduler (a new epoch) counts both leases for the key, the key is still full
  await waitFor(async () => {
    const now = await usage();
    return now.SchedulerEpoch && now.SchedulerEpoch !== old && now.Running === 2;
  }, { what: 'the leases resumed with their key' });
  await assert.rejects(generate(ollamaOn(secret, 0), 1), (error) => {
    assert.equal(error.status_code, 429, error.error);
    assert.match(error.error, /MaxConcurrentRequests 2/);
    return true;
  });
  const { ok } = await settle(running);
  assert.equal(ok, 2);
  // Released: room again
  await sleep(50);
  assert.ok((await generate(ollamaOn(secret, 1), 1)).response.length > 0);
});

const prioOn = (secret) => new Ollama({ host: `http://localhost:${flow.port(0)}`,
  headers: { authorization: `Bearer ${secret}` } });

test('a High ask queued behind 20 Low ones is served first; FIFO within a priority', async () => {
  const high = await createKey('k-high', { Frontends: ['prio'], Priority: 'High' });
  const low = await createKey('k-low', { Frontends: ['prio'], Priority: 'Low' });
  await waitFor(async () => { try { return await generate(prioOn(low), 1); } catch { return null; } },
    { what: 'a first generation on prio' });
  // The one slot taken for two seconds, then 20 Low asks, then a High one
  const blocker = generate(prioOn(low), 40);
  await waitFor(async () => (await flow.sim.stats('p')).active === 1, { what: 'the slot taken' });
  const done = [];
  const lows = [];
  // 25 ms apart, so that they reach the scheduler in this order
  for (let i = 0; i < 20; i++) {
    lows.push(generate(prioOn(low), 1).then(() => done.push(`low${i}`)));
    await sleep(25);
  }
  await sleep(150);
  const highDone = generate(prioOn(high), 1).then(() => done.push('high'));
  await Promise.all([blocker, highDone, ...lows]);
  console.log(`served in order: ${done.join(' ')}`);
  assert.equal(done[0], 'high');
  assert.deepEqual(done.slice(1), Array.from({ length: 20 }, (_, i) => `low${i}`));
});

test('a Low ask is served within the aging bound under a steady High stream', async () => {
  const high = await createKey('k-stream', { Frontends: ['prio'], Priority: 'High' });
  const low = await createKey('k-patient', { Frontends: ['prio'], Priority: 'Low' });
  // Three High clients, each asking again as soon as it is served, for 4 s: the slot is
  // always taken and two High asks always wait
  const until = performance.now() + 4000;
  let highs = 0;
  const worker = async () => {
    while (performance.now() < until) { await generate(prioOn(high), 2); highs++; }
  };
  const workers = [worker(), worker(), worker()];
  await sleep(500);
  const started = performance.now();
  await generate(prioOn(low), 1);
  const waited = performance.now() - started;
  const highsDuring = highs;
  await Promise.all(workers);
  console.log(`the Low ask took ${waited.toFixed(0)} ms; ${highs} High asks served in all`);
  // Passed by the High asks of the next 1000 ms (two steps), then served once the asks ranked
  // before it are: at most the three High clients' asks, each one service time
  const service = 4000 / highs;
  const bound = 1000 + 3 * service + 300;
  assert.ok(waited >= 800, `served after ${waited} ms: High asks should have passed it`);
  assert.ok(waited < bound, `served after ${waited} ms: over the aging bound of ${bound} ms`);
  assert.ok(performance.now() < until + 1000 && highs > highsDuring, 'the High stream went on');
});

test('usage per key matches what the backend generated, in the admin API and ollamaflowctl', async () => {
  const secret = await createKey('k-usage', { Frontends: ['main'], RequestsPerMinute: 4 });
  const before = (await flow.sim.stats('a')).tokens;
  const ollama = ollamaOn(secret, 0);
  const openai = new OpenAI({ baseURL: `${flow.url(1)}/v1`, apiKey: secret, maxRetries: 0 });
  const one = await generate(ollama, 3);
  const two = await generate(ollamaOn(secret, 1), 4);
  const chat = await openai.chat.completions.create({ model: MODEL, max_tokens: 5,
    messages: [{ role: 'user', content: 'hello there' }] });
  // A 404 from the backend's side (no such model) and a 429 from the key's limit: two errors
  await assert.rejects(ollama.generate({ model: 'nope', prompt: 'x' }), (error) => error.status_code === 404);
  await assert.rejects(generate(ollama, 1), (error) => error.status_code === 429);
  const prompt = one.prompt_eval_count + two.prompt_eval_count + chat.usage.prompt_tokens;
  const completion = one.eval_count + two.eval_count + chat.usage.completion_tokens;
  const generated = (await flow.sim.stats('a')).tokens - before;
  // The scheduler's STATE comes every heartbeat: wait for the one that has it all
  const usage = await waitFor(async () => {
    const response = await admin(flow, 'GET', '/keys/k-usage/usage', { replica: 1 });
    return response.json && response.json.Errors === 2 && response.json.PromptTokens === prompt
      ? response.json : null;
  }, { what: 'the usage in STATE', timeout: 5000 }).catch(async () =>
    (await admin(flow, 'GET', '/keys/k-usage/usage', { replica: 1 })).json);
  console.log(`usage: ${JSON.stringify(usage)}; the backend generated ${generated} tokens`);
  assert.equal(usage.Requests, 4);
  assert.equal(usage.PromptTokens, prompt);
  assert.equal(usage.CompletionTokens, completion);
  assert.equal(usage.CompletionTokens, generated);
  assert.equal(usage.Errors, 2);
  assert.equal(usage.Running, 0);
  // Every key in the list; ollamaflowctl's table
  const list = await admin(flow, 'GET', '/keys/usage?order-by=Requests&order=desc');
  assert.equal(list.status, 200);
  assert.ok(list.json.some((record) => record.Identifier === 'k-usage'));
  assert.equal((await admin(flow, 'GET', '/keys/none/usage')).status, 404);
  const shown = await runCtl(flow.url(), TOKEN, ['keys', 'usage']);
  assert.equal(shown.code, EXIT.ok, shown.stderr);
  assert.match(shown.stdout, /IDENTIFIER.*REQUESTS.*PROMPT.*COMPLETION.*ERRORS/);
  assert.match(shown.stdout, new RegExp(`k-usage +4 +${usage.PromptTokens} +${usage.CompletionTokens} +2`));
  // And in /metrics, by key (fewer keys than Metrics.KeyLabelsMax), never a secret
  const metrics = await (await fetch(`${flow.url(0)}/metrics`)).text();
  assert.match(metrics, /^ollamaflow_key_requests_total\{key="k-usage"\} 4$/m);
  assert.match(metrics, new RegExp(`^ollamaflow_key_completion_tokens_total\\{key="k-usage"\\} ${completion}$`, 'm'));
  assert.match(metrics, /^ollamaflow_key_errors_total\{key="k-usage"\} 2$/m);
  assert.ok(!metrics.includes(secret.slice(4)));
});
