// The heterogeneous fleet of the scheduling section, its mixed requests, and its capacity.

// Four backends with different decode rates, prefill rates and slot counts. speedup multiplies
// every rate (the quick mode runs the same shape in a fraction of the time).
export function schedFleet(speedup = 1) {
  const backend = (name, parallel, decode, prefill) => ({
    name, parallel, max_queue: 4096, decode_rate: decode * speedup, prefill_rate: prefill * speedup,
    load_ms: 0, models: [{ name: 'llama3.2', loaded: true }],
  });
  return {
    host: '127.0.0.1',
    seed: 7,
    backends: [
      backend('big', 4, 100, 3000),     //  a large GPU: many fast slots
      backend('mid', 3, 50, 1500),
      backend('old', 2, 25, 800),       //  an old card: slow in every way
      backend('solo', 1, 150, 4000),    //  one fast slot
    ],
  };
}

// A small deterministic generator (mulberry32), so every run sends the same requests
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

//  A value chosen by weight: choices are [value, weight] pairs whose weights sum to 1
export const pick = (r, choices) => {
  let x = r();
  for (const [value, weight] of choices) {
    if (x < weight) return value;
    x -= weight;
  }
  return choices[choices.length - 1][0];
};

//  Prompt lengths in words (the simulator bills one token per word) and output lengths in tokens
export const PROMPT_WORDS = [[8, 0.5], [120, 0.35], [600, 0.15]];
export const OUTPUT_TOKENS = [[16, 0.45], [64, 0.35], [256, 0.2]];
const BODY_COUNT = 2000;

// The mixed requests: streamed /api/generate with a prompt of k words and num_predict n
export function schedBodies(seed = 11) {
  const r = random(seed);
  const bodies = [];
  for (let i = 0; i < BODY_COUNT; i++) {
    const words = pick(r, PROMPT_WORDS);
    const tokens = pick(r, OUTPUT_TOKENS);
    const prompt = Array.from({ length: words }, (_, w) => `w${(w * 7 + i) % 97}`).join(' ');
    bodies.push({ model: 'llama3.2', prompt, stream: true, options: { num_predict: tokens } });
  }
  return bodies;
}

// Requests per second the fleet completes when every slot is always busy: the sum over backends of
// slots / mean service time (prefill of the prompt, then the tokens at the decode rate)
export function capacity(fleet, bodies) {
  let total = 0;
  for (const b of fleet.backends) {
    let service = 0;
    for (const body of bodies) {
      const words = body.prompt.split(' ').length;
      service += words / b.prefill_rate + body.options.num_predict / b.decode_rate;
    }
    total += b.parallel / (service / bodies.length);
  }
  return total;
}
