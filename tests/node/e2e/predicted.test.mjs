// PredictedLatency end to end: two simulated backends behind one frontend, the real ollama and
// openai clients. A conversation's next turn goes back to the backend holding its history (the
// sim's prompt cache says so) while that backend has a free slot, and elsewhere when it is full
// and its queue costs more than a new prefill; a model goes where it is loaded rather than to a
// free backend that would load it (4 s), even waiting for a warm slot; a hot model spills over
// once its backend is full with asks queued for it. Which backend served is what an
// operator sees: X-OllamaFlow-Backend, checked against the simulator's own counts.
// Nothing here is timed: every check is about who served, the sim's counts, the scheduler's STATE.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startFlow, startTap, waitFor, assertCleanStop } from './flow.mjs';

// Rounds of a backend's slots that may choose to wait for it (sched_pick.c's S_HOLD_ROUNDS)
const HOLD_ROUNDS = 3;
const MODEL = 'llama3.2';
const SMALL = 'smollm2';            // loaded everywhere: explores each backend without a cold load
const POLICY = 'PredictedLatency';
const SYSTEM = Array.from({ length: 1500 }, (_, i) => `s${i}`).join(' ');

// Two backends a and b (models: theirs) of `parallel` slots each, MaxParallelRequests the same;
// returns once the scheduler knows both inventories and has learned from both (nothing left to
// explore), with the sim's counters reset
async function start(models, config) {
  const flow = await startFlow({
    fleet: { host: '127.0.0.1', seed: 7, defaults: config,
      backends: ['a', 'b'].map((name) => ({ name, models: models[name] })) },
    backends: (sim) => ['a', 'b'].map((name) => ({ Identifier: name, Hostname: '127.0.0.1',
      Port: sim.port(name), HealthyThreshold: 1, MaxParallelRequests: config.parallel })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'], LoadBalancing: POLICY }],
    settings: { Ingress: { QueueTimeoutMs: 10000 } },
  });
  const post = (model) => fetch(`${flow.url()}/api/chat`, { method: 'POST', body: JSON.stringify(
    { model, stream: false, messages: [{ role: 'user', content: 'w' }], options: { num_predict: 2 } }) });
  // A model neither has is refused by the scheduler itself (no backend named) only once it has
  // both inventories: from then on it knows where each model is loaded
  await waitFor(async () => {
    const response = await post('absent');
    await response.text();
    return response.status === 404 && !response.headers.has('x-ollamaflow-backend');
  }, { what: 'both inventories at the scheduler' });
  // An unexplored backend with the model loaded gets the next ask: one each, then both are known
  await waitFor(async () => {
    await (await post(SMALL)).text();
    return (await chats(flow, 'a')) > 0 && (await chats(flow, 'b')) > 0;
  }, { what: 'both backends explored' });
  await flow.sim.reset();
  return { flow, tap: startTap(flow, ['-s', 'scheduler', '-m', 'STATE']) };
}

async function stop({ flow, tap }) {
  await tap.stop();
  assertCleanStop(assert, await flow.stop());
}

// Chat requests a backend got (healthmon's probes and modelsync's listings are other routes)
async function chats(flow, name) {
  const { routes } = await flow.sim.stats(name);
  return (routes['/api/chat'] ?? 0) + (routes['/v1/chat/completions'] ?? 0);
}

// An ollama client that notes the backend each answer names (X-OllamaFlow-Backend)
function ollamaClient(flow) {
  const served = [];
  const ollama = new Ollama({ host: flow.url(), fetch: async (url, init) => {
    const response = await fetch(url, init);
    served.push(response.headers.get('x-ollamaflow-backend'));
    return response;
  } });
  return { ollama, served };
}

// A long openai stream that holds its slot until stopped; granted: the backend it names once
// its answer starts (X-OllamaFlow-Backend), answered: a promise of that, or null if stopped before
function hold(flow, content) {
  const controller = new AbortController();
  const openai = new OpenAI({ baseURL: `${flow.url()}/v1`, apiKey: 'none', maxRetries: 0 });
  const held = { granted: null, stop: () => controller.abort() };
  held.answered = openai.chat.completions.create({ model: MODEL, stream: true, max_tokens: 5000,
    messages: [{ role: 'user', content }] }, { signal: controller.signal }).withResponse()
    .then(({ response }) => (held.granted = response.headers.get('x-ollamaflow-backend')), () => null);
  return held;
}
const granted = (streams, backend) => streams.filter((s) => s.granted === backend).length;

// The scheduler's next STATE in which its leases and waiting asks add up to count; with each
// backend's leases
async function settled(tap, count) {
  const { Body } = await tap.find(tap.count(), (state) => state.Leases + state.Asks === count);
  return { asks: Body.Asks, ...Object.fromEntries(Body.Backends.map((b) => [b.Backend, b.Leases])) };
}

// Until nothing runs: the scheduler holds no lease and no ask, the sim no request
async function drained({ flow, tap }) {
  await tap.find(tap.count(), (state) => state.Leases === 0 && state.Asks === 0);
  await waitFor(async () => (await flow.sim.stats('a')).active + (await flow.sim.stats('b')).active === 0,
    { what: 'idle backends' });
}

describe('a conversation and the prompt cache holding its history', () => {
  let stack;
  // One slot each; a re-prefill of the whole history (about 50 ms) costs less than waiting for
  // a turn (16 tokens, 400 ms) to end
  before(async () => {
    const loaded = [{ name: MODEL, loaded: true }, { name: SMALL, loaded: true }];
    stack = await start({ a: loaded, b: loaded }, { parallel: 1, prefill_rate: 40000, decode_rate: 40 });
  });
  after(() => stop(stack));

  test('each next turn goes back to the backend holding its history; full, a fork goes elsewhere', async (t) => {
    const { flow, tap } = stack;
    const { ollama, served } = ollamaClient(flow);
    const messages = [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'first question' }];
    let answer = await ollama.chat({ model: MODEL, messages, options: { num_predict: 16 } });
    const holder = served[0];
    const other = holder === 'a' ? 'b' : 'a';
    let cached = 0;
    for (let turn = 2; turn <= 4; turn++) {
      const history = answer.prompt_eval_count + answer.eval_count;
      messages.push(answer.message, { role: 'user', content: `question ${turn}` });
      answer = await ollama.chat({ model: MODEL, messages, options: { num_predict: 16 } });
      assert.equal(served.at(-1), holder, `turn ${turn} served by ${served.at(-1)}, its history is on ${holder}`);
      // The whole history came from the slot's cache: only the new message was evaluated
      assert.equal(answer.prompt_eval_cached_count, history, `turn ${turn}`);
      cached += history;
    }
    // The sim's counts agree with the header and the answers
    assert.equal(await chats(flow, other), 0);
    assert.equal(await chats(flow, holder), 4);
    assert.equal((await flow.sim.stats(holder)).cached_tokens, cached);

    // The holder full (a long next turn streams there): a fork of the conversation would wait
    // longer for that slot than the other backend takes to prefill it all, so it goes there
    messages.push(answer.message);
    const { ollama: streaming, served: streamed } = ollamaClient(flow);
    const stream = await streaming.chat({ model: MODEL, stream: true, options: { num_predict: 5000 },
      messages: [...messages, { role: 'user', content: 'a long answer' }] });
    t.after(() => stream.abort());
    await stream[Symbol.asyncIterator]().next();
    assert.equal(streamed[0], holder);
    const from = tap.count();
    const fork = await ollama.chat({ model: MODEL, options: { num_predict: 2 },
      messages: [...messages, { role: 'user', content: 'a fork' }] });
    await tap.find(tap.count(), () => true);
    stream.abort();
    assert.equal(served.at(-1), other, 'the fork went elsewhere rather than queue for the holder');
    assert.ok(tap.lines.slice(from).every((line) => line.Body.Asks === 0), 'it never waited');
    assert.equal(fork.prompt_eval_cached_count, undefined, 'and prefilled it all there');
    await drained(stack);
    for (const name of ['a', 'b'])
      assert.equal((await flow.sim.stats(name)).peak_active, 1, name);
  });
});

