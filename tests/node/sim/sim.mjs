// Starts an ollama-sim for one test file and talks to its control endpoint.
// The binary comes from $OLLAMA_SIM (CTest sets it) or build/bin/ollama-sim.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';

const DEFAULT_BIN = fileURLToPath(new URL('../../../build/bin/ollama-sim', import.meta.url));
const START_TIMEOUT_MS = 5000;

export async function startSim({ fleet, args = [] } = {}) {
  const bin = process.env.OLLAMA_SIM || DEFAULT_BIN;
  const dir = mkdtempSync(join(tmpdir(), 'ollama-sim-'));
  const argv = [...args];
  if (fleet) {
    const file = join(dir, 'fleet.json');
    writeFileSync(file, JSON.stringify(fleet));
    argv.unshift('--fleet', file);
  }
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ports = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('ollama-sim did not start')), START_TIMEOUT_MS);
    child.stdout.on('data', (data) => {
      text += data;
      const newline = text.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(text.slice(0, newline)));
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`ollama-sim exited with ${code}`)); });
  });
  const byName = (name = 0) => typeof name === 'number' ? ports.backends[name]
    : ports.backends.find((b) => b.name === name);
  const control = `http://127.0.0.1:${ports.control_port}`;
  const sim = {
    child,
    ports,
    port: (name) => byName(name).port,
    url: (name) => `http://127.0.0.1:${byName(name).port}`,
    async control(path, body) {
      const response = await fetch(control + path, body === undefined ? {} : {
        method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' },
      });
      const json = await response.json();
      if (!response.ok) throw new Error(`control ${path}: ${json.error}`);
      return json;
    },
    stats: async (name = 0) => (await sim.control(`/backends/${byName(name).name}`)).stats,
    faults: (name, faults) => sim.control(`/backends/${byName(name).name}/faults`, faults),
    configure: (name, config) => sim.control(`/backends/${byName(name).name}`, config),
    reset: () => sim.control('/reset', {}),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const result = await exited;
      rmSync(dir, { recursive: true, force: true });
      return result;
    },
  };
  return sim;
}

// A plain HTTP request with full control over headers (Host included)
export function rawRequest({ port, method = 'GET', path = '/', headers = {}, body }) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers,
        body: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    if (body !== undefined) request.write(typeof body === 'string' ? body : JSON.stringify(body));
    request.end();
  });
}

// Sends raw bytes on one TCP connection and collects what comes back until idle
export function rawExchange(port, bytes, { idleMs = 300, maxMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let idle;
    const finish = () => { clearTimeout(idle); clearTimeout(limit); socket.destroy(); resolve(received); };
    const limit = setTimeout(finish, maxMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (data) => { received += data; clearTimeout(idle); idle = setTimeout(finish, idleMs); });
    socket.on('end', finish);
    socket.on('error', reject);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls fn until it returns a truthy value or the time is up
export async function waitFor(fn, { timeoutMs = 2000, stepMs = 20 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(stepMs);
  }
}
