// One test per fault mode, showing what a client sees. Faults are switched through the control endpoint.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import net from 'node:net';
import { startSim, rawRequest, sleep } from './sim.mjs';

const RUNNER_STOPPED = 'model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details';
const NO_FAULTS = { refuse: false, hang: false, slow_first_byte_ms: 0, http_500: false, http_500_every: 0, drop_after_tokens: -1,
  error_after_tokens: -1, flap_ms: 0, pull_fail: false, bad_listings: false, error_message: RUNNER_STOPPED };
let sim;
let ollama;
let openai;

before(async () => {
  sim = await startSim({
    fleet: {
      registry: [{ name: 'big-model', size: 100000000 }],
      backends: [
        { name: 'a', decode_rate: 200, prefill_rate: 0, load_ms: 0, pull_bandwidth: 500000000, models: ['llama3.2'] },
        { name: 'started-faulty', load_ms: 0, models: ['llama3.2'], faults: { http_500: true } },
        { name: 'started-down', models: ['llama3.2'], faults: { refuse: true } },
      ],
    },
  });
  ollama = new Ollama({ host: sim.url('a') });
  openai = new OpenAI({ baseURL: `${sim.url('a')}/v1`, apiKey: 'x', maxRetries: 0 });
});

after(async () => {
  // A clean exit: no crash, and no leak under AddressSanitizer
  assert.deepEqual(await sim.stop(), { code: 0, signal: null });
});
beforeEach(async () => { await sim.faults('a', NO_FAULTS); await sim.reset(); });

const chat = (options = {}) => ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], ...options });

async function collect(iterable) {
  const parts = [];
  try {
    for await (const part of iterable) parts.push(part);
  } catch (error) {
    return { parts, error };
  }
  return { parts };
}

test('refuse: open streams die, new connections are refused until the fault is cleared', async () => {
  const stream = await chat({ stream: true, options: { num_predict: 1000 } });
  const iterator = stream[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value.done, false);
  await sim.faults('a', { refuse: true });
  await assert.rejects(async () => { for (;;) if ((await iterator.next()).done) break; });
  const dropped = await sim.stats('a');
  assert.equal(dropped.cancelled, 0);
  assert.equal(dropped.faulted, 1);
  assert.equal(dropped.active, 0);
  await assert.rejects(fetch(`${sim.url('a')}/`), (error) => error.cause?.code === 'ECONNREFUSED');
  assert.equal((await sim.stats('a')).listening, false);
  await sim.faults('a', { refuse: false });
  assert.equal(await (await fetch(`${sim.url('a')}/`)).text(), 'Ollama is running');
});

test('hang: the request is accepted and never answered', async () => {
  await sim.faults('a', { hang: true });
  const started = Date.now();
  await assert.rejects(fetch(`${sim.url('a')}/api/version`, { signal: AbortSignal.timeout(300) }),
    (error) => error.name === 'TimeoutError');
  assert.ok(Date.now() - started >= 290);
  const stats = await sim.stats('a');
  assert.equal(stats.faulted, 1);
  assert.equal(stats.routes['/api/version'], 1);
});

test('slow first byte: answers arrive after the delay', async () => {
  await sim.faults('a', { slow_first_byte_ms: 300 });
  const started = Date.now();
  assert.deepEqual(await ollama.version(), { version: '0.13.0' });
  assert.ok(Date.now() - started >= 290, `took ${Date.now() - started} ms`);
});

test('http_500: every request fails with 500, native and OpenAI shape', async () => {
  await sim.faults('a', { http_500: true });
  await assert.rejects(chat(), (error) => error.status_code === 500 && error.message === RUNNER_STOPPED);
  await assert.rejects(openai.chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'x' }] }),
    (error) => error instanceof OpenAI.InternalServerError && error.message.includes(RUNNER_STOPPED));
  const faulty = new Ollama({ host: sim.url('started-faulty') });
  await assert.rejects(faulty.list(), (error) => error.status_code === 500);
});

test('http_500_every: every third request fails, the others succeed', async () => {
  await sim.faults('a', { http_500_every: 3 });
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await fetch(`${sim.url('a')}/api/version`)).status);
  assert.deepEqual(statuses, [200, 200, 500, 200, 200, 500]);
});

test('drop mid-stream: the client gets some tokens, then the connection dies without a done object', async () => {
  await sim.faults('a', { drop_after_tokens: 3 });
  const { parts, error } = await collect(await chat({ stream: true }));
  assert.equal(parts.length, 3);
  assert.ok(parts.every((p) => p.done === false));
  assert.ok(error, 'the stream must fail');
  const raw = await rawRequest({ port: sim.port('a'), method: 'POST', path: '/api/generate',
    body: { model: 'llama3.2', prompt: 'x', stream: false } }).catch((e) => e);
  assert.equal(raw.code, 'ECONNRESET');
});

