// The tables of the scheduling suite (section 4): per scenario, the median over the seeds of each
// figure for every system, then each system's ratio to HAProxy leastconn, as the median and the
// spread (lowest to highest) of the per-seed ratios.
import { SYSTEMS, REFERENCE } from './suite.mjs';
import { SCENARIOS } from './scenarios.mjs';

export const METRICS = [
  ['ttftP50', 'TTFT p50', 'ms'],
  ['ttftP90', 'TTFT p90', 'ms'],
  ['ttftP99', 'TTFT p99', 'ms'],
  ['totalP99', 'total time p99', 'ms'],
  ['goodput', 'goodput (TTFT ≤ 2 s)', '%'],
  ['perMinute', 'completed per minute', '/min'],
  ['coldPer1000', 'cold loads per 1,000 requests', 'loads'],
  ['prefixHit', 'prefix hit rate (cached / prompt tokens)', '%'],
  ['failures', 'failures (errors, timeouts, unfinished, turns not sent)', 'requests'],
];
const PERCENT = new Set(['goodput', 'prefixHit']);
export const SUITE_HEADER = ['figure', 'unit', ...SYSTEMS];

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function number(x) {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (Number.isInteger(x)) return String(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

const line = (cells) => `| ${cells.join(' | ')} |`;
const separator = () => `|${SUITE_HEADER.map(() => '---').join('|')}|`;

// The value a table shows for a metric of one run (percentages as percent)
const shown = (metric, run) => (PERCENT.has(metric) ? run[metric] * 100 : run[metric]);

// Markdown of the whole suite, or '' when it did not run
export function renderSuite(suite) {
  if (!suite) return '';
  const out = [];
  const scales = Object.values(suite.scenarios).map((s) => s.scale);
  out.push(`### Section 4: the scheduling suite (${suite.seeds.length} seed${suite.seeds.length > 1 ? 's' : ''}; `
    + `time scale ${[...new Set(scales)].join(' and ')}; times in simulated ms)`);
  const order = (name) => SCENARIOS.findIndex((s) => s.name === name);
  const entries = Object.entries(suite.scenarios).sort(([a], [b]) => order(a) - order(b));
  for (const [name, entry] of entries) {
    const runs = entry.systems;
    const rates = entry.rates.map((r) => r.toFixed(entry.path === '/api/chat' ? 3 : 2)).join(', ');
    out.push('', `#### 4 ${name} (time scale ${entry.scale}; ${entry.path === '/api/chat' ? 'sessions' : 'requests'} per second by seed: ${rates})`, '');
    out.push(line(SUITE_HEADER), separator());
    for (const [metric, label, unit] of METRICS)
      out.push(line([label, unit, ...SYSTEMS.map((k) => number(median((runs[k] || []).map((r) => shown(metric, r)))))]));
    out.push('', `Ratio to HAProxy leastconn: median (lowest–highest) over the seeds`, '');
    out.push(line(SUITE_HEADER), separator());
    for (const [metric, label] of METRICS) {
      if (metric === 'failures') continue;
      const cells = SYSTEMS.map((k) => {
        const ratios = (runs[k] || []).map((r, i) => {
          const ref = runs[REFERENCE]?.[i]?.[metric];
          return Number.isFinite(ref) && ref !== 0 ? r[metric] / ref : NaN;
        }).filter(Number.isFinite);
        if (!ratios.length) return '—';
        return `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
      });
      out.push(line([label, '×', ...cells]));
    }
  }
  return out.join('\n');
}
