// Bytes on the wire: status codes, content types, Host check, pacing, pipelining, HTTP/1.0,
// keep-alive expiry, and what the control endpoint records of each request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startSim, rawRequest, rawExchange, sleep, waitFor } from './sim.mjs';

const RFC3339NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
let sim;
let port;

before(async () => {
  sim = await startSim({
    fleet: {
      backends: [
        { name: 'a', decode_rate: 20, prefill_rate: 0, load_ms: 0, pull_bandwidth: 0, models: ['llama3.2'] },
        { name: 'open', host_check: false, load_ms: 0, models: ['llama3.2'] },
      ],
    },
  });
  port = sim.port('a');
});

after(async () => {
  // A clean exit: no crash, and no leak under AddressSanitizer
  assert.deepEqual(await sim.stop(), { code: 0, signal: null });
});

const post = (path, body, headers = {}) => rawRequest({ port, method: 'POST', path, body,
  headers: { 'content-type': 'application/json', ...headers } });

test('GET and HEAD /', async () => {
  const get = await rawRequest({ port });
  assert.equal(get.status, 200);
  assert.equal(get.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(get.body, 'Ollama is running');
  const head = await rawRequest({ port, method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '17');
  assert.equal(head.body, '');
  const version = await rawRequest({ port, method: 'HEAD', path: '/api/version' });
  assert.equal(version.status, 200);
});

test('unknown paths are 404 text, wrong methods 405 text', async () => {
  const missing = await rawRequest({ port, path: '/api/nothing' });
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['content-type'], 'text/plain');
  assert.equal(missing.body, '404 page not found');
  const prefix = await rawRequest({ port, path: '/api/tagsx' });
  assert.equal(prefix.status, 404);
  const wrong = await rawRequest({ port, path: '/api/chat' });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.body, '405 method not allowed');
  assert.equal((await post('/api/tags', {})).status, 405);
});

test('Host check on a loopback bind: 403 with an empty body for a foreign Host', async () => {
  const foreign = await rawRequest({ port, path: '/api/tags', headers: { host: 'ollama.example.com' } });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.body, '');
  for (const host of ['localhost:11434', '127.0.0.1', '10.1.2.3:80', '192.168.1.9', 'box.internal',
    'printer.local', 'app.localhost', '[::1]:11434', '0.0.0.0']) {
    const allowed = await rawRequest({ port, path: '/api/tags', headers: { host } });
    assert.equal(allowed.status, 200, host);
  }
  const off = await rawRequest({ port: sim.port('open'), path: '/api/tags', headers: { host: 'ollama.example.com' } });
  assert.equal(off.status, 200);
  assert.equal((await sim.stats('a')).forbidden, 1);
});

test('the control endpoint shows the last request with its headers and body', async () => {
  const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false, options: { num_predict: 1 } };
  const reply = await post('/api/chat?trace=1', body, { authorization: 'Bearer secret', 'x-forwarded-for': '203.0.113.7' });
  assert.equal(reply.status, 200);
  const last = await sim.control('/backends/a/last');
  assert.equal(last.method, 'POST');
  assert.equal(last.path, '/api/chat');
  assert.equal(last.query, 'trace=1');
  assert.equal(last.headers.host, `127.0.0.1:${port}`);
  assert.equal(last.headers.authorization, 'Bearer secret');
  assert.equal(last.headers['x-forwarded-for'], '203.0.113.7');
  assert.deepEqual(JSON.parse(last.body), body);
  const stats = await sim.stats('a');
  assert.ok(stats.routes['/api/chat'] >= 1);
  await sim.reset();
  const reset = await sim.stats('a');
  assert.equal(reset.requests, 0);
  assert.deepEqual(reset.routes, {});
  assert.equal(reset.last_request, null);
});

