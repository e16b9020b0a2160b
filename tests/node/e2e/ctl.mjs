// ollamaflowctl from a test: where it is, its exit codes, and a runner.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CTL = join(process.env.OF_BIN_DIR || fileURLToPath(new URL('../../../build/bin', import.meta.url)), 'ollamaflowctl');
export const EXIT = { ok: 0, error: 1, usage: 2, notFound: 3, invalid: 4, conflict: 5, denied: 6, unreachable: 7 };

// Runs ollamaflowctl against url with token; resolves { code, stdout, stderr, json }
export function runCtl(url, token, args, { env = {}, json = false } = {}) {
  return new Promise((resolve) => {
    execFile(CTL, json ? ['--json', ...args] : args, {
      env: { ...process.env, OLLAMAFLOW_URL: url, OLLAMAFLOW_ADMIN_TOKEN: token, ...env },
      timeout: 30000,
    }, (error, stdout, stderr) => {
      let parsed;
      if (json) try { parsed = JSON.parse(stdout); } catch { parsed = undefined; }
      resolve({ code: error ? error.code : 0, stdout, stderr, json: parsed });
    });
  });
}
