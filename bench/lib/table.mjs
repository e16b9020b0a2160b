// The one table of the bench: a row per figure, a column per system, ollamaflow's ratios to nginx
// and to direct, and the targets marked PASS or MISS (they never fail a build). Portkey's
// gateway serves OpenAI's API only: its column has figures on the OpenAI-route rows (and "—"
// when it is not installed), "—" on the /api/generate ones.

export const SECTIONS = {
  1: '1 small requests: throughput at saturation, latency at half of nginx\'s maximum',
  2: '2 streaming: time to first byte and gaps between chunks',
  3: '3 memory: summed RSS with slow streams held open',
  4: '4 scheduling suite: uniform, multi-model, conversations, bursts; every system, 5 seeds',
};

export const COLUMNS = ['#', 'figure', 'unit', 'direct', 'ollamaflow', 'nginx', 'haproxy', 'portkey',
  'ollamaflow / nginx', 'ollamaflow / direct', 'target'];
const SYSTEMS = ['direct', 'ollamaflow', 'nginx', 'haproxy'];
//  Every column of a system (the /api/generate rows leave Portkey's empty)
const COLUMN_SYSTEMS = [...SYSTEMS, 'portkey'];
//  The OpenAI-route rows: every system that ran (Portkey only when installed)
const OPENAI_SYSTEMS = COLUMN_SYSTEMS;
//  f of each system's figures, null ("—") for a system that did not run
const each = (names, v, f) => Object.fromEntries(names.map((n) => [n, v[n] ? f(v[n], n) : null]));