test('the control endpoint keeps the last exchange per route, with the response\'s exact bytes', async () => {
  const reply = await post('/api/generate', { model: 'llama3.2', prompt: 'record me', options: { num_predict: 4 } });
  assert.equal(reply.status, 200);
  // Another route since then does not hide it
  assert.equal((await rawRequest({ port, path: '/api/tags' })).status, 200);
  assert.equal((await sim.control('/backends/a/last')).path, '/api/tags');
  const last = await sim.control('/backends/a/last/api/generate');
  assert.equal(last.path, '/api/generate');
  assert.equal(last.response.status, 200);
  assert.equal(last.response.state, 'complete');
  assert.equal(last.response.size, Buffer.byteLength(reply.body));
  assert.equal(Buffer.from(last.response.body_base64, 'base64').toString(), reply.body);
  // A whole reply is recorded too; a stream cut by the client shows as aborted
  const whole = await sim.control('/backends/a/last/api/tags');
  assert.equal(whole.response.state, 'complete');
  assert.ok(JSON.parse(Buffer.from(whole.response.body_base64, 'base64').toString()).models);
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}/api/generate`, { method: 'POST', signal: controller.signal,
    body: JSON.stringify({ model: 'llama3.2', prompt: 'cut', options: { num_predict: 100 } }) });
  await response.body.getReader().read();
  controller.abort();
  await waitFor(async () => (await sim.control('/backends/a/last/api/generate')).response.state === 'aborted');
  assert.equal((await sim.control('/backends/a/last/api/embed')), null);
  await assert.rejects(sim.control('/backends/a/last/api/nothing'), /no such route/);
});

test('content types of replies and streams', async () => {
  assert.equal((await rawRequest({ port, path: '/api/tags' })).headers['content-type'], 'application/json; charset=utf-8');
  assert.equal((await rawRequest({ port, path: '/v1/models' })).headers['content-type'], 'application/json');
  const ndjson = await post('/api/generate', { model: 'llama3.2', prompt: 'x', options: { num_predict: 1 } });
  assert.equal(ndjson.headers['content-type'], 'application/x-ndjson');
  assert.equal(ndjson.headers['transfer-encoding'], 'chunked');
  const lines = ndjson.body.trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(lines.length, 2);
  for (const line of lines) assert.match(line.created_at, RFC3339NANO);
  assert.deepEqual(Object.keys(lines[1]), ['model', 'created_at', 'response', 'done', 'done_reason', 'context',
    'total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration']);
  const sse = await post('/v1/chat/completions', { model: 'llama3.2', messages: [{ role: 'user', content: 'x' }], stream: true, max_tokens: 1 });
  assert.equal(sse.headers['content-type'], 'text/event-stream');
  assert.match(sse.body, /^data: \{.*\}\n\ndata: \{.*\}\n\ndata: \[DONE\]\n\n$/);
});

test('tokens are paced by decode_rate (20 tokens/s)', async () => {
  const started = Date.now();
  const response = await fetch(`http://127.0.0.1:${port}/api/generate`, { method: 'POST',
    body: JSON.stringify({ model: 'llama3.2', prompt: 'x', options: { num_predict: 10 } }) });
  const times = [];
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body) {
    text += decoder.decode(chunk);
    const count = text.split('\n').length - 1;
    while (times.length < count) times.push(Date.now() - started);
  }
  assert.equal(times.length, 11);
  assert.ok(times[0] >= 40 && times[0] < 200, `first token after ${times[0]} ms`);
  assert.ok(times[9] >= 480 && times[9] < 900, `last token after ${times[9]} ms`);
  const done = JSON.parse(text.trim().split('\n').at(-1));
  assert.equal(done.eval_duration, 500000000);
});

