// The response meter's figures reach the scheduler: every RELEASE (seen as the scheduler's
// OUTCOME on the tap) carries what the response said of itself, as ollama-sim reports it: the
// model's load time on the first request of a cold model, the prompt's tokens and the part of
// them the backend had cached, and the prefill and decode times. Both dialects, through the real
// clients, streamed and not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, startTap, assertCleanStop, waitHealthy } from './flow.mjs';

const MODEL = 'llama3.2';
// 200 words of system prompt: the next turn finds them in the slot's cache
const SYSTEM = Array.from({ length: 200 }, (_, i) => `s${i}`).join(' ');
let flow;
let tap;

// The OUTCOME of the release of an answer from index on, known by its token counts (a release of
// an earlier request may still be on its way)
const outcomeOf = (from, prompt, completion) => tap.find(from, (body) => body.Outcome === 'ok'
  && body.PromptTokens === prompt && body.CompletionTokens === completion);

before(async () => {
  flow = await startFlow({
    fleet: {
      host: '127.0.0.1',
      // One slot, so the second turn lands where the first one's tokens are
      defaults: { parallel: 1, decode_rate: 400, prefill_rate: 2000, load_ms: 300 },
      backends: [{ name: 'a', models: [MODEL] }],
    },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'] }],
  });
  tap = startTap(flow, ['-s', 'scheduler', '-m', 'OUTCOME']);
  // Served once (an empty prompt loads the model, keep_alive 0 unloads it again): the first
  // chat below finds it cold
  await waitHealthy(flow, { model: MODEL, prompt: '', keep_alive: 0 });
});

after(async () => {
  await tap.stop();
  assertCleanStop(assert, await flow.stop());
});

test('Ollama chat: the cold load, then the cached history, in RELEASE', async () => {
  const ollama = new Ollama({ host: flow.url() });
  const messages = [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'first question' }];
  let from = tap.count();
  const first = await ollama.chat({ model: MODEL, messages, options: { num_predict: 8 } });
  let outcome = (await outcomeOf(from, first.prompt_eval_count, first.eval_count)).Body;
  assert.equal(outcome.LoadUs, Math.round(first.load_duration / 1000));
  assert.ok(outcome.LoadUs >= 250000, `a cold load of 300 ms, LoadUs ${outcome.LoadUs}`);
  assert.equal(outcome.PrefillUs, Math.round(first.prompt_eval_duration / 1000));
  assert.equal(outcome.DecodeUs, Math.round(first.eval_duration / 1000));
  assert.equal(outcome.CachedTokens, undefined, 'nothing cached on a cold slot');

  // The next turn, streamed: the history is in the slot's cache
  messages.push(first.message, { role: 'user', content: 'second question' });
  from = tap.count();
  let last;
  for await (const part of await ollama.chat({ model: MODEL, messages, stream: true, options: { num_predict: 8 } }))
    last = part;
  outcome = (await outcomeOf(from, last.prompt_eval_count, last.eval_count)).Body;
  assert.ok(last.prompt_eval_cached_count > 200, `cached ${last.prompt_eval_cached_count}`);
  assert.equal(outcome.CachedTokens, last.prompt_eval_cached_count);
  assert.ok(outcome.LoadUs < 250000, `no load the second time, LoadUs ${outcome.LoadUs}`);
  assert.equal(outcome.PrefillUs, Math.round(last.prompt_eval_duration / 1000));
});

test('OpenAI chat: usage and its cached tokens in RELEASE, streamed and not', async () => {
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'none' });
  const messages = [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'openai question' }];
  let from = tap.count();
  const whole = await openai.chat.completions.create({ model: MODEL, messages, max_tokens: 6 });
  let outcome = (await outcomeOf(from, whole.usage.prompt_tokens, whole.usage.completion_tokens)).Body;
  assert.equal(outcome.CachedTokens, whole.usage.prompt_tokens_details?.cached_tokens);

  messages.push(whole.choices[0].message, { role: 'user', content: 'and then' });
  from = tap.count();
  let usage;
  const stream = await openai.chat.completions.create({ model: MODEL, messages, max_tokens: 6, stream: true,
    stream_options: { include_usage: true } });
  for await (const chunk of stream)
    if (chunk.usage)
      usage = chunk.usage;
  outcome = (await outcomeOf(from, usage.prompt_tokens, usage.completion_tokens)).Body;
  assert.ok(usage.prompt_tokens_details.cached_tokens > 200);
  assert.equal(outcome.CachedTokens, usage.prompt_tokens_details.cached_tokens);
});
