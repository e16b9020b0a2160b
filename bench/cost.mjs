// What observability costs on bench section 1's path: four ollamaflows in front of one instant
// simulated backend, two with metrics and the access log off (Metrics.Enable false,
// AccessLog.SampleEvery 0: their difference is the machine's noise), one with metrics only, one
// with both (metrics, and a JSON line per request to a file), driven in turn by wrk (small
// non-streamed generates, 64 connections). Prints the CPU time per request of each system's
// ingress and of all its services, and the increase. Not a test.
//   node bench/cost.mjs [--bin build/bin] [--seconds 5] [--runs 3]     (after a build)
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killEverything, cpuSeconds } from './lib/procs.mjs';
import { startSim, startOllamaflow } from './lib/systems.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const bin = resolve(option('--bin', join(HERE, '../build/bin')));
const seconds = Number(option('--seconds', 5));
const runs = Number(option('--runs', 3));
const work = mkdtempSync(join(tmpdir(), 'ollamaflow-cost-'));
const BODY = { model: 'llama3.2', prompt: 'hello', stream: false, options: { num_predict: 1 } };

async function wrk(port) {
  const child = spawn('wrk', ['-t1', '-c64', `-d${seconds}s`, '-s', join(HERE, 'load/post.lua'),
    `http://127.0.0.1:${port}/api/generate`], { env: { ...process.env, BENCH_BODY: JSON.stringify(BODY) } });
  let text = '';
  child.stdout.on('data', (d) => { text += d; });
  await new Promise((r) => child.once('exit', r));
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  if (!rps || /Non-2xx/.test(text)) throw new Error(`wrk: ${text}`);
  return rps;
}

async function main() {
  const sim = await startSim(work, bin, {
    host: '127.0.0.1',
    defaults: { parallel: 100000, max_queue: 100000, prefill_rate: 0, decode_rate: 0, load_ms: 0 },
    backends: [{ name: 'sim', models: [{ name: 'llama3.2', loaded: true }] }],
  });
  const backends = [{ name: 'sim', port: sim.backends[0].port, slots: 100000 }];
  const log = join(work, 'access.log');
  const variants = {
    off: { OLLAMAFLOW_METRICS: 'false', OLLAMAFLOW_ACCESS_LOG: '0' },
    //  The same as off: the noise floor of the comparison on this machine
    'off again': { OLLAMAFLOW_METRICS: 'false', OLLAMAFLOW_ACCESS_LOG: '0' },
    metrics: { OLLAMAFLOW_METRICS: 'true', OLLAMAFLOW_ACCESS_LOG: '0' },
    on: { OLLAMAFLOW_METRICS: 'true', OLLAMAFLOW_ACCESS_LOG: '1', OLLAMAFLOW_ACCESS_LOG_FILE: log },
  };
  const systems = {};
  for (const [name, env] of Object.entries(variants)) {
    Object.assign(process.env, env);       //  the services inherit it
    systems[name] = await startOllamaflow(work, bin, backends, { probe: BODY });
  }
  const cpu = Object.fromEntries(Object.keys(variants).map((n) => [n, { ingress: 0, all: 0, requests: 0 }]));
  for (let run = 0; run < runs; run++)
    for (const name of Object.keys(variants)) {        //  interleaved against the shared machine's noise
      const procs = systems[name].procs;
      const before = procs.map((p) => cpuSeconds(p.pid));
      const rps = await wrk(systems[name].port);
      procs.forEach((p, i) => {
        const used = cpuSeconds(p.pid) - before[i];
        cpu[name].all += used;
        if (p.name === 'ingress') cpu[name].ingress += used;
      });
      cpu[name].requests += rps * seconds;
      process.stdout.write(`run ${run + 1} ${name}: ${rps.toFixed(0)} requests/s\n`);
    }
  const us = (name, key) => cpu[name][key] / cpu[name].requests * 1e6;
  //  Against the mean of the two identical systems; their difference is the noise floor
  const base = (key) => (us('off', key) + us('off again', key)) / 2;
  const increase = (name, key) => `${(100 * (us(name, key) / base(key) - 1)).toFixed(1)}%`;
  for (const key of ['ingress', 'all'])
    process.stdout.write(`CPU per request, ${key === 'all' ? 'all five services' : 'the ingress'}: `
      + `off ${us('off', key).toFixed(1)} and ${us('off again', key).toFixed(1)} µs `
      + `(noise ${(100 * Math.abs(us('off', key) - us('off again', key)) / base(key)).toFixed(1)}%); `
      + `metrics only ${us('metrics', key).toFixed(1)} µs (${increase('metrics', key)}); `
      + `metrics and access log ${us('on', key).toFixed(1)} µs (${increase('on', key)})\n`);
  process.stdout.write(`access log written: ${(statSync(log).size / 1e6).toFixed(1)} MB\n`);
  for (const system of Object.values(systems)) await system.stop();
  await sim.stop();
  rmSync(work, { recursive: true, force: true });
}

process.on('exit', killEverything);
main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
