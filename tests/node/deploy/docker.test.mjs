// deploy_docker: compose.yaml and the image, run for real with Docker and Debian's docker-compose
// 1.29. tests/deploy/docker_test.sh starts dockerd when none runs, makes the base image, builds
// the images, then runs this file with OF_IMAGE, OF_FRONT_IMAGE and OF_SOURCE_DIR set.
//
// One compose project of its own (name, network, volume, host ports Docker picks, all on
// 127.0.0.1 except the ingress's), in front of an ollama-sim fleet in a container of the same
// image (tests/deploy/compose.sim.yaml); the real `ollama` and `openai` npm clients from the host
// through the published ports. `down -v` at the end, and a check that nothing of it is left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { waitFor, freePort, sleep } from '../e2e/flow.mjs';

const sourceDir = resolve(process.env.OF_SOURCE_DIR ?? fileURLToPath(new URL('../../..', import.meta.url)));
const IMAGE = process.env.OF_IMAGE ?? 'ollamaflow:latest';
const FRONT_IMAGE = process.env.OF_FRONT_IMAGE ?? 'ollamaflow-front:latest';
const DOCKER = process.env.DOCKER ?? 'docker';
const COMPOSE = process.env.DOCKER_COMPOSE ?? 'docker-compose';
const MODEL = 'llama3.2';
const TOKEN = 'deploy-docker-admin-token';
const MAX_IMAGE_BYTES = 150e6;
const READY_TIMEOUT_MS = 60000;
const COMMAND_TIMEOUT_MS = 120000;

const project = `ofdeploytest${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'ollamaflow-docker-'));
let frontPort;
const singles = new Set();   // containers of the single-container form, removed at the end
const timings = {};

//  One command; resolves { code, stdout, stderr } (never rejects on a non-zero exit).
function run(file, args, { env = {}, timeout = COMMAND_TIMEOUT_MS } = {}) {
  return new Promise((done) => {
    const merged = { ...process.env, ...env };
    for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
    execFile(file, args, { cwd: sourceDir, env: merged, timeout, killSignal: 'SIGKILL',
      maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr,
        error: error && typeof error.code !== 'number' ? error.message : undefined });
    });
  });
}

//  A command that must succeed; resolves its stdout.
async function must(file, args, options) {
  const result = await run(file, args, options);
  assert.equal(result.code, 0, `${file} ${args.join(' ')} failed (${result.error ?? `exit ${result.code}`}):\n` +
    `${result.stderr.slice(-4000)}${result.stdout.slice(-2000)}`);
  return result.stdout;
}

const composeEnv = () => ({
  COMPOSE_PROJECT_NAME: project,
  OLLAMAFLOW_IMAGE: IMAGE,
  OLLAMAFLOW_FRONT_IMAGE: FRONT_IMAGE,
  OLLAMAFLOW_FRONT_PORT: `127.0.0.1:${frontPort}`,
  OLLAMAFLOW_JSON: join(dir, 'ollamaflow.json'),
  OLLAMAFLOW_SIM_FLEET: join(dir, 'fleet.json'),
  OLLAMAFLOW_ADMIN_TOKENS: undefined,    // an empty value would replace the file's tokens
});
const composeArgs = (args) => ['-p', project, '-f', 'compose.yaml', '-f', 'tests/deploy/compose.sim.yaml', ...args];
const compose = (args, options = {}) => run(COMPOSE, composeArgs(args), { ...options, env: composeEnv() });
const composeMust = (args, options = {}) => must(COMPOSE, composeArgs(args), { ...options, env: composeEnv() });
const docker = (args, options) => must(DOCKER, args, options);

//  The host port of a published container port: `docker-compose port` prints ADDRESS:PORT.
async function hostPort(service, port, index = 1) {
  const out = (await composeMust(['port', '--index', String(index), service, String(port)])).trim();
  const match = /:(\d+)$/.exec(out);
  assert.ok(match, `docker-compose port ${service} ${port} said '${out}'`);
  return Number(match[1]);
}

const containerOf = async (service, index = 1) =>
  (await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`,
    '--filter', `label=com.docker.compose.service=${service}`,
    '--filter', `label=com.docker.compose.container-number=${index}`])).trim();

