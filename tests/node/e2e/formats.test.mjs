// API formats: a frontend over an Ollama backend and an OpenAI-format one (like vLLM). The
// scheduler picks by the route's API: Ollama's generation and embedding routes reach both (the
// ingress translates them for the OpenAI one), /api/show only the Ollama backend, /v1 routes
// both; a frontend of OpenAI-format backends only answers /api/show from its listings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { rawRequest } from '../sim/sim.mjs';
import { startFlow, waitServing, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
const EMBED = 'all-minilm';
const OLLAMA_ROUTES = ['/api/generate', '/api/chat', '/api/embed', '/api/embeddings', '/api/show'];
let flow;

// A POST with a chosen Host header (fetch cannot set it), answered as {status, body}
const post = (path, body, host) => rawRequest({ port: flow.port(), method: 'POST', path, body,
  headers: { 'content-type': 'application/json', host } });

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 0, load_ms: 0, parallel: 4 },
      backends: [
        { name: 'ollama', models: [MODEL, { name: EMBED, embedding: true }] },
        { name: 'vllm', api: 'openai', models: [MODEL, { name: EMBED, embedding: true }] },
      ],
    },
    backends: (sim) => [
      { Identifier: 'ollama', Hostname: '127.0.0.1', Port: sim.port('ollama'), HealthyThreshold: 1 },
      { Identifier: 'vllm', Hostname: '127.0.0.1', Port: sim.port('vllm'), HealthyThreshold: 1,
        ApiFormat: 'OpenAI', HealthCheckUrl: '/health' },
    ],
    frontends: [
      { Identifier: 'mixed', Hostname: '*', Backends: ['vllm', 'ollama'], LoadBalancing: 'RoundRobin' },
      { Identifier: 'openai-only', Hostname: 'openai.local', Backends: ['vllm'] },
    ],
  });
  // Both backends healthy: /v1 requests reach each of them
  await waitServing(flow, '/v1/embeddings', { model: EMBED, input: 'x' }, 2);
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('Ollama generation routes reach both formats (translated on the OpenAI one); /api/show only Ollama', async () => {
  await flow.sim.reset();
  const ollama = new Ollama({ host: flow.url() });
  for (let i = 0; i < 6; i++) {
    const chat = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: `c${i}` }],
      options: { num_predict: 2 } });
    assert.equal(chat.done, true);
    const generated = await ollama.generate({ model: MODEL, prompt: `g${i}`, options: { num_predict: 2 } });
    assert.equal(generated.done, true);
    const embedded = await ollama.embed({ model: EMBED, input: `e${i}` });
    assert.equal(embedded.embeddings.length, 1);
    const legacy = await ollama.embeddings({ model: EMBED, prompt: `l${i}` });
    assert.ok(legacy.embedding.length > 0);
    const shown = await ollama.show({ model: MODEL });
    assert.ok(shown.details);
  }
  const vllm = await flow.sim.stats('vllm');
  const atVllm = Object.keys(vllm.routes).filter((route) => route.startsWith('/api/'));
  assert.deepEqual(atVllm, [], `Ollama routes reached the OpenAI backend untranslated: ${JSON.stringify(vllm.routes)}`);
  assert.equal(vllm.routes['(unknown)'] ?? 0, 0, 'no 404 at the OpenAI backend');
  // Round robin over both: chat and generate are /v1/chat/completions there, both embeds /v1/embeddings
  assert.equal(vllm.routes['/v1/chat/completions'], 6, JSON.stringify(vllm.routes));
  assert.equal(vllm.routes['/v1/embeddings'], 6, JSON.stringify(vllm.routes));
  const at = (await flow.sim.stats('ollama')).routes;
  assert.equal(at['/api/show'], 6, 'every /api/show at the Ollama backend');
  assert.equal((at['/api/chat'] ?? 0) + (at['/api/generate'] ?? 0), 6, JSON.stringify(at));
  assert.equal((at['/api/embed'] ?? 0) + (at['/api/embeddings'] ?? 0), 6, JSON.stringify(at));
  // No grant was refused by the ingress and re-asked: the scheduler never offered vllm for /api/show
  assert.doesNotMatch(flow.log('ingress0'), /not usable for POST \/api/);
});

test('/v1 routes are spread over both formats', async () => {
  await flow.sim.reset();
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
  const backends = new Set();
  for (let i = 0; i < 6; i++) {
    const { data, response } = await openai.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: `v${i}` }], max_tokens: 2,
    }).withResponse();
    assert.equal(data.choices.length, 1);
    backends.add(response.headers.get('x-ollamaflow-backend'));
  }
  assert.deepEqual([...backends].sort(), ['ollama', 'vllm']);
  assert.equal((await flow.sim.stats('vllm')).routes['/v1/chat/completions'], 3);
  assert.equal((await flow.sim.stats('ollama')).routes['/v1/chat/completions'], 3);
});

test('a frontend of OpenAI-format backends only: chat is translated, /api/show answered from the listing', async () => {
  await flow.sim.reset();
  const shown = await post('/api/show', { model: MODEL }, 'openai.local');
  assert.equal(shown.status, 200, shown.body);
  assert.ok(JSON.parse(shown.body).unknown.includes('modelfile'));
  const missing = await post('/api/show', { model: 'no-such-model' }, 'openai.local');
  assert.equal(missing.status, 404);
  assert.match(JSON.parse(missing.body).error, /model 'no-such-model' not found/);
  const chat = await post('/api/chat', { model: MODEL, stream: false, messages: [{ role: 'user', content: 'hi' }],
    options: { num_predict: 2 } }, 'openai.local');
  assert.equal(chat.status, 200, chat.body);
  assert.equal(JSON.parse(chat.body).done, true);
  assert.equal(chat.headers['x-ollamaflow-backend'], 'vllm');
  const served = await post('/v1/chat/completions',
    { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, 'openai.local');
  assert.equal(served.status, 200, served.body);
  assert.equal(served.headers['x-ollamaflow-backend'], 'vllm');
  const vllm = await flow.sim.stats('vllm');
  assert.deepEqual(Object.keys(vllm.routes).filter((route) => route.startsWith('/api/')), []);
});
