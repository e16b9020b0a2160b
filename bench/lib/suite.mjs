// Section 4, the scheduling suite: every scenario of scenarios.mjs through every system, on the
// same arrivals, for several seeds. The simulator runs each scenario's fleet under a time scale
// (faster than real time, same shape); the figures are scaled back to simulated time here.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSim, startOllamaflow, startNginx, startHaproxy } from './systems.mjs';
import { SCENARIOS } from './scenarios.mjs';
import { sleep } from './procs.mjs';

export const POLICIES = ['RoundRobin', 'Random', 'LeastOutstanding', 'LeastLatency', 'PredictedLatency'];
// Every system, in the order of the tables; haproxy (leastconn) is the reference of the ratios
export const SYSTEMS = [...POLICIES, 'RoundRobin+sticky', 'nginx', 'haproxy', 'haproxy-hdr'];
export const REFERENCE = 'haproxy';
// Goodput: the share of requests whose first token came within this, in simulated time
export const SLO_MS = 2000;

// Time scales: the uniform and multi-model scenarios are short, and their times (tens of ms)
// must stay well above the machine's jitter; the conversations are long and their contrasts are
// hundreds of ms (a cached turn) against seconds (a whole history)
const SCALE = { open: Number(process.env.BENCH_SCALE_OPEN || 20), sessions: Number(process.env.BENCH_SCALE_SESSIONS || 50) };
const QUICK_SCALE = { open: 100, sessions: 200 };

function startSystem(work, bin, key, backends, probe) {
  if (POLICIES.includes(key)) return startOllamaflow(work, bin, backends, { policy: key, probe });
  if (key === 'RoundRobin+sticky') return startOllamaflow(work, bin, backends, { policy: 'RoundRobin', probe, sticky: true });
  if (key === 'nginx') return startNginx(work, backends, { name: 'sched-nginx' });
  if (key === 'haproxy') return startHaproxy(work, backends, { name: 'sched-haproxy' });
  return startHaproxy(work, backends, { name: 'sched-haproxy-hdr', balance: 'hdr(X-Conversation-Id)' });
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

// Everything a run's figures need from the simulator: loads, prompt and cached tokens
async function simTotals(sim) {
  const fleet = await sim.control('/fleet');
  const by = (k) => sum(fleet.backends.map((b) => b.stats[k]));
  return { loads: by('loads'), evictions: by('evictions'), prompt: by('prompt_tokens'), cached: by('cached_tokens') };
}

async function idle(sim, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const fleet = await sim.control('/fleet');
    if (fleet.backends.every((b) => b.stats.active === 0 && b.stats.queued === 0)) return;
    if (Date.now() > end) return;
    await sleep(50);
  }
}

// One run's figures, in simulated time
function figures(r, sim, scale, kind) {
  const requests = r.sent + (r.turns_unsent || 0);
  const minutes = (kind === 'open' ? r.window_s : r.elapsed_s) * scale / 60;
  const done = kind === 'open' ? r.completed_in_window : r.completed;
  const ms = (x) => (x === undefined ? NaN : x * scale);
  return {
    sent: r.sent, completed: r.completed,
    ttftP50: ms(r.ttfb_ms.p50), ttftP90: ms(r.ttfb_ms.p90), ttftP99: ms(r.ttfb_ms.p99),
    totalP99: ms(r.latency_ms.p99),
    goodput: requests ? r.good / requests : NaN,
    perMinute: done / minutes,
    coldPer1000: r.sent ? sim.loads / r.sent * 1000 : NaN,
    prefixHit: sim.prompt ? sim.cached / sim.prompt : 0,
    failures: r.errors + r.timeouts + r.status['4xx'] + r.status['5xx'] + r.in_flight_at_stop + (r.turns_unsent || 0),
    raw: { errors: r.errors, timeouts: r.timeouts, status: r.status, unfinished: r.in_flight_at_stop,
           turnsUnsent: r.turns_unsent || 0, elapsedS: r.elapsed_s },
  };
}

