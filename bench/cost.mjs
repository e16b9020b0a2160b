// What observability costs on bench section 1's path: four ollamaflows in front of one instant
// simulated backend, two with metrics and the access log off (Metrics.Enable false,
// AccessLog.SampleEvery 0: their difference is the machine's noise), one with metrics only, one
// with both (metrics, and a JSON line per request to a file), driven in turn by wrk (small
// non-streamed generates, 64 connections). Prints the CPU time per request of each system's
// ingress and of all its services, and the increase. Not a test.
//   node bench/cost.mjs [--bin build/bin] [--seconds 5] [--runs 3]     (after a build)
// CPU time on a shared machine is noisy (two identical systems differ by up to 13% here). With
// --callgrind each ingress (or the service --service names) runs under valgrind's callgrind
// instead, and the figure is the instructions it executes per request over a fixed number of
// requests (--requests, 16 at a time, after a warm-up it does not count): the same for the same
// binary and inputs whatever else the machine does.
//   node bench/cost.mjs --callgrind [--bin build/bin] [--requests 2000] [--service scheduler]
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync,
         writeFileSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
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
const callgrind = args.includes('--callgrind');
const requests = Number(option('--requests', 2000));
const service = option('--service', 'ingress');
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

//  A bin directory where the service runs under callgrind, its instrumentation off until asked
function callgrindBin() {
  const dir = join(work, 'cgbin');
  const program = `ollamaflow-${service}`;
  mkdirSync(dir);
  for (const name of readdirSync(bin))
    if (name !== program) symlinkSync(join(bin, name), join(dir, name));
  writeFileSync(join(dir, program), `#!/bin/sh\nexec valgrind --tool=callgrind `
    + `--instr-atstart=no --callgrind-out-file=${work}/callgrind.out.%p `
    + `${join(bin, program)} "$@"\n`, { mode: 0o755 });
  return dir;
}

async function send(port, count, concurrency = 16) {
  let next = 0;
  const one = async () => {
    while (next++ < count) {
      const reply = await fetch(`http://127.0.0.1:${port}/api/generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
      if (reply.status !== 200) throw new Error(`status ${reply.status}: ${await reply.text()}`);
      await reply.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, one));
}

//  Instructions the service executes per request, from a callgrind dump of just those requests
async function instructionsPerRequest(system) {
  const { pid } = system.procs.find((p) => p.name === service);
  await send(system.port, 200);
  execFileSync('callgrind_control', ['-i', 'on', String(pid)], { stdio: 'ignore' });
  await send(system.port, requests);
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  execFileSync('callgrind_control', ['-i', 'off', String(pid)], { stdio: 'ignore' });
  const dump = readdirSync(work).find((f) => f.startsWith(`callgrind.out.${pid}.`));
  const totals = /^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(join(work, dump), 'utf8'));
  return Number(totals[1]) / requests;
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
  const systemBin = callgrind ? callgrindBin() : bin;
  for (const [name, env] of Object.entries(variants)) {
    Object.assign(process.env, env);       //  the services inherit it
    //  One ingress: the figure is one ingress's cost per request (callgrind follows one process)
    systems[name] = await startOllamaflow(work, systemBin, backends, { probe: BODY, workers: 1 });
  }
  if (callgrind) {
    const ir = {};
    for (const name of Object.keys(variants)) {
      ir[name] = await instructionsPerRequest(systems[name]);
      process.stdout.write(`${name}: ${ir[name].toFixed(0)} instructions per request in the ${service}\n`);
    }
    const base = (ir.off + ir['off again']) / 2;
    const increase = (name) => `${(100 * (ir[name] / base - 1)).toFixed(1)}%`;
    process.stdout.write(`instructions per request, the ${service} (${requests} requests): off `
      + `${ir.off.toFixed(0)} and ${ir['off again'].toFixed(0)}; metrics only `
      + `${ir.metrics.toFixed(0)} (${increase('metrics')}); metrics and access log `
      + `${ir.on.toFixed(0)} (${increase('on')})\n`);
    for (const system of Object.values(systems)) await system.stop();
    await sim.stop();
    rmSync(work, { recursive: true, force: true });
    return;
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
