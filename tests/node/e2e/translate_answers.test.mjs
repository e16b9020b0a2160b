// Translated requests against an OpenAI-format backend whose answers the test scripts: a small
// HTTP server here that records each request it gets and answers as told (a whole JSON body
// for a streamed request, a fixed tool call, ...). What a real llama-server does is in
// translate.test.mjs; this file covers the answers a tiny random-weight model cannot give.
// Frontend 'open' (any Host) pins options.temperature; frontend 'shut' (Host localhost)
// allows neither completions nor embeddings. The backend takes images for model 'vision' only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Ollama } from 'ollama';
import { startFlow, waitFor, assertCleanStop } from './flow.mjs';

const MODEL = 'fake-model';
let flow;
let backend;
const seen = [];                // the bodies the backend got, newest last

// The answer the backend gives next, by the last message's (or prompt's) text
const TOOL_CALL = { id: 'call_1', type: 'function',
  function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"C"}' } };
const USAGE = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };

function completion(message, finish) {
  return { id: 'x', object: 'chat.completion', created: 1, model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }], usage: USAGE };
}

function sse(response, chunks) {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const chunk of chunks) response.write(`data: ${JSON.stringify(chunk)}\n\n`);
  response.end('data: [DONE]\n\n');
}

const delta = (d, finish = null) => ({ object: 'chat.completion.chunk', model: MODEL,
  choices: [{ index: 0, delta: d, finish_reason: finish }] });

function answer(request, response, body) {
  seen.push({ path: request.url, body });
  if (request.url === '/v1/embeddings') {
    const text = JSON.stringify({ object: 'list', model: MODEL, usage: { prompt_tokens: 2, total_tokens: 2 },
      data: [{ object: 'embedding', index: 0, embedding: [0.25, 0.5] }] });
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    response.end(text);
    return;
  }
  const said = body.messages?.at(-1)?.content ?? '';
  const whole = (object, { chunked = false } = {}) => {
    const text = JSON.stringify(object);
    if (chunked) {
      // The same whole body, sent in two chunks of a chunked response
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write(text.slice(0, 10));
      response.end(text.slice(10));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    response.end(text);
  };
  if (said === 'whole')
    return whole(completion({ content: 'all at once' }, 'stop'));
  if (said === 'whole-chunked')
    return whole(completion({ content: 'in two pieces' }, 'length'), { chunked: true });
  if (said === 'tool') {
    if (!body.stream) return whole(completion({ content: '', tool_calls: [TOOL_CALL] }, 'tool_calls'));
    // Streamed as OpenAI servers do: the call's name first, its arguments in pieces
    return sse(response, [
      delta({ role: 'assistant', content: null }),
      delta({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: '{"city":"Pa' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: 'ris","unit":"C"}' } }] }),
      delta({}, 'tool_calls'),
      { object: 'chat.completion.chunk', model: MODEL, choices: [], usage: USAGE },
    ]);
  }
  if (!body.stream) return whole(completion({ content: 'fine' }, 'stop'));
  return sse(response, [delta({ content: 'fi' }), delta({ content: 'ne' }), delta({}, 'stop'),
    { object: 'chat.completion.chunk', model: MODEL, choices: [], usage: USAGE }]);
}

function startBackend() {
  const server = http.createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => { text += chunk; });
    request.on('end', () => {
      if (request.method === 'GET' && request.url === '/health') return response.end('{"status":"ok"}');
      if (request.method === 'GET' && request.url === '/v1/models') {
        response.writeHead(200, { 'content-type': 'application/json' });
        return response.end(JSON.stringify({ object: 'list', data: [MODEL, 'vision'].map((id) => ({ id, object: 'model', owned_by: 'me' })) }));
      }
      answer(request, response, JSON.parse(text || '{}'));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const openUrl = () => `http://127.0.0.1:${flow.port()}`;
const shutUrl = () => `http://localhost:${flow.port()}`;
const lastSeen = () => seen.at(-1);

before(async () => {
  backend = await startBackend();
  flow = await startFlow({
    // The sim is part of every flow; no frontend here uses it
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 0, load_ms: 0 }, backends: [{ name: 'unused', models: [] }] },
    backends: () => [{ Identifier: 'fake', Hostname: '127.0.0.1', Port: backend.address().port,
      HealthyThreshold: 1, ApiFormat: 'OpenAI', HealthCheckUrl: '/health', ImageModels: ['vision:latest'] }],
    frontends: [
      { Identifier: 'shut', Hostname: 'localhost', Backends: ['fake'], AllowCompletions: false,
        AllowEmbeddings: false },
      { Identifier: 'open', Hostname: '*', Backends: ['fake'],
        PinnedCompletionsProperties: { options: { temperature: 0.25, num_predict: 40 } },
        PinnedEmbeddingsProperties: { dimensions: 2 } },
    ],
  });
  const ollama = new Ollama({ host: openUrl() });
  await waitFor(async () => (await ollama.chat({ model: MODEL, stream: false,
    messages: [{ role: 'user', content: 'up?' }] })).done, { what: 'the fake backend serving' });
});

