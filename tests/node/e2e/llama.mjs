// Real llama.cpp llama-servers for tests: the binary and tiny model that
// scripts/llama-server.sh built (LLAMA_SERVER_BIN, LLAMA_SERVER_MODEL, set by
// tests/e2e/with-llama-server.sh), each on its own free port.
import { spawn } from 'node:child_process';
import { freePort, waitFor } from './flow.mjs';

export const LLAMA_MODEL = 'tiny';

export async function startLlamaServer({ embeddings = false, ctx = 8192, slots = 2 } = {}) {
  const bin = process.env.LLAMA_SERVER_BIN;
  const model = process.env.LLAMA_SERVER_MODEL;
  if (!bin || !model) throw new Error('LLAMA_SERVER_BIN and LLAMA_SERVER_MODEL are not set: run through tests/e2e/with-llama-server.sh');
  const port = await freePort();
  const args = ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-c', String(ctx),
    '-np', String(slots), '-t', '1', '--offline', '--alias', LLAMA_MODEL, '--slots'];
  if (embeddings) args.push('--embeddings', '--pooling', 'mean');
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (data) => { log = (log + data).slice(-20000); });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`llama-server exited: ${log}`);
    try { return (await fetch(`${url}/health`)).ok; } catch { return false; }
  }, { what: 'llama-server healthy' });
  return {
    port, url, log: () => log,
    slots: async () => (await fetch(`${url}/slots`)).json(),
    async stop() { child.kill('SIGTERM'); return exited; },
  };
}
