// The npm `ollama` client (0.6.4) against the simulator: every call it makes, with shapes and values.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startSim } from './sim.mjs';

const DECODE_RATE = 500;            // tokens/s: 2 ms per token
const LOAD_MS = 150;
let sim;
let ollama;

before(async () => {
  sim = await startSim({
    fleet: {
      registry: [{ name: 'qwen2.5:0.5b', size: 40000000, family: 'qwen2', parameter_size: '494.03M' }],
      backends: [{
        name: 'a', decode_rate: DECODE_RATE, prefill_rate: 1000, load_ms: LOAD_MS, keep_alive: '5m',
        pull_bandwidth: 200000000, version: '0.13.0',
        models: [
          { name: 'llama3.2', family: 'llama', parameter_size: '3.2B', quantization: 'Q4_K_M' },
          { name: 'all-minilm', size: 45960996, family: 'bert', parameter_size: '23M', quantization: 'F16', embedding: true },
        ],
      }],
    },
  });
  ollama = new Ollama({ host: sim.url('a') });
});

after(async () => {
  // A clean exit: no crash, and no leak under AddressSanitizer
  assert.deepEqual(await sim.stop(), { code: 0, signal: null });
});

const words = (text) => text.trim().split(/\s+/).length;

test('version', async () => {
  assert.deepEqual(await ollama.version(), { version: '0.13.0' });
});

test('list shows full names, sizes, digests and details', async () => {
  const { models } = await ollama.list();
  assert.deepEqual(models.map((m) => m.name), ['llama3.2:latest', 'all-minilm:latest']);
  const llama = models[0];
  assert.equal(llama.model, 'llama3.2:latest');
  assert.match(llama.digest, /^[0-9a-f]{64}$/);
  assert.equal(typeof llama.size, 'number');
  assert.ok(!Number.isNaN(Date.parse(llama.modified_at)));
  assert.deepEqual(llama.details, { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'],
    parameter_size: '3.2B', quantization_level: 'Q4_K_M' });
});

test('cold model: first generate loads it, ps shows it with its expiry', async () => {
  assert.deepEqual((await ollama.ps()).models, []);
  const reply = await ollama.generate({ model: 'llama3.2', prompt: 'Why is the sky blue?', options: { num_predict: 4 } });
  assert.ok(reply.load_duration >= LOAD_MS * 1e6, `load_duration ${reply.load_duration}`);
  const { models } = await ollama.ps();
  assert.equal(models.length, 1);
  assert.equal(models[0].name, 'llama3.2:latest');
  const expiresIn = Date.parse(models[0].expires_at) - Date.now();
  assert.ok(expiresIn > 290000 && expiresIn <= 300000, `expires in ${expiresIn} ms`);
  assert.equal(models[0].size_vram, models[0].size);
  const warm = await ollama.generate({ model: 'llama3.2', prompt: 'again', options: { num_predict: 1 } });
  assert.ok(warm.load_duration < LOAD_MS * 1e6);
});

test('generate, not streamed: length follows num_predict, timings follow the rates', async () => {
  const reply = await ollama.generate({ model: 'llama3.2', prompt: 'Tell me a story', options: { num_predict: 8, seed: 7 } });
  assert.equal(reply.model, 'llama3.2');
  assert.equal(reply.done, true);
  assert.equal(reply.done_reason, 'length');
  assert.equal(reply.eval_count, 8);
  assert.equal(words(reply.response), 8);
  assert.equal(reply.eval_duration, 8 * 1e9 / DECODE_RATE);
  assert.equal(reply.prompt_eval_count, 4);
  assert.equal(reply.prompt_eval_duration, 4 * 1e9 / 1000);
  assert.ok(reply.total_duration >= reply.eval_duration + reply.prompt_eval_duration);
  assert.equal(reply.context.length, 8);
  assert.ok(!Number.isNaN(Date.parse(reply.created_at)));
});

test('generate, streamed: same bytes as not streamed for the same seed and prompt', async () => {
  const whole = await ollama.generate({ model: 'llama3.2', prompt: 'Tell me a story', options: { num_predict: 8, seed: 7 } });
  const parts = [];
  for await (const part of await ollama.generate({ model: 'llama3.2', prompt: 'Tell me a story', stream: true, options: { num_predict: 8, seed: 7 } })) {
    parts.push(part);
  }
  assert.equal(parts.length, 9);
  assert.ok(parts.slice(0, 8).every((p) => p.done === false && p.model === 'llama3.2' && p.eval_count === undefined));
  const last = parts[8];
  assert.equal(last.done, true);
  assert.equal(last.response, '');
  assert.equal(last.eval_count, 8);
  assert.equal(parts.map((p) => p.response).join(''), whole.response);
  const other = await ollama.generate({ model: 'llama3.2', prompt: 'Tell me a story', options: { num_predict: 8, seed: 8 } });
  assert.notEqual(other.response, whole.response);
});

test('chat streamed and not; default length is 32 tokens with done_reason stop', async () => {
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }];
  const whole = await ollama.chat({ model: 'llama3.2', messages });
  assert.equal(whole.message.role, 'assistant');
  assert.equal(whole.done_reason, 'stop');
  assert.equal(whole.eval_count, 32);
  assert.equal(words(whole.message.content), 32);
  let text = '';
  let final;
  for await (const part of await ollama.chat({ model: 'llama3.2', messages, stream: true })) {
    if (part.done) final = part; else text += part.message.content;
  }
  assert.equal(text, whole.message.content);
  assert.equal(final.message.content, '');
  assert.equal(final.eval_count, 32);
  assert.equal(final.context, undefined);
});