// Runs the suite (only: scenario names; systems: keys of SYSTEMS); results.suite = {seeds, scales, scenarios: {name: {rate, systems: {key: [figures per seed]}}}}
export async function runSuite({ work, bin, quick, load, log, results, only, systems = SYSTEMS, seedCount = 5 }) {
  const seeds = quick ? [1] : Array.from({ length: seedCount }, (_, i) => i + 1);
  const scales = quick ? QUICK_SCALE : SCALE;
  const suite = { seeds, scales, sloMs: SLO_MS, scenarios: {} };
  results.suite = suite;
  for (const scenario of SCENARIOS.filter((s) => !only || only.includes(s.name))) {
    const scale = scales[scenario.kind];
    const fleet = { ...scenario.fleet(), time_scale: scale };
    const sim = await startSim(work, bin, fleet, `suite-${scenario.name.replace(/\W+/g, '-')}`);
    const entry = { scale, path: scenario.path, systems: {}, rates: [] };
    suite.scenarios[scenario.name] = entry;
    //  The workload of each seed, written once: every system reads the same file
    const files = seeds.map((seed) => {
      const file = join(work, `${scenario.name.replace(/\W+/g, '-')}-${seed}.ndjson`);
      if (scenario.kind === 'open') {
        const bodies = scenario.workload(seed, quick ? 200 : 2000);
        writeFileSync(file, bodies.map((b) => JSON.stringify(b)).join('\n') + '\n');
        return { file, rate: scenario.rate(scenario.fleet(), bodies), windowS: quick ? 6 : scenario.windowS };
      }
      const { sessions, rate } = scenario.workload(seed, quick ? 8 : 300);
      writeFileSync(file, sessions.map((s) => JSON.stringify(s)).join('\n') + '\n');
      const last = Math.max(...sessions.map((s) => s.at));
      return { file, rate, capS: last + 600 };
    });
    entry.rates = files.map((f) => f.rate);
    const backends = sim.backends.map((b) => ({ name: b.name, port: b.port, slots: b.parallel }));
    const probe = { model: fleet.backends[0].models[0].name ?? fleet.backends[0].models[0], prompt: '', stream: false };
    try {
      for (const key of SYSTEMS.filter((k) => systems.includes(k))) {
        const system = await startSystem(work, bin, key, backends, probe);
        entry.systems[key] = [];
        try {
          for (const [i, seed] of seeds.entries()) {
            const f = files[i];
            await idle(sim, 10000);
            await sim.control('/flush', {});
            await sim.control('/reset', {});
            const drainS = 60;
            const common = ['--path', scenario.path, '--slo-ms', (SLO_MS / scale).toFixed(3), '--max-connections', 10000];
            const args = scenario.kind === 'open'
              ? [...common, '--bodies', f.file, '--rate', (f.rate * scale).toFixed(3), '--poisson', '--seed', seed,
                 '--conversation-ids', '--duration', (f.windowS / scale).toFixed(3), '--drain', (drainS / scale).toFixed(3),
                 '--timeout', ((f.windowS + drainS) / scale).toFixed(3)]
              : [...common, '--sessions', f.file, '--time-scale', scale, '--duration', (f.capS / scale).toFixed(3),
                 '--drain', (drainS / scale).toFixed(3), '--timeout', (drainS / scale).toFixed(3)];
            const r = await load(system.port, args);
            const totals = await simTotals(sim);
            const fig = figures(r, totals, scale, scenario.kind);
            entry.systems[key].push(fig);
            log(`suite ${scenario.name} ${key} seed ${seed}: ttft p50 ${fig.ttftP50.toFixed(0)} p99 ${fig.ttftP99.toFixed(0)} ms, `
              + `goodput ${(fig.goodput * 100).toFixed(1)}%, cold ${fig.coldPer1000.toFixed(1)}/1000, `
              + `hit ${(fig.prefixHit * 100).toFixed(1)}%, failures ${fig.failures}`);
          }
        } finally {
          await system.stop();
        }
      }
    } finally {
      await sim.stop();
    }
  }
}
