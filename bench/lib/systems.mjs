// The systems under test, each started in front of the same ollama-sim backends on free loopback
// ports: the simulator itself, ollamaflow (its five real services and a seeded config), nginx and
// HAProxy (foreground processes with configs generated here, never the system services).
import { writeFileSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { start, stop, stopAll, freePort, waitFor, sleep, children, tail, listening } from './procs.mjs';

// File descriptors every process may use (bench/run.sh raises the limit as far as it can and says
// how far in BENCH_NOFILE); a proxied stream needs two, one to the client and one to the backend
export const NOFILE = Number(process.env.BENCH_NOFILE) || 20000;
const PROXY_MAX_CONNECTIONS = Math.floor((NOFILE - 64) / 2);
// Long enough for any stream of the bench; the bench bounds its own runs
const LONG_TIMEOUT_S = 3600;

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' },
  });
  const text = await response.text();
  return { status: response.status, text, headers: response.headers };
}

// An ollama-sim fleet: {pid, backends: [{name, port, parallel}], control(path, body), stop()}
export async function startSim(dir, bin, fleet, name = 'sim') {
  const fleetFile = join(dir, `${name}-fleet.json`);
  const portsFile = join(dir, `${name}-ports.json`);
  writeFileSync(fleetFile, JSON.stringify(fleet, null, 2));
  const proc = start(dir, name, join(bin, 'ollama-sim'), ['--fleet', fleetFile, '--ports-file', portsFile]);
  const ports = await waitFor(() => existsSync(portsFile) && JSON.parse(readFileSync(portsFile, 'utf8')),
    { what: `${name} to start (${tail(proc)})` });
  const controlUrl = `http://127.0.0.1:${ports.control_port}`;
  return {
    proc,
    pid: proc.pid,
    backends: ports.backends.map((b, i) => ({ ...b, parallel: fleet.backends[i].parallel ?? 1 })),
    async control(path, body) {
      const response = body === undefined ? await fetch(controlUrl + path)
        : await fetch(controlUrl + path, { method: 'POST', body: JSON.stringify(body) });
      if (response.status !== 200) throw new Error(`sim control ${path}: ${response.status}`);
      return response.json();
    },
    stop: () => stop(proc),
  };
}

let flows = 0;
//  Frequent probes, so that a fresh ollamaflow knows every backend healthy soon after it serves
const HEALTH_INTERVAL_MS = 250;

// Every bus endpoint of the settings; each gets a private ipc:// path
const BUS_SOCKETS = ['ConfigRouter', 'ConfigPublisher', 'SchedulerRouter', 'SchedulerPublisher',
  'HealthPublisher', 'ModelsPublisher', 'ModelsRouter'];

