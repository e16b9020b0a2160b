// The scenarios of the scheduling suite (bench section 4): their fleets, their workloads and the
// rate each runs at. Every workload is a pure function of its seed, so every system of a run sees
// the same arrivals, and so does the next run. Times here are unscaled (simulated) seconds; the
// fleet's time_scale runs them faster, and the suite scales the figures back.
import { schedFleet, random, pick, PROMPT_WORDS, OUTPUT_TOKENS } from './fleet.mjs';

const between = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
const exponential = (r, mean) => -Math.log(1 - r()) * mean;
// Words no other request shares (tag makes them unique), so that only what a scenario means to
// share can hit a prompt cache
const words = (r, count, tag) => Array.from({ length: count }, (_, i) => `${tag}w${i}x${Math.floor(r() * 1e6)}`).join(' ');
// Tokens of a chat message through the simulator's template: its role marker and its words
const MARKER = 1;

// Requests per second the fleet completes with every slot busy and every model loaded: the sum
// over backends of slots / mean service time (prefill of the prompt, then the tokens)
function warmCapacity(fleet, bodies) {
  let total = 0;
  for (const b of fleet.backends) {
    let service = 0;
    for (const body of bodies) service += body.prompt.split(' ').length / b.prefill_rate + body.options.num_predict / b.decode_rate;
    total += b.parallel / (service / bodies.length);
  }
  return total;
}

// ---- 1. uniform: today's fleet and mix, no sharing ----

function uniform(load) {
  return {
    name: `uniform ${Math.round(load * 100)}%`,
    kind: 'open',
    fleet: () => {
      const fleet = schedFleet(1);
      for (const b of fleet.backends) b.keep_alive = '-1';
      return fleet;
    },
    path: '/api/generate',
    windowS: 60,
    workload(seed, bodies = 2000) {
      const r = random(seed * 7919 + 11);
      return Array.from({ length: bodies }, (_, i) => ({
        model: 'llama3.2', prompt: words(r, pick(r, PROMPT_WORDS), `u${i}`), stream: true,
        options: { num_predict: pick(r, OUTPUT_TOKENS) },
      }));
    },
    rate: (fleet, bodies) => warmCapacity(fleet, bodies) * load,
  };
}

// ---- 2. multi-model: residency decides ----

const GB = 1e9;
const MODELS = [['m1', 2], ['m2', 4], ['m3', 4], ['m4', 8], ['m5', 8], ['m6', 16]];
const ZIPF = (() => {
  const w = MODELS.map((_, i) => 1 / (i + 1) ** 1.1);
  const sum = w.reduce((a, b) => a + b, 0);
  return MODELS.map(([name], i) => [name, w[i] / sum]);
})();

const multiModel = {
  name: 'multi-model',
  kind: 'open',
  fleet: () => {
    const models = MODELS.map(([name, gb]) => ({ name, size: gb * GB }));
    const backend = (name, maxLoaded, decode, prefill) => ({
      name, parallel: 2, max_queue: 4096, max_loaded_models: maxLoaded, decode_rate: decode, prefill_rate: prefill,
      load_rate: 2 * GB, unload_ms: 500, keep_alive: '5m', models,
    });
    return {
      host: '127.0.0.1', seed: 7,
      backends: [backend('g1', 2, 60, 2000), backend('g2', 2, 60, 2000), backend('g3', 1, 40, 1000), backend('g4', 1, 40, 1000)],
    };
  },
  path: '/api/generate',
  windowS: 120,
  workload(seed, bodies = 2000) {
    const r = random(seed * 104729 + 5);
    return Array.from({ length: bodies }, (_, i) => ({
      model: pick(r, ZIPF), prompt: words(r, between(r, 20, 400), `m${i}`), stream: true,
      options: { num_predict: between(r, 16, 128) },
    }));
  },
  // 70% of the warm capacity: every model loaded where it is asked for
  rate: (fleet, bodies) => warmCapacity(fleet, bodies) * 0.7,
};

// ---- 3. conversations, and 4. the same with bursts ----