after(async () => {
  if (flow) assertCleanStop(assert, await flow.stop());
  backend?.close();
});

test('a whole JSON answer to a streamed request is one final NDJSON object', async () => {
  const ollama = new Ollama({ host: openUrl() });
  for (const [said, content, reason] of [['whole', 'all at once', 'stop'], ['whole-chunked', 'in two pieces', 'length']]) {
    const parts = [];
    for await (const part of await ollama.chat({ model: MODEL, stream: true,
      messages: [{ role: 'user', content: said }] })) parts.push(part);
    assert.equal(lastSeen().body.stream, true);
    assert.equal(parts.length, 1, JSON.stringify(parts));
    const [only] = parts;
    assert.equal(only.done, true);
    assert.equal(only.done_reason, reason);
    assert.equal(only.message.role, 'assistant');
    assert.equal(only.message.content, content);
    assert.equal(only.prompt_eval_count, 11);
    assert.equal(only.eval_count, 3);
    assert.equal(only.model, MODEL);
  }
  // The raw bytes: NDJSON, one line ending in a newline
  const response = await fetch(`${openUrl()}/api/chat`, { method: 'POST',
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'whole' }] }) });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'application/x-ndjson');
  const text = await response.text();
  assert.ok(text.endsWith('}\n') && text.split('\n').length === 2, text);
  // A non-streamed client still gets one JSON object
  const plain = await fetch(`${openUrl()}/api/chat`, { method: 'POST',
    body: JSON.stringify({ model: MODEL, stream: false, messages: [{ role: 'user', content: 'whole' }] }) });
  assert.match(plain.headers.get('content-type'), /^application\/json/);
  assert.equal((await plain.json()).message.content, 'all at once');
  const chunked = await new Ollama({ host: openUrl() }).chat({ model: MODEL, stream: false,
    messages: [{ role: 'user', content: 'whole-chunked' }] });
  assert.equal(chunked.message.content, 'in two pieces');
  assert.equal(chunked.done_reason, 'length');
});

test('pins apply in the client dialect, then translate into the backend fields', async () => {
  const ollama = new Ollama({ host: openUrl() });
  // The client's own temperature is replaced by the pin, num_predict pinned to 40
  await ollama.chat({ model: MODEL, stream: false, messages: [{ role: 'user', content: 'hi' }],
    options: { temperature: 0.9, top_k: 5 } });
  const chat = lastSeen();
  assert.equal(chat.path, '/v1/chat/completions');
  assert.equal(chat.body.temperature, 0.25);
  assert.equal(chat.body.max_tokens, 40);
  assert.equal(chat.body.top_k, 5);
  assert.equal(chat.body.options, undefined);
  await ollama.generate({ model: MODEL, prompt: 'hi', stream: false });
  assert.equal(lastSeen().body.temperature, 0.25);
  assert.equal(lastSeen().body.max_tokens, 40);
  // The embeddings pin is Ollama's dimensions, sent as OpenAI's
  const embedded = await ollama.embed({ model: MODEL, input: 'a cat' });
  assert.deepEqual(embedded.embeddings, [[0.25, 0.5]]);
  assert.equal(lastSeen().path, '/v1/embeddings');
  assert.equal(lastSeen().body.dimensions, 2);
  assert.equal(lastSeen().body.input, 'a cat');
});

