// Checks a RESULTS.md written by the bench: one well-formed table, with rows for every section
// asked for and a number (or "—" where a figure does not apply) in every value cell. Never the
// figures themselves: the bench measures, it does not pass or fail a build.
//   node bench/check.mjs RESULTS.md [--sections 1,2,3,4]
import { readFileSync } from 'node:fs';
import { COLUMNS } from './lib/table.mjs';
import { SUITE_HEADER, METRICS } from './lib/suite_table.mjs';
import { SCENARIOS } from './lib/scenarios.mjs';

const [file, flag, list] = process.argv.slice(2);
const sections = flag === '--sections' ? list.split(',') : ['1', '2', '3', '4'];
const problems = [];
//  The bench's part of the file: what comes before the notes marker; its first table
let text = '';
try {
  text = readFileSync(file, 'utf8').split('<!-- notes')[0];
} catch (error) {
  process.stderr.write(`check: no results: ${error.message}\n`);
  process.exit(1);
}
const all = text.split('\n');
const cells = (line) => line.slice(1, -1).split('|').map((c) => c.trim());
// The table that starts at line index start: its lines
const tableAt = (start) => {
  const end = all.findIndex((l, i) => i > start && !l.startsWith('|'));
  return all.slice(start, end < 0 ? all.length : end);
};
const main = sections.filter((s) => s !== '4');
if (main.length) {
  const first = all.findIndex((l) => l.startsWith(`| ${COLUMNS[0]} |`));
  const lines = first < 0 ? [] : tableAt(first);
  if (lines.length < 3) problems.push('no table');
  else {
    const header = cells(lines[0]);
    if (header.join('|') !== COLUMNS.join('|')) problems.push(`header is ${header.join(', ')}`);
    if (!/^\|(---\|)+$/.test(lines[1])) problems.push('no separator line under the header');
    const seen = new Map();
    for (const line of lines.slice(2)) {
      const c = cells(line);
      if (c.length !== COLUMNS.length) {
        problems.push(`${c.length} cells instead of ${COLUMNS.length}: ${line}`);
        continue;
      }
      seen.set(c[0], (seen.get(c[0]) || 0) + 1);
      //  the systems' and the ratios' columns, then the target
      const target = c[COLUMNS.length - 1];
      const bad = c.slice(3, COLUMNS.length - 1).find((value) => !/^(—|-?\d+(\.\d+)?)$/.test(value));
      if (bad !== undefined) problems.push(`not a figure: "${bad}" in ${line}`);
      if (target && !/^(PASS|MISS) \(/.test(target)) problems.push(`bad target cell "${target}"`);
    }
    for (const s of main) if (!seen.get(s)) problems.push(`no rows for section ${s}`);
    for (const s of seen.keys()) if (!sections.includes(s)) problems.push(`unexpected section ${s}`);
  }
}
// Section 4: per scenario, a table of figures and a table of ratios, one column per system
if (sections.includes('4')) {
  for (const scenario of SCENARIOS) {
    const at = all.findIndex((l) => l.startsWith(`#### 4 ${scenario.name} (`));
    if (at < 0) {
      problems.push(`section 4: no tables for ${scenario.name}`);
      continue;
    }
    const starts = [];
    for (let i = at + 1; i < all.length && starts.length < 2 && !all[i].startsWith('#'); i++)
      if (all[i].startsWith('|') && !all[i - 1].startsWith('|')) starts.push(i);
    if (starts.length < 2) {
      problems.push(`section 4 ${scenario.name}: ${starts.length} tables instead of 2`);
      continue;
    }
    starts.forEach((start, t) => {
      const lines = tableAt(start);
      if (cells(lines[0]).join('|') !== SUITE_HEADER.join('|')) problems.push(`section 4 ${scenario.name}: header is ${lines[0]}`);
      const rows = lines.slice(2);
      const want = t === 0 ? METRICS.length : METRICS.length - 1;
      if (rows.length !== want) problems.push(`section 4 ${scenario.name}: ${rows.length} rows instead of ${want}`);
      for (const line of rows) {
        const c = cells(line);
        const figure = t === 0 ? /^(—|-?\d+(\.\d+)?)$/ : /^(—|\d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\))$/;
        const bad = c.slice(2).find((value) => !figure.test(value));
        if (c.length !== SUITE_HEADER.length) problems.push(`section 4 ${scenario.name}: ${c.length} cells: ${line}`);
        else if (bad !== undefined) problems.push(`section 4 ${scenario.name}: not a figure: "${bad}" in ${line}`);
      }
    });
  }
}
if (!/Sections ran: /.test(text) || /FAILED/.test(text)) problems.push('a section failed (see "Sections ran")');
if (problems.length) {
  process.stderr.write(`check: ${file} is not a complete bench table:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`check: ${file}: sections ${sections.join(', ')}, well-formed\n`);
