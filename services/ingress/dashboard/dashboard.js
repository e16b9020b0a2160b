// The ollamaflow dashboard: polls this ingress's admin API and /metrics once a second and draws
// what they say with plain DOM and SVG. Everything that comes from the fleet (names, models,
// errors) goes in as text, never as markup; the page's Content-Security-Policy allows no inline
// script and no other origin.
'use strict';

const POLL_MS = 1000;
const HISTORY_MS = 5 * 60 * 1000;
const SPAN_MIN_MS = 60 * 1000;          // a chart shows at least the last minute
const KEY = 'ollamaflow-admin-token';
const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';

let timer = null;
let previous = null;                    // the last scrape's totals, for rates
const history = { rps: [], ttft: [], tps: [] };

// An element with text (never markup) and an optional class
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function replace(parent, children) {
  parent.replaceChildren(...children);
}

class Refused extends Error {}

async function api(path, token, { text = false } = {}) {
  const response = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (response.status === 401 || response.status === 403) {
    let message = `${response.status}`;
    try { message = (await response.json()).Description || message; } catch { /* not JSON */ }
    throw new Refused(message);
  }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return text ? response.text() : response.json();
}

// Prometheus text: [{name, labels: {k: v}, value}]
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]] = pair[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

const total = (samples, name, filter = () => true) =>
  samples.filter((s) => s.name === name && filter(s.labels)).reduce((sum, s) => sum + s.value, 0);
const byLabel = (samples, name, label) =>
  new Map(samples.filter((s) => s.name === name).map((s) => [s.labels[label], s.value]));

function push(series, at, value) {
  series.push({ at, value });
  while (series.length && series[0].at < at - HISTORY_MS) series.shift();
}

// A duration in words: "42 s", "3 min", "2 h 5 min", "4 d 1 h"
function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

const since = (utc) => { const at = Date.parse(utc); return Number.isNaN(at) ? '' : span(Date.now() - at); };

function chart(svg, series, format, maxLabel) {
  const width = 300, height = 100;
  const max = Math.max(1, ...series.map((p) => p.value));
  const now = Date.now();
  //  The window grows with the history, from a minute to five
  const window = Math.min(HISTORY_MS, Math.max(SPAN_MIN_MS, series.length ? now - series[0].at : 0));
  const children = [];
  for (const y of [0.25, 0.5, 0.75]) {
    const line = document.createElementNS(SVG, 'line');
    line.setAttribute('x1', 0); line.setAttribute('x2', width);
    line.setAttribute('y1', height * y); line.setAttribute('y2', height * y);
    children.push(line);
  }
  const polyline = document.createElementNS(SVG, 'polyline');
  polyline.setAttribute('points', series.map((p) =>
    `${(width * (1 - (now - p.at) / window)).toFixed(1)},${(height - 4 - (height - 12) * p.value / max).toFixed(1)}`).join(' '));
  children.push(polyline);
  svg.replaceChildren(...children);
  maxLabel.textContent = `top ${format(max)} · last ${span(window)}`;
}

function renderCharts(samples) {
  const at = Date.now();
  const now = {
    requests: total(samples, 'ollamaflow_ingress_requests_total'),
    ttfbSum: total(samples, 'ollamaflow_ingress_ttfb_seconds_sum'),
    ttfbCount: total(samples, 'ollamaflow_ingress_ttfb_seconds_count'),
    tokens: total(samples, 'ollamaflow_ingress_tokens_total', (l) => l.type === 'completion'),
  };
  if (previous) {
    const seconds = (at - previous.at) / 1000;
    const count = now.ttfbCount - previous.ttfbCount;
    push(history.rps, at, (now.requests - previous.requests) / seconds);
    push(history.tps, at, (now.tokens - previous.tokens) / seconds);
    if (count > 0) push(history.ttft, at, 1000 * (now.ttfbSum - previous.ttfbSum) / count);
  }
  previous = { at, ...now };
  const last = (series) => series.length ? series[series.length - 1].value : 0;
  $('now-rps').textContent = last(history.rps).toFixed(1);
  $('now-ttft').textContent = history.ttft.length ? last(history.ttft).toFixed(0) : '-';
  $('now-tps').textContent = last(history.tps).toFixed(0);
  chart($('chart-rps'), history.rps, (v) => v.toFixed(1), $('max-rps'));
  chart($('chart-ttft'), history.ttft, (v) => v.toFixed(0), $('max-ttft'));
  chart($('chart-tps'), history.tps, (v) => v.toFixed(0), $('max-tps'));
}

function stateCell(state) {
  return el('span', state || 'Unknown', `state ${['Healthy', 'Unhealthy'].includes(state) ? state : 'Unknown'}`);
}

function renderFrontends(frontends, health, samples) {
  const byId = new Map(health.map((b) => [b.Identifier, b]));
  const queued = byLabel(samples, 'ollamaflow_frontend_queued', 'frontend');
  const sessions = byLabel(samples, 'ollamaflow_frontend_sessions', 'frontend');
  replace($('frontends'), frontends.map((frontend) => {
    const card = el('div', null, 'card');
    card.dataset.frontend = frontend.Identifier;
    card.append(el('h3', frontend.Identifier));
    card.append(el('div', `Host ${frontend.Hostname} · ${frontend.LoadBalancing}${frontend.Active ? '' : ' · inactive'}`, 'meta'));
    card.append(el('div', `Queue ${queued.get(frontend.Identifier) ?? 0} · Sessions ${sessions.get(frontend.Identifier) ?? 0}`, 'meta'));
    const list = el('ul');
    for (const id of frontend.Backends || []) {
      const backend = byId.get(id);
      const item = el('li');
      item.append(stateCell(backend ? backend.State : 'Unknown'), el('span', id));
      if (backend) item.append(el('span', `${backend.ActiveRequests}/${backend.MaxParallelRequests}`, 'meta'));
      list.append(item);
    }
    card.append(list);
    return card;
  }));
}

function renderBackends(health) {
  const headers = [...$('backends').tHead.rows[0].cells].map((cell) => cell.textContent);
  replace($('backends').tBodies[0], health.map((backend) => {
    const row = el('tr');
    row.dataset.backend = backend.Identifier;
    const models = (backend.Models || []).join(', ');
    row.append(el('td', backend.Identifier));
    const state = el('td');
    const health = el('div');
    health.append(stateCell(backend.State));
    if (backend.State === 'Unhealthy' && backend.Reason) health.append(el('div', backend.Reason, 'meta'));
    state.append(health);
    row.append(state);
    row.append(el('td', since(backend.HealthySinceUtc || backend.UnhealthySinceUtc)));
    row.append(el('td', `${backend.ActiveRequests} / ${backend.MaxParallelRequests}`));
    row.append(el('td', backend.QueueDepth));
    row.append(el('td', backend.Sessions));
    row.append(el('td', backend.ModelsKnown ? models || '(none)' : 'not listed yet', 'models'));
    row.append(el('td', (backend.LoadedModels || []).join(', '), 'models'));
    //  Labels for the narrow layout, where each row is a card
    [...row.cells].forEach((cell, i) => { cell.dataset.label = headers[i]; });
    return row;
  }));
}

function renderPulls(health) {
  const pulls = health.flatMap((backend) => backend.Pulls || []);
  if (!pulls.length) {
    replace($('pulls'), [el('p', 'No pull running.', 'empty')]);
    return;
  }
  replace($('pulls'), pulls.map((pull) => {
    const row = el('div', null, 'pull');
    row.dataset.backend = pull.Backend;
    row.dataset.model = pull.Model;
    row.append(el('div', `${pull.Model} on ${pull.Backend}`, 'what'));
    const bar = el('progress');
    const done = pull.Done && !pull.Error;
    bar.max = pull.Total || 1;
    bar.value = done ? bar.max : pull.Completed || 0;
    row.append(bar);
    const percent = pull.Total ? Math.floor((100 * (done ? pull.Total : pull.Completed || 0)) / pull.Total) : 0;
    row.append(el('div', pull.Error ? `failed: ${pull.Error}` : done ? 'done' : `${percent}% ${pull.Status || 'waiting'}`, 'meta'));
    return row;
  }));
}

function renderServices(status) {
  replace($('services'), (status.Services || []).map((service) => {
    const item = el('li');
    item.dataset.service = service.Service || service.Name;
    item.append(el('span', `${service.Service || service.Name} `), el('span', service.Alive ? 'alive' : 'silent', service.Alive ? 'alive' : 'silent'));
    return item;
  }));
  $('where').textContent = `ingress ${status.Ingress} · version ${status.Version} · up ${span(status.UptimeMs)}`;
}

async function poll(token) {
  try {
    const [status, frontends, health, metrics] = await Promise.all([
      api('/v1.0/status', token), api('/v1.0/frontends', token), api('/v1.0/backends/health', token),
      api('/metrics', token, { text: true }),
    ]);
    const samples = parseMetrics(metrics);
    renderServices(status);
    renderFrontends(frontends, health, samples);
    renderBackends(health);
    renderPulls(health);
    renderCharts(samples);
    $('status').textContent = `updated ${new Date().toLocaleTimeString()}`;
    $('status').className = '';
  } catch (error) {
    if (error instanceof Refused) {
      signOut(`The token was refused: ${error.message}`);
      return;
    }
    $('status').textContent = `cannot reach this ingress: ${error.message}`;
    $('status').className = 'error';
  }
  timer = setTimeout(() => poll(token), POLL_MS);
}

function signOut(why) {
  clearTimeout(timer);
  timer = null;
  sessionStorage.removeItem(KEY);
  previous = null;
  for (const series of Object.values(history)) series.length = 0;
  $('main').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = why || '';
  $('where').textContent = '';
  $('token').focus();
}

async function signIn(token) {
  try {
    await api('/v1.0/status', token);
  } catch (error) {
    signOut(error instanceof Refused ? `The token was refused: ${error.message}` : `Cannot reach this ingress: ${error.message}`);
    return;
  }
  sessionStorage.setItem(KEY, token);
  $('login').hidden = true;
  $('main').hidden = false;
  $('logout').hidden = false;
  $('login-error').textContent = '';
  poll(token);
}

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    $('token').value = '';
    if (token) signIn(token);
  });
  $('logout').addEventListener('click', () => signOut('Signed out.'));
  const kept = sessionStorage.getItem(KEY);
  if (kept) signIn(kept);
  else signOut('');
});
