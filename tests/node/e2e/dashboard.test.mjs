// The dashboard in a real browser: headless Chromium (Debian's chromium) driven by the npm
// puppeteer-core against a running stack with ollama-sim. A wrong token is refused; the right
// one shows the backends; a pull's progress moves; a backend the sim fails turns Unhealthy; the
// Content-Security-Policy blocks inline script; the page fits a phone. Screenshots are saved
// under the build directory (dashboard.png at 1280x800, dashboard-phone.png at 390x844).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { startFlow, waitFor, waitServing, sleep, assertCleanStop, binPath } from './flow.mjs';

const MODEL = 'llama3.2';
const TOKEN = 'dashboard-token-1';
const BIG = 'bigmodel:7b';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = dirname(dirname(binPath('ingress')));       // the build directory
let flow;
let browser;
let page;
let load = true;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: scripts/install-deps.sh installs Debian's chromium`);
  flow = await startFlow({
    fleet: { host: '127.0.0.1', defaults: { decode_rate: 200, load_ms: 1, parallel: 4, pull_bandwidth: 4e6 },
      registry: [{ name: BIG, size: 24e6 }],
      backends: [{ name: 'gpu-a', models: [MODEL, 'all-minilm'] }, { name: 'gpu-b', models: [MODEL] }] },
    backends: (sim) => ['gpu-a', 'gpu-b'].map((name) => ({ Identifier: name, Hostname: '127.0.0.1',
      Port: sim.port(name), MaxParallelRequests: 4, HealthyThreshold: 1, UnhealthyThreshold: 1 })),
    frontends: [{ Identifier: 'main', Hostname: '*', Backends: ['gpu-a', 'gpu-b'], LoadBalancing: 'RoundRobin' }],
    settings: { AdminBearerTokens: [TOKEN], Models: { IntervalMs: 300 } },
  });
  await waitServing(flow, '/api/generate', { model: MODEL, prompt: 'w', stream: false, options: { num_predict: 1 } }, 2);
  //  Some traffic for the charts, all through the test
  (async () => {
    while (load) {
      const response = await fetch(`${flow.url()}/api/generate`, { method: 'POST',
        body: JSON.stringify({ model: MODEL, prompt: 'chart', stream: false, options: { num_predict: 8 } }) }).catch(() => null);
      await response?.text();
      await sleep(50);
    }
  })();
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
});

after(async () => {
  load = false;
  await browser?.close();
  assertCleanStop(assert, await flow.stop());
});

const text = (selector) => page.$eval(selector, (node) => node.textContent).catch(() => null);
const visible = (selector) => page.$eval(selector, (node) => !node.hidden && node.offsetParent !== null).catch(() => false);

test('the page comes with a Content-Security-Policy that forbids inline script, and asks for a token', async () => {
  const response = await page.goto(`${flow.url()}/dashboard/`, { waitUntil: 'load' });
  assert.equal(response.status(), 200);
  const policy = response.headers()['content-security-policy'];
  assert.match(policy, /script-src 'self'/);
  assert.doesNotMatch(policy, /unsafe/);
  assert.equal(await visible('#login'), true);
  assert.equal(await visible('#main'), false);
  const ran = await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.inlineRan = true';
    document.body.append(script);
    return window.inlineRan === true;
  });
  assert.equal(ran, false, 'an inline script ran');
});

test('a wrong token is refused and nothing is shown', async () => {
  await page.type('#token', 'not-the-token');
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => /refused/.test(document.getElementById('login-error').textContent));
  assert.match(await text('#login-error'), /The token was refused/);
  assert.equal(await visible('#main'), false);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
});

test('the right token shows each frontend, its backends healthy, and the services alive', async () => {
  await page.type('#token', TOKEN);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('tr[data-backend="gpu-b"]', { timeout: 10000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ollamaflow-admin-token')), TOKEN);
  await page.waitForFunction(() => [...document.querySelectorAll('#backends tbody .state')]
    .filter((n) => n.textContent === 'Healthy').length === 2, { timeout: 10000 });
  assert.match(await text('tr[data-backend="gpu-a"] td.models'), /llama3\.2:latest/);
  assert.match(await text('[data-frontend="main"]'), /gpu-a/);
  await page.waitForFunction(() => document.querySelectorAll('#services .alive').length === 4, { timeout: 10000 });
  assert.match(await text('#where'), /ingress replica-0/);
});

test('a pull\'s progress moves on the page', async () => {
  const pulling = fetch(`${flow.url()}/api/pull`, { method: 'POST', body: JSON.stringify({ model: BIG }) })
    .then((response) => response.text());
  const progress = () => page.$$eval('.pull progress', (bars) => bars.map((bar) => bar.value / bar.max));
  const first = await waitFor(async () => {
    const values = await progress();
    return values.length > 0 && values.some((v) => v > 0 && v < 0.8) && values;
  }, { timeout: 10000, interval: 100, what: 'a pull with some progress on the page' });
  const later = await waitFor(async () => {
    const values = await progress();
    return Math.max(...values) > Math.max(...first) && values;
  }, { timeout: 10000, interval: 100, what: 'the progress moving' });
  assert.ok(Math.max(...later) > Math.max(...first));
  assert.match(await text('#pulls'), new RegExp(`${BIG} on gpu-`));
  await pulling;
});

test('a backend the sim fails turns Unhealthy on the page; a screenshot at 1280x800 and in a phone', async () => {
  await flow.sim.faults('gpu-b', { refuse: true });
  await page.waitForFunction(() => document.querySelector('tr[data-backend="gpu-b"] .state')?.textContent === 'Unhealthy',
    { timeout: 10000 });
  assert.equal(await text('tr[data-backend="gpu-a"] .state'), 'Healthy');
  await page.waitForFunction(() => Number(document.getElementById('now-rps').textContent) > 0, { timeout: 10000 });
  await page.screenshot({ path: join(OUT, 'dashboard.png') });
  await page.setViewport({ width: 390, height: 844, isMobile: true });
  //  The page reloads for a mobile viewport (the token kept): rates need two polls
  await page.waitForFunction(() => Number(document.getElementById('now-rps').textContent) > 0, { timeout: 10000 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide in a 390 px window`);
  await page.screenshot({ path: join(OUT, 'dashboard-phone.png'), fullPage: true });
  await flow.sim.faults('gpu-b', { refuse: false });
});
