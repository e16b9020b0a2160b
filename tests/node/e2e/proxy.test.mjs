// The request path end to end: real clients (ollama-js, openai) through a whole ollamaflow to a
// simulated fleet: streaming, spreading, pins, failover, aborts and errors in each dialect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, waitFor, waitHealthy, waitServing, assertCleanStop, sleep, hostRequest as flowHostRequest } from './flow.mjs';

const MODEL = 'llama3.2';
let flow;
const hostRequest = (host, path, body) => flowHostRequest(flow, host, path, body);

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 40, load_ms: 10, parallel: 4 },
      backends: [
        { name: 'a', models: [MODEL, 'all-minilm'] },
        { name: 'b', models: [MODEL, 'all-minilm'] },
        { name: 'c', models: [MODEL, 'all-minilm'] },
      ],
    },
    backends: (sim) => ['a', 'b', 'c'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), MaxParallelRequests: 4,
      HealthyThreshold: 1, Labels: name === 'c' ? ['eu', 'gpu'] : ['us'],
      PinnedCompletionsProperties: name === 'b' ? { options: { num_ctx: 2048 } } : {},
      ...(name === 'b' ? { BearerToken: 'tok-b', Querystring: 'key=v1', Headers: { 'X-Backend-Key': 'hk' } } : {}),
    })),
    frontends: [{
      Identifier: 'main', Hostname: '*', Backends: ['a', 'b', 'c'], LoadBalancing: 'RoundRobin',
      MaxRequestBodySize: 4096, TimeoutMs: 5000,
      PinnedCompletionsProperties: { options: { temperature: 0.25, num_ctx: 1024 } },
    }, {
      Identifier: 'noembed', Hostname: 'noembed.local', Backends: ['a'], AllowEmbeddings: false,
    }],
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'warm up', stream: false, options: { num_predict: 1 } });
  // every backend settled
  await waitServing(flow, '/api/embed', { model: 'all-minilm', input: 'x' }, 3);
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('ollama-js streams chat through a frontend, chunk by chunk, with the backend\'s text', async () => {
  const ollama = new Ollama({ host: flow.url() });
  const started = Date.now();
  const stamps = [];
  let text = '';
  let last;
  for await (const part of await ollama.chat({
    model: MODEL, messages: [{ role: 'user', content: 'tell me something' }], stream: true,
    options: { num_predict: 20, seed: 7 },
  })) {
    stamps.push(Date.now() - started);
    text += part.message.content;
    last = part;
  }
  assert.equal(last.done, true);
  assert.equal(last.eval_count, 20);
  assert.equal(stamps.length, 21);
  // 20 tokens at 40 tokens/s: the first must not wait for the last (no buffering to the end)
  assert.ok(stamps[stamps.length - 1] - stamps[0] > 250, `stamps ${stamps}`);
  // The same request straight to a backend gives the same text (deterministic for the seed)
  const direct = new Ollama({ host: flow.sim.url('a') });
  const reference = await direct.chat({
    model: MODEL, messages: [{ role: 'user', content: 'tell me something' }], stream: false,
    options: { num_predict: 20, seed: 7 },
  });
  assert.equal(text, reference.message.content);
});

test('the openai client streams chat completions through a frontend', async () => {
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
  const stream = await openai.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'hello' }], stream: true, max_tokens: 8, seed: 3,
  });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.ok(chunks >= 8, `${chunks} chunks`);
  assert.ok(text.split(' ').length >= 7, text);
  const plain = await openai.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, seed: 3,
  });
  assert.equal(plain.choices[0].message.content, text);
  assert.equal(plain.usage.completion_tokens, 8);
});