describe('a model where it is loaded, and a hot model spilling over', () => {
  let stack;
  // llama3.2 loaded on a only; on b it takes 3 s to load
  before(async () => {
    stack = await start({
      a: [{ name: MODEL, loaded: true }, { name: SMALL, loaded: true }],
      b: [{ name: MODEL, load_ms: 3000 }, { name: SMALL, loaded: true }],
    }, { parallel: 2, prefill_rate: 4000, decode_rate: 40 });
  });
  after(() => stop(stack));

  test('one at a time: every request to the backend where the model is loaded', async () => {
    const { flow } = stack;
    const { ollama, served } = ollamaClient(flow);
    for (let i = 0; i < 6; i++)
      await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: `q${i}` }], options: { num_predict: 4 } });
    assert.deepEqual(served, Array(6).fill('a'));
    assert.equal(await chats(flow, 'a'), 6);
    assert.equal(await chats(flow, 'b'), 0);
    assert.equal((await flow.sim.stats('b')).models[`${MODEL}:latest`].loads, 0, 'b never loaded it');
  });

  test('a burst of a round more than a\'s slots waits for them rather than load on free b', async (t) => {
    const { flow, tap } = stack;
    const streams = Array.from({ length: 4 }, (_, i) => hold(flow, `burst ${i}`));
    t.after(() => streams.forEach((s) => s.stop()));
    // Two run on a, two wait for it (a slot's wait beats a 3 s load); b stays free
    assert.deepEqual(await settled(tap, 4), { asks: 2, a: 2, b: 0 });
    await waitFor(() => granted(streams, 'a') === 2, { what: 'two streams on a' });
    const first = streams.filter((s) => s.granted);
    first.forEach((s) => s.stop());
    // The two running end: the two waiting take a's slots
    await waitFor(() => streams.filter((s) => !first.includes(s) && s.granted === 'a').length === 2,
      { what: 'the waiting two on a' });
    assert.deepEqual(await settled(tap, 2), { asks: 0, a: 2, b: 0 });
    streams.forEach((s) => s.stop());
    await drained(stack);
    assert.equal(await chats(flow, 'b'), 0);
    assert.equal((await flow.sim.stats('b')).models[`${MODEL}:latest`].loads, 0);
    assert.equal((await flow.sim.stats('a')).peak_active, 2);
  });

  test('a hot model spills over once its backend is full and asks wait for it; caps hold', async (t) => {
    const { flow, tap } = stack;
    await drained(stack);
    await flow.sim.reset();
    //  a: 2 running, and asks wait for it while their wait beats b's load, at most HOLD_ROUNDS
    //  rounds of its slots (the bound: sched_pick.c's S_HOLD_ROUNDS); b takes the two beyond
    //  and pays its load
    const waiting = HOLD_ROUNDS * 2;
    const streams = Array.from({ length: 2 + waiting + 2 }, (_, i) => hold(flow, `hot ${i}`));
    t.after(() => streams.forEach((s) => s.stop()));
    assert.deepEqual(await settled(tap, streams.length), { asks: waiting, a: 2, b: 2 });
    // What the clients see (b's answers start after its load)
    await waitFor(() => granted(streams, 'a') === 2 && granted(streams, 'b') === 2,
      { what: 'two streams on each backend' });
    streams.forEach((s) => s.stop());
    await drained(stack);
    const [a, b] = [await flow.sim.stats('a'), await flow.sim.stats('b')];
    assert.ok(a.peak_active <= 2 && b.peak_active <= 2, `peaks ${a.peak_active} and ${b.peak_active}`);
    assert.equal(b.models[`${MODEL}:latest`].loads, 1, 'the spill paid b its load');
  });
});

