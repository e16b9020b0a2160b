// The prompt cache of the slots, model residency as Ollama's scheduler keeps it, what responses
// report of both, the per-model statistics, and the time scale: through the real clients.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startSim, waitFor } from './sim.mjs';

const PREFILL = 1000;               // tokens/s: durations in ns are tokens * 1e6
let sim, ollama;

before(async () => {
  sim = await startSim({
    fleet: {
      backends: [
        { name: 'chat', parallel: 2, prefill_rate: PREFILL, decode_rate: 0, load_ms: 0,
          models: [{ name: 'llama3.2', loaded: true }] },
        { name: 'gpu', parallel: 2, prefill_rate: 0, decode_rate: 50, max_loaded_models: 1,
          load_rate: 1e9, unload_ms: 100, keep_alive: '5m',
          models: [{ name: 'small', size: 200e6 }, { name: 'big', size: 400e6 }, { name: 'fixed', load_ms: 50 }] },
        { name: 'fast', time_scale: 10, parallel: 1, prefill_rate: 100, decode_rate: 100, load_ms: 1000,
          models: ['llama3.2'] },
      ],
    },
  });
  ollama = new Ollama({ host: sim.url('chat') });
});

after(async () => {
  assert.deepEqual(await sim.stop(), { code: 0, signal: null });
});

beforeEach(async () => {
  for (const name of ['chat', 'gpu', 'fast'])
    await waitFor(async () => (await sim.stats(name)).active === 0, { timeoutMs: 5000 });
  await sim.control('/flush', {});
  await sim.reset();
});

const system = { role: 'system', content: 'You are a helpful assistant who answers in short plain words' };

test('a conversation: each turn pays only for its new tokens, the rest comes from the slot', async () => {
  const first = [system, { role: 'user', content: 'Why is the sky blue' }];
  const one = await ollama.chat({ model: 'llama3.2', messages: first, options: { num_predict: 12, seed: 1 } });
  // 11 + 5 words and three role markers (system, user, the assistant's turn)
  assert.equal(one.prompt_eval_count, 19);
  assert.equal(one.prompt_eval_cached_count, undefined);
  assert.equal(one.prompt_eval_duration, 19 * 1e9 / PREFILL);
  // The next turn: the history, the answer as received, a new message
  const second = [...first, one.message, { role: 'user', content: 'And at night' }];
  const two = await ollama.chat({ model: 'llama3.2', messages: second, options: { num_predict: 8, seed: 1 } });
  // The answer's 12 words, then a user marker, 3 words and the assistant's marker
  assert.equal(two.prompt_eval_count, 19 + 12 + 5);
  // The first prompt (which ended with the assistant's marker) and the answer are in the slot
  assert.equal(two.prompt_eval_cached_count, 19 + 12);
  assert.equal(two.prompt_eval_duration, 5 * 1e9 / PREFILL);
  const stats = await sim.stats('chat');
  assert.equal(stats.prompt_tokens, 19 + 36);
  assert.equal(stats.cached_tokens, 31);
  assert.deepEqual(stats.models['llama3.2:latest'], { loads: 0, evictions: 0, prompt_tokens: 55, cached_tokens: 31, loaded: true });
});

test('OpenAI usage reports cached tokens; the same prompt again caches all but its last token', async () => {
  const openai = new OpenAI({ baseURL: `${sim.url('chat')}/v1`, apiKey: 'unused' });
  const messages = [system, { role: 'user', content: 'Tell me about llamas' }];
  const one = await openai.chat.completions.create({ model: 'llama3.2', messages, max_tokens: 4 });
  assert.equal(one.usage.prompt_tokens, 18);
  assert.equal(one.usage.prompt_tokens_details, undefined);
  const two = await openai.chat.completions.create({ model: 'llama3.2', messages, max_tokens: 4 });
  assert.deepEqual(two.usage.prompt_tokens_details, { cached_tokens: 17 });
});

test('two slots keep two conversations; a prompt sharing 10% or less takes the least recently used slot', async () => {
  const a = [{ role: 'user', content: 'alpha '.repeat(40).trim() }];
  const b = [{ role: 'user', content: 'beta '.repeat(40).trim() }];
  await ollama.chat({ model: 'llama3.2', messages: a, options: { num_predict: 1 } });
  await ollama.chat({ model: 'llama3.2', messages: b, options: { num_predict: 1 } });
  // Both stay cached: a is in one slot, b in the other
  const again = await ollama.chat({ model: 'llama3.2', messages: a, options: { num_predict: 1 } });
  assert.equal(again.prompt_eval_cached_count, 41);
  const bAgain = await ollama.chat({ model: 'llama3.2', messages: b, options: { num_predict: 1 } });
  assert.equal(bAgain.prompt_eval_cached_count, 41);
  // A third prompt sharing only "<|user|> alpha alpha ..." for 4 of 45 tokens (under 10%) takes the
  // least recently used slot (a's), which then no longer holds a
  const c = [{ role: 'user', content: `alpha alpha alpha ${'gamma '.repeat(40).trim()}` }];
  const third = await ollama.chat({ model: 'llama3.2', messages: c, options: { num_predict: 1 } });
  assert.equal(third.prompt_eval_cached_count, 4);
  const kept = await ollama.chat({ model: 'llama3.2', messages: b, options: { num_predict: 1 } });
  assert.equal(kept.prompt_eval_cached_count, 41);
  // a's slot now holds c: a gets c's 4 shared tokens only
  const lost = await ollama.chat({ model: 'llama3.2', messages: a, options: { num_predict: 1 } });
  assert.equal(lost.prompt_eval_cached_count, 4);
});

