// The npm `openai` client (6.x) against the simulator's OpenAI-compatible API, on an Ollama backend
// and on an OpenAI-only backend (like vLLM or llama-server).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { startSim, rawRequest } from './sim.mjs';

let sim;
let openai;

before(async () => {
  sim = await startSim({
    fleet: {
      defaults: { decode_rate: 1000, prefill_rate: 0, load_ms: 0 },
      backends: [
        { name: 'ollama', models: ['llama3.2', { name: 'all-minilm', embedding: true, family: 'bert' }] },
        { name: 'vllm', api: 'openai', version: '0.33.0', models: ['qwen2.5:7b'] },
        { name: 'empty', api: 'openai', models: [] },
      ],
    },
  });
  openai = new OpenAI({ baseURL: `${sim.url('ollama')}/v1`, apiKey: 'sk-test', maxRetries: 0 });
});

after(async () => {
  // A clean exit: no crash, and no leak under AddressSanitizer
  assert.deepEqual(await sim.stop(), { code: 0, signal: null });
});

const messages = [{ role: 'user', content: 'Hello there' }];

test('chat completion, not streamed: shape, usage, max_tokens', async () => {
  const reply = await openai.chat.completions.create({ model: 'llama3.2', messages, max_tokens: 6, seed: 3 });
  assert.match(reply.id, /^chatcmpl-\d{1,3}$/);
  assert.equal(reply.object, 'chat.completion');
  assert.equal(reply.model, 'llama3.2');
  assert.equal(reply.system_fingerprint, 'fp_ollama');
  assert.ok(Math.abs(reply.created - Date.now() / 1000) < 5);
  assert.equal(reply.choices.length, 1);
  assert.equal(reply.choices[0].index, 0);
  assert.equal(reply.choices[0].message.role, 'assistant');
  assert.equal(reply.choices[0].finish_reason, 'length');
  assert.equal(reply.choices[0].message.content.trim().split(/\s+/).length, 6);
  //  Two words and the template's two role markers (user, then the assistant's turn)
  assert.deepEqual(reply.usage, { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });
});

test('the same seed and messages give the same text as the native chat API', async () => {
  const reply = await openai.chat.completions.create({ model: 'llama3.2', messages, max_tokens: 6, seed: 3 });
  const ollama = new Ollama({ host: sim.url('ollama') });
  const native = await ollama.chat({ model: 'llama3.2', messages, options: { num_predict: 6, seed: 3 } });
  assert.equal(reply.choices[0].message.content, native.message.content);
});

test('chat completion, streamed with usage (Ollama <= 0.32.5 framing)', async () => {
  const stream = await openai.chat.completions.create({ model: 'llama3.2', messages, max_tokens: 5, seed: 3,
    stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.length, 7);    // 5 tokens, the finish chunk, the usage chunk
  for (const chunk of chunks.slice(0, 5)) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.choices[0].delta.role, 'assistant');
    assert.equal(chunk.choices[0].finish_reason, null);
  }
  assert.deepEqual(chunks[5].choices[0].delta, { role: 'assistant', content: '' });
  assert.equal(chunks[5].choices[0].finish_reason, 'length');
  assert.deepEqual(chunks[6].choices, []);
  //  The same messages as before: the slot's cache holds all but the last prompt token
  assert.deepEqual(chunks[6].usage, { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9,
    prompt_tokens_details: { cached_tokens: 3 } });
  const whole = await openai.chat.completions.create({ model: 'llama3.2', messages, max_tokens: 5, seed: 3 });
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), whole.choices[0].message.content);
});

test('chat completion on a server >= 0.32.6: role only first, then a finish chunk with an empty delta', async () => {
  const client = new OpenAI({ baseURL: `${sim.url('vllm')}/v1`, apiKey: 'x', maxRetries: 0 });
  const chunks = [];
  for await (const chunk of await client.chat.completions.create({ model: 'qwen2.5:7b', messages, max_tokens: 3, stream: true })) {
    chunks.push(chunk);
  }
  assert.equal(chunks.length, 4);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chunks[1].choices[0].delta.role, undefined);
  assert.deepEqual(chunks[3].choices[0].delta, {});
  assert.equal(chunks[3].choices[0].finish_reason, 'length');
});