function number(x) {
  if (x === null) return '—';
  if (x === undefined || !Number.isFinite(x)) return 'FAILED';
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}` : '—');
const verdict = (pass, text) => `${pass ? 'PASS' : 'MISS'} (${text})`;

// rows: {section, figure, unit, values: {direct, ollamaflow, nginx, haproxy}, ratios, target}
export function buildTable(results, P, sections) {
  const rows = [];
  const row = (section, figure, unit, values, { ratios = true, target = '' } = {}) =>
    rows.push({ section, figure, unit, values, ratios, target });
  const failed = (section) => row(section, `${SECTIONS[section]}: section FAILED`, '',
    { direct: undefined, ollamaflow: undefined, nginx: undefined, haproxy: undefined, portkey: undefined },
    { ratios: false });
  const route = 'OpenAI route (POST /v1/chat/completions)';

  if (sections.includes(1)) {
    const s = results.small;
    if (!s) failed(1);
    else {
      const t = s.rps.ollamaflow / s.rps.nginx;
      row(1, `throughput, non-streamed /api/generate, ${P.wrkConnections} connections (wrk, median of ${P.wrkRuns})`,
        'req/s', s.rps, { target: verdict(t >= 0.8, `≥ 0.8 x nginx: ${t.toFixed(2)}`) });
      row(1, 'CPU time per request at saturation (the system\'s processes; direct: the simulator)', 'µs',
        Object.fromEntries(SYSTEMS.map((n) => [n, s.cpu[n].usPerRequest])));
      for (const p of ['p50', 'p99'])
        row(1, `latency ${p} at ${s.rate} req/s (half of nginx's maximum)`, 'ms',
          Object.fromEntries(SYSTEMS.map((n) => [n, s.latency[n][p]])));
      for (const p of ['p50', 'p99'])
        row(1, `latency ${p} at ${s.ownRate} req/s (half of ollamaflow's maximum)`, 'ms',
          Object.fromEntries(SYSTEMS.map((n) => [n, s.ownLatency[n][p]])));
      if (s.openai) {
        row(1, `${route}: throughput, non-streamed, 1 token, ${P.wrkConnections} connections (wrk, median of ${P.wrkRuns})`,
          'req/s', each(OPENAI_SYSTEMS, s.openai.rps, (x) => x));
        row(1, `${route}: CPU time per request at saturation`, 'µs', each(OPENAI_SYSTEMS, s.openai.cpu, (x) => x.usPerRequest));
      }
    }
  }
  if (sections.includes(2)) {
    const s = results.streams;
    if (!s || Object.keys(s).length < P.streamLevels.length) failed(2);
    else for (const level of P.streamLevels) {
      const v = s[level];
      const abs = (what, p) => Object.fromEntries(SYSTEMS.map((n) => [n, v[n][what][p]]));
      const added = (what, p) => Object.fromEntries(SYSTEMS.map((n) => [n, v[n][what][p] - v.direct[what][p]]));
      const label = `${level} streams of ${P.streamTokens} tokens at ${P.streamRate} tok/s`;
      row(2, `time to first byte p50, ${label}`, 'ms', abs('ttfb', 'p50'));
      const at = added('ttfb', 'p50');
      row(2, `added time to first byte p50, ${label}`, 'ms', at,
        { ratios: false, target: verdict(at.ollamaflow <= 0.5, '≤ 0.5 ms') });
      row(2, `added time to first byte p99, ${label}`, 'ms', added('ttfb', 'p99'), { ratios: false });
      row(2, `gap between chunks p50, ${label}`, 'ms', abs('gap', 'p50'));
      const ag = added('gap', 'p50');
      row(2, `added gap between chunks p50, ${label}`, 'ms', ag,
        { ratios: false, target: verdict(ag.ollamaflow <= 0.1, '≤ 0.1 ms') });
      row(2, `added gap between chunks p99, ${label}`, 'ms', added('gap', 'p99'), { ratios: false });
      //  what the system adds to each chunk: its "created_at" stamp to its arrival, over direct's
      row(2, `added delay of each chunk p50, ${label}`, 'ms', added('delay', 'p50'), { ratios: false });
      row(2, `added delay of each chunk p99, ${label}`, 'ms', added('delay', 'p99'), { ratios: false });
    }
    const o = results.openaiStreams;
    if (s && o) for (const level of P.streamLevels) {
      const v = o[level];
      if (!v) continue;
      const label = `${route}, ${level} SSE streams of ${P.streamTokens} tokens at ${P.streamRate} tok/s`;
      const abs = (what, p) => each(OPENAI_SYSTEMS, v, (x) => x[what][p] ?? null);
      //  (the delay: from the simulator's stamp_chunks "created_at"; null without samples)
      const added = (what, p) => each(OPENAI_SYSTEMS, v, (x) => (x[what].n && v.direct[what].n
        ? x[what][p] - v.direct[what][p] : null));
      row(2, `time to first byte p50, ${label}`, 'ms', abs('ttfb', 'p50'));
      row(2, `added time to first byte p50, ${label}`, 'ms', added('ttfb', 'p50'), { ratios: false });
      row(2, `added time to first byte p99, ${label}`, 'ms', added('ttfb', 'p99'), { ratios: false });
      row(2, `added gap between chunks p50, ${label}`, 'ms', added('gap', 'p50'), { ratios: false });
      row(2, `added gap between chunks p99, ${label}`, 'ms', added('gap', 'p99'), { ratios: false });
      row(2, `added delay of each chunk p50, ${label}`, 'ms', added('delay', 'p50'), { ratios: false });
      row(2, `added delay of each chunk p99, ${label}`, 'ms', added('delay', 'p99'), { ratios: false });
    }
    //  HTTPS backends against plain ones, from the pass that runs both after a warm-up each
    const h = results.httpsStreams;
    if (s && h) for (const level of P.streamLevels) {
      const v = h[level];
      if (!v) continue;
      const proxies = ['ollamaflow', 'nginx', 'haproxy'];
      const added = (kind) => ({ direct: null, portkey: null, ...Object.fromEntries(proxies
        .map((n) => [n, v[kind][n] ? v[kind][n].ttfb.p50 - v.direct.ttfb.p50 : null])) });
      const plain = added('plain');
      const https = added('https');
      const label = `${level} streams after a ${P.httpsWarmSeconds} s warm-up`;
      row(2, `added time to first byte p50, plain HTTP backend, ${label}`, 'ms', plain, { ratios: false });
      const over = https.ollamaflow - plain.ollamaflow;
      row(2, `added time to first byte p50, HTTPS backend (verified), ${label}`, 'ms', https, {
        ratios: false,
        target: verdict(https.ollamaflow <= plain.ollamaflow * 1.1,
          `within 10% of plain: ${over >= 0 ? '+' : ''}${over.toFixed(3)} ms, ${ratio(https.ollamaflow, plain.ollamaflow)} x`),
      });
    }
  }
  if (sections.includes(3)) {
    const s = results.memory;
    if (!s || Object.keys(s).length < P.memoryLevels.length) failed(3);
    else {
      for (const level of P.memoryLevels) {
        const v = s[level];
        const top = level === P.memoryLevels[P.memoryLevels.length - 1];
        const pick = (f) => Object.fromEntries(SYSTEMS.map((n) => [n, v[n] ? f(v[n]) : null]));
        const t = v.ollamaflow.rssKb / v.nginx.rssKb;
        row(3, `streams held open (of ${level})`, 'streams', pick((x) => x.ready), { ratios: false });
        row(3, `summed RSS with ${level} slow streams (direct: the simulator)`, 'MB', pick((x) => x.rssKb / 1024),
          { target: top ? verdict(t <= 1.5, `≤ 1.5 x nginx: ${t.toFixed(2)}`) : '' });
      }
      //  Per stream: the slope between the two levels (the idle RSS before a level keeps what the
      //  earlier sections grew, so "over idle" undercounts); the simulator is left out
      const [low, high] = [P.memoryLevels[0], P.memoryLevels[P.memoryLevels.length - 1]];
      const slope = (n) => (n === 'direct' || high === low ? null
        : (s[high][n].rssKb - s[low][n].rssKb) / (high - low));
      row(3, `RSS per stream, from ${low} to ${high} streams`, 'KB',
        Object.fromEntries(SYSTEMS.map((n) => [n, slope(n)])));
      const o = results.openaiMemory;
      if (o && o[low] && o[high]) {
        for (const level of P.memoryLevels) {
          row(3, `${route}: streams held open (of ${level})`, 'streams', each(OPENAI_SYSTEMS, o[level], (x) => x.ready),
            { ratios: false });
          row(3, `${route}: summed RSS with ${level} slow SSE streams`, 'MB', each(OPENAI_SYSTEMS, o[level], (x) => x.rssKb / 1024));
        }
        row(3, `${route}: RSS per stream, from ${low} to ${high} streams`, 'KB',
          each(OPENAI_SYSTEMS, o[high], (x, n) => (n === 'direct' || high === low || !o[low][n] ? null
            : (x.rssKb - o[low][n].rssKb) / (high - low))));
      }
    }
  }
  return rows;
}

export function renderTable(rows) {
  const lines = [`| ${COLUMNS.join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const v = r.values;
    const cells = [r.section, r.figure, r.unit, ...COLUMN_SYSTEMS.map((n) => number(v[n] === undefined && n === 'portkey' ? null : v[n])),
      r.ratios ? ratio(v.ollamaflow, v.nginx) : '—', r.ratios ? ratio(v.ollamaflow, v.direct) : '—', r.target || ''];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