describe('a full fleet: a freed slot goes to an ask whose model is loaded there', () => {
  // One slot each, one model at a time: m1 loaded on a, m2 on b; either loads the other in 2 s
  // (pushing its own out). Every backend busy and asks for both models queued, oldest first one
  // for the model the freed backend lacks: it keeps waiting for the backend that has its model,
  // and the next ask, whose model is there, takes the slot. No load anywhere. (Counting every
  // queued ask as waiting for every backend, the oldest took the slot and paid a load.)
  const M1 = 'm1', M2 = 'm2';
  let flow, tap;
  before(async () => {
    flow = await startFlow({
      fleet: { host: '127.0.0.1', seed: 7,
        defaults: { parallel: 1, max_loaded_models: 1, prefill_rate: 40000, decode_rate: 40, load_ms: 2000 },
        backends: [
          { name: 'a', models: [{ name: M1, loaded: true }, { name: M2 }] },
          { name: 'b', models: [{ name: M1 }, { name: M2, loaded: true }] },
        ] },
      backends: (sim) => ['a', 'b'].map((name) => ({ Identifier: name, Hostname: '127.0.0.1',
        Port: sim.port(name), HealthyThreshold: 1, MaxParallelRequests: 1 })),
      frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'], LoadBalancing: POLICY }],
      settings: { Ingress: { QueueTimeoutMs: 30000 } },
    });
    // Both inventories at the scheduler (an absent model is refused by it, no backend named),
    // then each backend explored with the model it has loaded
    await waitFor(async () => {
      const response = await ask('absent');
      return response.status === 404 && response.backend === null;
    }, { what: 'both inventories at the scheduler' });
    await waitFor(async () => {
      await ask(M1);
      await ask(M2);
      return (await chats(flow, 'a')) > 0 && (await chats(flow, 'b')) > 0;
    }, { what: 'both backends explored' });
    await flow.sim.reset();
    tap = startTap(flow, ['-s', 'scheduler', '-m', 'STATE']);
  });
  after(async () => {
    await tap.stop();
    assertCleanStop(assert, await flow.stop());
  });

  // A short chat; resolves { status, backend }
  async function ask(model, content = 'w') {
    const response = await fetch(`${flow.url()}/api/chat`, { method: 'POST', body: JSON.stringify(
      { model, stream: false, messages: [{ role: 'user', content }], options: { num_predict: 2 } }) });
    await response.text();
    return { status: response.status, backend: response.headers.get('x-ollamaflow-backend') };
  }

  // A long stream of model that holds a slot until stopped
  async function occupy(model) {
    const controller = new AbortController();
    const response = await fetch(`${flow.url()}/api/chat`, { method: 'POST', signal: controller.signal,
      body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'long' }],
        options: { num_predict: 5000 } }) });
    const reader = response.body.getReader();
    await reader.read();
    return { backend: response.headers.get('x-ollamaflow-backend'), stop: () => controller.abort() };
  }

  test('the oldest ask, for m2, waits for b; the m1 ask behind it takes a; nothing loads', async () => {
    const onA = await occupy(M1);
    const onB = await occupy(M2);
    assert.deepEqual([onA.backend, onB.backend], ['a', 'b']);
    // Queued in this order while both are busy
    const answers = [];
    for (const [i, model] of [M2, M1, M2, M1].entries()) {
      answers.push(ask(model, `q${i}`));
      await settled(tap, 2 + i + 1);
    }
    // a frees: both m1 asks take it in turn, the m2 asks ahead of them keep waiting for b
    onA.stop();
    await Promise.all([answers[1], answers[3]]);
    onB.stop();
    const served = await Promise.all(answers);
    assert.deepEqual(served.map((s) => s.status), [200, 200, 200, 200]);
    assert.deepEqual(served.map((s) => s.backend), ['b', 'a', 'b', 'a']);
    for (const name of ['a', 'b']) {
      const stats = await flow.sim.stats(name);
      assert.equal(stats.loads, 0, `${name} loaded a model`);
      assert.ok(stats.peak_active <= 1, `${name} ran ${stats.peak_active} at once`);
    }
  });
});
