// A first profile of the small-request path (bench section 1): ollamaflow in front of one instant
// simulated backend, wrk at saturation, and perf recording the ingress and the scheduler. Prints
// the CPU time per request of each service and perf's top symbols. Not a test; needs perf.
//   node bench/profile.mjs [--bin build/bin] [--seconds 10] [--out DIR]     (after a build)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killEverything, cpuSeconds, start } from './lib/procs.mjs';
import { startSim, startOllamaflow } from './lib/systems.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const bin = resolve(option('--bin', join(HERE, '../build/bin')));
const seconds = Number(option('--seconds', 10));
const work = mkdtempSync(join(tmpdir(), 'ollamaflow-profile-'));
const out = resolve(option('--out', work));
const BODY = { model: 'llama3.2', prompt: 'hello', stream: false, options: { num_predict: 1 } };

async function main() {
  const sim = await startSim(work, bin, {
    host: '127.0.0.1',
    defaults: { parallel: 100000, max_queue: 100000, prefill_rate: 0, decode_rate: 0, load_ms: 0 },
    backends: [{ name: 'sim', models: [{ name: 'llama3.2', loaded: true }] }],
  });
  //  One ingress, so that perf records the one process every request goes through
  const flow = await startOllamaflow(work, bin, [{ name: 'sim', port: sim.backends[0].port, slots: 100000 }],
    { probe: BODY, workers: 1 });
  const services = Object.fromEntries(flow.procs.map((p) => [p.name, p.pid]));
  const before = Object.fromEntries(Object.entries(services).map(([n, pid]) => [n, cpuSeconds(pid)]));
  const data = join(out, 'perf.data');
  const perf = start(work, 'perf', 'perf', ['record', '-F', '999', '-g', '-o', data,
    '-p', `${services.ingress},${services.scheduler}`, '--', 'sleep', String(seconds)]);
  const wrk = spawn('wrk', ['-t1', '-c64', `-d${seconds}s`, '-s', join(HERE, 'load/post.lua'),
    `http://127.0.0.1:${flow.port}/api/generate`], { env: { ...process.env, BENCH_BODY: JSON.stringify(BODY) } });
  let text = '';
  wrk.stdout.on('data', (d) => { text += d; });
  await new Promise((r) => wrk.once('exit', r));
  await perf.exited;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = rps * seconds;
  const lines = [`${rps} requests/s through ollamaflow; CPU per request:`];
  for (const [name, pid] of Object.entries(services))
    lines.push(`  ${name}: ${((cpuSeconds(pid) - before[name]) / requests * 1e6).toFixed(1)} µs`);
  await flow.stop();
  await sim.stop();
  //  perf knows threads by their first 15 characters
  for (const comm of ['ollamaflow-ingr', 'ollamaflow-sche']) {
    const report = execFileSync('perf', ['report', '-i', data, '--stdio', '--no-children', '--comm', comm,
      '--sort', 'dso,sym', '--percent-limit', '0.5', '-g', 'none'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    lines.push(`--- ${comm}: symbols over 0.5% of all samples (self time)`,
      ...report.split('\n').filter((l) => /%/.test(l) && !l.startsWith('#')).slice(0, 30));
  }
  const summary = lines.join('\n');
  writeFileSync(join(out, 'profile.txt'), `${summary}\n`);
  process.stdout.write(`${summary}\n(perf data in ${data})\n`);
}

process.on('exit', killEverything);
main().then(() => process.exit(0), (error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