test('completions, streamed and not', async () => {
  const reply = await openai.completions.create({ model: 'llama3.2', prompt: 'Once upon a time', max_tokens: 4, seed: 1 });
  assert.match(reply.id, /^cmpl-\d+$/);
  assert.equal(reply.object, 'text_completion');
  assert.equal(reply.choices[0].finish_reason, 'length');
  assert.equal(reply.usage.completion_tokens, 4);
  let text = '';
  let finish;
  for await (const chunk of await openai.completions.create({ model: 'llama3.2', prompt: 'Once upon a time', max_tokens: 4, seed: 1, stream: true })) {
    text += chunk.choices[0].text;
    finish = chunk.choices[0].finish_reason;
  }
  assert.equal(text, reply.choices[0].text);
  assert.equal(finish, 'length');
  const ollama = new Ollama({ host: sim.url('ollama') });
  const native = await ollama.generate({ model: 'llama3.2', prompt: 'Once upon a time', options: { num_predict: 4, seed: 1 } });
  assert.equal(native.response, text);
});

test('embeddings: base64 by default (little-endian float32), float on request', async () => {
  const encoded = await openai.embeddings.create({ model: 'all-minilm', input: ['alpha', 'beta'] });
  assert.equal(encoded.object, 'list');
  assert.equal(encoded.model, 'all-minilm');
  assert.equal(encoded.data.length, 2);
  assert.deepEqual(encoded.data.map((d) => d.index), [0, 1]);
  assert.equal(encoded.data[0].embedding.length, 384);
  assert.deepEqual(encoded.usage, { prompt_tokens: 2, total_tokens: 2 });
  const floats = await openai.embeddings.create({ model: 'all-minilm', input: ['alpha', 'beta'], encoding_format: 'float' });
  for (let i = 0; i < 384; i++) {
    assert.ok(Math.abs(encoded.data[0].embedding[i] - floats.data[0].embedding[i]) < 1e-7);
  }
  const native = await new Ollama({ host: sim.url('ollama') }).embed({ model: 'all-minilm', input: 'alpha' });
  assert.ok(Math.abs(native.embeddings[0][5] - floats.data[0].embedding[5]) < 1e-7);
  const short = await openai.embeddings.create({ model: 'all-minilm', input: 'alpha', dimensions: 64, encoding_format: 'float' });
  assert.equal(short.data[0].embedding.length, 64);
  await assert.rejects(openai.embeddings.create({ model: 'all-minilm', input: [] }),
    (error) => error.status === 400 && error.message.includes('invalid input'));
});

test('models list and retrieve', async () => {
  const list = await openai.models.list();
  assert.deepEqual(list.data.map((m) => m.id), ['llama3.2:latest', 'all-minilm:latest']);
  assert.equal(list.data[0].object, 'model');
  assert.equal(list.data[0].owned_by, 'library');
  const model = await openai.models.retrieve('llama3.2:latest');
  assert.equal(model.id, 'llama3.2:latest');
  await assert.rejects(openai.models.retrieve('missing'),
    (error) => error instanceof OpenAI.NotFoundError && error.message.includes("model 'missing' not found"));
});

test('errors in OpenAI shape: missing model 404, empty messages 400', async () => {
  await assert.rejects(openai.chat.completions.create({ model: 'ghost', messages }),
    (error) => error instanceof OpenAI.NotFoundError && error.error?.type === 'not_found_error');
  await assert.rejects(openai.chat.completions.create({ model: 'llama3.2', messages: [] }),
    (error) => error instanceof OpenAI.BadRequestError && error.message.includes("[] is too short - 'messages'"));
});

test('OpenAI-only backend: /health, /v1 only, no native API; no models gives data null', async () => {
  const health = await rawRequest({ port: sim.port('vllm'), path: '/health' });
  assert.equal(health.status, 200);
  assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
  const tags = await rawRequest({ port: sim.port('vllm'), path: '/api/tags' });
  assert.equal(tags.status, 404);
  assert.equal(tags.body, '404 page not found');
  const client = new OpenAI({ baseURL: `${sim.url('vllm')}/v1`, apiKey: 'x', maxRetries: 0 });
  assert.deepEqual((await client.models.list()).data.map((m) => m.id), ['qwen2.5:7b']);
  const empty = await rawRequest({ port: sim.port('empty'), path: '/v1/models' });
  assert.deepEqual(JSON.parse(empty.body), { object: 'list', data: null });
  const root = await rawRequest({ port: sim.port('ollama'), path: '/health' });
  assert.equal(root.status, 404);
});
