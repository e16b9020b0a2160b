// Checks a RESULTS.md written by the bench: one well-formed table, with rows for every section
// asked for and a number (or "—" where a figure does not apply) in every value cell. Never the
// figures themselves: the bench measures, it does not pass or fail a build.
//   node bench/check.mjs RESULTS.md [--sections 1,2,3,4]
import { readFileSync } from 'node:fs';
import { COLUMNS } from './lib/table.mjs';

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
const first = all.findIndex((l) => l.startsWith('|'));
const end = all.findIndex((l, i) => i > first && !l.startsWith('|'));
const lines = first < 0 ? [] : all.slice(first, end < 0 ? all.length : end);
const cells = (line) => line.slice(1, -1).split('|').map((c) => c.trim());
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
    const bad = c.slice(3, 9).find((value) => !/^(—|-?\d+(\.\d+)?)$/.test(value));
    if (bad !== undefined) problems.push(`not a figure: "${bad}" in ${line}`);
    if (c[9] && !/^(PASS|MISS) \(/.test(c[9])) problems.push(`bad target cell "${c[9]}"`);
  }
  for (const s of sections) if (!seen.get(s)) problems.push(`no rows for section ${s}`);
  for (const s of seen.keys()) if (!sections.includes(s)) problems.push(`unexpected section ${s}`);
}
if (!/Sections ran: /.test(text) || /FAILED/.test(text)) problems.push('a section failed (see "Sections ran")');
if (problems.length) {
  process.stderr.write(`check: ${file} is not a complete bench table:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`check: ${file}: ${lines.length - 2} rows, sections ${sections.join(', ')}, well-formed\n`);
