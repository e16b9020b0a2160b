// The benchmark (run it through bench/run.sh): the same workloads against ollama-sim
// directly, ollamaflow, nginx and HAProxy (and Portkey's gateway on the OpenAI route, when
// bench/run.sh could install it: BENCH_PORTKEY), in one run on this machine. Prints one table and writes
// it, with the machine and the command, to <out>/RESULTS.md (and the raw figures to results.json).
//   node bench/bench.mjs [--quick] [--bin DIR] [--out DIR] [--sections 1,2,3,4] [--keep]
//                        [--scenarios "uniform 70%,conversations"] [--systems haproxy,nginx] [--seeds N]
//                        (section 4: some scenarios, some systems only; for trying things out)
//   node bench/bench.mjs --render results.json [--out DIR]     (the table again, from saved figures)
import { mkdtempSync, writeFileSync, readFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { tmpdir, cpus, totalmem, loadavg, hostname } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killEverything, rssKb, sleep, cpuSeconds, track } from './lib/procs.mjs';
import { startSim, startOllamaflow, startNginx, startHaproxy, startPortkey, NOFILE } from './lib/systems.mjs';
import { buildTable, renderTable, SECTIONS } from './lib/table.mjs';
import { runSuite } from './lib/suite.mjs';
import { makeCa } from '../tests/node/e2e/certs.mjs';
import { renderSuite } from './lib/suite_table.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const quick = args.includes('--quick');
const bin = resolve(option('--bin', join(ROOT, 'build/bin')));
const out = resolve(option('--out', quick ? join(tmpdir(), 'ollamaflow-bench-quick') : HERE));
const sections = option('--sections', '1,2,3,4').split(',').map(Number);
const keep = args.includes('--keep');
const scenarios = option('--scenarios', null)?.split(',');
const suiteSystems = option('--systems', null)?.split(',');
const seedCount = Number(option('--seeds', 5));
//  --render FILE: rewrite the table and RESULTS.md from a results.json (same figures, new layout)
const render = option('--render', null);

//  Every size and duration of the run; --quick: seconds and small numbers, so a test can run it
const P = quick ? {
  wrkConnections: 16, wrkSeconds: 1, wrkRuns: 1, rateSeconds: 0.5, rateConnections: 64,
  streamLevels: [10, 50], streamTokens: 10, streamRate: 40, streamSeconds: 1, httpsWarmSeconds: 0.5,
  memoryLevels: [20, 50], memoryRampMs: 200, memorySettleMs: 200, memoryCapS: 15,
} : {
  wrkConnections: 64, wrkSeconds: 5, wrkRuns: 3, rateSeconds: 10, rateConnections: 256,
  streamLevels: [100, 1000], streamTokens: 20, streamRate: 20, streamSeconds: 10, httpsWarmSeconds: 3,
  memoryLevels: [1000, 10000], memoryRampMs: 8000, memorySettleMs: 2000, memoryCapS: 60,
};

//  A single-process proxy holds two descriptors per stream: the memory levels stop below the limit
//  (a sandbox may forbid raising it; 10,000 streams need a limit above 20,000)
const MEMORY_MAX_STREAMS = Math.floor((NOFILE - 256) / 2);
if (P.memoryLevels.some((l) => l > MEMORY_MAX_STREAMS))
  process.stderr.write(`bench: open files limited to ${NOFILE}: memory levels capped at ${MEMORY_MAX_STREAMS} streams\n`);
P.memoryLevels = P.memoryLevels.map((l) => Math.min(l, MEMORY_MAX_STREAMS));

const SMALL_BODY = { model: 'llama3.2', prompt: 'hello', stream: false, options: { num_predict: 1 } };
//  The OpenAI route (POST /v1/chat/completions), where Portkey's gateway joins: the same prompt
//  and tokens as the /api/generate workloads
const OPENAI_PATH = '/v1/chat/completions';
const openaiBody = (stream, tokens) => ({ model: 'llama3.2', messages: [{ role: 'user', content: 'hello' }],
  stream, max_tokens: tokens });