test('max_loaded_models is a hard limit: a request for another model waits for the loaded one, evicts it, then loads', async () => {
  const gpu = new Ollama({ host: sim.url('gpu') });
  const small = await gpu.generate({ model: 'small', prompt: 'hi', options: { num_predict: 1 } });
  // 200 MB at 1 GB/s
  assert.ok(small.load_duration >= 195e6 && small.load_duration < 1e9, `${small.load_duration}`);
  // small is busy for 1 s (50 tokens at 50/s) when big arrives: big waits for it, 100 ms of unload, 400 ms of load
  const running = gpu.generate({ model: 'small', prompt: 'hi', options: { num_predict: 50 } });
  await waitFor(async () => (await sim.stats('gpu')).active === 1);
  const started = Date.now();
  const big = await gpu.generate({ model: 'big', prompt: 'hi', options: { num_predict: 1 } });
  const whole = await running;
  assert.equal(whole.eval_count, 50);
  assert.ok(Date.now() - started >= 1300, `big answered after ${Date.now() - started} ms`);
  assert.ok(big.load_duration >= 1300e6, `${big.load_duration}`);
  const ps = await gpu.ps();
  assert.deepEqual(ps.models.map((m) => m.name), ['big:latest']);
  const stats = await sim.stats('gpu');
  assert.equal(stats.loads, 2);
  assert.equal(stats.evictions, 1);
  assert.equal(stats.models['small:latest'].evictions, 1);
  assert.equal(stats.models['big:latest'].loads, 1);
  // A model's own load_ms wins over its size
  const fixed = await gpu.generate({ model: 'fixed', prompt: 'hi', options: { num_predict: 1 } });
  assert.ok(fixed.load_duration >= 145e6 && fixed.load_duration < 1000e6, `${fixed.load_duration}`);
});

test('eviction order is the shortest keep-alive, then the name, not the least recently used', async () => {
  await sim.configure('gpu', { max_loaded_models: 2, unload_ms: 0 });
  try {
    const gpu = new Ollama({ host: sim.url('gpu') });
    await gpu.generate({ model: 'small', prompt: 'hi', options: { num_predict: 1 } });
    await gpu.generate({ model: 'big', prompt: 'hi', options: { num_predict: 1 } });
    await gpu.generate({ model: 'small', prompt: 'hi', options: { num_predict: 1 } });   // small used last
    await gpu.generate({ model: 'fixed', prompt: 'hi', options: { num_predict: 1 } });
    // LRU would evict big; Ollama's order (equal keep-alives) evicts big:latest < small:latest by name
    assert.deepEqual((await gpu.ps()).models.map((m) => m.name).sort(), ['fixed:latest', 'small:latest']);
    // Now small gets a short keep-alive: it goes first, though fixed comes first by name
    await gpu.generate({ model: 'small', prompt: 'hi', keep_alive: '1m', options: { num_predict: 1 } });
    await gpu.generate({ model: 'big', prompt: 'hi', options: { num_predict: 1 } });
    assert.deepEqual((await gpu.ps()).models.map((m) => m.name).sort(), ['big:latest', 'fixed:latest']);
  } finally {
    await sim.configure('gpu', { max_loaded_models: 1, unload_ms: 100 });
  }
});

test('another num_ctx reloads the runner (and its prompt cache is gone)', async () => {
  const gpu = new Ollama({ host: sim.url('gpu') });
  await gpu.generate({ model: 'fixed', prompt: 'one two three four', options: { num_predict: 1 } });
  const same = await gpu.generate({ model: 'fixed', prompt: 'one two three four', options: { num_predict: 1 } });
  assert.ok(same.load_duration < 40e6);
  assert.equal(same.prompt_eval_cached_count, 3);
  const bigger = await gpu.generate({ model: 'fixed', prompt: 'one two three four', options: { num_predict: 1, num_ctx: 8192 } });
  assert.ok(bigger.load_duration >= 145e6, `${bigger.load_duration}`);    // 100 ms unload + 50 ms load
  assert.equal(bigger.prompt_eval_cached_count, undefined);
  const stats = await sim.stats('gpu');
  assert.equal(stats.models['fixed:latest'].loads, 2);
  assert.equal(stats.models['fixed:latest'].evictions, 1);
});

test('the time scale multiplies every rate and divides every duration', async () => {
  const fast = new Ollama({ host: sim.url('fast') });
  const started = Date.now();
  // At scale 10: a 1 s load takes 100 ms, 10 prompt tokens at 100/s take 10 ms, 50 tokens at 100/s take 50 ms
  const reply = await fast.generate({ model: 'llama3.2', prompt: 'a b c d e f g h i j', options: { num_predict: 50 } });
  const took = Date.now() - started;
  assert.ok(took >= 155 && took < 1000, `took ${took} ms`);
  assert.ok(reply.load_duration >= 95e6 && reply.load_duration < 600e6, `${reply.load_duration}`);
  assert.equal(reply.prompt_eval_duration, 10e6);
  assert.equal(reply.eval_duration, 50 * 1e6);
  const backend = await sim.control('/backends/fast');
  assert.equal(backend.time_scale, 10);
});
