// HTTPS on the ingress's own port (Webserver.Ssl, OllamaFlow's settings, with PEM files made here by
// the openssl command): the ollama npm client streams and generates over it when it trusts the
// test CA (NODE_EXTRA_CA_CERTS) and refuses it otherwise; ollamaflowctl round trips over https,
// checking the certificate against SSL_CERT_FILE unless --insecure; plain HTTP on that port gets
// no answer; an ingress with a missing file or a key that is not the certificate's does not start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import https from 'node:https';
import http from 'node:http';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFlow, waitFor, binPath, assertCleanStop } from './flow.mjs';
import { makeCa } from './certs.mjs';
import { EXIT, runCtl } from './ctl.mjs';

const MODEL = 'llama3.2';
const TOKEN = 'https-admin-token';
const NODE_DIR = fileURLToPath(new URL('..', import.meta.url));
const certs = mkdtempSync(join(tmpdir(), 'ollamaflow-https-'));
let served;       // the ingress's certificate, key and CA
let rogue;        // another CA, which the ingress's certificate does not come from
let flow;
const url = (host = '127.0.0.1') => `https://${host}:${flow.port()}`;

// An admin GET over https trusting the test CA; resolves { status, json }
function adminGet(path) {
  return new Promise((resolve, reject) => {
    const request = https.request(`${url()}/v1.0${path}`, { ca: readFileSync(served.ca), agent: false,
      headers: { authorization: `Bearer ${TOKEN}` } }, (response) => {
      let text = '';
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, json: text ? JSON.parse(text) : undefined }));
    });
    request.on('error', reject);
    request.end();
  });
}

// A generation over https trusting the test CA; resolves its status
function generate() {
  return new Promise((resolve, reject) => {
    const request = https.request(`${url()}/api/generate`, { method: 'POST', ca: readFileSync(served.ca),
      agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    });
    request.on('error', reject);
    request.end(JSON.stringify({ model: MODEL, prompt: 'x', stream: false, options: { num_predict: 1 } }));
  });
}

// Runs the ollama npm client in a node of its own (NODE_EXTRA_CA_CERTS is read at start):
// a generation, then a streamed chat; resolves what it printed (JSON) or its error
const CLIENT = `
import { Ollama } from 'ollama';
const ollama = new Ollama({ host: process.env.OLLAMA_URL });
try {
  const one = await ollama.generate({ model: '${MODEL}', prompt: 'hi', stream: false, options: { num_predict: 3 } });
  let chunks = 0, last;
  for await (const part of await ollama.chat({ model: '${MODEL}', stream: true, options: { num_predict: 5 },
    messages: [{ role: 'user', content: 'hi' }] })) { chunks++; last = part; }
  console.log(JSON.stringify({ evalCount: one.eval_count, done: one.done, chunks, lastDone: last.done,
    chatEvalCount: last.eval_count }));
} catch (error) {
  console.log(JSON.stringify({ error: String(error.cause?.code ?? error.cause?.message ?? error.message) }));
}`;

function ollamaClient(env) {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', CLIENT], {
      cwd: NODE_DIR, timeout: 60000, env: { ...process.env, NODE_EXTRA_CA_CERTS: '', ...env },
    }, (error, stdout, stderr) => {
      try { resolve(JSON.parse(stdout)); } catch { resolve({ error: `no JSON: ${stdout} ${stderr} ${error}` }); }
    });
  });
}

before(async () => {
  served = makeCa(certs, 'served');
  rogue = makeCa(certs, 'rogue');
  flow = await startFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 0, load_ms: 1, parallel: 4 },
      backends: [{ name: 'a', models: [MODEL] }] },
    backends: (sim) => [{ Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1 }],
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['a'] }],
    settings: {
      AdminBearerTokens: [TOKEN],
      Webserver: { Ssl: { Enable: true, CertificateFile: served.cert, PrivateKeyFile: served.key } },
    },
  });
  await waitFor(async () => {
    const { status, json } = await adminGet('/backends/health');
    return status === 200 && json.every((b) => b.Healthy && b.ModelsKnown);
  }, { what: 'the backend healthy, through the admin API over https' });
  // The scheduler follows healthmon and modelsync on its own and may learn of the backend a
  // moment after the ingress's admin view: one generation served means it has
  await waitFor(async () => await generate() === 200, { what: 'a generation served over https' });
});

after(async () => {
  assertCleanStop(assert, await flow.stop());
  rmSync(certs, { recursive: true, force: true });
});

test('the ollama npm client over TLS: generates and streams when it trusts the CA', async () => {
  const trusted = await ollamaClient({ OLLAMA_URL: url(), NODE_EXTRA_CA_CERTS: served.ca });
  assert.equal(trusted.error, undefined, trusted.error);
  assert.equal(trusted.done, true);
  assert.equal(trusted.evalCount, 3);
  assert.ok(trusted.chunks >= 2, `${trusted.chunks} chunks: not streamed`);
  assert.equal(trusted.lastDone, true);
  assert.equal(trusted.chatEvalCount, 5);
  // By name too (the certificate names localhost and 127.0.0.1)
  const byName = await ollamaClient({ OLLAMA_URL: url('localhost'), NODE_EXTRA_CA_CERTS: served.ca });
  assert.equal(byName.error, undefined, byName.error);
  // Not trusting the CA (its own or another), the client refuses the server
  for (const env of [{}, { NODE_EXTRA_CA_CERTS: rogue.ca }]) {
    const refused = await ollamaClient({ OLLAMA_URL: url(), ...env });
    assert.match(refused.error ?? '', /CERT|VERIFY/i, JSON.stringify(refused));
  }
});

