// The access log: one JSON line per request with what the clients saw (request id, backend,
// status, outcome, tokens, times), bodies only where the frontend asks, refusals with their
// reason; sampled one in N, to standard output, and nothing at all when off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, binPath, freePort, waitFor, waitHealthy, hostRequest, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
const dir = mkdtempSync(join(tmpdir(), 'ollamaflow-access-'));
const file = join(dir, 'access.log');
let flow;

before(async () => {
  flow = await startFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 0, load_ms: 1, parallel: 4 },
      backends: [{ name: 'a', models: [MODEL] }] },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'] },
      { Identifier: 'logged', Hostname: 'logged.local', Backends: ['a'], LogRequestBody: true, LogResponseBody: true }],
    settings: { AccessLog: { SampleEvery: 1, File: file } },
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'warm up', stream: false, options: { num_predict: 1 } });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
  rmSync(dir, { recursive: true, force: true });
});

const lines = () => existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const lineOf = (id) => waitFor(() => lines().find((l) => l.RequestId === id), { what: `the access log line of ${id}` });

test('a streamed chat from the ollama client is one line with its id, backend, tokens and times', async () => {
  const ollama = new Ollama({ host: flow.url(), headers: { 'X-Request-Id': 'access-1' } });
  let last;
  for await (const part of await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }],
    stream: true, options: { num_predict: 6 } })) last = part;
  const line = await lineOf('access-1');
  assert.equal(line.Ingress, 'replica-0');
  assert.equal(line.Frontend, 'main');
  assert.equal(line.Backend, 'a');
  assert.equal(line.Route, '/api/chat');
  assert.equal(line.Kind, 'completions');
  assert.equal(line.Model, MODEL);
  assert.equal(line.Status, 200);
  assert.equal(line.Outcome, 'ok');
  assert.equal(line.Reason, null);
  assert.equal(line.CompletionTokens, last.eval_count);
  assert.equal(line.PromptTokens, last.prompt_eval_count);
  // Ollama's durations are nanoseconds, the line's milliseconds
  assert.equal(line.LoadMs, Math.round(last.load_duration / 1000) / 1000);
  assert.equal(line.PrefillMs, Math.round(last.prompt_eval_duration / 1000) / 1000);
  assert.equal(line.DecodeMs, Math.round(last.eval_duration / 1000) / 1000);
  assert.ok(line.Bytes > 0);
  assert.ok(line.TtfbMs > 0 && line.TtfbMs <= line.TotalMs, `${line.TtfbMs} <= ${line.TotalMs}`);
  assert.equal(typeof line.QueueMs, 'number');
  assert.ok(Math.abs(Date.parse(line.Time) - Date.now()) < 5000);
  assert.equal('RequestBody' in line, false, 'no body unless the frontend says so');
  assert.equal('ResponseBody' in line, false);
});

test('the openai client\'s usage, and bodies where the frontend has LogRequestBody and LogResponseBody', async () => {
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0,
    defaultHeaders: { 'X-Request-Id': 'access-2' } });
  const done = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 3 });
  const line = await lineOf('access-2');
  assert.equal(line.Route, '/v1/chat/completions');
  assert.equal(line.CompletionTokens, done.usage.completion_tokens);
  assert.equal(line.PromptTokens, done.usage.prompt_tokens);
  const body = { model: MODEL, prompt: 'logged "quoted"\n', stream: false, options: { num_predict: 2 } };
  const answer = await hostRequest(flow, 'logged.local', '/api/generate', body);
  assert.equal(answer.status, 200);
  const logged = await waitFor(() => lines().find((l) => l.Frontend === 'logged'), { what: 'the logged frontend\'s line' });
  assert.deepEqual(JSON.parse(logged.RequestBody), body);
  assert.equal(logged.ResponseBody, answer.data);
});

test('a refusal is logged with its status, outcome and reason', async () => {
  const ollama = new Ollama({ host: flow.url(), headers: { 'X-Request-Id': 'access-3' } });
  await assert.rejects(ollama.generate({ model: 'no-such-model', prompt: 'x' }), /not found/);
  const line = await lineOf('access-3');
  assert.equal(line.Status, 404);
  assert.equal(line.Outcome, 'rejected');
  assert.equal(line.Reason, 'NotFound');
  assert.equal(line.Backend, null);
  assert.equal(line.QueueMs, null);
});