const inspect = async (container, format) => (await docker(['inspect', '-f', format, container])).trim();

//  The sim's control endpoint
let simControl;
async function simCall(path, body) {
  const response = await fetch(`${simControl}${path}`, body === undefined ? {} : {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  assert.ok(response.ok, `sim ${path}: ${response.status}`);
  return response.json();
}
const simStats = async (name) => (await simCall(`/backends/${name}`)).stats;

//  A generation through one ingress port; resolves { status, text, replica }
async function generate(port, tokens, { stream = true, model = MODEL } = {}) {
  const response = await fetch(`http://127.0.0.1:${port}/api/generate`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'docker', stream, options: { num_predict: tokens } }),
  });
  return { status: response.status, text: await response.text(),
    replica: (response.headers.get('x-ollamaflow-request') ?? '').replace(/-\d+$/, '') };
}

//  One request on a new connection (so a load balancer may pick another replica)
function versionOnce(port) {
  return new Promise((done, fail) => {
    const request = http.request({ host: '127.0.0.1', port, path: '/api/embed', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume();
      response.on('end', () => done({ status: response.statusCode,
        replica: (response.headers['x-ollamaflow-request'] ?? '').replace(/-\d+$/, '') }));
    });
    request.on('error', fail);
    request.end(JSON.stringify({ model: 'all-minilm', input: 'x' }));
  });
}

const servesAt = (port, model = MODEL) =>
  waitFor(async () => (await generate(port, 1, { stream: false, model })).status === 200,
    { timeout: READY_TIMEOUT_MS, interval: 200, what: `a generation of ${model} through port ${port}` });

//  Starts the image on its own (`docker run`, the launcher); resolves its name and host port
async function runSingle(suffix, args) {
  const name = `${project}-${suffix}`;
  singles.add(name);
  await docker(['run', '-d', '--name', name, '--init', '-p', '127.0.0.1::43411', ...args, IMAGE]);
  return { name, port: Number(/:(\d+)\s*$/.exec(await docker(['port', name, '43411']))[1]) };
}

//  Stops a container of the single-container form: the launcher must exit 0 on SIGTERM
async function stopSingle(name) {
  await docker(['stop', '-t', '20', name]);
  assert.equal(await inspect(name, '{{.State.ExitCode}}'), '0', 'the launcher did not stop cleanly');
  await docker(['rm', '-v', name]);
  singles.delete(name);
}

//  The compilers and build tools found in an image, one a line ('' for none): on PATH, and
//  installed packages
const buildTools = async (image) => (await docker(['run', '--rm', '--entrypoint', 'bash', image, '-c',
  'for tool in cc c++ gcc g++ clang tcc ld as make cmake; do command -v $tool; done; ' +
  'dpkg-query -W -f \'${Package}\\n\' | ' +
  'grep -E "^(gcc|g\\+\\+|cpp|clang|tcc|make|cmake|binutils|build-essential|libc6-dev|libgcc-[0-9]+-dev)(-[0-9.]+)?$" || true'])).trim();

const health = (container) => inspect(container, '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}');

before(async () => {
  frontPort = await freePort();
  const fleet = {
    host: '0.0.0.0', control_port: 11400,
    // Slots on the simulated servers are plentiful: only ollamaflow may limit
    defaults: { decode_rate: 20, load_ms: 1, parallel: 16 },
    backends: [{ name: 'a', port: 11434, models: [MODEL, 'all-minilm'] },
      { name: 'b', port: 11435, models: [MODEL, 'all-minilm'] }],
  };
  const settings = {
    AdminBearerTokens: [TOKEN],
    Logging: { Level: 'info' },
    Bus: { HeartbeatMs: 200, LivenessMs: 1000 },
    Health: { IntervalMs: 300 },
    Models: { IntervalMs: 1000 },
    Backends: ['a', 'b'].map((name, i) => ({ Identifier: name, Hostname: 'sim', Port: 11434 + i,
      HealthyThreshold: 1, MaxParallelRequests: 2, RateLimitRequestsThreshold: 32 })),
    Frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a', 'b'], LoadBalancing: 'LeastOutstanding' }],
  };
  for (const [name, value] of [['fleet.json', fleet], ['ollamaflow.json', settings]]) {
    writeFileSync(join(dir, name), JSON.stringify(value, null, 2));
    chmodSync(join(dir, name), 0o644);     // read by the containers' user ollamaflow
  }
  const started = Date.now();
  await composeMust(['up', '-d', '--no-build'], { timeout: 180000 });
  timings.up = Date.now() - started;
  simControl = `http://127.0.0.1:${await hostPort('sim', 11400)}`;
  await servesAt(await hostPort('ingress', 43411));
  timings.ready = Date.now() - started;
  process.stdout.write(`compose up -d: ${timings.up} ms; first generation served ${timings.ready} ms after it began\n`);
});