test('chat with a missing model is a 404 ResponseError', async () => {
  await assert.rejects(ollama.chat({ model: 'missing', messages: [{ role: 'user', content: 'x' }] }),
    (error) => error.name === 'ResponseError' && error.status_code === 404 && error.message === "model 'missing' not found");
});

test('chat on an embedding-only model is refused', async () => {
  await assert.rejects(ollama.chat({ model: 'all-minilm', messages: [{ role: 'user', content: 'x' }] }),
    (error) => error.status_code === 400 && error.message === '"all-minilm" does not support chat');
});

test('embed and legacy embeddings: deterministic, L2-normalised, 384 dimensions', async () => {
  const reply = await ollama.embed({ model: 'all-minilm', input: ['first text', 'second text'] });
  assert.equal(reply.model, 'all-minilm');
  assert.equal(reply.embeddings.length, 2);
  for (const vector of reply.embeddings) {
    assert.equal(vector.length, 384);
    const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0));
    assert.ok(Math.abs(norm - 1) < 1e-4);
  }
  assert.notDeepEqual(reply.embeddings[0], reply.embeddings[1]);
  assert.equal(reply.prompt_eval_count, 4);
  const legacy = await ollama.embeddings({ model: 'all-minilm', prompt: 'first text' });
  assert.deepEqual(legacy.embedding, reply.embeddings[0]);
});

test('show', async () => {
  const info = await ollama.show({ model: 'llama3.2' });
  assert.deepEqual(info.capabilities, ['completion', 'tools']);
  assert.equal(info.details.family, 'llama');
  assert.equal(info.model_info['general.architecture'], 'llama');
  assert.match(info.modelfile, /FROM llama3.2:latest/);
  await assert.rejects(ollama.show({ model: 'nope' }),
    (error) => error.status_code === 404 && error.message === "model 'nope:latest' not found");
});

test('pull with progress; the model exists afterwards', async () => {
  const statuses = [];
  let progress = 0;
  for await (const part of await ollama.pull({ model: 'qwen2.5:0.5b', stream: true })) {
    statuses.push(part.status);
    if (part.total) {
      assert.equal(part.total, 40000000);
      assert.ok(part.completed >= progress);
      progress = part.completed;
      assert.match(part.digest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(part.status, `pulling ${part.digest.slice(7, 19)}`);
    }
  }
  assert.equal(statuses[0], 'pulling manifest');
  assert.deepEqual(statuses.slice(-3), ['verifying sha256 digest', 'writing manifest', 'success']);
  assert.ok(statuses.length >= 6, `progress lines: ${statuses.length}`);
  assert.equal(progress, 40000000);
  const { models } = await ollama.list();
  assert.ok(models.some((m) => m.name === 'qwen2.5:0.5b' && m.details.family === 'qwen2'));
  const reply = await ollama.generate({ model: 'qwen2.5:0.5b', prompt: 'hi', options: { num_predict: 2 } });
  assert.equal(reply.eval_count, 2);
});

test('pull of an unknown model fails with Ollama\'s message', async () => {
  await assert.rejects(async () => {
    for await (const part of await ollama.pull({ model: 'no-such-model', stream: true })) void part;
  }, /pull model manifest: file does not exist/);
  await assert.rejects(ollama.pull({ model: 'no-such-model' }),
    (error) => error.status_code === 500 && /file does not exist/.test(error.message));
});

test('copy and delete', async () => {
  assert.deepEqual(await ollama.copy({ source: 'llama3.2', destination: 'my-llama' }), { status: 'success' });
  assert.ok((await ollama.list()).models.some((m) => m.name === 'my-llama:latest'));
  assert.deepEqual(await ollama.delete({ model: 'my-llama' }), { status: 'success' });
  assert.ok(!(await ollama.list()).models.some((m) => m.name === 'my-llama:latest'));
  await assert.rejects(ollama.delete({ model: 'my-llama' }),
    (error) => error.status_code === 404 && error.message === "model 'my-llama' not found");
  await assert.rejects(ollama.copy({ source: 'ghost', destination: 'x' }),
    (error) => error.status_code === 404 && error.message === 'model "ghost" not found');
});

test('push streams progress', async () => {
  const statuses = [];
  for await (const part of await ollama.push({ model: 'all-minilm', stream: true })) statuses.push(part.status);
  assert.equal(statuses[0], 'retrieving manifest');
  assert.match(statuses[1], /^pushing [0-9a-f]{12}$/);
  assert.deepEqual(statuses.slice(-2), ['pushing manifest', 'success']);
});

test('empty prompt only loads; keep_alive 0 unloads', async () => {
  const loaded = await ollama.generate({ model: 'llama3.2', prompt: '' });
  assert.equal(loaded.done_reason, 'load');
  const unloaded = await ollama.generate({ model: 'llama3.2', prompt: '', keep_alive: 0 });
  assert.equal(unloaded.done_reason, 'unload');
  assert.ok(!(await ollama.ps()).models.some((m) => m.name === 'llama3.2:latest'));
});

test('max_loaded_models: loading one more model unloads the idle one that expires first', async () => {
  await sim.configure('a', { max_loaded_models: 1 });
  await ollama.generate({ model: 'llama3.2', prompt: 'x', options: { num_predict: 1 } });
  assert.deepEqual((await ollama.ps()).models.map((m) => m.name), ['llama3.2:latest']);
  await ollama.embed({ model: 'all-minilm', input: 'x' });
  assert.deepEqual((await ollama.ps()).models.map((m) => m.name), ['all-minilm:latest']);
  await sim.configure('a', { max_loaded_models: 3 });
  await ollama.generate({ model: 'llama3.2', prompt: 'x', options: { num_predict: 1 } });
  assert.deepEqual((await ollama.ps()).models.map((m) => m.name).sort(), ['all-minilm:latest', 'llama3.2:latest']);
});