test('AllowCompletions and AllowEmbeddings hold for translated requests', async () => {
  const ollama = new Ollama({ host: shutUrl() });
  const before = seen.length;
  await assert.rejects(ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    (error) => error.status_code === 403);
  await assert.rejects(ollama.generate({ model: MODEL, prompt: 'hi' }), (error) => error.status_code === 403);
  await assert.rejects(ollama.embed({ model: MODEL, input: 'x' }), (error) => error.status_code === 403);
  await assert.rejects(ollama.embeddings({ model: MODEL, prompt: 'x' }), (error) => error.status_code === 403);
  assert.equal(seen.length, before, 'nothing reached the backend');
});

test('tools go to the backend as OpenAI tools; its tool_calls come back as Ollama tool_calls', async () => {
  const ollama = new Ollama({ host: openUrl() });
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } },
      required: ['city'] } } }];
  const want = [{ function: { name: 'get_weather', arguments: { city: 'Paris', unit: 'C' } } }];
  const whole = await ollama.chat({ model: MODEL, stream: false, tools,
    messages: [{ role: 'user', content: 'tool' }] });
  assert.deepEqual(lastSeen().body.tools, tools);
  assert.equal(whole.done_reason, 'stop');
  assert.deepEqual(whole.message.tool_calls, want);
  // Streamed: the pieces joined, in the final object
  const parts = [];
  for await (const part of await ollama.chat({ model: MODEL, stream: true, tools,
    messages: [{ role: 'user', content: 'tool' }] })) parts.push(part);
  assert.deepEqual(lastSeen().body.tools, tools);
  assert.equal(parts.at(-1).done, true);
  assert.deepEqual(parts.at(-1).message.tool_calls, want);
  assert.equal(parts.at(-1).eval_count, 3);
  // The next turn: the assistant's call (arguments an object) and the tool's answer go back
  // in OpenAI's shape (arguments a JSON string, tool_name as name)
  await ollama.chat({ model: MODEL, stream: false, tools, messages: [
    { role: 'user', content: 'weather?' },
    { role: 'assistant', content: '', tool_calls: want },
    { role: 'tool', tool_name: 'get_weather', content: '12 degrees' },
  ] });
  const [, call, result] = lastSeen().body.messages;
  assert.equal(call.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.tool_calls[0].function.arguments), { city: 'Paris', unit: 'C' });
  assert.equal(call.tool_calls[0].type, 'function');
  assert.equal(result.role, 'tool');
  assert.equal(result.name, 'get_weather');
  assert.equal(result.content, '12 degrees');
});

test('images go to the backend as content parts only for the models its ImageModels names', async () => {
  const ollama = new Ollama({ host: openUrl() });
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
  const jpeg = '/9j/4AAQSkZJRgABAQ';
  await ollama.chat({ model: 'vision', stream: false,
    messages: [{ role: 'user', content: 'what is it?', images: [png, jpeg] }] });
  assert.deepEqual(lastSeen().body.messages[0].content, [
    { type: 'text', text: 'what is it?' },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
    { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg}` } },
  ]);
  assert.equal(lastSeen().body.model, 'vision');
  await ollama.generate({ model: 'vision:latest', prompt: 'describe', images: [png], stream: false });
  assert.deepEqual(lastSeen().body.messages.at(-1).content, [
    { type: 'text', text: 'describe' },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
  ]);
  // A message without images keeps its content a string
  await ollama.chat({ model: 'vision', stream: false, messages: [{ role: 'user', content: 'plain' }] });
  assert.equal(lastSeen().body.messages[0].content, 'plain');
  // Another model, or raw generate: refused, naming the field, and nothing sent
  const before = seen.length;
  await assert.rejects(ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'x', images: [png] }] }),
    (error) => error.status_code === 400 && /messages\[0\]\.images/.test(error.message) && /ImageModels/.test(error.message));
  await assert.rejects(ollama.generate({ model: MODEL, prompt: 'x', images: [png] }),
    (error) => error.status_code === 400 && /^images/.test(error.message));
  await assert.rejects(ollama.generate({ model: 'vision', prompt: 'x', raw: true, images: [png] }),
    (error) => error.status_code === 400 && /raw/.test(error.message));
  assert.equal(seen.length, before);
});