after(async () => {
  for (const name of singles)
    await run(DOCKER, ['rm', '-f', '-v', name]);
  const down = await compose(['--profile', 'front', '--profile', 'tools', 'down', '-v', '--remove-orphans'],
    { timeout: 180000 });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(down.code, 0, `down -v failed: ${down.stderr}`);
  //  Nothing of the project is left: containers, volumes, networks
  for (const kind of [['ps', '-a', '-q'], ['volume', 'ls', '-q'], ['network', 'ls', '-q']]) {
    const left = (await docker([...kind, '--filter', `label=com.docker.compose.project=${project}`])).trim();
    assert.equal(left, '', `${kind[0]}: left after down -v: ${left}`);
  }
});

test('the image: under 150 MB, runs as the unprivileged user, no compiler in it', async () => {
  const size = Number(await inspect(IMAGE, '{{.Size}}'));
  process.stdout.write(`image ${IMAGE}: ${(size / 1e6).toFixed(1)} MB\n`);
  assert.ok(size > 0 && size < MAX_IMAGE_BYTES, `the image is ${size} bytes`);
  assert.equal(await inspect(IMAGE, '{{.Config.User}}'), 'ollamaflow');
  const ids = (await docker(['run', '--rm', '--entrypoint', 'id', IMAGE])).trim();
  assert.match(ids, /^uid=10001\(ollamaflow\) gid=10001\(ollamaflow\)/);
  const found = await buildTools(IMAGE);
  assert.equal(found, '', `the runtime image holds build tools:\n${found}`);
  //  The same look at the build stage (docker_test.sh tags it) finds its compiler
  if (process.env.OF_BUILD_IMAGE)
    assert.match(await buildTools(process.env.OF_BUILD_IMAGE), /^gcc$/m, 'the look for a compiler finds none in the build stage');
  //  Every process of the running stack runs as that user (docker top runs the host's ps)
  for (const service of ['configd', 'scheduler', 'healthmon', 'modelsync', 'ingress']) {
    const top = await docker(['top', await containerOf(service), '-o', 'pid,uid,args']);
    const rows = top.trim().split('\n').slice(1);
    assert.ok(rows.some((row) => row.includes(`ollamaflow-${service}`)), `${service}: ${top}`);
    for (const row of rows)
      assert.match(row.trim(), /^\d+\s+10001\s/, `${service} runs a process as another user: ${row}`);
  }
});