//  Portkey's start-server.js in the cache (bench/run.sh installs it); "" or unset: not installed
const PORTKEY = process.env.BENCH_PORTKEY || '';
const log = (...parts) => process.stderr.write(`bench: ${parts.join(' ')}\n`);

// Runs bench-load; resolves with its JSON report (on 'close': all of its output has been read)
function load(port, loadArgs) {
  return new Promise((resolvePromise, reject) => {
    const child = track(spawn(join(bin, 'bench-load'), ['--port', String(port), ...loadArgs.map(String)],
      { stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`bench-load exited ${code}: ${stderr}`));
      try { resolvePromise(JSON.parse(stdout)); } catch (e) { reject(new Error(`bench-load: ${e.message}: ${stdout}`)); }
    });
  });
}

// bench-load's options for a system's route: the path, and the headers the system routes by
// (Portkey's; none for the others)
const routeArgs = (system, path) => (path === OPENAI_PATH
  ? ['--path', path, ...Object.entries(system.headers || {}).flatMap(([k, v]) => ['--header', `${k}: ${v}`])] : []);

// wrk at saturation; requests per second
function wrk(port, body, path = '/api/generate', headers = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = track(spawn('wrk', ['-t1', `-c${P.wrkConnections}`, `-d${P.wrkSeconds}s`, '--timeout', '10s',
      '-s', join(HERE, 'load/post.lua'), `http://127.0.0.1:${port}${path}`],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_BODY: JSON.stringify(body),
        BENCH_HEADERS: Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n') } }));
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.once('error', reject);
    child.once('close', (code) => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
      const bad = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
      if (code !== 0 || !rps) return reject(new Error(`wrk failed: ${stdout}`));
      if (bad && Number(bad[1]) > 0) return reject(new Error(`wrk: ${bad[1]} non-2xx answers`));
      resolvePromise(Number(rps[1]));
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const checkLoad = (what, r) => {
  if (r.completed === 0) throw new Error(`${what}: nothing completed (${JSON.stringify(r).slice(0, 300)})`);
  return r;
};

// ---- sections 1-3: one simulated backend with unlimited slots behind every system ----

async function startSingle(work) {
  //  The same backend once more over HTTPS (section 2's HTTPS pass), its certificate signed by a CA
  //  made for this run that every proxy is told to trust
  const certs = join(work, 'certs');
  mkdirSync(certs, { recursive: true });
  const ca = makeCa(certs, 'bench');
  const models = [{ name: 'llama3.2', loaded: true }];
  const sim = await startSim(work, bin, {
    host: '127.0.0.1',
    //  stamp_chunks: OpenAI stream chunks carry "created_at" too, for their added delay
    defaults: { parallel: 100000, max_queue: 100000, prefill_rate: 0, decode_rate: 0, load_ms: 0,
                stamp_chunks: true },
    backends: [{ name: 'sim', models }, { name: 'simtls', models, tls_cert: ca.cert, tls_key: ca.key }],
  });
  const backends = [{ name: 'sim', port: sim.backends[0].port, slots: 100000 }];
  const tlsBackends = [{ name: 'simtls', port: sim.backends[1].port, slots: 100000, ssl: true }];
  const systems = { direct: { name: 'direct', port: backends[0].port, pids: () => [sim.pid] } };
  systems.ollamaflow = await startOllamaflow(work, bin, backends, { probe: SMALL_BODY });
  systems.nginx = await startNginx(work, backends);
  systems.haproxy = await startHaproxy(work, backends);
  //  Portkey is optional: not installed, or failing to start, it is left out ("—" in the table)
  if (PORTKEY) {
    try {
      systems.portkey = await startPortkey(work, PORTKEY, backends[0]);
    } catch (error) {
      log(`Portkey's gateway does not start, the bench runs without it: ${error.message}`);
    }
  } else log('Portkey\'s gateway is not installed: the bench runs without it');
  return { sim, systems, work, tls: { ca: ca.ca, backends: tlsBackends } };
}

const ORDER = ['direct', 'ollamaflow', 'nginx', 'haproxy'];
//  The OpenAI route: the same four, and Portkey when it runs
const openaiOrder = (systems) => [...ORDER, ...(systems.portkey ? ['portkey'] : [])];

// wrk at saturation through each system of order in turn, P.wrkRuns times interleaved: the median
// requests per second and the CPU time per request summed over each system's processes
async function saturate({ sim, systems }, order, body, path) {
  const runs = Object.fromEntries(order.map((s) => [s, []]));
  //  CPU seconds each process of a system used per request: steadier than throughput on a shared
  //  machine, and it says where the time goes (ollamaflow: per service)
  const cpu = Object.fromEntries(order.map((s) => [s, { seconds: {}, requests: 0 }]));
  //  Interleaved, so that a noisy moment of the shared machine does not hit one system only
  for (let run = 0; run < P.wrkRuns; run++)
    for (const name of order) {
      const system = systems[name];
      const pids = name === 'direct' ? [sim.pid] : system.pids();
      const label = (i) => (system.procs ? system.procs[i]?.name ?? `worker-${i}` : 'sim');
      const before = pids.map(cpuSeconds);
      const rate = await wrk(system.port, body, path, path === OPENAI_PATH ? system.headers : {});
      runs[name].push(rate);
      pids.forEach((pid, i) => {
        const key = label(i);
        cpu[name].seconds[key] = (cpu[name].seconds[key] || 0) + cpuSeconds(pid) - before[i];
      });
      cpu[name].requests += rate * P.wrkSeconds;
    }
  const rps = Object.fromEntries(order.map((s) => [s, median(runs[s])]));
  for (const name of order) {
    const total = Object.values(cpu[name].seconds).reduce((a, b) => a + b, 0);
    cpu[name].usPerRequest = total / cpu[name].requests * 1e6;
    cpu[name].usPerRequestBy = Object.fromEntries(Object.entries(cpu[name].seconds)
      .map(([k, v]) => [k, Number((v / cpu[name].requests * 1e6).toFixed(2))]));
  }
  return { rps, runs, cpu };
}

async function sectionSmall(single, results) {
  const { sim, systems } = single;
  await sim.control('/backends/sim', { decode_rate: 0 });
  const { rps, runs, cpu } = await saturate(single, ORDER, SMALL_BODY, '/api/generate');
  //  The issue's rate is half of nginx's maximum; when that is beyond ollamaflow's own maximum the
  //  figures only show its queue, so the latency is also taken at half of ollamaflow's maximum
  const at = async (rate) => {
    const latency = {};
    for (const name of ORDER) {
      const r = checkLoad(`${name} at ${rate}/s`, await load(systems[name].port, ['--body', JSON.stringify(SMALL_BODY),
        '--rate', rate, '--duration', P.rateSeconds, '--max-connections', P.rateConnections, '--drain', 10]));
      if (r.errors || r.status['5xx'] || r.status['4xx']) throw new Error(`${name}: errors at ${rate}/s`);
      latency[name] = r.latency_ms;
    }
    return latency;
  };
  const rate = Math.max(10, Math.round(rps.nginx / 2));
  const latency = await at(rate);
  const ownRate = Math.max(10, Math.round(rps.ollamaflow / 2));
  const ownLatency = await at(ownRate);
  //  The OpenAI route, non-streamed, one token: every system, Portkey too
  const openai = await saturate(single, openaiOrder(systems), openaiBody(false, 1), OPENAI_PATH);
  results.small = { rps, runs, rate, latency, ownRate, ownLatency, cpu, openai };
  log('small requests:', JSON.stringify(rps), 'OpenAI route:', JSON.stringify(openai.rps));
}

async function sectionStreams(single, results) {
  const { sim, systems } = single;
  await sim.control('/backends/sim', { decode_rate: P.streamRate });
  await sim.control('/backends/simtls', { decode_rate: P.streamRate });
  const body = { model: 'llama3.2', prompt: 'hello', stream: true, options: { num_predict: P.streamTokens } };
  results.streams = {};
  //  The streams start spread over one stream's length, so that they arrive at a steady rate and
  //  their tokens fall at even phases instead of in one burst a second
  const streamMs = Math.round(P.streamTokens / P.streamRate * 1000);
  //  The same streams on the OpenAI route (SSE), where Portkey joins
  const routes = [{ key: 'streams', order: ORDER, body, path: '/api/generate' },
    { key: 'openaiStreams', order: openaiOrder(systems), body: openaiBody(true, P.streamTokens), path: OPENAI_PATH }];
  results.openaiStreams = {};
  for (const route of routes)
    for (const level of P.streamLevels) {
      const byLevel = {};
      for (const name of route.order) {
        const r = checkLoad(`${name} ${level} streams`, await load(systems[name].port, ['--body', JSON.stringify(route.body),
          '--connections', level, '--ramp-ms', streamMs, '--duration', P.streamSeconds,
          '--drain', 10, '--timeout', 30, ...routeArgs(systems[name], route.path)]));
        if (r.errors || r.timeouts || r.status['2xx'] !== r.completed)
          throw new Error(`${name} at ${level} streams (${route.path}): ${r.errors} errors, ${r.timeouts} timeouts`);
        byLevel[name] = { ttfb: r.ttfb_ms, gap: r.gap_ms, delay: r.delay_ms, completed: r.completed };
      }
      results[route.key][level] = byLevel;
      log(`${level} streams (${route.path}): ttfb p50`, route.order.map((s) => `${s} ${byLevel[s].ttfb.p50}`).join(', '));
    }  results.httpsStreams = await httpsStreams(single, body, streamMs);
}

//  HTTPS backends against plain ones, in one pass: ollamaflow, nginx and HAProxy each in front of
//  the simulator's HTTPS listener (certificates verified) and, alternating with it, its plain
//  listener; before each measured run the same load warms the system up (its pool of upstream
//  connections, with their TLS sessions, fills), as the target asks for figures after warm-up
async function httpsStreams(single, body, streamMs) {
  const { systems, work, tls } = single;
  const https = {
    ollamaflow: await startOllamaflow(work, bin, tls.backends, { probe: SMALL_BODY, tlsCa: tls.ca }),
    nginx: await startNginx(work, tls.backends, { name: 'nginx-https', tlsCa: tls.ca }),
    haproxy: await startHaproxy(work, tls.backends, { name: 'haproxy-https', tlsCa: tls.ca }),
  };
  const out = {};
  try {
    for (const level of P.streamLevels) {
      const run = async (system, seconds) => checkLoad(`${system.name} ${level} streams`, await load(system.port,
        ['--body', JSON.stringify(body), '--connections', level, '--ramp-ms', streamMs, '--duration', seconds,
          '--drain', 10, '--timeout', 30]));
      const byLevel = { direct: {}, plain: {}, https: {} };
      const direct = await run(systems.direct, P.streamSeconds);
      byLevel.direct = { ttfb: direct.ttfb_ms };
      for (const name of Object.keys(https))
        for (const [kind, system] of [['plain', systems[name]], ['https', https[name]]]) {
          await run(system, P.httpsWarmSeconds);
          const r = await run(system, P.streamSeconds);
          if (r.errors || r.timeouts || r.status['2xx'] !== r.completed)
            throw new Error(`${name} (${kind}) at ${level} streams: ${r.errors} errors, ${r.timeouts} timeouts`);
          byLevel[kind][name] = { ttfb: r.ttfb_ms, completed: r.completed };
        }
      out[level] = byLevel;
      log(`${level} streams, HTTPS backends: ttfb p50`, Object.keys(https)
        .map((n) => `${n} ${byLevel.plain[n].ttfb.p50} plain, ${byLevel.https[n].ttfb.p50} https`).join('; '));
    }
  } finally {
    for (const system of Object.values(https)) await system.stop();
  }
  return out;
}

async function sectionMemory({ sim, systems }, results) {
  //  Slow streams: one token a second, far longer than the run
  await sim.control('/backends/sim', { decode_rate: 1 });
  const body = { model: 'llama3.2', prompt: 'hello', stream: true, options: { num_predict: 100000 } };
  //  The same on the OpenAI route, where Portkey joins (the simulator last, as on /api/generate)
  const routes = [{ key: 'memory', order: ['ollamaflow', 'nginx', 'haproxy', 'direct'], body, path: '/api/generate' },
    { key: 'openaiMemory', order: [...openaiOrder(systems).filter((n) => n !== 'direct'), 'direct'],
      body: openaiBody(true, 100000), path: OPENAI_PATH }];
  results.memory = {};
  results.openaiMemory = {};
  for (const route of routes) for (const level of P.memoryLevels) {
    const byLevel = {};
    for (const name of route.order) {
      const pids = systems[name].pids();
      const idle = pids.reduce((sum, pid) => sum + rssKb(pid), 0);
      const ramp = Math.min(P.memoryRampMs, Math.max(100, level));
      const r = await load(systems[name].port, ['--body', JSON.stringify(route.body), '--connections', level,
        '--once', '--ramp-ms', ramp, '--settle-ms', P.memorySettleMs, '--duration', P.memoryCapS,
        '--rss-pids', pids.join(','), ...routeArgs(systems[name], route.path)]);
      //  (the simulator keeps what it grew to while it served the proxies: no idle figure for it)
      byLevel[name] = { idleKb: idle, rssKb: r.rss_sum_kb, ready: r.ready,
                        perStreamB: name === 'direct' ? null : (r.rss_sum_kb - idle) * 1024 / level };
      if (r.ready < level) log(`memory: ${name} held only ${r.ready} of ${level} streams`);
      //  the streams end with bench-load; let every system drop them before the next one
      await sleep(quick ? 200 : 2000);
    }
    results[route.key][level] = byLevel;
    log(`${level} slow streams (${route.path}): RSS kB`, Object.entries(byLevel).map(([s, v]) => `${s} ${v.rssKb}`).join(', '));
  }
}

// ---- section 4: the scheduling suite (lib/suite.mjs) ----

const sectionSuite = (work, results) => runSuite({ work, bin, quick, load, log, results, only: scenarios,
  seedCount, ...(suiteSystems ? { systems: suiteSystems } : {}) });

// Portkey's gateway's version, from the package it was started from ('' when not installed)
function portkeyVersion() {
  if (!PORTKEY) return '';
  try {
    return `Portkey gateway ${JSON.parse(readFileSync(join(dirname(PORTKEY), '../package.json'), 'utf8')).version}`;
  } catch { return 'Portkey gateway (unknown version)'; }
}

function machine() {
  const cpu = cpus()[0]?.model?.trim() || 'unknown';
  //  nginx -v writes to stderr, wrk -v exits 1: the first line of either output
  const version = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n')[0] || `${cmd}: unknown`;
  };
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    host: hostname(), nproc: cpus().length, cpu, ramGiB: (totalmem() / 2 ** 30).toFixed(1),
    //  startOllamaflow's default, as nginx's worker_processes auto and HAProxy's threads
    ingressWorkers: cpus().length,
    nginx: version('nginx', ['-v']).replace('nginx version: ', ''),
    haproxy: version('haproxy', ['-v']).replace(/ - https.*/, ''),
    wrk: version('wrk', ['-v']).replace(/ Copyright.*/, ''),
    portkey: portkeyVersion(),
  };
}

function writeResults(results, table, info, failures) {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'results.json'), JSON.stringify({ info, results, failures }, null, 2) + '\n');
  const file = join(out, 'RESULTS.md');
  //  Hand-written notes after the marker survive a rerun
  const MARKER = '<!-- notes: everything below this line is kept when the bench rewrites this file -->';
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const notes = old.includes(MARKER) ? old.slice(old.indexOf(MARKER) + MARKER.length) : '\n';
  const md = `# ollamaflow benchmark results

- date: ${info.date}${info.rendered ? ` (table rendered again on ${info.rendered} from results.json)` : ''}
- machine: ${info.nproc} CPUs (${info.cpu}), ${info.ramGiB} GiB RAM; load average ${info.loadBefore} before, ${info.loadAfter} after${info.loadMax ? `, at most ${info.loadMax} during the run` : ''}
- command: \`${info.command}\`${quick ? ' (quick mode: tiny sizes, figures are meaningless)' : ''}
- versions: ${info.nginx}, ${info.haproxy}, ${info.wrk}${info.portkey ? `, ${info.portkey} (Node ${process.versions.node})` : ', Portkey not installed'}; ollamaflow from ${info.commit}
- every system runs on this machine with the simulator and the load generator: they share ${info.nproc} cores${info.ingressWorkers ? `
- ollamaflow runs ${info.ingressWorkers} ingress worker${info.ingressWorkers > 1 ? 's' : ''} on one port (one per core, as nginx's \`worker_processes auto\` and HAProxy's threads)` : ''}

${table.length ? renderTable(table) : ''}

${renderSuite(results.suite)}

Sections ran: ${info.sectionsRan.join(', ') || 'none'}${failures.length ? `; FAILED: ${failures.map((f) => `${f.section} (${f.error.split('\n')[0]})`).join('; ')}` : ''}${Object.keys(info.carried || {}).length ? `; kept from earlier runs: ${Object.entries(info.carried).map(([k, d]) => `${k} (${d})`).join(', ')}` : ''}.

How to read it (bench/README.md has the details): "direct" is ollama-sim without a proxy; ratios are
ollamaflow's figure over nginx's and over direct's. Added times are the proxy's p50 (p99) minus
direct's. CPU per request and memory rows sum every process of the system (ollamaflow: configd, scheduler,
healthmon, modelsync and every ingress worker; nginx: master and workers; HAProxy: its one
process; Portkey: its one Node process; memory: while the streams are held); bytes per stream
subtract the idle RSS measured just before. The OpenAI-route rows put the same prompt and tokens
through POST /v1/chat/completions (SSE when streamed) for every system, Portkey's gateway
included; "—" in its column on the other rows (it has no Ollama route). The suite (section 4): each ollamaflow policy
(MaxParallelRequests = slots), RoundRobin with sticky sessions on X-Conversation-Id, nginx
least_conn (no queue: the simulator queues), HAProxy leastconn (maxconn = slots, its queue) and
HAProxy balance hdr(X-Conversation-Id), on the same arrivals for each seed; the simulator runs
faster than real time by its time scale and every time is given back in simulated time.

${MARKER}${notes}`;
  writeFileSync(file, md);
  return file;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'ollamaflow-bench-'));
  const info = { ...machine(), loadBefore: loadavg()[0].toFixed(2), sectionsRan: [],
                 command: `bench/run.sh${quick ? ' --quick' : ''}${args.includes('--sections') ? ` --sections ${sections.join(',')}` : ''}` };
  try {
    info.commit = execFileSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch { info.commit = 'unknown'; }
  const results = {};
  const failures = [];
  //  The machine is shared: the highest load average seen during the run goes in the header
  info.loadMax = Number(info.loadBefore);
  const sampler = setInterval(() => { info.loadMax = Math.max(info.loadMax, loadavg()[0]); }, 5000);
  const attempt = async (section, fn) => {
    log(`== ${SECTIONS[section]}`);
    const t0 = Date.now();
    try {
      await fn();
      info.sectionsRan.push(section);
    } catch (error) {
      failures.push({ section, error: error.message });
      log(`section ${section} FAILED: ${error.stack || error.message}`);
    }
    log(`   (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  };
  let single = null;
  try {
    if (sections.some((s) => s <= 3)) {
      try {
        single = await startSingle(work);
      } catch (error) {
        for (const s of sections.filter((x) => x <= 3)) failures.push({ section: s, error: `start: ${error.message}` });
        log(`cannot start the systems: ${error.message}`);
      }
    }
    if (single) {
      if (sections.includes(1)) await attempt(1, () => sectionSmall(single, results));
      if (sections.includes(2)) await attempt(2, () => sectionStreams(single, results));
      if (sections.includes(3)) await attempt(3, () => sectionMemory(single, results));
      for (const name of ['ollamaflow', 'nginx', 'haproxy', 'portkey']) await single.systems[name]?.stop();
      await single.sim.stop();
    }
    if (sections.includes(4)) await attempt(4, () => sectionSuite(work, results));
  } finally {
    killEverything();
  }
  clearInterval(sampler);
  info.loadAfter = loadavg()[0].toFixed(2);
  info.loadMax = info.loadMax.toFixed(2);
  //  Sections not run keep the figures of the last run that wrote this directory
  const shown = carryOver(results, info, sections);
  const table = buildTable(results, P, shown.filter((x) => x <= 3));
  const text = `${table.length ? renderTable(table) : ''}\n\n${renderSuite(results.suite)}`;
  process.stdout.write(`${text}\n`);
  const file = writeResults(results, table, info, failures);
  log(`wrote ${file}`);
  if (!keep && failures.length === 0) rmSync(work, { recursive: true, force: true });
  else log(`logs kept in ${work}`);
  return failures.length ? 1 : 0;
}

const SECTION_KEYS = { 1: 'small', 2: 'streams', 3: 'memory', 4: 'suite' };
//  What else a section writes (its OpenAI-route figures), carried over with it
const SECTION_EXTRA = { 2: ['openaiStreams', 'httpsStreams'], 3: ['openaiMemory'] };

// Copies into results the sections this run did not run from out/results.json; returns every
// section the file will show
function carryOver(results, info, ran) {
  const file = join(out, 'results.json');
  const shown = [...ran];
  if (!existsSync(file)) return shown;
  let saved;
  try { saved = JSON.parse(readFileSync(file, 'utf8')); } catch { return shown; }
  info.carried = {};
  //  A run of some scenarios keeps the other scenarios of the last suite
  const savedSuite = saved.results?.suite;
  if (ran.includes(4) && scenarios && results.suite && savedSuite)
    for (const [name, entry] of Object.entries(savedSuite.scenarios || {}))
      if (!results.suite.scenarios[name]) {
        results.suite.scenarios[name] = entry;
        info.carried[`4 ${name}`] = saved.info?.carried?.[`4 ${name}`] || saved.info?.date || 'unknown';
      }
  for (const [section, key] of Object.entries(SECTION_KEYS)) {
    const n = Number(section);
    if (ran.includes(n) || !saved.results?.[key]) continue;
    results[key] = saved.results[key];
    for (const extra of SECTION_EXTRA[n] || []) if (saved.results[extra]) results[extra] = saved.results[extra];
    info.carried[n] = saved.info?.carried?.[n] || saved.info?.date || 'unknown';
    shown.push(n);
  }
  return shown.sort();
}

// Rewrites RESULTS.md from the raw figures of an earlier run (the machine line is that run's;
// versions missing from it are read again)
function rerender(file) {
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  const info = { ...machine(), ...saved.info };
  for (const key of ['nginx', 'haproxy', 'wrk']) if (!saved.info[key] || /^,|^$/.test(saved.info[key])) info[key] = machine()[key];
  info.rendered = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const ran = info.sectionsRan.concat(saved.failures.map((f) => f.section)).sort();
  const table = buildTable(saved.results, P, ran.filter((x) => x <= 3).concat(
    Object.keys(saved.info.carried || {}).map(Number).filter((x) => x <= 3)));
  process.stdout.write(`${renderTable(table)}\n${renderSuite(saved.results.suite)}\n`);
  log(`wrote ${writeResults(saved.results, table, info, saved.failures)}`);
  return saved.failures.length ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(signal, () => { killEverything(); process.exit(130); });
process.on('exit', killEverything);
(render ? Promise.resolve().then(() => rerender(render)) : main()).then((code) => process.exit(code), (error) => {
  log(error.stack || error.message);
  killEverything();
  process.exit(1);
});
