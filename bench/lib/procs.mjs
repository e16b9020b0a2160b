// The processes of one bench run: started with their output in log files, stopped on exit
// (normal, failure or signal), and their resident memory read from /proc.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, readdirSync, readlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
//  The end-to-end tests' helpers: free loopback ports, polling, sleeping
export { freePort, waitFor, sleep } from '../../tests/node/e2e/flow.mjs';

const STOP_GRACE_MS = 3000;
const running = new Set();

// Follows a child started elsewhere (the load generators), so that an interrupted run stops it too
export function track(child) {
  const proc = { name: 'child', child, pid: child.pid };
  running.add(proc);
  child.once('exit', () => running.delete(proc));
  child.once('error', () => running.delete(proc));
  return child;
}

// Starts a program with stdout and stderr in <dir>/<name>.log; returns {name, child, pid, log, exited}.
// env is added to the bench's environment, or to replaceEnv when given
export function start(dir, name, program, args, { env = {}, replaceEnv = process.env } = {}) {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(program, args, { stdio: ['ignore', fd, fd], env: { ...replaceEnv, ...env } });
  closeSync(fd);
  const proc = { name, child, pid: child.pid, log };
  proc.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    running.delete(proc);
    resolve({ code, signal });
  }));
  child.once('error', () => running.delete(proc));
  running.add(proc);
  return proc;
}

export const alive = (proc) => proc.child.exitCode === null && proc.child.signalCode === null;

// SIGTERM, then SIGKILL after a grace period; waits for the end
export async function stop(proc) {
  if (!proc || !running.has(proc)) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), STOP_GRACE_MS);
  await proc.exited;
  clearTimeout(timer);
}

export async function stopAll(procs) {
  await Promise.all(procs.map((proc) => stop(proc)));
}

// Last resort on exit: every process still running gets SIGKILL, synchronously
export function killEverything() {
  for (const proc of running) {
    try { proc.child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  running.clear();
}

export function tail(proc, bytes = 2000) {
  try {
    const text = readFileSync(proc.log, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '';
  }
}

// The pids whose parent is pid (nginx's workers)
export function children(pid) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) found.push(Number(entry));
    } catch { /* gone */ }
  }
  return found;
}

// True if the process holds a TCP socket listening on port: a LISTEN line (st 0A) of its
// /proc/PID/net/tcp or tcp6 whose inode is one of its descriptors (as the launcher tells that
// every ingress worker listens: one that does answers connections for all)
export function listening(pid, port) {
  const inodes = new Set();
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try { text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1].split(':').pop(), 16) === port) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try { return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]); } catch { return false; }
    });
  } catch {
    return false;
  }
}

// CPU time a process has used (user + system), in seconds; 0 when it is gone
export const CLOCK_TICKS_PER_S = 100;
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return 0;
  }
}

// Resident set size of one process in kB (0 when it is gone)
export function rssKb(pid) {
  const file = `/proc/${pid}/status`;
  if (!existsSync(file)) return 0;
  const match = /VmRSS:\s+(\d+)/.exec(readFileSync(file, 'utf8'));
  return match ? Number(match[1]) : 0;
}
