// Slow and idle clients, over raw sockets, with short timeouts: headers that never finish (or
// trickle in), a body that stops or trickles past the frontend's TimeoutMs, a kept-alive
// connection left idle are closed by the ingress; an active kept-alive connection is not; at
// Ingress.MaxConnections the oldest slow connection makes room for a new client; and with 5,000
// slow-header connections open, 100 normal requests all succeed with their p99 within 1 s of
// the p99 without them. Every check waits for an event (a close), with lower bounds on when
// only (the ingress cannot close before a timeout), so a loaded machine makes it slower, not
// flaky.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { startOneBackend, proxiedRequests, metric, waitHealthy, assertCleanStop, sleep } from './flow.mjs';

const MODEL = 'llama3.2';
const HEADER_MS = 1500;
const BODY_MS = 1500;
const KEEPALIVE_MS = 1500;
const WHOLE_BODY_MS = 3000;       // the frontend's TimeoutMs
const MAX_CONNECTIONS = 20;
const CLOSE_WAIT_MS = 30000;      // a close that has not come by then is a failure
let flow;

before(async () => {
  flow = await startOneBackend({
    models: [MODEL],
    frontend: { TimeoutMs: WHOLE_BODY_MS },
    settings: { Ingress: { HeaderTimeoutMs: HEADER_MS, BodyTimeoutMs: BODY_MS,
      KeepAliveTimeoutMs: KEEPALIVE_MS, MaxConnections: MAX_CONNECTIONS } },
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

// A raw connection: its bytes, and a promise of its close with the time it came
function open(port = flow.port()) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const connection = { socket, text: '', at: 0 };
    socket.setEncoding('latin1');
    socket.on('data', (data) => { connection.text += data; });
    socket.on('error', () => {});
    connection.closed = new Promise((done) => socket.on('close', () => {
      connection.at = performance.now();
      done(connection);
    }));
    connection.isOpen = () => connection.at === 0;
    socket.once('connect', () => { connection.opened = performance.now(); resolve(connection); });
    socket.once('error', reject);
  });
}

// Waits for a close, failing after CLOSE_WAIT_MS
async function closed(connection, what) {
  const timeout = sleep(CLOSE_WAIT_MS).then(() => null);
  const result = await Promise.race([connection.closed, timeout]);
  assert.ok(result, `${what}: still open after ${CLOSE_WAIT_MS} ms`);
  return connection.at;
}

const CHAT = JSON.stringify({ model: MODEL, prompt: 'hi', stream: false, options: { num_predict: 1 } });
const request = (close = false) => `POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`
  + `${close ? 'Connection: close\r\n' : ''}Content-Length: ${CHAT.length}\r\n\r\n${CHAT}`;
// Resolves once text holds count complete answers
const answers = (connection, count) => new Promise((resolve) => {
  const check = () => {
    const found = connection.text.split('HTTP/1.1 200').length - 1;
    if (found >= count && connection.text.endsWith('}')) resolve(found);
    else setTimeout(check, 10);
  };
  check();
});

test('headers that never finish, or trickle in, are closed after Ingress.HeaderTimeoutMs', async () => {
  const before = await proxiedRequests(flow);
  const timedOut = await metric(flow, 'ollamaflow_ingress_connections_timed_out_total');
  const stalled = await open();
  stalled.socket.write('POST /api/generate HTTP/1.1\r\nHost: x\r\n');
  const trickling = await open();
  const header = 'POST /api/generate HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnopqrstuvwxyz\r\n';
  let sent = 0;
  const trickle = setInterval(() => {
    if (trickling.isOpen() && sent < header.length) trickling.socket.write(header[sent++]);
  }, 100);
  try {
    assert.ok(await closed(stalled, 'stalled headers') - stalled.opened >= HEADER_MS - 50);
    assert.ok(await closed(trickling, 'trickling headers') - trickling.opened >= HEADER_MS - 50,
      'a trickle of bytes does not extend the time for the headers');
    assert.ok(sent < header.length, 'closed before the trickle ended');
  } finally {
    clearInterval(trickle);
  }
  assert.equal(stalled.text, '');
  assert.equal(await proxiedRequests(flow), before);
  assert.ok(await metric(flow, 'ollamaflow_ingress_connections_timed_out_total') >= timedOut + 2);
});

test('a body that stops is closed after Ingress.BodyTimeoutMs; one that trickles, after the '
  + 'frontend\'s TimeoutMs', async () => {
  const before = await proxiedRequests(flow);
  const head = `POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10000}\r\n\r\n`;
  const stopped = await open();
  stopped.socket.write(head + '{"model":');
  const started = performance.now();
  const trickling = await open();
  trickling.socket.write(head);
  const trickleStart = performance.now();
  const trickle = setInterval(() => { if (trickling.isOpen()) trickling.socket.write(' '); }, 300);
  try {
    assert.ok(await closed(stopped, 'a stopped body') - started >= BODY_MS - 50);
    // Every byte within BodyTimeoutMs of the last, yet the whole body has WHOLE_BODY_MS
    assert.ok(await closed(trickling, 'a trickling body') - trickleStart >= WHOLE_BODY_MS - 50);
  } finally {
    clearInterval(trickle);
  }
  assert.equal(await proxiedRequests(flow), before);
});

test('a kept-alive connection: closed after Ingress.KeepAliveTimeoutMs idle, never while it '
  + 'sends requests; its next request\'s headers timed from their first byte', async () => {
  const idle = await open();
  const late = await open();
  const active = await open();
  idle.socket.write(request());
  late.socket.write(request());
  await answers(idle, 1);
  const servedAt = performance.now();
  await answers(late, 1);
  // late begins a second request's headers within its idle time, and stalls
  await sleep(KEEPALIVE_MS / 3);
  assert.ok(late.isOpen());
  late.socket.write('POST /api/generate HTTP/1.1\r\nHost: x\r\n');
  const partialAt = performance.now();
  // active: a request every 500 ms for more than two keep-alive periods
  for (let i = 1; i <= 8; i++) {
    active.socket.write(request());
    assert.equal(await answers(active, i), i);
    await sleep(500);
  }
  assert.ok(await closed(idle, 'an idle kept-alive connection') - servedAt >= KEEPALIVE_MS - 50);
  assert.ok(active.isOpen(), 'an active kept-alive connection was closed');
  // the headers got HeaderTimeoutMs from their first byte, past the idle deadline
  assert.ok(await closed(late, 'stalled second headers') - partialAt >= HEADER_MS - 50);
  active.socket.destroy();
});

test(`at Ingress.MaxConnections (${MAX_CONNECTIONS}), a new client sheds the oldest slow connection`, async () => {
  // The earlier tests' connections are gone once their keep-alive time has passed
  await sleep(2 * KEEPALIVE_MS + 500);
  //  (asked before the slow connections fill the ingress: this request would shed one)
  const shed = await metric(flow, 'ollamaflow_ingress_connections_shed_total');
  const slow = [];
  for (let i = 0; i < MAX_CONNECTIONS; i++) {
    const connection = await open();
    connection.socket.write('POST /api/generate HTTP/1.1\r\nHost: x\r\n');
    slow.push(connection);
    await sleep(10);
  }
  for (let round = 0; round < 3; round++) {
    if (round > 0) {
      // Back at the limit (the last client has gone): one more, the newest
      const connection = await open();
      connection.socket.write('POST /api/generate HTTP/1.1\r\nHost: x\r\n');
      slow.push(connection);
    }
    const client = await open();
    client.socket.write(request(true));
    await closed(client, 'a served client');
    assert.match(client.text, /^HTTP\/1.1 200/, `round ${round}: ${client.text.slice(0, 200)}`);
    await closed(slow[round], `the oldest slow connection (round ${round})`);
    // The rest are still there (only as many as there were new clients went)
    for (let i = round + 1; i < slow.length; i++)
      assert.ok(slow[i].isOpen(), `slow connection ${i} was shed in round ${round}`);
  }
  assert.equal(await metric(flow, 'ollamaflow_ingress_connections_shed_total'), shed + 3);
  for (const connection of slow) connection.socket.destroy();
});

// 100 requests, 10 at a time; each one's time in ms (all must be 200)
async function hundred(port) {
  const times = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
  const one = () => new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/generate', agent,
      headers: { 'content-type': 'application/json' } }, (response) => {
      let data = '';
      response.on('data', (chunk) => { data += chunk; });
      response.on('end', () => {
        if (response.statusCode !== 200) reject(new Error(`${response.statusCode}: ${data}`));
        times.push(performance.now() - started);
        resolve();
      });
    });
    req.on('error', reject);
    req.end(CHAT);
  });
  for (let batch = 0; batch < 10; batch++)
    await Promise.all(Array.from({ length: 10 }, one));
  agent.destroy();
  return times.sort((a, b) => a - b);
}
const p99 = (sorted) => sorted[Math.ceil(sorted.length * 0.99) - 1];

