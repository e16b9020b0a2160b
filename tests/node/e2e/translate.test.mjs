// Ollama clients served by OpenAI-format backends: real llama.cpp llama-servers (built by
// scripts/llama-server.sh, tiny random-weight model) behind ollamaflow, driven by the real npm
// `ollama` and `openai` clients. Frontend 'llama' (any Host) has two llama-servers; frontend
// 'mixed' (Host localhost) has one ollama-sim backend and one llama-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, waitFor, assertCleanStop } from './flow.mjs';
import { startLlamaServer, LLAMA_MODEL } from './llama.mjs';

const MODEL = LLAMA_MODEL;
let flow;
let llamas;

const llamaUrl = () => `http://127.0.0.1:${flow.port()}`;   // frontend 'llama'
const mixedUrl = () => `http://localhost:${flow.port()}`;   // frontend 'mixed'

// A raw POST: status, headers and the body's bytes as sent
function raw(url, path, body) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = http.request({ host: '127.0.0.1', port: target.port, method: 'POST', path,
      headers: { host: target.host, 'content-type': 'application/json' } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers,
        body: Buffer.concat(chunks).toString() }));
    });
    request.on('error', reject);
    request.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

// A raw GET, to the frontend url names by its Host
function get(url, path) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    http.get({ host: '127.0.0.1', port: target.port, path, headers: { host: target.host } }, (response) => {
      let body = '';
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, body }));
    }).on('error', reject);
  });
}

before(async () => {
  llamas = [await startLlamaServer({ embeddings: true }), await startLlamaServer({ embeddings: true })];
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 0, load_ms: 0, parallel: 4 },
      backends: [{ name: 'ollama', models: [MODEL] }],
    },
    backends: (sim) => [
      { Identifier: 'ollama', Hostname: '127.0.0.1', Port: sim.port('ollama'), HealthyThreshold: 1 },
      ...llamas.map((llama, i) => ({ Identifier: `llama${i}`, Hostname: '127.0.0.1', Port: llama.port,
        HealthyThreshold: 1, ApiFormat: 'OpenAI', HealthCheckUrl: '/health' })),
    ],
    frontends: [
      { Identifier: 'mixed', Hostname: 'localhost', Backends: ['ollama', 'llama0'], LoadBalancing: 'RoundRobin' },
      { Identifier: 'llama', Hostname: '*', Backends: ['llama0', 'llama1'], LoadBalancing: 'RoundRobin' },
    ],
  });
  // Every backend healthy and its models listed
  await waitFor(async () => {
    const seen = new Set();
    for (let i = 0; i < 4; i++) {
      const answer = await raw(llamaUrl(), '/api/chat', { model: MODEL, stream: false,
        messages: [{ role: 'user', content: 'x' }], options: { num_predict: 1 } });
      if (answer.status === 200) seen.add(answer.headers['x-ollamaflow-backend']);
    }
    const mixed = new Set();
    for (let i = 0; i < 4; i++) {
      const answer = await raw(mixedUrl(), '/api/chat', { model: MODEL, stream: false,
        messages: [{ role: 'user', content: 'x' }], options: { num_predict: 1 } });
      if (answer.status === 200) mixed.add(answer.headers['x-ollamaflow-backend']);
    }
    return seen.size === 2 && mixed.size === 2;
  }, { what: 'both frontends serving' });
  // The listings come from modelsync's inventories, which the ingress follows on its own: a
  // request served says nothing of them (the scheduler routes without an inventory)
  await waitFor(async () => {
    for (const url of [llamaUrl(), mixedUrl()]) {
      const tags = await get(url, '/api/tags');
      if (tags.status !== 200 || !JSON.parse(tags.body).models.some((m) => m.name.startsWith(MODEL)))
        return false;
    }
    return true;
  }, { what: 'both frontends listing the model' });
});

after(async () => {
  if (flow) assertCleanStop(assert, await flow.stop());
  for (const llama of llamas ?? []) await llama.stop();
});

