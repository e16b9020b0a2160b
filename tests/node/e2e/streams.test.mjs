// Streams end to end: the bytes a client receives are the bytes the backend sent; a slow client
// holds the backend back instead of filling the ingress's memory; a client that leaves frees the
// backend and the lease at once (measured); HTTP/1.0 clients get close-delimited streams, or a
// clear refusal where the frontend blocks HTTP/1.0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFlow, waitFor, waitHealthy, assertCleanStop } from './flow.mjs';

const MODEL = 'llama3.2';
let flow;

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
      defaults: { decode_rate: 0, load_ms: 0, parallel: 4 },
      backends: [{ name: 'a', models: [MODEL] }, { name: 'b', models: [MODEL] }],
    },
    backends: (sim) => ['a', 'b'].map((name) => ({
      Identifier: name, Hostname: '127.0.0.1', Port: sim.port(name), HealthyThreshold: 1,
    })),
    frontends: [
      { Identifier: 'main', Hostname: '*', Backends: ['a', 'b'], BlockHttp10: false },
    ],
  });
  await waitHealthy(flow, { model: MODEL, prompt: 'warm up', stream: false, options: { num_predict: 1 } });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
});

test('NDJSON from /api/chat arrives byte for byte as the backend sent it', async () => {
  for (const tokens of [5, 3000]) {
    const response = await fetch(`${flow.url()}/api/chat`, {
      method: 'POST',
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
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'unused', maxRetries: 0 });
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
