// Preloaded into the Portkey gateway by benchmarks/router/bench.py (node --require).
//
// 1. Loopback only: every listening TCP socket binds 127.0.0.1. @hono/node-server's
//    serve({port}) would otherwise listen on all interfaces.
// 2. Streaming workaround: Portkey 1.15.2 on Node 20 answers every `"stream": true` chat
//    request with 500 "Something went wrong" (log: `tryTargetsRecursively error: immutable
//    ... TypeError: immutable at ResponseService.updateHeaders`): it wraps the upstream fetch()
//    Response with `new Response(stream, upstreamResponse)`, which keeps fetch's immutable
//    Headers object, then appends x-portkey-* headers to it (Portkey-AI/gateway#1389, #1550;
//    the proposed fix #1551 copies the response the same way). Here, an upstream SSE response
//    is copied into a Response with mutable headers before Portkey sees it. Non-streamed
//    responses are left untouched.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'object' && args[0] !== null && !Array.isArray(args[0])) {
    if (args[0].path === undefined) args[0] = { ...args[0], host: '127.0.0.1' };
  } else if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const port = Number(args[0]);
    const rest = args.slice(1);
    if (typeof rest[0] === 'string' || rest[0] === undefined || rest[0] === null) rest.shift();
    args = [port, '127.0.0.1', ...rest];
  }
  return listen.apply(this, args);
};

const UndiciResponse = globalThis.Response;
const realFetch = globalThis.fetch;
globalThis.fetch = async function (...args) {
  const r = await realFetch.apply(this, args);
  const ct = r.headers.get('content-type') || '';
  if (!ct.startsWith('text/event-stream')) return r;
  return new UndiciResponse(r.body, {
    status: r.status,
    statusText: r.statusText,
    headers: new Headers(r.headers),
  });
};