// Raw bytes to the ingress; resolves when it closes the connection
const rawRequest = (bytes) => new Promise((resolve) => {
  const socket = net.connect(flow.port(), '127.0.0.1', () => socket.end(bytes));
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.on('close', resolve);
});

test('refusals before any call are logged too: the HTTP layer\'s (no request id) and a bad body\'s', async () => {
  const before = lines().length;
  const filler = Array.from({ length: 120 }, (_, i) => `X-F-${i}: v\r\n`).join('');
  await rawRequest(`POST /api/chat HTTP/1.1\r\nHost: x\r\n${filler}Content-Length: 2\r\n\r\n{}`);
  await rawRequest('HELLO THERE\r\n\r\n');
  const invalid = await fetch(`${flow.url()}/api/chat`, { method: 'POST', headers: { 'x-request-id': 'access-4' },
    body: JSON.stringify({ model: 5, messages: [] }) });
  assert.equal(invalid.status, 400);
  await invalid.text();
  const line = await lineOf('access-4');
  assert.deepEqual([line.Status, line.Outcome, line.Reason, line.Frontend, line.Route, line.Kind, line.Backend],
    [400, 'rejected', 'invalid_request', 'main', '/api/chat', 'completions', null]);
  const wire = await waitFor(() => {
    const now = lines().slice(before).filter((l) => l.RequestId === null);
    return now.length >= 2 && now;
  }, { what: 'the lines of the two wire refusals' });
  assert.equal(wire.length, 2, JSON.stringify(wire));
  const [headers, garbage] = wire;
  assert.deepEqual([headers.Status, headers.Outcome, headers.Reason, headers.Route, headers.Kind, headers.Frontend],
    [431, 'rejected', 'headers_too_large', '/api/chat', 'completions', null]);
  assert.deepEqual([garbage.Status, garbage.Reason, garbage.Route, garbage.Kind], [400, 'malformed', null, 'other']);
  assert.equal(headers.Ingress, 'replica-0');
});

// Another ingress on the same bus, its standard output read
async function extraIngress(env) {
  const port = await freePort();
  const child = spawn(binPath('ingress'), ['--config', flow.settingsFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, OLLAMAFLOW_PORT: String(port), OLLAMAFLOW_INGRESS_ID: `extra-${port}`, ...env },
  });
  let out = '';
  child.stdout.on('data', (data) => { out += data; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy({ url: () => url }, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } });
  return { url, out: () => out, async stop() { child.kill('SIGTERM'); return exited; } };
}

test('AccessLog.SampleEvery 3 to standard output writes every third request; 0 writes nothing', async () => {
  const sampled = await extraIngress({ OLLAMAFLOW_ACCESS_LOG: '3', OLLAMAFLOW_ACCESS_LOG_FILE: '' });
  const off = await extraIngress({ OLLAMAFLOW_ACCESS_LOG: '0' });
  try {
    for (const ingress of [sampled, off])
      for (let i = 0; i < 9; i++) {
        const response = await fetch(`${ingress.url}/api/generate`, { method: 'POST',
          headers: { 'x-request-id': `sampled-${i}` },
          body: JSON.stringify({ model: MODEL, prompt: `s${i}`, stream: false, options: { num_predict: 1 } }) });
        assert.equal(response.status, 200);
        await response.text();
      }
    const ours = () => sampled.out().split('\n').filter(Boolean).map((l) => JSON.parse(l))
      .filter((l) => l.RequestId.startsWith('sampled-'));
    await waitFor(() => ours().length >= 3, { what: 'three sampled lines' });
    await new Promise((resolve) => setTimeout(resolve, 600));     // more than two flush intervals
    assert.equal(ours().length, 3);
    for (const line of ours()) assert.match(line.Ingress, /^extra-\d+$/);
    assert.equal(off.out(), '');
  } finally {
    assert.deepEqual(await sampled.stop(), { code: 0, signal: null });
    assert.deepEqual(await off.stop(), { code: 0, signal: null });
  }
  assert.equal(lines().filter((l) => l.Ingress.startsWith('extra')).length, 0, 'the file is the first replica\'s');
});