test('error line mid-stream: ollama-js throws the message, openai throws APIError', async () => {
  await sim.faults('a', { error_after_tokens: 2, error_message: 'boom' });
  const { parts, error } = await collect(await chat({ stream: true }));
  assert.equal(parts.length, 2);
  assert.equal(error.message, 'boom');
  const stream = await openai.chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'x' }], stream: true });
  const oa = await collect(stream);
  assert.equal(oa.parts.length, 2);
  assert.ok(oa.error instanceof OpenAI.APIError, String(oa.error));
  assert.match(oa.error.message, /boom/);
  // Before any output the error is a plain 500
  await assert.rejects(chat({ stream: false }), (e) => e.status_code === 500 && e.message === 'boom');
});

test('flapping: the listener goes down and up in turns', async () => {
  await sim.faults('a', { flap_ms: 100 });
  const seen = new Set();
  const end = Date.now() + 700;
  while (Date.now() < end) {
    try {
      await fetch(`${sim.url('a')}/`, { signal: AbortSignal.timeout(200) });
      seen.add('up');
    } catch (error) {
      seen.add(error.cause?.code === 'ECONNREFUSED' ? 'refused' : 'dropped');
    }
    await sleep(25);
  }
  assert.ok(seen.has('up'), [...seen].join());
  assert.ok(seen.has('refused') || seen.has('dropped'), [...seen].join());
  await sim.faults('a', { flap_ms: 0 });
  assert.equal((await fetch(`${sim.url('a')}/`)).status, 200);
});

test('failing pull: the stream ends with an error half-way, and the model is not there', async () => {
  await sim.faults('a', { pull_fail: true });
  const { parts, error } = await collect(await ollama.pull({ model: 'big-model', stream: true }));
  assert.match(error.message, /max retries exceeded/);
  assert.equal(parts[0].status, 'pulling manifest');
  assert.ok(!(await ollama.list()).models.some((m) => m.name === 'big-model:latest'));
  await assert.rejects(ollama.pull({ model: 'big-model' }), (e) => e.status_code === 500);
});

test('bad listings: /api/tags, /api/ps and /v1/models answer 200 with JSON that breaks off', async () => {
  await sim.faults('a', { bad_listings: true });
  for (const path of ['/api/tags', '/api/ps', '/v1/models']) {
    const response = await fetch(`${sim.url('a')}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get('content-type'), /^application\/json/);
    const text = await response.text();
    assert.throws(() => JSON.parse(text), SyntaxError, path);
  }
  await assert.rejects(ollama.list(), SyntaxError);
  // Everything else is served as before
  assert.equal((await chat({ options: { num_predict: 2 } })).done, true);
  await sim.faults('a', { bad_listings: false });
  assert.ok((await ollama.list()).models.some((m) => m.name === 'llama3.2:latest'));
});

test('slow pull: pull_bandwidth sets the pace of the progress', async () => {
  await sim.configure('a', { pull_bandwidth: 400000000 });     // 100 MB at 400 MB/s: 250 ms
  const started = Date.now();
  const { parts, error } = await collect(await ollama.pull({ model: 'big-model', stream: true }));
  assert.equal(error, undefined);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 240 && elapsed < 2000, `took ${elapsed} ms`);
  assert.ok(parts.filter((p) => p.completed !== undefined).length >= 4);
  assert.equal(parts.at(-1).status, 'success');
  await sim.configure('a', { pull_bandwidth: 500000000 });
});

// Resolves the error code of listening on port, or null when it could (then closes)
function listenOn(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error) => resolve(error.code));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(null)));
  });
}

// A server that is down keeps its port: freed, it could go to whoever asks next for a free
// port (a test's next ingress), which would then answer health checks in the backend's name
test('refuse: the port stays the backend\'s while it is down, from the start or switched', async () => {
  const down = sim.port('started-down');
  await assert.rejects(fetch(`${sim.url('started-down')}/`), (error) => error.cause?.code === 'ECONNREFUSED');
  assert.equal(await listenOn(down), 'EADDRINUSE');
  await sim.faults('a', { refuse: true });
  assert.equal(await listenOn(sim.port('a')), 'EADDRINUSE');
  await sim.faults('a', { refuse: false });
  assert.equal(await (await fetch(`${sim.url('a')}/`)).text(), 'Ollama is running');
});

test('bad fault settings are refused by the control endpoint', async () => {
  await assert.rejects(sim.faults('a', { explode: true }), /unknown fault/);
  await assert.rejects(sim.faults('a', { hang: 'yes' }), /'hang'/);
});