test('NDJSON lines arrive as the backend framed them, with ollamaflow\'s headers', async () => {
  const response = await fetch(`${flow.url()}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model: MODEL, prompt: 'frame me', options: { num_predict: 5, seed: 1 } }),
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'application/x-ndjson');
  assert.match(response.headers.get('x-ollamaflow-request'), /^replica-0-\d+$/);
  assert.ok(['a', 'b', 'c'].includes(response.headers.get('x-ollamaflow-backend')));
  assert.equal(response.headers.get('x-ollamaflow-sticky'), 'false');
  const body = await response.text();
  const lines = body.split('\n');
  assert.equal(lines.pop(), '', 'the stream ends with a newline');
  assert.equal(lines.length, 6);
  for (const line of lines) JSON.parse(line);
  assert.equal(JSON.parse(lines[5]).done, true);
});

test('round robin spreads requests evenly over the three backends', async () => {
  await flow.sim.reset();
  for (let i = 0; i < 30; i++) {
    const response = await fetch(`${flow.url()}/api/embed`, {
      method: 'POST', body: JSON.stringify({ model: 'all-minilm', input: `n${i}` }),
    });
    assert.equal(response.status, 200);
    await response.json();
  }
  const counts = [];
  for (const name of ['a', 'b', 'c']) counts.push((await flow.sim.stats(name)).routes['/api/embed'] ?? 0);
  assert.deepEqual(counts, [10, 10, 10]);
});

test('labels route only to backends that carry every one of them', async () => {
  await flow.sim.reset();
  for (let i = 0; i < 6; i++) {
    const response = await fetch(`${flow.url()}/api/embed`, {
      method: 'POST', headers: { 'X-OllamaFlow-Label': 'eu, gpu' },
      body: JSON.stringify({ model: 'all-minilm', input: 'x' }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-ollamaflow-backend'), 'c');
    await response.text();
  }
  // "e" is not "eu": exact matches only
  const response = await fetch(`${flow.url()}/api/embed`, {
    method: 'POST', headers: { 'X-OllamaFlow-Label': 'e' },
    body: JSON.stringify({ model: 'all-minilm', input: 'x' }),
  });
  assert.equal(response.status, 503);
  assert.match((await response.json()).error, /./);
});

test('pinned properties: the backend\'s over the frontend\'s over the client\'s', async () => {
  await flow.sim.reset();
  // Send until b answers and its last request is ours (health probes also count as requests)
  const last = await waitFor(async () => {
    const response = await fetch(`${flow.url()}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: MODEL, prompt: 'p', stream: false,
        options: { num_predict: 1, temperature: 0.9, seed: 5 } }),
    });
    await response.text();
    if (response.headers.get('x-ollamaflow-backend') !== 'b') return null;
    const seen = await flow.sim.control('/backends/b/last');
    return seen.path === '/api/generate' ? seen : null;
  }, { what: 'a request on backend b' });
  const body = typeof last.body === 'string' ? JSON.parse(last.body) : last.body;
  assert.equal(body.options.temperature, 0.25, 'the frontend pins temperature');
  assert.equal(body.options.num_ctx, 2048, 'the backend pins num_ctx over the frontend');
  assert.equal(body.options.seed, 5, 'the client keeps what nobody pinned');
  assert.equal(last.headers.host, `127.0.0.1:${flow.sim.port('b')}`, 'Host is the backend\'s');
  assert.match(last.headers['x-forwarded-for'], /127\.0\.0\.1/);
  // The backend's own credentials travel with every request to it
  assert.equal(last.headers.authorization, 'Bearer tok-b');
  assert.equal(last.headers['x-backend-key'], 'hk');
  assert.match(last.query, /key=v1/);
});