test('ollamaflowctl over https: verified against SSL_CERT_FILE, or --insecure', async () => {
  const trust = { SSL_CERT_FILE: served.ca };
  for (const host of ['127.0.0.1', 'localhost']) {
    const status = await runCtl(url(host), TOKEN, ['status'], { json: true, env: trust });
    assert.equal(status.code, EXIT.ok, status.stderr);
    assert.ok(status.json.Version && status.json.Scheduler.Linked, status.stdout);
  }
  const table = await runCtl(url(), TOKEN, ['health'], { env: trust });
  assert.equal(table.code, EXIT.ok, table.stderr);
  assert.match(table.stdout, /\na\s+Healthy\s/);
  // A write and its read back
  const created = await runCtl(url(), TOKEN, ['frontends', 'create', 'tls-made', '--set', 'Hostname=tls.local',
    '--set', 'Backends=["a"]'], { json: true, env: trust });
  assert.equal(created.code, EXIT.ok, created.stderr);
  const got = await runCtl(url(), TOKEN, ['frontends', 'get', 'tls-made'], { json: true, env: trust });
  assert.equal(got.code, EXIT.ok, got.stderr);
  assert.deepEqual([got.json.Hostname, got.json.Backends], ['tls.local', ['a']]);
  assert.equal((await runCtl(url(), TOKEN, ['frontends', 'delete', 'tls-made'], { env: trust })).code, EXIT.ok);
  // The token still matters over TLS
  assert.equal((await runCtl(url(), 'wrong', ['status'], { env: trust })).code, EXIT.denied);

  // A CA the certificate does not come from: refused, saying why; --insecure skips the check
  const untrusted = await runCtl(url(), TOKEN, ['status'], { env: { SSL_CERT_FILE: rogue.ca } });
  assert.equal(untrusted.code, EXIT.unreachable);
  assert.match(untrusted.stderr, /certificate verify failed/);
  const insecure = await runCtl(url(), TOKEN, ['--insecure', 'status'], { json: true, env: { SSL_CERT_FILE: rogue.ca } });
  assert.equal(insecure.code, EXIT.ok, insecure.stderr);
  assert.ok(insecure.json.Version);
  // Plain http:// to the TLS port gets no HTTP answer
  const plain = await runCtl(`http://127.0.0.1:${flow.port()}`, TOKEN, ['status'], { env: { ...trust } });
  assert.equal(plain.code, EXIT.unreachable, plain.stdout);
});

test('plain HTTP on the TLS port gets no HTTP answer', async () => {
  const outcome = await new Promise((resolve) => {
    const request = http.request({ host: '127.0.0.1', port: flow.port(), path: '/', agent: false, timeout: 10000 },
      (response) => resolve(`answered ${response.statusCode}`));
    request.on('error', (error) => resolve(`error ${error.code}`));
    request.on('timeout', () => { request.destroy(); resolve('timeout'); });
    request.end();
  });
  assert.match(outcome, /^(error|timeout)/, outcome);
  // The ingress still serves
  assert.equal((await adminGet('/status')).status, 200);
});

test('an ingress whose certificate or key is missing or wrong does not start', async () => {
  const base = JSON.parse(readFileSync(flow.settingsFile, 'utf8'));
  const cases = [
    [{ Enable: true }, /Webserver\.Ssl\.Enable needs Webserver\.Ssl\.CertificateFile/],
    [{ Enable: true, CertificateFile: join(certs, 'none.pem'), PrivateKeyFile: served.key }, /CertificateFile .*none\.pem/],
    [{ Enable: true, CertificateFile: served.cert, PrivateKeyFile: rogue.key }, /PrivateKeyFile .*not the certificate's/],
    [{ Enable: true, CertificateFile: served.key, PrivateKeyFile: served.key }, /CertificateFile .*no PEM certificate/],
  ];
  for (const [ssl, reason] of cases) {
    const file = join(certs, 'bad.json');
    writeFileSync(file, JSON.stringify({ ...base, Webserver: { Hostname: '127.0.0.1', Port: 0, Ssl: ssl } }));
    const result = await new Promise((resolve) => {
      const child = spawn(binPath('ingress'), ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, OLLAMAFLOW_INGRESS_ID: 'bad-tls' } });
      let log = '';
      child.stderr.on('data', (data) => { log += data; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, log }); });
    });
    assert.notEqual(result.code, 0, `started with ${JSON.stringify(ssl)}`);
    assert.equal(result.signal, null, `still running with ${JSON.stringify(ssl)}: ${result.log}`);
    assert.match(result.log, reason);
  }
});
