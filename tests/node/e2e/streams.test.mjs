// Streams end to end: the bytes a client receives are the bytes the backend sent; a slow client
// holds the backend back instead of filling the ingress's memory; a client that leaves frees the
// backend and the lease at once (measured); HTTP/1.0 clients get close-delimited streams, or a
// clear refusal where the frontend blocks HTTP/1.0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { startFlow, startTap, waitFor, waitServing, assertCleanStop, sleep } from './flow.mjs';

const MODEL = 'llama3.2';
// Backend a streams as fast as it can ("fast"), b at 50 tokens/s ("slow")
const FAST = { 'X-OllamaFlow-Label': 'fast' };
const SLOW = { 'X-OllamaFlow-Label': 'slow' };
// Loaded-machine-safe bound on the disconnect figures (typically a few ms)
const DISCONNECT_BOUND_MS = 1000;
let flow;

// Resident memory of a process, in bytes
function rss(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match[1]) * 1024;
}

const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

// The median of some numbers
const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];

// The last exchange the simulator saw on a route of a backend, with the response body's bytes
async function backendSent(backend, route) {
  const last = await flow.sim.control(`/backends/${backend}/last${route}`);
  assert.ok(last && last.response, `no response recorded on ${backend} ${route}`);
  return { ...last, sent: Buffer.from(last.response.body_base64, 'base64') };
}

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 0, prefill_rate: 0, load_ms: 0, parallel: 4 },
      backends: [{ name: 'a', models: [MODEL] }, { name: 'b', decode_rate: 50, models: [MODEL] }],
    },
    backends: (sim) => ['a', 'b'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), HealthyThreshold: 1,
      Labels: [name === 'a' ? 'fast' : 'slow'],
    })),
    // Under AddressSanitizer, freed memory waits in a quarantine (256 MiB) before reuse, which
    // would count every byte streamed through in the ingress's RSS: keep it out of the figure
    env: { ingress: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ''}:quarantine_size_mb=0` } },
    frontends: [
      { Identifier: 'main', Hostname: '*', Backends: ['a', 'b'], BlockHttp10: false },
      // BlockHttp10 left at its default (true)
      { Identifier: 'strict', Hostname: 'strict.local', Backends: ['a', 'b'] },
    ],
  });
  // Both backends: the tests pin one of them by label, and a single answer may come from
  // either before the other's first probe is in
  await waitServing(flow, '/api/generate', { model: MODEL, prompt: 'warm up', stream: false,
    options: { num_predict: 1 } }, 2);
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('NDJSON from /api/chat arrives byte for byte as the backend sent it', async () => {
  for (const tokens of [5, 3000]) {
    const response = await fetch(`${flow.url()}/api/chat`, {
      method: 'POST', headers: FAST,
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: `bytes ${tokens}` }],
        options: { num_predict: tokens, seed: 11 } }),
    });
    assert.equal(response.status, 200);
    const received = Buffer.from(await response.arrayBuffer());
    const backend = response.headers.get('x-ollamaflow-backend');
    const last = await backendSent(backend, '/api/chat');
    assert.equal(last.response.state, 'complete');
    assert.equal(last.response.truncated, false);
    assert.equal(last.response.size, received.length);
    assert.ok(received.equals(last.sent), `${tokens} tokens: the client's ${received.length} bytes `
      + `differ from the backend's ${last.sent.length}`);
    assert.equal(received.toString().trim().split('\n').length, tokens + 1);
  }
});

test('SSE from /v1/chat/completions (the openai client\'s own request) arrives byte for byte', async () => {
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0,
    defaultHeaders: FAST });
  const response = await openai.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'sse bytes' }], stream: true, max_tokens: 400,
    stream_options: { include_usage: true },
  }).asResponse();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /text\/event-stream/);
  const received = Buffer.from(await response.arrayBuffer());
  const last = await backendSent(response.headers.get('x-ollamaflow-backend'), '/v1/chat/completions');
  assert.equal(last.response.state, 'complete');
  assert.ok(received.equals(last.sent), `the client's ${received.length} bytes differ from the `
    + `backend's ${last.sent.length}`);
  assert.match(received.toString(), /data: \[DONE\]\n\n$/);
});

// Opens a request on a raw socket and resolves once the response has begun
function openRequest(path, body, headers) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(flow.port(), '127.0.0.1');
    const text = JSON.stringify(body);
    socket.once('connect', () => socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`
      + Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
      + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`));
    socket.once('data', () => resolve(socket));
    socket.once('error', reject);
  });
}

