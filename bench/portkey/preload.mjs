// Preloaded into Portkey's gateway (node --import) by bench/lib/systems.mjs, for two things its
// start-server.js cannot be told:
// - it listens on every interface, with no option for an address: every listen() given no host
//   gets 127.0.0.1, so that the bench never opens a port beyond loopback;
// - on Node 20 every streamed answer fails ("TypeError: immutable" in updateHeaders: it adds its
//   x-portkey-* headers to the upstream fetch() response, whose headers are immutable; upstream
//   Portkey-AI/gateway issues 1389 and 1550): fetch() answers with a copy whose headers are not
//   (the body is the same stream, not copied). The stream keeps the original answer reachable:
//   Node cancels the body of a fetch() answer that is garbage collected before it is read.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number') args.splice(1, typeof args[1] === 'string' ? 1 : 0, '127.0.0.1');
  else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined && !args[0].host)
    args[0] = { ...args[0], host: '127.0.0.1' };
  return listen.apply(this, args);
};

const nativeFetch = globalThis.fetch;
const NativeResponse = globalThis.Response;
const ORIGINAL = Symbol('the fetch() answer');
globalThis.fetch = async (...args) => {
  const response = await nativeFetch(...args);
  if (response.body) Object.defineProperty(response.body, ORIGINAL, { value: response });
  return new NativeResponse(response.body, {
    status: response.status, statusText: response.statusText, headers: new Headers(response.headers),
  });
};
