// The request validator end to end: a body field of the wrong type is refused with a 400 that
// names it, in the route's dialect, from the real ollama and openai clients and from raw HTTP,
// and never reaches a backend (the simulator's request counts stay where they were).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startOneBackend, proxiedRequests, waitHealthy, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
let flow;

before(async () => {
  flow = await startOneBackend({
    models: [MODEL, 'all-minilm'],
    frontend: { PinnedCompletionsProperties: { options: { temperature: 0.5 } } },
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

const backendRequests = () => proxiedRequests(flow);

const post = async (path, body, method = 'POST') => {
  const response = await fetch(`${flow.url()}${path}`, {
    method, body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: response.status, body: await response.json() };
};

// Each case: route, body, the text the error must hold; every one is refused before a lease
const CASES = [
  ['/api/chat', { model: 5, messages: [] }, 'model: must be a string'],
  ['/api/generate', { model: [MODEL], prompt: 'x' }, 'model: must be a string'],
  ['/api/chat', { model: MODEL, stream: 'yes', messages: [] }, 'stream: must be true or false'],
  ['/api/chat', { model: MODEL, options: 'fast', messages: [] }, 'options: must be an object'],
  ['/api/generate', { model: MODEL, prompt: 'x', options: { num_predict: '5' } },
    'options.num_predict: must be a number'],
  ['/api/generate', { model: MODEL, prompt: 'x', options: { stop: [1] } }, 'options.stop: must be'],
  ['/api/generate', { model: MODEL, prompt: 'x', keep_alive: true }, 'keep_alive: must be'],
  ['/api/generate', { model: MODEL, prompt: { text: 'x' } }, 'prompt: must be a string'],
  ['/api/chat', { model: MODEL, messages: { role: 'user' } }, 'messages: must be an array'],
  ['/api/chat', { model: MODEL, messages: ['hi'] }, 'messages[0]: must be an object'],
  ['/api/chat', { model: MODEL, messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 7 }] },
    'messages[1].content: must be a string'],
  ['/api/chat', { model: MODEL, messages: [{ role: 'user', content: 'a', images: [1] }] },
    'messages[0].images: must be an array of strings'],
  ['/api/embed', { model: 'all-minilm', input: [1, 2] }, 'input: must be a string or an array of strings'],
  ['/api/embeddings', { model: 'all-minilm', prompt: 3 }, 'prompt: must be a string'],
  ['/api/show', { name: 5 }, 'name: must be a string'],
  ['/api/pull', { model: MODEL, stream: 'no' }, 'stream: must be true or false'],
  ['/api/delete', { model: 1 }, 'model: must be a string'],
  ['/v1/chat/completions', { model: 5, messages: [] }, 'model: must be a string'],
  ['/v1/chat/completions', { model: MODEL, messages: [{ role: 3, content: 'x' }] },
    'messages[0].role: must be a string'],
  ['/v1/completions', { model: MODEL, prompt: 'x', stream: 1 }, 'stream: must be true or false'],
  ['/v1/embeddings', { model: 'all-minilm', input: 'x', dimensions: 'many' }, 'dimensions: must be an integer'],
];

test(`${CASES.length} wrong field types over raw HTTP: 400 naming the field, in the route's dialect, `
  + 'and nothing reaches the backend', async () => {
  const before = await backendRequests();
  for (const [path, body, expected] of CASES) {
    const { status, body: error } = await post(path, body, path === '/api/delete' ? 'DELETE' : 'POST');
    assert.equal(status, 400, `${path} ${JSON.stringify(body)}`);
    if (path.startsWith('/v1/')) {
      assert.equal(error.error.type, 'invalid_request_error');
      assert.equal(error.error.code, 'invalid_request');
      assert.ok(error.error.message.includes(expected), `${path}: ${error.error.message}`);
    }
    else
      assert.ok(error.error.includes(expected), `${path}: ${error.error}`);
  }
  assert.equal(await backendRequests(), before, 'a refused request reached the backend');
});

test('the real clients see the 400 and the field', async () => {
  const before = await backendRequests();
  const ollama = new Ollama({ host: flow.url() });
  await assert.rejects(ollama.chat({ model: 5, messages: [{ role: 'user', content: 'x' }] }),
    (error) => error.status_code === 400 && /model: must be a string/.test(error.error));
  await assert.rejects(ollama.generate({ model: MODEL, prompt: 'x', options: { temperature: 'hot' } }),
    (error) => error.status_code === 400 && /options.temperature: must be a number/.test(error.error));
  await assert.rejects(ollama.chat({ model: MODEL, messages: [{ role: 'user', content: { text: 'x' } }] }),
    (error) => error.status_code === 400 && /messages\[0\].content/.test(error.error));
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
  await assert.rejects(openai.chat.completions.create({ model: 5, messages: [{ role: 'user', content: 'x' }] }),
    (error) => error.status === 400 && /model: must be a string/.test(error.message)
      && error.type === 'invalid_request_error');
  assert.equal(await backendRequests(), before, 'a refused request reached the backend');
});

test('right types, nulls as absent, and fields the ingress does not read still pass', async () => {
  const before = await backendRequests();
  let result = await post('/api/chat', { model: MODEL, stream: false, messages: [{ role: 'user',
    content: 'hi', images: null }], options: { num_predict: 2, mirostat: 0 }, keep_alive: '5m',
  format: null, tools: null, think: null, something_new: { any: 1 } });
  assert.equal(result.status, 200, JSON.stringify(result.body));
  result = await post('/api/generate', { model: MODEL, prompt: 'hi', stream: false, keep_alive: 0,
    options: { num_predict: 1, stop: 'x' } });
  assert.equal(result.status, 200, JSON.stringify(result.body));
  const ollama = new Ollama({ host: flow.url() });
  const answer = await ollama.embed({ model: 'all-minilm', input: ['a', 'b'] });
  assert.equal(answer.embeddings.length, 2);
  assert.equal(await backendRequests(), before + 3);
});