test('a client that leaves: the backend sees it and the lease is released at once (measured)', async () => {
  const tap = startTap(flow, ['-s', 'scheduler', '-m', 'OUTCOME']);
  try {
    // The tap is subscribed once it shows an outcome
    await waitFor(async () => {
      const from = tap.count();
      const response = await fetch(`${flow.url()}/api/generate`, { method: 'POST', headers: FAST,
        body: JSON.stringify({ model: MODEL, prompt: 'tap', stream: false, options: { num_predict: 1 } }) });
      await response.text();
      await sleep(100);
      return tap.count() > from;
    }, { what: 'the tap to follow the scheduler' });
    const figures = { streaming: { backend: [], lease: [] }, waiting: { backend: [], lease: [] } };
    for (const phase of ['streaming', 'waiting']) {
      for (let round = 0; round < 5; round++) {
        const before = (await flow.sim.stats('b')).cancelled;
        const from = tap.count();
        // Streaming: the first tokens came; waiting: a non-streamed answer that takes seconds
        await waitFor(async () => (await flow.sim.stats('b')).active === 0, { what: 'b idle' });
        const socket = phase === 'streaming'
          ? await openRequest('/api/generate', { model: MODEL, prompt: `leave ${round}`,
            options: { num_predict: 1000 } }, SLOW)
          : net.connect(flow.port(), '127.0.0.1');
        if (phase === 'waiting') {
          const text = JSON.stringify({ model: MODEL, prompt: `wait ${round}`, stream: false,
            options: { num_predict: 1000 } });
          socket.write(`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nX-OllamaFlow-Label: slow\r\n`
            + `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
          await waitFor(async () => (await flow.sim.stats('b')).active === 1, { interval: 5, what: 'the generation' });
        }
        const left = performance.now();
        socket.destroy();
        await waitFor(async () => (await flow.sim.stats('b')).cancelled > before,
          { interval: 1, timeout: 5000, what: 'the cancellation at the backend' });
        figures[phase].backend.push(performance.now() - left);
        const outcome = await tap.find(from, (body) => body.Backend === 'b');
        figures[phase].lease.push(outcome.at - left);
        assert.equal(outcome.Body.Outcome, 'client_gone');
        assert.equal((await flow.sim.stats('b')).active, 0);
      }
    }
    for (const [phase, { backend, lease }] of Object.entries(figures)) {
      console.log(`disconnect while ${phase}: backend saw it after ${backend.map((ms) => ms.toFixed(1)).join(', ')} ms `
        + `(median ${median(backend).toFixed(1)}); lease released (OUTCOME on the tap) after `
        + `${lease.map((ms) => ms.toFixed(1)).join(', ')} ms (median ${median(lease).toFixed(1)})`);
      for (const ms of [...backend, ...lease]) assert.ok(ms < DISCONNECT_BOUND_MS, `${phase}: ${ms} ms`);
    }
  } finally {
    await tap.stop();
  }
});

test('a client that stops reading holds the backend back: the ingress\'s memory stays bounded', async () => {
  const TOKENS = 400000;      // about 40 MB of NDJSON, far more than the kernel buffers hold
  const ingress = flow.pid('ingress0');
  const baseline = rss(ingress);
  let peak = baseline;
  const sample = () => { peak = Math.max(peak, rss(ingress)); };
  const { response, done } = await new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: flow.port(), method: 'POST', path: '/api/generate',
      agent: false, headers: { ...FAST, 'content-type': 'application/json' } }, (res) => {
      res.pause();
      const chunks = [];
      const finished = new Promise((ok, fail) => {
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => ok(Buffer.concat(chunks)));
        res.on('error', fail);
      });
      resolve({ response: res, done: finished });
    });
    request.on('error', reject);
    request.end(JSON.stringify({ model: MODEL, prompt: 'flood', options: { num_predict: TOKENS } }));
  });
  assert.equal(response.statusCode, 200);
  // Not reading for a while: the backend has long finished writing, into its own buffers
  const stalled = performance.now();
  await waitFor(async () => {
    sample();
    const last = await flow.sim.control('/backends/a/last/api/generate');
    return last.response.state === 'complete' && performance.now() - stalled > 2000;
  }, { interval: 50, timeout: 60000, what: 'the backend to finish writing' });
  for (let i = 0; i < 10; i++) { sample(); await sleep(50); }
  const simRss = rss(flow.sim.child.pid);
  response.resume();
  const body = await done;
  sample();
  const lines = body.toString().trim().split('\n');
  assert.equal(lines.length, TOKENS + 1);
  // Every line intact (the last one, with its long context, is over 1 MB: one chunk written
  // in several pieces while the client drains)
  lines.forEach((line, index) => assert.doesNotThrow(() => JSON.parse(line), `line ${index}`));
  const final = JSON.parse(lines.at(-1));
  assert.equal(final.done, true);
  assert.equal(final.eval_count, TOKENS);
  const last = await flow.sim.control('/backends/a/last/api/generate');
  assert.equal(body.length, last.response.size, 'every byte the backend sent arrived');
  console.log(`backpressure: a ${mib(body.length)} stream to a client that stopped reading: ingress RSS `
    + `${mib(baseline)} before, peak ${mib(peak)} (+${mib(peak - baseline)}); the simulator held the rest `
    + `(RSS ${mib(simRss)} while the client paused)`);
  assert.ok(peak - baseline < 12 * 1048576, `ingress RSS grew by ${mib(peak - baseline)}`);
});

// One HTTP/1.0 exchange on a raw socket, read until the ingress closes the connection: the
// head, the body, and when the first body line and the end came (ms from the start)
function http10(path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(flow.port(), '127.0.0.1');
    const started = performance.now();
    const text = JSON.stringify(body);
    const chunks = [];
    let firstLineAt;
    socket.on('connect', () => socket.write(`POST ${path} HTTP/1.0\r\n`
      + Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
      + `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`));
    socket.on('data', (data) => {
      chunks.push(data);
      const sofar = Buffer.concat(chunks).toString();
      const start = sofar.indexOf('\r\n\r\n');
      if (firstLineAt === undefined && start >= 0 && sofar.indexOf('\n', start + 4) >= 0)
        firstLineAt = performance.now() - started;
    });
    socket.on('end', () => {
      const received = Buffer.concat(chunks).toString();
      const split = received.indexOf('\r\n\r\n');
      resolve({ head: received.slice(0, split), body: received.slice(split + 4), firstLineAt,
        endedAt: performance.now() - started });
    });
    socket.on('error', reject);
  });
}

test('HTTP/1.0 clients get streams as they come, unchunked, ended by closing the connection', async () => {
  // 20 tokens at 50 tokens/s from b: the first line must not wait for the last
  const ndjson = await http10('/api/generate',
    { model: MODEL, prompt: 'old client', options: { num_predict: 20 } }, SLOW);
  assert.match(ndjson.head, /^HTTP\/1\.0 200/);
  assert.doesNotMatch(ndjson.head, /transfer-encoding|content-length/i);
  assert.match(ndjson.head, /X-OllamaFlow-Backend: b/i);
  const lines = ndjson.body.trim().split('\n').map((line) => JSON.parse(line));
  assert.equal(lines.length, 21);
  assert.equal(lines.at(-1).done, true);
  assert.ok(ndjson.endedAt - ndjson.firstLineAt > 200,
    `first line at ${ndjson.firstLineAt.toFixed(0)} ms, end at ${ndjson.endedAt.toFixed(0)} ms`);
  // The bytes are the backend's, unframed
  const sent = await backendSent('b', '/api/generate');
  assert.equal(ndjson.body, sent.sent.toString());
  // SSE the same way
  const sse = await http10('/v1/chat/completions',
    { model: MODEL, messages: [{ role: 'user', content: 'old' }], stream: true, max_tokens: 5 }, FAST);
  assert.doesNotMatch(sse.head, /transfer-encoding/i);
  assert.match(sse.body, /^data: .*data: \[DONE\]\n\n$/s);
  // A whole answer keeps its Content-Length
  const whole = await http10('/api/generate',
    { model: MODEL, prompt: 'old', stream: false, options: { num_predict: 3 } }, FAST);
  assert.match(whole.head, /^HTTP\/1\.0 200/);
  assert.equal(Number(/content-length: (\d+)/i.exec(whole.head)[1]), Buffer.byteLength(whole.body));
  assert.equal(JSON.parse(whole.body).done, true);
});

test('BlockHttp10 (the default): HTTP/1.0 gets 505 in the route\'s dialect, HTTP/1.1 is served', async () => {
  const ollama = await http10('/api/chat', { model: MODEL, messages: [] }, { Host: 'strict.local' });
  assert.match(ollama.head, /^HTTP\/1\.0 505/);
  assert.match(JSON.parse(ollama.body).error, /HTTP\/1\.0 is not accepted on frontend 'strict' \(BlockHttp10\)/);
  const openai = await http10('/v1/chat/completions', { model: MODEL, messages: [] }, { Host: 'strict.local' });
  assert.match(openai.head, /^HTTP\/1\.0 505/);
  const error = JSON.parse(openai.body).error;
  assert.equal(error.code, 'http_version_not_supported');
  assert.equal(error.type, 'invalid_request_error');
  const modern = await new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: flow.port(), method: 'POST', path: '/api/generate',
      agent: false, headers: { host: 'strict.local', ...FAST } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    });
    request.on('error', reject);
    request.end(JSON.stringify({ model: MODEL, prompt: 'new', options: { num_predict: 2 } }));
  });
  assert.equal(modern, 200);
});