test('ollama client: chat, streamed and not, on two llama-servers', async () => {
  const ollama = new Ollama({ host: llamaUrl() });
  const whole = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }],
    options: { num_predict: 7, temperature: 0, seed: 1 } });
  assert.equal(whole.done, true);
  assert.equal(whole.done_reason, 'length');
  assert.equal(whole.eval_count, 7);
  assert.ok(whole.prompt_eval_count > 0);
  assert.ok(whole.message.content.length > 0);
  assert.equal(whole.message.role, 'assistant');
  assert.ok(whole.eval_duration > 0 && whole.total_duration >= whole.eval_duration);

  const parts = [];
  let last;
  for await (const part of await ollama.chat({ model: MODEL, stream: true,
    messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 9 } })) {
    parts.push(part);
    last = part;
  }
  // One NDJSON object per token, then the final one (empty content, counts from usage)
  assert.equal(parts.length, 10);
  assert.ok(parts.slice(0, -1).every((part) => part.done === false && part.message.content.length > 0));
  assert.equal(last.done, true);
  assert.equal(last.done_reason, 'length');
  assert.equal(last.eval_count, 9);
  assert.ok(last.prompt_eval_count > 0);
});

test('ollama client: generate, streamed and not', async () => {
  const ollama = new Ollama({ host: llamaUrl() });
  const whole = await ollama.generate({ model: MODEL, prompt: 'once', system: 'be brief',
    options: { num_predict: 5 } });
  assert.equal(whole.done, true);
  assert.equal(whole.eval_count, 5);
  assert.ok(whole.response.length > 0);
  const parts = [];
  for await (const part of await ollama.generate({ model: MODEL, prompt: 'once', stream: true,
    options: { num_predict: 4 } })) parts.push(part);
  assert.equal(parts.length, 5);
  assert.equal(parts.at(-1).done, true);
  assert.equal(parts.at(-1).eval_count, 4);
  // raw: the prompt as it is, through /v1/completions
  const rawGen = await ollama.generate({ model: MODEL, prompt: 'once', raw: true, options: { num_predict: 3 } });
  assert.equal(rawGen.eval_count, 3);
});

test('ollama client: embed and embeddings (llama-server --embeddings)', async () => {
  const ollama = new Ollama({ host: llamaUrl() });
  const embedded = await ollama.embed({ model: MODEL, input: ['a cat', 'a dog'] });
  assert.equal(embedded.embeddings.length, 2);
  assert.equal(embedded.embeddings[0].length, 64);
  assert.ok(embedded.prompt_eval_count > 0);
  const legacy = await ollama.embeddings({ model: MODEL, prompt: 'a cat' });
  assert.equal(legacy.embedding.length, 64);
  assert.ok(legacy.embedding.every((value, i) => Math.abs(value - embedded.embeddings[0][i]) < 1e-4));
});

test('ollama client: list and show; what cannot be mapped is a 400 naming it', async () => {
  const ollama = new Ollama({ host: llamaUrl() });
  const listed = await ollama.list();
  assert.ok(listed.models.some((model) => model.name.startsWith(MODEL)), JSON.stringify(listed));
  // show on a frontend of llama-servers only: what /v1/models says, the rest named unknown
  const shown = await ollama.show({ model: MODEL });
  assert.ok(shown.details && shown.unknown.includes('template'), JSON.stringify(shown));
  await assert.rejects(ollama.show({ model: 'nothing-here' }), (error) => error.status_code === 404);
  // Routes that write one server's models are refused, saying why
  for (const path of ['/api/create', '/api/push', '/api/copy']) {
    const refused = await raw(llamaUrl(), path, { model: MODEL });
    assert.equal(refused.status, 403, path);
    assert.match(JSON.parse(refused.body).error, /not served through ollamaflow/);
  }
  await assert.rejects(ollama.pull({ model: MODEL }), (error) => error.status_code === 409);
  await assert.rejects(ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'x' }],
    options: { num_ctx: 4096 } }), (error) => error.status_code === 400 && /options\.num_ctx/.test(error.message));
  await assert.rejects(ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'x', images: ['AAAA'] }] }),
    (error) => error.status_code === 400 && /messages\[0\]\.images/.test(error.message));
  // A backend's own refusal comes back in Ollama's error shape
  const refused = await raw(llamaUrl(), '/api/chat', { model: MODEL, stream: false,
    messages: [{ role: 'user', content: 'x' }], options: { num_predict: 1, temperature: 'hot' } });
  assert.equal(refused.status, 400);
  assert.match(JSON.parse(refused.body).error, /temperature/);
});