test('each of the five containers becomes healthy through ollamaflow-healthcheck', async () => {
  const containers = {};
  for (const service of ['configd', 'scheduler', 'healthmon', 'modelsync', 'ingress'])
    containers[service] = await containerOf(service);
  await waitFor(async () => {
    for (const container of Object.values(containers))
      if (await health(container) !== 'healthy') return false;
    return true;
  }, { timeout: 40000, interval: 500, what: 'five healthy containers' });
  //  Each check speaks its service's protocol, not only connects: the ingress's fails on a port
  //  that does not answer HTTP (configd's), configd's on one that does not answer ZeroMQ (the
  //  ingress's)
  const refused = await run(DOCKER, ['exec', '-e', 'OLLAMAFLOW_PORT=43421', containers.configd,
    'ollamaflow-healthcheck', 'ingress']);
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(refused.stdout, /not ready/);
  const silent = await run(DOCKER, ['exec', '-e', 'OLLAMAFLOW_CONFIG_ROUTER=tcp://ingress:43411', containers.ingress,
    'ollamaflow-healthcheck', 'configd']);
  assert.equal(silent.code, 1, silent.stdout);
  assert.match(silent.stdout, /did not answer with ZeroMQ's greeting/);
});

test('the real ollama and openai clients through the ingress', async () => {
  const port = await hostPort('ingress', 43411);
  const ollama = new Ollama({ host: `http://127.0.0.1:${port}` });
  let text = '';
  let chunks = 0;
  for await (const part of await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }],
    stream: true, options: { num_predict: 8 } })) {
    text += part.message.content;
    chunks += 1;
  }
  assert.ok(chunks >= 8 && text.length > 0, `${chunks} chunks: '${text}'`);
  const tags = await ollama.list();
  assert.ok(tags.models.some((model) => model.name === `${MODEL}:latest`), JSON.stringify(tags));

  const openai = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
  let deltas = '';
  const stream = await openai.chat.completions.create({ model: MODEL, stream: true, max_tokens: 8,
    messages: [{ role: 'user', content: 'hi' }] });
  for await (const chunk of stream) deltas += chunk.choices[0]?.delta?.content ?? '';
  assert.ok(deltas.length > 0);
  const embedded = await openai.embeddings.create({ model: 'all-minilm', input: 'docker' });
  assert.equal(embedded.data[0].embedding.length, 384);
});

test('--scale ingress=2: both replicas serve, and MaxParallelRequests holds across them at the sim', async () => {
  await composeMust(['up', '-d', '--no-build', '--no-recreate', '--scale', 'ingress=2']);
  const ports = [await hostPort('ingress', 43411, 1), await hostPort('ingress', 43411, 2)];
  assert.notEqual(ports[0], ports[1]);
  await servesAt(ports[1]);
  const ids = new Set([(await generate(ports[0], 1)).replica, (await generate(ports[1], 1)).replica]);
  assert.equal(ids.size, 2, `both replicas answer under one id: ${[...ids]}`);

  await simCall('/reset', {});
  // 2 slots on each of 2 backends; 16 streams of 20 tokens at 20 tokens/s, half through each
  const results = await Promise.all(Array.from({ length: 16 }, (_, i) => generate(ports[i % 2], 20)));
  assert.deepEqual(results.map((r) => r.status), Array(16).fill(200));
  for (const r of results) assert.match(r.text, /"done":true/);
  const peaks = [await simStats('a'), await simStats('b')].map((stats) => stats.peak_active);
  process.stdout.write(`16 streams through 2 replicas: peak at the sim a=${peaks[0]} b=${peaks[1]}\n`);
  assert.ok(peaks.every((peak) => peak <= 2), `the cap of 2 per backend was passed: ${peaks}`);
  assert.deepEqual(peaks, [2, 2], 'the cap was never reached: the test proves nothing');
});

test('the front profile: one address before the replicas (HAProxy from Debian\'s package)', async () => {
  await composeMust(['--profile', 'front', 'up', '-d', '--no-build', '--no-recreate', '--scale', 'ingress=2',
    'front']);
  await waitFor(async () => (await versionOnce(frontPort)).status === 200,
    { timeout: READY_TIMEOUT_MS, interval: 250, what: 'an answer through the front' });
  //  HAProxy re-resolves `ingress`: both replicas show behind the one port
  const seen = new Set();
  await waitFor(async () => {
    const { status, replica } = await versionOnce(frontPort);
    assert.equal(status, 200);
    seen.add(replica);
    return seen.size === 2;
  }, { timeout: 30000, interval: 20, what: 'both replicas behind the front' });
  const ollama = new Ollama({ host: `http://127.0.0.1:${frontPort}` });
  const reply = await ollama.generate({ model: MODEL, prompt: 'front', stream: false, options: { num_predict: 4 } });
  assert.equal(reply.done, true);
  assert.equal(await inspect(await containerOf('front'), '{{.Config.User}}'), 'haproxy');
});

