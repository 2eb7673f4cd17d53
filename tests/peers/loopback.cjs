// node --require tests/peers/loopback.cjs: every TCP server this process starts binds 127.0.0.1.
//
// @modelcontextprotocol/server-everything calls app.listen(PORT) (express -> http.Server ->
// net.Server.listen with no host), which binds all interfaces. The e2e tests must only ever bind
// loopback, so this preload rewrites net.Server.prototype.listen: a listen with no host or an
// any-address host ("0.0.0.0", "::") becomes a listen on 127.0.0.1. Other hosts, Unix socket
// paths and handles are left alone.
"use strict";
const net = require("net");

const ANY = new Set([undefined, null, "", "0.0.0.0", "::", "::0", "[::]"]);
const orig = net.Server.prototype.listen;
const isPort = (v) => typeof v === "number" || (typeof v === "string" && /^\d+$/.test(v));

net.Server.prototype.listen = function (...args) {
  const a0 = args[0];
  if (a0 !== null && typeof a0 === "object" && !Array.isArray(a0)) {
    // listen(options[, cb]); handles ({_handle}, {handle}, {fd}) and {path} are left alone
    if (a0.path === undefined && a0.fd === undefined && a0._handle === undefined &&
        a0.handle === undefined && ANY.has(a0.host)) {
      args[0] = Object.assign({}, a0, { host: "127.0.0.1" });
    }
    return orig.apply(this, args);
  }
  if (a0 === undefined || typeof a0 === "function" || isPort(a0)) {
    // listen([port[, host[, backlog]]][, cb])
    const rest = args.slice();
    const port = isPort(rest[0]) ? Number(rest.shift()) : (rest[0] === undefined && rest.length ? (rest.shift(), 0) : 0);
    let host;
    if (typeof rest[0] === "string" || rest[0] === null || (rest[0] === undefined && rest.length)) {
      host = rest.shift();
    }
    const opts = { port, host: ANY.has(host) ? "127.0.0.1" : host };
    if (typeof rest[0] === "number") opts.backlog = rest.shift();
    const cb = typeof rest[0] === "function" ? rest[0] : undefined;
    return cb ? orig.call(this, opts, cb) : orig.call(this, opts);
  }
  return orig.apply(this, args); // listen(path[, cb]): a Unix socket
};
