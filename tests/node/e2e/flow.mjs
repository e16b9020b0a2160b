// Starts a whole ollamaflow for one test file: an ollama-sim fleet and the five real services
// (configd, scheduler, healthmon, modelsync, and one or more ingress replicas) on private ipc://
// endpoints and free ports, with the given Frontends and Backends seeded. The binaries come from
// $OF_BIN_DIR (CTest sets it) or build/bin.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { startSim } from '../sim/sim.mjs';

const DEFAULT_BIN = fileURLToPath(new URL('../../../build/bin', import.meta.url));
const READY_TIMEOUT_MS = 15000;
const SERVICES = ['configd', 'scheduler', 'healthmon', 'modelsync'];

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The path of one of ollamaflow's programs ('ingress', 'tap', ...)
export const binPath = (program) => join(process.env.OF_BIN_DIR || DEFAULT_BIN, `ollamaflow-${program}`);

// The kernel's range for the local ports of outgoing connections: a port from it, once its
// listener is gone (a replica killed and restarted), may be taken by any connect() meanwhile
function ephemeralRange() {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim()
      .split(/\s+/).map(Number);
    if (low > 0 && high >= low) return [low, high];
  } catch { /* not Linux: the usual default */ }
  return [32768, 60999];
}

function tryListen(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const bound = server.address().port;
      server.close(() => resolve(bound));
    });
  });
}