test('errors come in the client\'s dialect with the right status', async () => {
  const post = (path, body, headers = {}) => fetch(`${flow.url()}${path}`, {
    method: 'POST', body, headers: { 'content-type': 'application/json', ...headers },
  });
  // Too large for MaxRequestBodySize (4096)
  let response = await post('/api/chat', JSON.stringify({ model: MODEL, prompt: 'x'.repeat(5000) }));
  assert.equal(response.status, 413);
  assert.match((await response.json()).error, /MaxRequestBodySize/);
  // Malformed JSON
  response = await post('/api/chat', '{"model": ');
  assert.equal(response.status, 400);
  assert.match((await response.json()).error, /invalid JSON/);
  response = await post('/v1/chat/completions', '[1, 2]');
  assert.equal(response.status, 400);
  const openaiError = await response.json();
  assert.equal(openaiError.error.type, 'invalid_request_error');
  assert.match(openaiError.error.message, /JSON object/);
  // Unknown route, wrong method
  response = await post('/api/nothing', '{}');
  assert.equal(response.status, 404);
  assert.match((await response.json()).error, /unknown route/);
  response = await fetch(`${flow.url()}/api/chat`);
  assert.equal(response.status, 405);
  await response.text();
  // A kind the frontend does not allow (fetch cannot set Host: plain http)
  let raw = await hostRequest('noembed.local', '/api/embed', { model: 'all-minilm', input: 'x' });
  assert.equal(raw.status, 403);
  assert.match(JSON.parse(raw.data).error, /embeddings requests are not allowed/);
  raw = await hostRequest('noembed.local', '/v1/embeddings', { model: 'all-minilm', input: 'x' });
  assert.equal(raw.status, 403);
  assert.equal(JSON.parse(raw.data).error.type, 'permission_error');
  // A CORS preflight is answered here
  response = await fetch(`${flow.url()}/api/chat`, { method: 'OPTIONS',
    headers: { origin: 'http://ui.local', 'access-control-request-method': 'POST' } });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get('access-control-allow-origin'), '*');
  assert.match(response.headers.get('access-control-allow-methods'), /POST/);
  // GET / answers as Ollama does
  response = await fetch(`${flow.url()}/`);
  assert.equal(await response.text(), 'Ollama is running');
});

test('a backend refusing connections: requests still succeed on the others', async () => {
  await flow.sim.faults('a', { refuse: true });
  try {
    for (let i = 0; i < 9; i++) {
      const response = await fetch(`${flow.url()}/api/embed`, {
        method: 'POST', body: JSON.stringify({ model: 'all-minilm', input: `r${i}` }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      assert.notEqual(response.headers.get('x-ollamaflow-backend'), 'a');
      await response.text();
    }
  } finally {
    await flow.sim.faults('a', { refuse: false });
  }
});

test('a backend dropping mid-stream: the client sees the stream abort, not a clean end', async () => {
  await flow.sim.faults('c', { drop_after_tokens: 3 });
  try {
    const ollama = new Ollama({ host: flow.url() });
    // Label "gpu" routes to c only
    await assert.rejects(async () => {
      const response = await fetch(`${flow.url()}/api/generate`, {
        method: 'POST', headers: { 'X-OllamaFlow-Label': 'gpu' },
        body: JSON.stringify({ model: MODEL, prompt: 'drop', options: { num_predict: 20 } }),
      });
      assert.equal(response.status, 200);
      await response.text();
    });
    assert.ok(ollama);
  } finally {
    await flow.sim.faults('c', { drop_after_tokens: -1 });
  }
});

test('a client that goes away mid-stream cancels the generation on the backend at once', async () => {
  await flow.sim.reset();
  const controller = new AbortController();
  const response = await fetch(`${flow.url()}/api/generate`, {
    method: 'POST', signal: controller.signal, headers: { 'X-OllamaFlow-Label': 'gpu' },
    body: JSON.stringify({ model: MODEL, prompt: 'long', options: { num_predict: 400 } }),
  });
  const reader = response.body.getReader();
  await reader.read();
  assert.equal((await flow.sim.stats('c')).active, 1);
  controller.abort();
  await reader.read().catch(() => null);
  const aborted = Date.now();
  await waitFor(async () => (await flow.sim.stats('c')).cancelled === 1, { timeout: 2000, interval: 10,
    what: 'the cancellation at the backend' });
  const took = Date.now() - aborted;
  assert.ok(took < 1000, `cancelled after ${took} ms`);
  assert.equal((await flow.sim.stats('c')).active, 0);
});