test('the tools profile: the tap prints the bus traffic', async () => {
  const out = await composeMust(['--profile', 'tools', 'run', '--rm', '-T', 'tap',
    'ollamaflow-tap', '--count', '3', '--timeout', '20000'], { timeout: 60000 });
  const lines = out.trim().split('\n').filter(Boolean);
  assert.equal(lines.length, 3, out);
  for (const line of lines) {
    const message = JSON.parse(line);
    assert.ok(message.Service && message.Command, line);
  }
});

//  4 streams of 60 tokens (3 s) through the first replica, once all 4 run at the sim
async function fourStreams() {
  const port = await hostPort('ingress', 43411, 1);
  await simCall('/reset', {});
  const running = Array.from({ length: 4 }, () => generate(port, 60));
  await waitFor(async () => (await simStats('a')).active + (await simStats('b')).active === 4,
    { timeout: 10000, what: '4 running streams' });
  return { port, running };
}

//  The streams ended whole, and the ingress serves new asks again
async function finished(running, port) {
  for (const r of await Promise.all(running)) {
    assert.equal(r.status, 200);
    assert.match(r.text, /"done":true/, 'a stream did not finish');
  }
  await servesAt(port);
}

test('the scheduler container killed during 4 streams: they finish, then service resumes, cap intact', async () => {
  const { port, running } = await fourStreams();
  const scheduler = await containerOf('scheduler');
  await docker(['kill', scheduler]);
  //  Gone: an ask gets a 503 within a short bound (LivenessMs is 1000 here)
  await sleep(1500);
  const gone = await generate(port, 1, { stream: false });
  assert.equal(gone.status, 503, gone.text);
  assert.match(gone.text, /scheduler/);
  //  A container killed by hand stays down (restart: unless-stopped): start it again
  assert.equal(await inspect(scheduler, '{{.State.Running}}'), 'false');
  await composeMust(['start', 'scheduler']);
  const restarted = Date.now();
  await finished(running, port);
  process.stdout.write(`scheduler back: a generation served ${Date.now() - restarted} ms after its start\n`);
  const more = await Promise.all(Array.from({ length: 6 }, () => generate(port, 5)));
  assert.ok(more.every((r) => r.status === 200), JSON.stringify(more.map((r) => r.status)));
  for (const name of ['a', 'b'])
    assert.ok((await simStats(name)).peak_active <= 2, `${name}: over the cap across the restart`);
});

test('the scheduler process crashing during 4 streams: Docker restarts its container, streams finish', async () => {
  const { port, running } = await fourStreams();
  const scheduler = await containerOf('scheduler');
  const restarts = Number(await inspect(scheduler, '{{.RestartCount}}'));
  //  docker top shows host pids: SIGKILL the scheduler itself, not the container's init
  const top = await docker(['top', scheduler, '-o', 'pid,args']);
  const pid = Number(top.split('\n').find((row) => /ollamaflow-scheduler/.test(row))?.trim().split(/\s+/)[0]);
  assert.ok(pid > 1, top);
  process.kill(pid, 'SIGKILL');
  await waitFor(async () => Number(await inspect(scheduler, '{{.RestartCount}}')) > restarts,
    { timeout: 20000, interval: 100, what: 'Docker to restart the scheduler\'s container' });
  await finished(running, port);
  for (const name of ['a', 'b'])
    assert.ok((await simStats(name)).peak_active <= 2, `${name}: over the cap across the restart`);
});

test('the database is on a volume: a change through the admin API outlives configd\'s container', async () => {
  const port = await hostPort('ingress', 43411, 1);
  const admin = (method, path, body) => fetch(`http://127.0.0.1:${port}/v1.0${path}`, { method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body) });
  const name = `kept-${process.pid}`;
  assert.equal((await admin('PATCH', '/frontends/main', { Name: name })).status, 200);
  const before = await containerOf('configd');
  await composeMust(['up', '-d', '--no-build', '--no-deps', '--force-recreate', 'configd']);
  const now = await containerOf('configd');
  assert.notEqual(now, before, 'configd was not recreated');
  await waitFor(async () => {
    const response = await admin('GET', '/frontends/main');
    return response.status === 200 && (await response.json()).Name === name;
  }, { timeout: 30000, interval: 250, what: `the frontend named ${name} after configd's new container` });
  await servesAt(port);
});

