// The limits of client API keys, held by the scheduler over two ingress replicas, with the real
// `ollama` and `openai` clients: MaxConcurrentRequests (measured at the simulator),
// RequestsPerMinute (counted), TokensPerMinute (charged after the fact from what the responses
// report), 429 with Retry-After in each dialect, and a scheduler restart in the middle of
// running requests (RESUME carries their key, so they still count).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { assertCleanStop, waitFor, sleep } from './flow.mjs';
import { admin, startAdminFlow } from './admin.mjs';

const MODEL = 'llama3.2';
let flow;

before(async () => {
  flow = await startAdminFlow({
    replicas: 2,
    // 20 tokens a second: a request of 20 tokens holds its slot for a second
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 20, load_ms: 1, parallel: 16 },
      backends: [{ name: 'a', models: [MODEL] }] },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1,
      MaxParallelRequests: 16 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'], RequireApiKey: true }],
  });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

async function createKey(id, fields) {
  const response = await admin(flow, 'PUT', '/keys', { body: { Identifier: id, ...fields } });
  assert.equal(response.status, 201, response.text);
  return response.json.Secret;
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
  await flow.kill('scheduler', 'SIGKILL');
  flow.restart('scheduler');
  // Once the new scheduler has both leases back, the key is still full
  await waitFor(async () => {
    const status = await admin(flow, 'GET', '/status');
    return status.json && status.json.Scheduler && status.json.Scheduler.Leases >= 2;
  }, { what: 'the leases resumed' });
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
