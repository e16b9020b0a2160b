// The admin API from a test: requests with or without the token, and a flow set up for them.
import { startFlow, waitFor } from './flow.mjs';

export const TOKEN = 'admin-token-1';
export const OTHER_TOKEN = 'admin-token-2';

// One admin request; resolves { status, headers, json, text }. token: null sends none.
export async function admin(flow, method, path, { body, token = TOKEN, replica = 0, raw } = {}) {
  const headers = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${flow.url(replica)}/v1.0${path}`, {
    method, headers, body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: response.status, headers: response.headers, json, text };
}

// A flow with admin tokens, backends a and b (a with secrets) and frontend main on a
export async function startAdminFlow({ replicas = 1, frontends, backends, fleet, settings = {} } = {}) {
  const flow = await startFlow({
    replicas,
    fleet: fleet ?? { host: '127.0.0.1', defaults: { decode_rate: 0, load_ms: 1, parallel: 8 },
      backends: [{ name: 'a', models: ['llama3.2', 'all-minilm'] }, { name: 'b', models: ['llama3.2', 'all-minilm'] }] },
    backends: backends ?? ((sim) => [
      { Identifier: 'a', Hostname: '127.0.0.1', Port: sim.port('a'), HealthyThreshold: 1,
        BearerToken: 'secret-a', Headers: { 'X-Key': 'hidden' }, MaxParallelRequests: 8 },
      { Identifier: 'b', Hostname: '127.0.0.1', Port: sim.port('b'), HealthyThreshold: 1, MaxParallelRequests: 8 },
    ]),
    frontends: frontends ?? [{ Identifier: 'main', Hostname: '*', Backends: ['a'], UseStickySessions: true }],
    settings: { AdminBearerTokens: [TOKEN, OTHER_TOKEN], ...settings },
  });
  for (let replica = 0; replica < replicas; replica++)
    await waitFor(async () => (await admin(flow, 'GET', '/frontends', { replica })).status === 200,
      { what: 'the admin API' });
  return flow;
}
