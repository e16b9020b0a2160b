//  deploy_grafana: checks deploy/grafana-dashboard.json without a Grafana. It must be valid JSON
//  in Grafana's dashboard shape, and every series it queries must be one docs/metrics.md lists
//  (e2e_metrics checks that list against a live scrape, both ways); every query must parse as
//  PromQL (promtool check rules, on the queries written as recording rules).
//    OF_SOURCE_DIR=.. node --test tests/deploy/grafana.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(process.env.OF_SOURCE_DIR ?? path.join(here, '..', '..'));
const dashboard = JSON.parse(readFileSync(path.join(sourceDir, 'deploy', 'grafana-dashboard.json'), 'utf8'));

//  The series docs/metrics.md lists: name -> type
export function documentedSeries(dir = sourceDir) {
  const series = new Map();
  for (const line of readFileSync(path.join(dir, 'docs', 'metrics.md'), 'utf8').split('\n')) {
    const match = /^\| `(ollamaflow_[a-z_]+)` \| (counter|gauge|histogram) \|/.exec(line);
    if (match) series.set(match[1], match[2]);
  }
  return series;
}

const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
const queries = [
  ...panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, expr: target.expr }))),
  ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => ({ panel: `$${v.name}`, expr: v.definition })),
];

test('the dashboard has Grafana\'s shape: a title, a uid, unique panel ids inside the 24-column grid', () => {
  assert.equal(typeof dashboard.title, 'string');
  assert.match(dashboard.uid, /^[a-zA-Z0-9_-]{1,40}$/);
  assert.ok(Number.isInteger(dashboard.schemaVersion));
  const ids = dashboard.panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids repeat');
  for (const panel of dashboard.panels) {
    const { x, y, w, h } = panel.gridPos;
    assert.ok([x, y, w, h].every(Number.isInteger) && x >= 0 && w > 0 && x + w <= 24 && h > 0, `${panel.title}: gridPos`);
  }
  for (const panel of panels) {
    assert.ok(panel.targets.length > 0, `${panel.title}: no query`);
    assert.equal(panel.datasource.uid, '${datasource}', `${panel.title}: the dashboard's datasource variable`);
  }
  assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.query === 'prometheus'));
});

test('every series the dashboard queries is one docs/metrics.md lists, and it shows at least 4 in 5 of them', () => {
  const documented = documentedSeries();
  assert.ok(documented.size > 30, `docs/metrics.md lists ${documented.size} series`);
  const used = new Set();
  for (const { panel, expr } of queries)
    for (const [name] of expr.matchAll(/\bollamaflow_[a-z_]+/g)) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const known = documented.has(name) || (documented.get(base) === 'histogram' && base !== name);
      assert.ok(known, `${panel}: ${name} is not a series of docs/metrics.md`);
      if (name.endsWith('_bucket')) assert.equal(documented.get(base), 'histogram', `${panel}: ${name}`);
      used.add(documented.has(name) ? name : base);
    }
  //  New series may come before their panel: most, not all, must be shown
  const unused = [...documented.keys()].filter((name) => !used.has(name));
  assert.ok(unused.length <= documented.size / 5, `series no panel shows: ${unused.join(', ')}`);
});

test('every query parses as PromQL (promtool check rules)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ollamaflow-grafana-'));
  try {
    //  Grafana's variables, as Grafana would expand them
    const rules = queries.map(({ expr }, i) => `      - record: ollamaflow_dashboard_query_${i}\n        expr: ${JSON.stringify(
      expr.replace(/\$__rate_interval/g, '1m').replace(/\$frontend/g, '.*').replace(/^label_values\((\w+),.*\)$/, '$1'))}`);
    const file = path.join(dir, 'rules.yml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const result = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    assert.ok(!result.error, `promtool: ${result.error?.message} (scripts/install-deps.sh installs Debian's prometheus)`);
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