// A port free now, never handed out before in this process (a port is free again once its
// prober closes: two calls in a row could get the same one, and two replicas meant to have
// their own ports would share it), and outside the ephemeral range, so that a test can stop a
// listener and start it again on the same port without an outgoing connection having taken it
const handedOut = new Set();
export async function freePort() {
  const [low, high] = ephemeralRange();
  const [from, to] = low > 11000 ? [10000, low - 1] : [high + 1, 65535];
  for (let attempt = 0; attempt < 256; attempt++) {
    const candidate = attempt < 64 && to > from ? from + Math.floor(Math.random() * (to - from + 1)) : 0;
    const port = handedOut.has(candidate) ? null : await tryListen(candidate);
    if (port && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port on 127.0.0.1');
}

// Polls fn until it returns a truthy value or the time is up
export async function waitFor(fn, { timeout = READY_TIMEOUT_MS, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

// fleet: the ollama-sim fleet (backends get their ports from the sim); backends(sim): the Backend
// objects to seed, given the running sim; frontends: the Frontend objects; replicas: ingresses
// env: extra environment per program, e.g. { healthmon: { SSL_CERT_FILE: '...' } }
export async function startFlow({ fleet, backends, frontends, replicas = 1, settings = {}, sharedPort = false,
  env: programEnv = {} }) {
  const sim = await startSim({ fleet });
  const dir = mkdtempSync(join(tmpdir(), 'ollamaflow-e2e-'));
  const endpoint = (name) => `ipc://${dir}/${name}`;
  const ports = [];
  //  sharedPort: every replica listens on one port (SO_REUSEPORT), as on one host in production
  for (let i = 0; i < replicas; i++) ports.push(sharedPort && i > 0 ? ports[0] : await freePort());
  const base = {
    Webserver: { Hostname: '127.0.0.1', Port: ports[0] },
    DatabaseFilename: join(dir, 'ollamaflow.db'),
    Logging: { Level: 'info' },
    Bus: {
      ConfigRouter: endpoint('config-router'), ConfigPublisher: endpoint('config-pub'),
      SchedulerRouter: endpoint('sched-router'), SchedulerPublisher: endpoint('sched-pub'),
      HealthPublisher: endpoint('health-pub'), ModelsPublisher: endpoint('models-pub'),
      ModelsRouter: endpoint('models-router'), HeartbeatMs: 200, LivenessMs: 1000,
    },
    Health: { IntervalMs: 200 },
    //  Replicas that share a port are one deployment (a name of this stack's own)
    ...(sharedPort ? { Ingress: { Deployment: `e2e-${basename(dir)}` } } : {}),
    Backends: backends(sim),
    Frontends: frontends,
  };
  for (const [key, value] of Object.entries(settings))
    base[key] = typeof value === 'object' && !Array.isArray(value) ? { ...base[key], ...value } : value;
  const file = join(dir, 'ollamaflow.json');
  writeFileSync(file, JSON.stringify(base, null, 2));

  const processes = new Map();
  const start = (name, env = {}) => {
    const program = name.startsWith('ingress') ? 'ingress' : name;
    const child = spawn(binPath(program), ['--config', file], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...programEnv[program], ...env },
    });
    let log = '';
    child.stderr.on('data', (data) => { log += data; });
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    processes.set(name, { child, exited, log: () => log });
    return child;
  };
  for (const name of SERVICES) start(name);
  for (let i = 0; i < replicas; i++)
    start(`ingress${i}`, { OLLAMAFLOW_PORT: String(ports[i]), OLLAMAFLOW_INGRESS_ID: `replica-${i}` });

  const flow = {
    sim,
    dir,
    settingsFile: file,
    url: (replica = 0) => `http://127.0.0.1:${ports[replica]}`,
    port: (replica = 0) => ports[replica],
    log: (name) => processes.get(name).log(),
    pid: (name) => processes.get(name).child.pid,
    // Sends a signal to a service and waits for its end
    async kill(name, signal = 'SIGKILL') {
      const entry = processes.get(name);
      entry.child.kill(signal);
      return entry.exited;
    },
    // Sends a signal to a service without waiting (SIGSTOP, SIGCONT)
    signal(name, signal) {
      processes.get(name).child.kill(signal);
    },
    restart(name) {
      const replica = name.startsWith('ingress') ? Number(name.slice(7)) : -1;
      return start(name, replica >= 0
        ? { OLLAMAFLOW_PORT: String(ports[replica]), OLLAMAFLOW_INGRESS_ID: `replica-${replica}` } : {});
    },
    // Stops everything; every service must exit 0 on SIGTERM
    async stop() {
      const results = {};
      for (const [name, entry] of processes) {
        if (entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGTERM');
        results[name] = await entry.exited;
        //  A service that did not stop cleanly shows its log (sanitizer reports included)
        if (results[name].code !== 0) process.stderr.write(`--- ${name} log ---\n${entry.log().slice(-20000)}\n`);
      }
      const simResult = await sim.stop();
      rmSync(dir, { recursive: true, force: true });
      return { ...results, sim: simResult };
    },
  };
  return flow;
}

// Follows bus messages through the tap (args: its filters, e.g. ['-s', 'scheduler', '-m',
// 'OUTCOME']), noting when each line arrived (performance.now())
export function startTap(flow, args) {
  const child = spawn(binPath('tap'), ['--config', flow.settingsFile, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const seen = [];
  let text = '';
  child.stdout.on('data', (data) => {
    const at = performance.now();
    text += data;
    let newline;
    while ((newline = text.indexOf('\n')) >= 0) {
      seen.push({ at, ...JSON.parse(text.slice(0, newline)) });
      text = text.slice(newline + 1);
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    // The first message from index on whose Body matches, once it arrives
    find: (from, match, { timeout } = {}) => waitFor(() => seen.slice(from).find((line) => match(line.Body)),
      { interval: 1, timeout, what: 'a message on the tap' }),
    count: () => seen.length,
    lines: seen,
    async stop() { child.kill('SIGTERM'); await exited; },
  };
}

// Waits until every named backend has answered a request through the flow (health settled)
export async function waitHealthy(flow, body, { replica = 0 } = {}) {
  return waitFor(async () => {
    const response = await fetch(`${flow.url(replica)}/api/generate`, {
      method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' },
    });
    await response.text();
    return response.status === 200;
  }, { what: 'a healthy backend through ollamaflow' });
}

// A POST through the flow with a chosen Host header (to reach a frontend by its Hostname)
export function hostRequest(flow, host, path, body, { replica = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: flow.port(replica), method: 'POST', path,
      headers: { host, 'content-type': 'application/json' } }, (response) => {
      let data = '';
      response.on('data', (chunk) => { data += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, data,
        backend: response.headers['x-ollamaflow-backend'] }));
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

// Waits until requests to path (POST body) have reached count different backends: every one of
// them healthy and in rotation
export async function waitServing(flow, path, body, count) {
  return waitFor(async () => {
    const seen = new Set();
    for (let i = 0; i < 2 * count; i++) {
      const response = await fetch(`${flow.url()}${path}`, { method: 'POST', body: JSON.stringify(body) });
      await response.text();
      if (response.ok) seen.add(response.headers.get('x-ollamaflow-backend'));
    }
    return seen.size === count;
  }, { what: `${count} backends serving ${path}` });
}

// The stop results of a flow, checked: every process exited 0
export function assertCleanStop(assert, results) {
  for (const [name, result] of Object.entries(results))
    assert.deepEqual(result, { code: 0, signal: null }, `${name} did not stop cleanly`);
}

export { readFileSync };

// One simulated backend 'a' with models behind a '*' frontend 'main' (frontend: more of its
// fields), fast, for tests that count requests rather than time them
export function startOneBackend({ models, frontend = {}, settings = {} }) {
  return startFlow({
    fleet: {
      host: '127.0.0.1',
      defaults: { decode_rate: 200, load_ms: 1, parallel: 4 },
      backends: [{ name: 'a', models }],
    },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'], ...frontend }],
    settings,
  });
}

// Requests a simulated backend got on the routes a client's request reaches it by (healthmon's
// probes and modelsync's listings go on meanwhile)
const PROXIED_ROUTES = ['/api/chat', '/api/generate', '/api/embed', '/api/embeddings', '/api/show',
  '/api/pull', '/api/delete', '/v1/chat/completions', '/v1/completions', '/v1/embeddings'];
export async function proxiedRequests(flow, name = 'a') {
  const { routes } = await flow.sim.stats(name);
  return PROXIED_ROUTES.reduce((sum, route) => sum + (routes[route] ?? 0), 0);
}

// An ingress's /metrics text, asked on a connection of its own that the ingress closes after
// the answer (none left behind idle)
function scrapeMetrics(flow, replica) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: flow.port(replica), path: '/metrics', agent: false,
      headers: { connection: 'close' } }, (response) => {
      let data = '';
      response.on('data', (chunk) => { data += chunk; });
      response.on('end', () => resolve(data));
    }).on('error', reject);
  });
}

// One counter or gauge of an ingress's /metrics (without labels), or undefined
export async function metric(flow, name, { replica = 0 } = {}) {
  const text = await scrapeMetrics(flow, replica);
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

// The sum of a labelled series' samples whose labels include every label="value" of labels
export async function metricSum(flow, name, labels = {}, { replica = 0 } = {}) {
  const text = await scrapeMetrics(flow, replica);
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text.split('\n').filter((l) => l.startsWith(`${name}{`))
    .filter((l) => wanted.every((w) => l.slice(0, l.indexOf('}')).includes(w)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