// The whole ollamaflow: configd, scheduler, healthmon, modelsync and the ingress, on private ipc
// endpoints, with one frontend over the given backends ({name, port, slots}).
// sticky: sticky sessions keyed on X-Conversation-Id (the header the load generator sends).
// workers: ingress processes on the one port, as `ollamaflow up` runs them (Ingress.Workers):
// by default one per online core, as nginx's `worker_processes auto` and HAProxy's threads; each
// is its own process named ingress-w<k> (one alone: ingress), with Ingress.Id bench-w<k>.
// tlsCa: the CA file that signed the backends' certificates, for backends with ssl: true (Ssl),
// trusted by the services that reach backends (OpenSSL's SSL_CERT_FILE; verification stays on).
export async function startOllamaflow(dir, bin, backends,
  { policy = 'RoundRobin', probe, sticky = false, workers = cpus().length, tlsCa = '' }) {
  //  short: ipc:// paths must fit in 107 bytes
  const home = join(dir, `of${++flows}`);
  mkdirSync(home, { recursive: true });
  const port = await freePort();
  const endpoint = (what) => `ipc://${home}/${what}`;
  const settings = {
    Webserver: { Hostname: '127.0.0.1', Port: port },
    DatabaseFilename: join(home, 'ollamaflow.db'),
    Logging: { Level: 'warning' },
    Bus: Object.fromEntries(BUS_SOCKETS.map((key) => [key, endpoint(key)])),
    Health: { IntervalMs: HEALTH_INTERVAL_MS },
    //  Residency (/api/ps) as fresh as the health: the scheduler orders loaded backends first
    Models: { IntervalMs: HEALTH_INTERVAL_MS },
    //  The workers share the port: one deployment, a name of this run's own
    Ingress: { QueueTimeoutMs: LONG_TIMEOUT_S * 1000, IdleTimeoutMs: LONG_TIMEOUT_S * 1000,
               MaxConnections: PROXY_MAX_CONNECTIONS, Deployment: `bench-${process.pid}-${flows}` },
    Scheduler: { MaxQueue: 1000000 },
    //  BENCH_ACCESS_LOG=1: every request's line (backend, queue wait, first byte, cached tokens)
    //  in the system's directory, to see what makes a tail; off by default, as it costs
    ...(process.env.BENCH_ACCESS_LOG === '1' ? { AccessLog: { SampleEvery: 1, File: join(home, 'access.log') } } : {}),
    StickyHeaders: ['X-Conversation-Id'],
    Backends: backends.map((b) => ({
      Identifier: b.name, Hostname: '127.0.0.1', Port: b.port, MaxParallelRequests: b.slots,
      RateLimitRequestsThreshold: 1000000, HealthyThreshold: 1, Ssl: Boolean(b.ssl),
    })),
    Frontends: [{ Identifier: 'bench', Hostname: '*', Backends: backends.map((b) => b.name),
                  LoadBalancing: policy, TimeoutMs: 0, UseStickySessions: sticky }],
  };
  const file = join(home, 'ollamaflow.json');
  writeFileSync(file, JSON.stringify(settings, null, 2));
  const procs = [];
  const trust = tlsCa ? { SSL_CERT_FILE: tlsCa } : {};
  for (const service of ['configd', 'scheduler', 'healthmon', 'modelsync'])
    procs.push(start(home, service, join(bin, `ollamaflow-${service}`), ['--config', file], { env: trust }));
  const ingresses = [];
  for (let k = 1; k <= workers; k++) {
    const name = workers === 1 ? 'ingress' : `ingress-w${k}`;
    ingresses.push(start(home, name, join(bin, 'ollamaflow-ingress'), ['--config', file],
      { env: { ...trust, ...(workers === 1 ? {} : { OLLAMAFLOW_INGRESS_ID: `bench-w${k}` }) } }));
  }
  procs.push(...ingresses);
  const system = {
    name: 'ollamaflow', policy, sticky, port, procs, workers,
    pids: () => procs.map((p) => p.pid),
    stop: () => stopAll(procs),
  };
  try {
    //  Every worker listens (the kernel spreads connections over those that do), and serves
    await waitFor(() => ingresses.every((p) => listening(p.pid, port)),
      { timeout: 20000, interval: 50, what: `all ${workers} ingress workers to listen` });
    await waitFor(async () => (await post(`http://127.0.0.1:${port}/api/generate`, probe)).status === 200,
      { timeout: 20000, interval: 100, what: 'ollamaflow to serve' });
  } catch (error) {
    const logs = procs.map((p) => `--- ${p.name}\n${tail(p, 1000)}`).join('\n');
    await system.stop();
    throw new Error(`${error.message}\n${logs}`);
  }
  //  Every backend's health settles within two probe intervals of the first
  await sleep(2 * HEALTH_INTERVAL_MS + 100);
  return system;
}

