// Strict HTTP on the ingress, over raw sockets: too many or too large headers (431), a request
// line too long (414), HTTP versions other than 1.0 and 1.1 (505), what the parser cannot read
// (400), each answered in the route's dialect and the connection then closed cleanly (the client
// reads the answer and an end, not a reset); nothing of it reaches a backend; requests at the
// limits, keep-alive and pipelining still work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startOneBackend, proxiedRequests, metricSum, waitHealthy, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
const MAX_HEADERS = 100;
const MAX_HEADER_BYTES = 16384;
const MAX_REQUEST_LINE = 2048;
let flow;

before(async () => {
  flow = await startOneBackend({
    models: [MODEL],
    frontend: { MaxRequestBodySize: 65536, BlockHttp10: false },
    settings: { Ingress: { MaxHeaders: MAX_HEADERS, MaxHeaderBytes: MAX_HEADER_BYTES,
      MaxRequestLineBytes: MAX_REQUEST_LINE } },
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

const backendRequests = () => proxiedRequests(flow);

// Sends raw bytes (a string, or an array of pieces sent one after the other) and collects what
// comes back until the ingress closes: { text, ended (a clean end), error (a reset, ...) }
function raw(pieces, { timeoutMs = 20000 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect(flow.port(), '127.0.0.1');
    let text = '';
    let error = null;
    let ended = false;
    const timer = setTimeout(() => { error = 'still open'; socket.destroy(); }, timeoutMs);
    socket.on('close', () => clearTimeout(timer));
    socket.setEncoding('latin1');
    socket.on('data', (data) => { text += data; });
    socket.on('end', () => { ended = true; });
    socket.on('error', (e) => { error = e.code; });
    socket.on('close', () => resolve({ text, ended, error }));
    socket.on('connect', async () => {
      for (const piece of [].concat(pieces)) {
        if (socket.destroyed) break;
        socket.write(piece);
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}

// The status and the parsed JSON body of the first response in text
function response(text) {
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  const status = Number(head.split(' ')[1]);
  const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? -1);
  const body = text.slice(head.length + 4, head.length + 4 + length);
  return { status, head, body: length > 0 ? JSON.parse(body) : null, rest: text.slice(head.length + 4 + length) };
}

const headers = (count, size = 10) => Array.from({ length: count },
  (_, i) => `X-Filler-${i}: ${'v'.repeat(size)}\r\n`).join('');
const CHAT = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: false,
  options: { num_predict: 1 } });
const post = (path, extra = '', body = CHAT, version = '1.1') =>
  `POST ${path} HTTP/${version}\r\nHost: x\r\nContent-Type: application/json\r\n${extra}`
  + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

// Each refusal: what was sent, the status, what the error must say; every one closes cleanly
const REFUSALS = [
  ['101 headers (Ollama route)', post('/api/chat', headers(MAX_HEADERS - 2)), 431, /Ingress.MaxHeaders/],
  ['101 headers (OpenAI route)', post('/v1/chat/completions', headers(MAX_HEADERS - 2)), 431, /Ingress.MaxHeaders/],
  ['20,000 headers', post('/api/chat', headers(20000)), 431, /Ingress.MaxHeaders/],
  ['headers over MaxHeaderBytes', post('/api/chat', headers(5, 4000)), 431, /Ingress.MaxHeaderBytes/],
  ['one header line of 9 KB', post('/api/chat', headers(1, 9000)), 431, /header line over 8192/],
  ['a request line over MaxRequestLineBytes', post(`/api/chat?q=${'x'.repeat(3000)}`), 414,
    /Ingress.MaxRequestLineBytes/],
  ['a target over the parser\'s 8 KB', post(`/api/${'x'.repeat(9000)}`), 414, /request line/],
  ['HTTP/9.9', post('/api/chat', '', CHAT, '9.9'), 505, /HTTP\/9.9 is not supported/],
  ['HTTP/2.0 (OpenAI route)', post('/v1/chat/completions', '', CHAT, '2.0'), 505, /HTTP\/2.0/],
  ['a header without a colon', 'GET /api/version HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n', 400,
    /malformed HTTP request/],
  ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400, /malformed HTTP request/],
  ['a bad chunk size', 'POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    400, /malformed HTTP request: an invalid chunk/],
  ['a body over MaxRequestBodySize, sent in full', post('/api/chat', '', JSON.stringify({ model: MODEL,
    prompt: 'x'.repeat(200000) })), 413, /MaxRequestBodySize/],
];

test(`${REFUSALS.length} hostile requests: each refused with its status in the route's dialect, the connection `
  + 'closed after the answer, nothing sent to the backend', async () => {
  const before = await backendRequests();
  // Each refusal is counted once, under the reason its status names
  const REASONS = { 400: 'malformed', 413: 'too_large', 414: 'uri_too_long', 431: 'headers_too_large',
    505: 'http_version' };
  const refused = (labels = {}) => metricSum(flow, 'ollamaflow_ingress_refused_total', labels);
  const counted = {};
  for (const reason of [undefined, ...Object.values(REASONS)])
    counted[reason] = await refused(reason ? { reason } : {});
  for (const [what, bytes, status, message] of REFUSALS) {
    const result = await raw(bytes);
    assert.equal(result.error, null, `${what}: the client saw ${result.error}, not the answer`);
    assert.ok(result.ended, `${what}: no clean end`);
    const answer = response(result.text);
    assert.equal(answer.status, status, `${what}: ${result.text.slice(0, 300)}`);
    assert.match(answer.head, /\r\nconnection: close/i, what);
    assert.equal(answer.rest, '', `${what}: bytes after the answer`);
    const text = bytes.includes('/v1/') ? answer.body.error.message : answer.body.error;
    if (bytes.includes('/v1/')) assert.equal(answer.body.error.type, 'invalid_request_error', what);
    assert.match(text, message, what);
  }
  assert.equal(await backendRequests(), before, 'a refused request reached the backend');
  assert.equal(await refused(), counted[undefined] + REFUSALS.length, 'each refusal counted once');
  for (const [status, reason] of Object.entries(REASONS))
    assert.equal(await refused({ reason }) - counted[reason],
      REFUSALS.filter(([, , s]) => s === Number(status)).length, `reason ${reason}`);
});

test('at the limits, requests are served; keep-alive and pipelining go on', async () => {
  // 100 headers in all (Host, Content-Type, Content-Length and 97 more), a request line just
  // under the limit
  let result = await raw(post('/api/chat', headers(MAX_HEADERS - 3), CHAT) + 'GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let answer = response(result.text);
  assert.equal(answer.status, 200, result.text.slice(0, 300));
  assert.equal(response(answer.rest).status, 200, 'the pipelined second request');
  const path = `/api/version?q=${'x'.repeat(MAX_REQUEST_LINE - 40)}`;
  result = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.equal(response(result.text).status, 200);
  // HTTP/1.0 is still served (BlockHttp10 is off here), and closed after its answer
  result = await raw('GET /api/version HTTP/1.0\r\nHost: x\r\n\r\n');
  answer = response(result.text);
  assert.equal(answer.status, 200);
  assert.ok(result.ended && result.error === null);
});

test('a refusal after a served request on the same connection comes after its answer', async () => {
  const result = await raw(`GET /api/version HTTP/1.1\r\nHost: x\r\n\r\nGET /api/version HTTP/9.9\r\nHost: x\r\n\r\n`);
  const first = response(result.text);
  assert.equal(first.status, 200);
  assert.equal(response(first.rest).status, 505);
  assert.ok(result.ended && result.error === null);
});

test('an HTTP/1.0 stream whose client asked for keep-alive is still ended by closing', async () => {
  const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }],
    options: { num_predict: 5 } });
  const result = await raw(`POST /api/chat HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n`
    + `Content-Length: ${body.length}\r\n\r\n${body}`, { timeoutMs: 10000 });
  assert.equal(result.error, null, 'the stream was never ended');
  const head = result.text.slice(0, result.text.indexOf('\r\n\r\n'));
  assert.match(head, /^HTTP\/1.[01] 200/);
  assert.doesNotMatch(head, /keep-alive|chunked/i);
  assert.match(result.text, /"done":true/);
});