test('5,000 slow-header connections open: 100 normal requests all succeed, p99 within 1 s',
  { timeout: 240000 }, async () => {
  const SLOW = 5000;
  const SLOW_HEADER_MS = 15000;   // far longer than opening them and the 100 requests take
  const big = await startOneBackend({
    models: [MODEL],
    settings: { Ingress: { HeaderTimeoutMs: SLOW_HEADER_MS, MaxConnections: SLOW + 1000 } },
  });
  const slow = [];
  try {
    await waitHealthy(big, { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } });
    const baseline = await hundred(big.port());
    for (let i = 0; i < SLOW; i += 250) {
      const batch = await Promise.all(Array.from({ length: 250 }, () => open(big.port())));
      for (const connection of batch) connection.socket.write('POST /api/generate HTTP/1.1\r\nHost: x\r\n');
      slow.push(...batch);
    }
    const loaded = await hundred(big.port());
    const stillOpen = slow.filter((connection) => connection.isOpen()).length;
    console.log(`p99 without: ${p99(baseline).toFixed(1)} ms, with ${SLOW} slow connections `
      + `(${stillOpen} still open at the end): ${p99(loaded).toFixed(1)} ms`);
    assert.equal(loaded.length, 100);
    assert.equal(stillOpen, SLOW, 'the slow connections were all open during the requests');
    assert.ok(p99(loaded) < p99(baseline) + 1000, `p99 ${p99(loaded)} ms vs ${p99(baseline)} ms`);
    // And the ingress closes every one of them itself, after their header time
    const first = slow[0].opened;
    await Promise.all(slow.map((connection) => closed(connection, 'a slow connection')));
    const earliest = Math.min(...slow.map((connection) => connection.at - connection.opened));
    assert.ok(earliest >= SLOW_HEADER_MS - 50, `one closed after ${earliest} ms`);
    console.log(`all ${SLOW} closed by ${(Math.max(...slow.map((c) => c.at)) - first).toFixed(0)} ms`);
  } finally {
    for (const connection of slow) connection.socket.destroy();
    assertCleanStop(assert, await big.stop());
  }
});