test('the single-container form: `docker run` of the image runs all five through the launcher', async () => {
  const settings = {
    AdminBearerTokens: [TOKEN],
    Bus: { HeartbeatMs: 200, LivenessMs: 1000 },
    Health: { IntervalMs: 300 },
    Backends: [{ Identifier: 'a', Hostname: 'sim', Port: 11434, HealthyThreshold: 1 }],
    Frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'] }],
  };
  const file = join(dir, 'single.json');
  writeFileSync(file, JSON.stringify(settings));
  chmodSync(file, 0o644);
  const started = Date.now();
  const { name, port } = await runSingle('single', ['--network', `${project}_default`,
    '-v', `${file}:/etc/ollamaflow/ollamaflow.json:ro`]);
  await servesAt(port);
  process.stdout.write(`docker run: first generation served ${Date.now() - started} ms after it began\n`);
  const top = await docker(['top', name, '-o', 'pid,uid,args']);
  for (const service of ['configd', 'scheduler', 'healthmon', 'modelsync', 'ingress'])
    assert.match(top, new RegExp(`ollamaflow-${service}`), top);
  for (const row of top.trim().split('\n').slice(1).filter((row) => !/docker-init/.test(row)))
    assert.match(row.trim(), /^\d+\s+10001\s/, `a process runs as another user: ${row}`);

  const ollama = new Ollama({ host: `http://127.0.0.1:${port}` });
  let parts = 0;
  for await (const part of await ollama.generate({ model: MODEL, prompt: 'one', stream: true,
    options: { num_predict: 5 } })) parts += part.done ? 0 : 1;
  assert.equal(parts, 5);
  const openai = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
  const completion = await openai.chat.completions.create({ model: MODEL, max_tokens: 4,
    messages: [{ role: 'user', content: 'one' }] });
  assert.ok(completion.choices[0].message.content.length > 0);
  await waitFor(async () => await health(name) === 'healthy',
    { timeout: 40000, interval: 500, what: 'the container healthy' });
  await stopSingle(name);
});

test('the health check says what is missing while no backend is healthy (the ingress\'s /readyz)', async () => {
  const file = join(dir, 'unready.json');
  writeFileSync(file, JSON.stringify({ Health: { IntervalMs: 300 },
    Backends: [{ Identifier: 'closed', Hostname: 'sim', Port: 1 }],
    Frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['closed'] }] }));
  chmodSync(file, 0o644);
  const { name, port } = await runSingle('unready', ['--network', `${project}_default`,
    '-v', `${file}:/etc/ollamaflow/ollamaflow.json:ro`]);
  //  The ingress answers, but is not ready: the check fails and repeats the 503's reason
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/livez`)).status === 200,
    { timeout: READY_TIMEOUT_MS, interval: 200, what: 'the ingress alive' });
  const check = await run(DOCKER, ['exec', name, 'ollamaflow-healthcheck']);
  assert.equal(check.code, 1, check.stdout);
  assert.match(check.stdout, /^not ready: GET \/readyz on port 43411: HTTP\/1\.1 503 [^:]*: \S/, check.stdout);
  await stopSingle(name);
});

test('`docker run` with no settings: the launcher writes a demo fleet and an admin token, and serves', async () => {
  const { name, port } = await runSingle('demo', []);
  await servesAt(port, 'llama3.2:3b');
  //  The token is in the launcher's output, and the admin API takes it
  const said = await waitFor(async () => /OLLAMAFLOW_ADMIN_TOKEN=([0-9a-f]{64})/.exec(await docker(['logs', name])),
    { timeout: 20000, interval: 250, what: 'the admin token in docker logs' });
  const frontends = (token) => fetch(`http://127.0.0.1:${port}/v1.0/frontends`,
    { headers: token ? { authorization: `Bearer ${token}` } : {} });
  assert.equal((await frontends(said[1])).status, 200);
  assert.equal((await frontends()).status, 401);
  await stopSingle(name);
});