// Each backend keeps a host-RAM prompt cache as current Ollama's llama-server does (--cache-ram,
// 8192 MiB by default: about 65,000 tokens of a 3B model's KV cache at 128 KB a token), restored
// at about 40,000 tokens/s (llama-server restored 1,745 tokens in 43 ms)
const CACHE_RAM_TOKENS = 65536;
const CACHE_RESTORE_RATE = 40000;

function conversationFleet() {
  const backend = (name, parallel, decode, prefill) => ({
    name, parallel, max_queue: 4096, decode_rate: decode, prefill_rate: prefill, keep_alive: '-1',
    cache_ram_tokens: CACHE_RAM_TOKENS, cache_restore_rate: CACHE_RESTORE_RATE,
    models: [{ name: 'llama3.2', loaded: true }],
  });
  return { host: '127.0.0.1', seed: 7, backends: [backend('c1', 4, 60, 1500), backend('c2', 2, 40, 1000), backend('c3', 2, 40, 800)] };
}

// An experiment (BENCH_FREE_PREFILL=1): the same fleet with every prefill and cache restore
// instant, so that a turn's time to first token is its wait for a slot alone. What a system
// reaches there is a floor for its queue: no routing that keeps the queue's order can cache
// more than every prompt. The arrivals stay those of the real fleet (sessionCapacity reads
// conversationFleet)
function freePrefillFleet() {
  const fleet = conversationFleet();
  for (const b of fleet.backends) Object.assign(b, { prefill_rate: 0, cache_restore_rate: 0 });
  return fleet;
}

// The sessions of a seed, without start times: 20 system prompts, 300 sessions of 4-10 turns
function sessionsOf(seed, count) {
  const r = random(seed * 15485863 + 3);
  const systems = Array.from({ length: 20 }, (_, i) => words(r, between(r, 300, 1500), `sys${i}`));
  return Array.from({ length: count }, (_, s) => {
    const system = between(r, 0, systems.length - 1);
    const turns = Array.from({ length: between(r, 4, 10) }, (_, t) => ({
      user: words(r, between(r, 10, 60), `s${s}t${t}`), tokens: between(r, 32, 256),
      think: Number(exponential(r, 5).toFixed(3)),
    }));
    return { id: `s${s}`, model: 'llama3.2', system: systems[system], turns };
  });
}

// Sessions per second the fleet serves when every turn after the first hits its cache: each
// backend's slots over the mean work of a session there (the first turn's whole prompt, then each
// turn's new tokens: a user marker, its words and the assistant's marker; every answer decoded)
function sessionCapacity(fleet, sessions) {
  let total = 0;
  for (const b of fleet.backends) {
    let work = 0;
    for (const s of sessions) {
      s.turns.forEach((t, i) => {
        const fresh = (i === 0 ? MARKER + s.system.split(' ').length : 0) + MARKER + t.user.split(' ').length + MARKER;
        work += fresh / b.prefill_rate + t.tokens / b.decode_rate;
      });
    }
    total += b.parallel / (work / sessions.length);
  }
  return total;
}

// Poisson session starts at rate(t) per second (thinned from the highest rate)
function starts(r, count, rateAt, peak) {
  const out = [];
  let t = 0;
  while (out.length < count) {
    t += exponential(r, 1 / peak);
    if (r() < rateAt(t) / peak) out.push(Number(t.toFixed(3)));
  }
  return out;
}

function conversations(bursts) {
  return {
    name: bursts ? 'bursts' : 'conversations',
    kind: 'sessions',
    fleet: process.env.BENCH_FREE_PREFILL === '1' ? freePrefillFleet : conversationFleet,
    path: '/api/chat',
    workload(seed, count = 300) {
      const sessions = sessionsOf(seed, count);
      const rate = sessionCapacity(conversationFleet(), sessions) * 0.7;
      //  bursts: three times the rate for 30 s of every 2 minutes (from 60 s to 90 s of each)
      const rateAt = bursts ? (t) => (t % 120 >= 60 && t % 120 < 90 ? 3 * rate : rate) : () => rate;
      const at = starts(random(seed * 31 + 17), count, rateAt, bursts ? 3 * rate : rate);
      sessions.forEach((s, i) => { s.at = at[i]; });
      return { sessions, rate };
    },
  };
}

export const SCENARIOS = [uniform(0.7), uniform(0.95), multiModel, conversations(false), conversations(true)];