test('openai client through the same frontend', async () => {
  const openai = new OpenAI({ baseURL: `${llamaUrl()}/v1`, apiKey: 'unused', maxRetries: 0 });
  const stream = await openai.chat.completions.create({ model: MODEL, stream: true, max_tokens: 6,
    messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.ok(chunks >= 6 && text.length > 0);
  const whole = await openai.chat.completions.create({ model: MODEL, max_tokens: 3,
    messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(whole.usage.completion_tokens, 3);
  const models = await openai.models.list();
  assert.ok(models.data.some((model) => model.id === MODEL));
});

test('mixed frontend: an Ollama client is served by both kinds, the openai client too', async () => {
  const seen = new Map();
  for (let i = 0; i < 6; i++) {
    const answer = await raw(mixedUrl(), '/api/chat', { model: MODEL, stream: false,
      messages: [{ role: 'user', content: `m${i}` }], options: { num_predict: 2 } });
    assert.equal(answer.status, 200, answer.body);
    const body = JSON.parse(answer.body);
    assert.equal(body.done, true);
    assert.equal(typeof body.message.content, 'string');
    seen.set(answer.headers['x-ollamaflow-backend'], (seen.get(answer.headers['x-ollamaflow-backend']) ?? 0) + 1);
  }
  assert.deepEqual([...seen.entries()].sort(), [['llama0', 3], ['ollama', 3]]);
  const ollama = new Ollama({ host: mixedUrl() });
  for (let i = 0; i < 2; i++) {
    const parts = [];
    for await (const part of await ollama.chat({ model: MODEL, stream: true,
      messages: [{ role: 'user', content: 's' }], options: { num_predict: 3 } })) parts.push(part);
    assert.equal(parts.at(-1).done, true);
  }
  const openai = new OpenAI({ baseURL: `${mixedUrl()}/v1`, apiKey: 'unused', maxRetries: 0 });
  for (let i = 0; i < 2; i++) {
    const whole = await openai.chat.completions.create({ model: MODEL, max_tokens: 2,
      messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(whole.choices.length, 1);
  }
});

test('an Ollama client that leaves mid-stream frees the llama-server slot', async () => {
  const busy = async (llama) => (await llama.slots()).some((slot) => slot.is_processing);
  for (const llama of llamas) await waitFor(async () => !(await busy(llama)), { what: 'idle slots' });
  const ollama = new Ollama({ host: llamaUrl() });
  const LONG = 3500;
  const stream = await ollama.chat({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'go' }],
    options: { num_predict: LONG } });
  let count = 0;
  const started = performance.now();
  let wasBusy = false;
  for await (const part of stream) {
    assert.equal(part.done, false);
    // While the client reads, one of the two llama-servers is generating its answer
    if (count === 10) wasBusy = (await busy(llamas[0])) || (await busy(llamas[1]));
    if (++count === 50) break;
  }
  const rate = count / (performance.now() - started);   // tokens per ms, as this machine runs now
  stream.abort();
  const aborted = performance.now();
  assert.ok(wasBusy, 'a slot was busy while the client read');
  // Both become idle, long before the generation could have ended
  for (const llama of llamas) await waitFor(async () => !(await busy(llama)), { what: 'the slot freed' });
  const freedMs = performance.now() - aborted;
  const remainingMs = (LONG - count) / rate;
  assert.ok(freedMs < remainingMs / 2, `freed after ${freedMs} ms; the rest would take ${remainingMs} ms`);
});

test('byte-exact passthrough for OpenAI clients on OpenAI backends', async () => {
  // Deterministic sampling: the same request straight to llama-server and through ollamaflow
  const body = '{ "model" : "tiny", "messages":[{"role":"user","content":"same"}], "max_tokens":4,'
    + ' "temperature":0, "seed":3, "n_probs": 0, "cache_prompt": true }';
  const direct = await raw(llamas[0].url, '/v1/chat/completions', body);
  const through = [];
  while (through.length === 0) {
    const answer = await raw(llamaUrl(), '/v1/chat/completions', body);
    if (answer.headers['x-ollamaflow-backend'] === 'llama0') through.push(answer);
  }
  const strip = (text) => text.replace(/"(id|created)":("[^"]*"|\d+)/g, '"$1":_')
    .replace(/"timings":\{[^}]*\}/, '"timings":_').replace(/"cached_tokens":\d+/, '"cached_tokens":_');
  assert.equal(through[0].status, 200);
  assert.equal(strip(through[0].body), strip(direct.body));
  assert.match(through[0].body, /"system_fingerprint":"b1-/);
});