test('pipelined requests on one connection are all answered', async () => {
  const request = `GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const generate = JSON.stringify({ model: 'llama3.2', prompt: 'x', options: { num_predict: 2 } });
  const streamed = `POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${generate.length}\r\n\r\n${generate}`;
  const received = await rawExchange(port, request + streamed + request, { idleMs: 400 });
  assert.equal(received.match(/HTTP\/1\.1 200/g).length, 3);
  assert.equal(received.match(/"version":"0.13.0"/g).length, 2);
  assert.match(received, /"done":true/);
});

test('HTTP/1.0 streams are sent as they come, without chunked encoding, ended by closing', async () => {
  // 8 tokens at 20 tokens/s: the first lines must not wait for the last
  const generate = JSON.stringify({ model: 'llama3.2', prompt: 'x', options: { num_predict: 8 } });
  const { received, firstLineAt, endedAt } = await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const started = Date.now();
    let text = '';
    let firstLineAt;
    socket.on('connect', () => socket.write(
      `POST /api/generate HTTP/1.0\r\nContent-Length: ${generate.length}\r\n\r\n${generate}`));
    socket.on('data', (data) => {
      text += data;
      if (firstLineAt === undefined && /\r\n\r\n.*\n/s.test(text)) firstLineAt = Date.now() - started;
    });
    socket.on('end', () => resolve({ received: text, firstLineAt, endedAt: Date.now() - started }));
    socket.on('error', reject);
  });
  assert.match(received, /^HTTP\/1\.0 200/);
  const [head, body] = received.split('\r\n\r\n');
  assert.doesNotMatch(head, /chunked|content-length/i);
  assert.equal(body.trim().split('\n').length, 9);
  assert.ok(endedAt - firstLineAt > 200, `first line at ${firstLineAt} ms, end at ${endedAt} ms`);
});

test('bad requests get Ollama\'s errors', async () => {
  const empty = await rawRequest({ port, method: 'POST', path: '/api/chat' });
  assert.equal(empty.status, 400);
  assert.equal(empty.headers['content-type'], 'application/json; charset=utf-8');
  assert.deepEqual(JSON.parse(empty.body), { error: 'missing request body' });
  const invalid = await post('/api/generate', 'hello');
  assert.deepEqual(JSON.parse(invalid.body), { error: "invalid character 'h' looking for beginning of value" });
  const noModel = await post('/api/chat', { messages: [] });
  assert.deepEqual([noModel.status, JSON.parse(noModel.body)], [400, { error: 'model is required' }]);
  const noModelGenerate = await post('/api/generate', { prompt: 'x' });
  assert.deepEqual([noModelGenerate.status, JSON.parse(noModelGenerate.body)], [404, { error: "model '' not found" }]);
  const badInput = await post('/api/embed', { model: 'llama3.2', input: 5 });
  assert.deepEqual([badInput.status, JSON.parse(badInput.body)], [400, { error: 'invalid input type' }]);
  const many = await post('/api/embed', { model: 'llama3.2', input: new Array(3000).fill('x') });
  assert.deepEqual([many.status, JSON.parse(many.body)], [400, { error: 'too many inputs: at most 2048' }]);
  const v1 = await post('/v1/chat/completions', { model: 'nope', messages: [{ role: 'user', content: 'x' }] });
  assert.deepEqual([v1.status, JSON.parse(v1.body)], [404,
    { error: { message: "model 'nope' not found", type: 'not_found_error', param: null, code: null } }]);
});

test('model names are case-insensitive and echoed as sent', async () => {
  const reply = await post('/api/generate', { model: 'LLAMA3.2:Latest', prompt: 'x', stream: false, options: { num_predict: 1 } });
  assert.equal(reply.status, 200);
  assert.equal(JSON.parse(reply.body).model, 'LLAMA3.2:Latest');
});

test('malformed requests never crash the simulator', async () => {
  await sim.configure('a', { decode_rate: 0 });
  const bodies = ['', '{', '[]', '"x"', '12', 'null', '{"model":5}', '{"model":"llama3.2","messages":"x"}',
    '{"model":"llama3.2","messages":[1,2]}', '{"model":"llama3.2","messages":[{"content":5}]}',
    '{"model":"llama3.2","prompt":7}', '{"model":"llama3.2","prompt":"x","options":[]}',
    '{"model":"llama3.2","prompt":"x","options":{"num_predict":"many"}}',
    '{"model":"llama3.2","prompt":"x","keep_alive":"forever"}', '{"model":"llama3.2","input":[1]}',
    '{"model":"llama3.2","input":"x","dimensions":100000}', '{"source":1,"destination":null}',
    '{"model":"' + 'x'.repeat(5000) + '"}', '['.repeat(5000), '{"model":"\u0000bad"}'];
  const paths = ['/api/generate', '/api/chat', '/api/embed', '/api/embeddings', '/api/show', '/api/pull',
    '/api/push', '/api/copy', '/v1/chat/completions', '/v1/completions', '/v1/embeddings'];
  for (const path of paths) {
    for (const body of bodies) {
      const reply = await rawRequest({ port, method: 'POST', path, body, headers: { 'content-type': 'application/json' } });
      assert.ok(reply.status < 500 || path.includes('pull') || path.includes('push'), `${path} ${body.slice(0, 40)}: ${reply.status}`);
    }
  }
  const garbage = await rawExchange(port, 'GARBAGE / HTTP/9.9\r\n\r\n\x00\x01\x02', { idleMs: 200 });
  assert.doesNotMatch(garbage, /HTTP\/1\.1 200/);
  const deleteBad = await rawRequest({ port, method: 'DELETE', path: '/api/delete', body: '{"model":[]}' });
  assert.equal(deleteBad.status, 400);
  assert.equal((await rawRequest({ port })).body, 'Ollama is running');
  await sim.configure('a', { decode_rate: 20 });
});

test('an instant stream of many tokens arrives whole', async () => {
  await sim.configure('a', { decode_rate: 0 });
  const reply = await post('/api/generate', { model: 'llama3.2', prompt: 'x', options: { num_predict: 2000 } });
  const lines = reply.body.trim().split('\n');
  assert.equal(lines.length, 2001);
  assert.equal(JSON.parse(lines[2000]).eval_count, 2000);
  await sim.configure('a', { decode_rate: 20 });
});

test('a slow reader of a large instant stream gets every byte in order', async () => {
  await sim.configure('a', { decode_rate: 0 });
  const tokens = 20000;
  const body = JSON.stringify({ model: 'llama3.2', prompt: 'slow', options: { num_predict: tokens } });
  const received = await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks = [];
    socket.on('connect', () => {
      socket.write(`POST /api/generate HTTP/1.0\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      socket.pause();                                   // let the server's socket buffer fill up
      setTimeout(() => socket.resume(), 300);
    });
    socket.on('data', (data) => chunks.push(data));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
  const lines = received.split('\r\n\r\n')[1].trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(lines.length, tokens + 1);
  const whole = await post('/api/generate', { model: 'llama3.2', prompt: 'slow', stream: false, options: { num_predict: tokens } });
  assert.equal(lines.map((l) => l.response).join(''), JSON.parse(whole.body).response);
  // Chunked (HTTP/1.1) too: the direct socket writes and the buffered ones must keep their order
  const raw = await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks = [];
    socket.on('connect', () => {
      socket.write(`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`);
      socket.pause();
      setTimeout(() => socket.resume(), 300);
    });
    socket.on('data', (data) => chunks.push(data));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
  let rest = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  let decoded = '';
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (size === 0) break;
    decoded += rest.slice(eol + 2, eol + 2 + size);
    assert.equal(rest.slice(eol + 2 + size, eol + 4 + size), '\r\n');
    rest = rest.slice(eol + 4 + size);
  }
  const parts = decoded.trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(parts.length, tokens + 1);
  assert.equal(parts.map((p) => p.response).join(''), JSON.parse(whole.body).response);
  await sim.configure('a', { decode_rate: 20 });
});

test('a model unloads keep_alive after its last use', async () => {
  const ps = async () => JSON.parse((await rawRequest({ port, path: '/api/ps' })).body).models;
  await post('/api/generate', { model: 'llama3.2', prompt: 'x', keep_alive: '300ms', stream: false, options: { num_predict: 1 } });
  const loaded = await ps();
  assert.equal(loaded.length, 1);
  assert.ok(Date.parse(loaded[0].expires_at) - Date.now() <= 300);
  await waitFor(async () => (await ps()).length === 0, { timeoutMs: 1500 });
  await sleep(10);
});