// nginx: least_conn over the backends, upstream keepalive, no buffering, HTTP/1.1 upstream
// (tlsCa: HTTPS to the backends, their certificates verified against it, sessions reused)
export async function startNginx(dir, backends, { name = 'nginx', tlsCa = '' } = {}) {
  const home = join(dir, `${name}-${Date.now()}`);
  mkdirSync(home, { recursive: true });
  const port = await freePort();
  const servers = backends.map((b) => `        server 127.0.0.1:${b.port} max_fails=0;`).join('\n');
  const config = `# generated by bench/lib/systems.mjs
daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile ${NOFILE};
pid ${home}/nginx.pid;
error_log ${home}/error.log warn;
events {
    worker_connections ${NOFILE - 64};
}
http {
    access_log off;
    client_body_temp_path ${home}/body;
    proxy_temp_path ${home}/proxy;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream sims {
        least_conn;
${servers}
        keepalive 1024;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
        listen 127.0.0.1:${port} backlog=8192;
        location / {
            proxy_pass ${tlsCa ? 'https' : 'http'}://sims;${tlsCa ? `
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate ${tlsCa};
            proxy_ssl_name localhost;
            proxy_ssl_session_reuse on;` : ''}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host 127.0.0.1;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_connect_timeout 5s;
            proxy_read_timeout ${LONG_TIMEOUT_S}s;
            proxy_send_timeout ${LONG_TIMEOUT_S}s;
        }
    }
}
`;
  const file = join(home, 'nginx.conf');
  writeFileSync(file, config);
  const proc = start(home, 'nginx', 'nginx', ['-p', home, '-e', `${home}/error.log`, '-c', file]);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/api/version`)).status === 200,
    { what: `nginx to serve (${tail(proc)})` });
  return {
    name: 'nginx', port, procs: [proc],
    pids: () => [proc.pid, ...children(proc.pid)],
    stop: () => stop(proc),
  };
}

// HAProxy: leastconn (or another balance, e.g. hdr(X-Conversation-Id)), http-reuse, per-server
// maxconn (the backend's slots) with HAProxy's queue (tlsCa: HTTPS to the backends, verified)
export async function startHaproxy(dir, backends, { name = 'haproxy', balance = 'leastconn', tlsCa = '' } = {}) {
  const home = join(dir, `${name}-${Date.now()}`);
  mkdirSync(home, { recursive: true });
  const port = await freePort();
  const ssl = tlsCa ? ` ssl verify required ca-file ${tlsCa} verifyhost localhost sni str(localhost)` : '';
  const servers = backends.map((b, i) => `    server s${i} 127.0.0.1:${b.port} maxconn ${b.slots}${ssl}`).join('\n');
  const config = `# generated by bench/lib/systems.mjs
global
    maxconn ${PROXY_MAX_CONNECTIONS}
defaults
    mode http
    option http-no-delay
    timeout connect 5s
    timeout client ${LONG_TIMEOUT_S}s
    timeout server ${LONG_TIMEOUT_S}s
    timeout queue ${LONG_TIMEOUT_S}s
    timeout http-request 30s
    timeout http-keep-alive 75s
    maxconn ${PROXY_MAX_CONNECTIONS}
frontend bench
    bind 127.0.0.1:${port}
    default_backend sims
backend sims
    balance ${balance}
    http-reuse always
${servers}
`;
  const file = join(home, 'haproxy.cfg');
  writeFileSync(file, config);
  const proc = start(home, 'haproxy', 'haproxy', ['-f', file, '-db']);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/api/version`)).status === 200,
    { what: `haproxy to serve (${tail(proc)})` });
  return {
    name: 'haproxy', port, procs: [proc],
    pids: () => [proc.pid],
    stop: () => stop(proc),
  };
}

// Portkey's AI gateway (bench/portkey/install.sh put it in the cache; server: its
// start-server.js), routing OpenAI's API to one backend by the headers it documents: provider
// openai, custom host the simulator's /v1 (its loopback address is on Portkey's trusted list).
// One Node process (its pids() adds any children, in case a version forks). The preload keeps it
// on loopback and works around its streaming bug on Node 20 (bench/portkey/preload.mjs).
export async function startPortkey(dir, server, backend, { name = 'portkey' } = {}) {
  const home = join(dir, `${name}-${Date.now()}`);
  mkdirSync(home, { recursive: true });
  const port = await freePort();
  const { HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy, ...env } = process.env;
  const proc = start(home, name, process.execPath,
    ['--import', join(import.meta.dirname, '../portkey/preload.mjs'), server, `--port=${port}`, '--headless'],
    { env: { NODE_ENV: 'production' }, replaceEnv: env });
  const headers = {
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `http://127.0.0.1:${backend.port}/v1`,
    authorization: 'Bearer bench',
  };
  const probe = { model: 'llama3.2', messages: [{ role: 'user', content: 'hello' }], max_tokens: 1 };
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify(probe), headers: { 'content-type': 'application/json', ...headers },
  }).catch(() => ({ status: 0 }))).status === 200, { timeout: 20000, what: `portkey to serve (${tail(proc)})` });
  return {
    name: 'portkey', port, procs: [proc], headers,
    pids: () => [proc.pid, ...children(proc.pid)],
    stop: () => stop(proc),
  };
}
