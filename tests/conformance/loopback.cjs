// node --require tests/conformance/loopback.cjs: every TCP server the conformance suite starts
// binds 127.0.0.1.
//
// The suite's scenario servers call server.listen(0) and read server.address() right after it,
// which only works because a listen without a host binds synchronously (on every interface).
// tests/peers/loopback.cjs turns that into listen({host: "127.0.0.1"}), which resolves the host
// first and so binds a tick later: address() is then null and the scenario cannot start. Here
// the socket is bound to 127.0.0.1 synchronously (a TCP handle from tcp_wrap, as net does it
// itself) and handed to listen(), which takes it at once. Listens with a host or a path are
// left alone.
"use strict";
const net = require("net");
const { TCP, constants } = process.binding("tcp_wrap");

const orig = net.Server.prototype.listen;
const isPort = (v) => typeof v === "number" || (typeof v === "string" && /^\d+$/.test(v));

net.Server.prototype.listen = function (...args) {
  const a0 = args[0];
  if (a0 === undefined || typeof a0 === "function" ||
      (isPort(a0) && (args.length < 2 || typeof args[1] === "function"))) {
    const cb = args.find((a) => typeof a === "function");
    const handle = new TCP(constants.SERVER);
    const err = handle.bind("127.0.0.1", isPort(a0) ? Number(a0) : 0);
    if (err) throw new Error(`loopback.cjs: binding 127.0.0.1:${a0 || 0} failed (${err})`);
    return cb ? orig.call(this, { handle }, cb) : orig.call(this, { handle });
  }
  return orig.apply(this, args);
};
