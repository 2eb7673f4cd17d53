#!/usr/bin/env python3
"""A scriptable fake MCP server: the things real MCP servers never do, on demand.

hermetic's MCP client is proven against real servers from npm (tests/peers/) and against this
fake for the edge cases: answers in ``application/json`` instead of SSE, ``tools/list`` paging
with ``nextCursor``, a stateless server, sessions that expire (404), tool calls that never
answer, garbage and over-cap answers, ``notifications/tools/list_changed`` on the GET stream,
server-initiated pings. It records every request so tests can check what the client sent
(``Accept``, ``MCP-Protocol-Version``, ``Mcp-Session-Id``, ids never reused,
``notifications/cancelled``) and refuses, as the Python SDK does, a request other than ping on
a session before ``notifications/initialized`` reached it (``initialized_delay`` holds that
notification's 202 back, so a client that does not wait for it is caught). Python 3.11 standard library only.

In a test (Streamable HTTP on 127.0.0.1, ephemeral port)::

    from fakes.fake_mcp import FakeMcp, tool
    with FakeMcp(page_size=2, answer="json") as fake:
        ...  # point hermetic at fake.url ("http://127.0.0.1:PORT/mcp")
        assert fake.violations == []
        assert fake.cancelled == [7]

As a process::

    python3 tests/fakes/fake_mcp.py --port 0 --port-file /tmp/port --page-size 2
    python3 tests/fakes/fake_mcp.py --stdio --early-notifications --stderr-lines 3 \\
        --record /tmp/rec.jsonl --ignore-sigterm --pid-file /tmp/pid
    python3 tests/fakes/fake_mcp.py --record /tmp/rec.jsonl --exec node server.js stdio
    python3 tests/fakes/fake_mcp.py --legacy-sse --path /sse --port 0 --port-file /tmp/port

stdio faults: ``--close-stdin-after-list`` (closes fd 0 as tools/list arrives, then answers it
and stays alive: the client's next write gets EPIPE), ``--hang-initialize`` (never answers initialize),
``--initialize-delay S`` (answers initialize after S seconds, a slow start),
``--session-lost-once FILE`` (the first tools/call gets -32001 "Session not found", as a bridge
passes it on; once per FILE, so a restarted server answers), ``--stderr-exit STATUS`` (exits
right after ``--stderr-lines``, as a server with a bad argument does).

HTTP mode prints ``listening on http://127.0.0.1:PORT/mcp`` and serves until SIGTERM/SIGINT.

Tools
-----
A tool is a dict: ``name``, ``description``, ``inputSchema`` (what ``tools/list`` shows) and
``kind`` (what ``tools/call`` does; default ``echo``), plus options of that kind. ``tool(name,
kind, **options)`` builds one; ``DEFAULT_TOOLS`` has one tool per kind, named after it.

``echo``            text ``fake echo: <arguments.message>``
``fixed``           answers ``result`` verbatim (a ``{content, isError?, structuredContent?}``)
``rpc_error``       JSON-RPC error ``code`` (default -32001), ``message`` (default "custom failure")
``tool_error``      ``isError: true`` with text ``text`` (default "it broke")
``hang``            never answers (HTTP: until the client closes the connection; the time it did
                    is recorded in ``fake.hangs``); stdio: never
``slow``            sleeps ``arguments.seconds`` (or the tool's ``seconds``), then answers;
                    stdio with the option ``hold_output: true``: sleeps holding stdout, so
                    nothing else (a ping's answer) goes out meanwhile, as from a server stuck
                    in the middle of a write
``garbage``         HTTP 200 ``application/json`` whose body is not JSON (stdio: a non-JSON line)
``invalid_jsonrpc`` a JSON object with the request's id but neither ``result`` nor ``error``
``duplicate``       a result whose ``content`` member appears twice (first "first", then
                    "second"): JSON that is not I-JSON (RFC 7493), read differently by parsers
``http_status``     HTTP ``status`` (default 500) with a text/plain body (stdio: garbage)
``huge``            an answer of ``bytes`` (default 32 MiB) bytes: one JSON body, or with
                    ``sse: true`` (option or argument) one SSE event; stdio: one line,
                    spread evenly over the option ``seconds`` if given (nothing else goes
                    out until it ends, as from a single-threaded server writing a long answer)
``big_text``        a text block of ``arguments.bytes`` bytes of UTF-8 made of ``arguments.unit``
                    (default ``"é"``), for truncation tests
``ping``            answers over SSE: first a ``ping`` request to the client, then (after the
                    client's answer, or 5 s) the result ``pong: ok`` / ``pong: none``
``sse_mixed``       answers over SSE with CRLF lines, a ``:`` comment, an empty priming event,
                    a ``notifications/message`` and the result as multi-line ``data:``
``crash``           HTTP: closes the connection without an answer; stdio: exits 3
``env``             text: the server's environment as JSON
``swap_tools``      replaces the tool list with ``tools`` (option) and sends
                    ``notifications/tools/list_changed`` (HTTP: on GET streams), then answers
                    "swapped"

Protocol
--------
``initialize`` answers ``protocol_version`` if set, else the client's version if it is one of
``SUPPORTED_VERSIONS``, else the newest. HTTP: a session id (``Mcp-Session-Id``) is given unless
``stateless``; later requests without it get 400, with an unknown one 404 (``text/plain``);
``expire_after=N`` drops the first session to reach N POSTs carrying its id, once (the next
POST gets 404, as after a server restart);
``expire_sessions()`` drops all now (and closes their GET streams). How an unknown session is
answered is ``unknown_session``: ``404`` (text/plain, the default), ``404-jsonrpc`` (the SDK's
-32001 "Session not found"), ``400-jsonrpc`` (the SDK examples' -32000 "No valid session ID"),
``200-rpc-error`` (a JSON-RPC error for the request's id, as a bridge passes it on).
``legacy_sse=True`` serves the legacy HTTP+SSE transport instead: ``GET <path>`` is the event
stream whose first event is ``endpoint`` (``/messages?sessionId=...``), POSTs there get 202 and
their answers on the stream, and anything else (a Streamable HTTP POST to ``<path>``) gets
Express's HTML 404 page, as the SDK's Express servers answer. Notifications and client
responses get 202. ``GET`` opens an SSE stream for server messages (405 with
``get_stream=False``), ``DELETE`` ends the session (``delete_status``, default 200).

``fake.violations`` lists what the client got wrong, checked on every request: Accept without
both ``application/json`` and ``text/event-stream``, a missing or wrong ``MCP-Protocol-Version``
after initialize, an ``Mcp-Session-Id`` sent to a stateless server, a request id reused within a
session, a batch, a request before ``initialize``.

Control (not recorded): ``GET /_fake/requests``, ``GET /_fake/state``, ``POST /_fake/tools``
(``{"tools": [...], "notify": true}``), ``POST /_fake/expire``, ``POST /_fake/notify`` (a
message for the GET streams), ``POST /_fake/reset``.

Records (``fake.requests``): ``method``, ``path``, ``headers`` (lower-case keys), ``body``
(parsed JSON or None), ``raw`` (first 4 KiB), ``time``, ``monotonic``, ``status`` (answered),
``session`` (the session the request was for). ``fake.messages`` are the JSON-RPC messages of
the POSTs, ``fake.methods()`` their methods.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import queue
import select
import signal
import socket
import socketserver
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
try:
    from fakes.served import Served, TrackedHandler, serve_until_signal
except ImportError:  # run as a script from tests/fakes
    from served import Served, TrackedHandler, serve_until_signal
from urllib.parse import urlsplit

SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST = SUPPORTED_VERSIONS[0]
HUGE_BYTES = 32 * 1024 * 1024
SERVER_INFO = {"name": "fake_mcp", "version": "1.0.0"}
ECHO_SCHEMA = {"type": "object", "properties": {"message": {"type": "string"}}}
EMPTY_SCHEMA = {"type": "object", "properties": {}}

KINDS = ("echo", "fixed", "rpc_error", "tool_error", "hang", "slow", "garbage",
         "invalid_jsonrpc", "http_status", "huge", "big_text", "ping", "sse_mixed", "crash",
         "env", "swap_tools", "duplicate")
_PUBLIC = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")


def tool(name, kind="echo", description=None, input_schema=None, **options) -> dict:
    """A tool of ``kind`` (see the module docstring); ``options`` are the kind's options."""
    if kind not in KINDS:
        raise ValueError(f"unknown tool kind {kind!r} (one of {KINDS})")
    t = {"name": name, "kind": kind,
         "description": description if description is not None else f"fake {kind} tool",
         "inputSchema": input_schema or (ECHO_SCHEMA if kind == "echo" else EMPTY_SCHEMA)}
    t.update(options)
    return t


DEFAULT_TOOLS = [tool(k, k) for k in KINDS if k not in ("fixed", "swap_tools")]


def public(t: dict) -> dict:
    return {k: t[k] for k in _PUBLIC if k in t}


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def text_result(text, is_error=False) -> dict:
    r = {"content": [{"type": "text", "text": text}]}
    if is_error:
        r["isError"] = True
    return r


class Special:
    """A tools/call outcome the transport must act out (no plain JSON-RPC result)."""

    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)


class Logic:
    """Transport-independent MCP server state: tools, paging, version negotiation."""

    def __init__(self, tools=None, page_size=None, protocol_version=None,
                 early_notifications=False):
        self.lock = threading.RLock()
        self.tools = copy.deepcopy(list(tools if tools is not None else DEFAULT_TOOLS))
        self.page_size = page_size
        self.protocol_version = protocol_version
        self.early_notifications = early_notifications
        self.cursors = []  # every cursor a tools/list asked for (None = first page)

    def negotiate(self, params) -> str:
        if self.protocol_version:
            return self.protocol_version
        v = (params or {}).get("protocolVersion")
        return v if v in SUPPORTED_VERSIONS else LATEST

    def initialize_result(self, params) -> dict:
        return {"protocolVersion": self.negotiate(params),
                "capabilities": {"tools": {"listChanged": True}, "logging": {}},
                "serverInfo": SERVER_INFO,
                "instructions": "A fake MCP server for hermetic's tests."}

    def list_tools(self, params) -> dict:
        cursor = (params or {}).get("cursor")
        with self.lock:
            self.cursors.append(cursor)
            tools = [public(t) for t in self.tools]
        if not self.page_size:
            return {"tools": tools}
        start = 0
        if cursor is not None:
            if not (isinstance(cursor, str) and cursor.startswith("page-")):
                raise ValueError(f"invalid cursor {cursor!r}")
            start = int(cursor[5:])
        page = tools[start:start + self.page_size]
        out = {"tools": page}
        if start + self.page_size < len(tools):
            out["nextCursor"] = f"page-{start + self.page_size}"
        return out

    def find(self, name):
        with self.lock:
            for t in self.tools:
                if t["name"] == name:
                    return t
        return None

    def set_tools(self, tools):
        with self.lock:
            self.tools = copy.deepcopy(list(tools))

    def call(self, params):
        """A result dict, ("error", code, message) or a Special."""
        params = params or {}
        name = params.get("name")
        args = params.get("arguments") or {}
        t = self.find(name)
        if t is None:
            return ("error", -32602, f"Unknown tool: {name}")
        kind = t.get("kind", "echo")
        if kind == "echo":
            return text_result(f"fake echo: {args.get('message', '')}")
        if kind == "fixed":
            return copy.deepcopy(t["result"])
        if kind == "rpc_error":
            return ("error", t.get("code", -32001), t.get("message", "custom failure"))
        if kind == "tool_error":
            return text_result(t.get("text", "it broke"), is_error=True)
        if kind == "slow":
            return Special("slow", seconds=float(args.get("seconds", t.get("seconds", 1))),
                           hold=bool(t.get("hold_output")), result=text_result("slept"))
        if kind == "big_text":
            unit = args.get("unit", t.get("unit", "é"))
            n = int(args.get("bytes", t.get("bytes", 100000)))
            ub = len(unit.encode())
            s = unit * (n // ub) + "x" * (n % ub)
            return text_result(s)
        if kind == "env":
            return text_result(_dumps(dict(os.environ)))
        if kind == "swap_tools":
            self.set_tools(t.get("tools", []))
            return Special("swap_tools", result=text_result("swapped"))
        if kind in ("hang", "garbage", "invalid_jsonrpc", "http_status", "huge", "ping",
                    "sse_mixed", "crash", "duplicate"):
            return Special(kind, tool=t, args=args)
        return ("error", -32603, f"fake_mcp: kind {kind} not handled")


def duplicate_answer(rid) -> str:
    """A result with ``content`` twice: Python's json keeps the second, cJSON the first."""
    return ('{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"first"}],'
            '"content":[{"type":"text","text":"second"}]}}' % _dumps(rid))


def _response(rid, outcome) -> dict:
    if isinstance(outcome, tuple) and outcome and outcome[0] == "error":
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": outcome[1], "message": outcome[2]}}
    return {"jsonrpc": "2.0", "id": rid, "result": outcome}


class Headers(dict):
    """A JSON-serialisable header dict with case-insensitive lookups (lower-case keys)."""

    def __init__(self, items=()):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)


# ---------------------------------------------------------------------------
# Streamable HTTP
# ---------------------------------------------------------------------------

# How a server answers a request for a session it does not know (it restarted, or expired it):
# the spec's 404 (plain, or the TypeScript SDK's 404 with JSON-RPC -32001 "Session not found"),
# the SDK examples' 400 "Bad Request: No valid session ID provided" (-32000), or, what a bridge
# passes on, HTTP 200 with a JSON-RPC error for the request's own id.
def _rpc_err(rid, code, message):
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


UNKNOWN_SESSION = {
    "404": lambda rec: (404, "session not found\n", "text/plain"),
    "404-jsonrpc": lambda rec: (404, _rpc_err(None, -32001, "Session not found")),
    "400-jsonrpc": lambda rec: (400, _rpc_err(
        None, -32000, "Bad Request: No valid session ID provided")),
    "200-rpc-error": lambda rec: (200, _rpc_err(
        (rec["body"] or {}).get("id") if isinstance(rec["body"], dict) else None, -32001,
        "Session not found: No valid session ID")),
}

# Express's answer to a route it does not have (legacy SSE servers built on it answer a POST to
# their /sse URL with this page).
EXPRESS_404 = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
               '<title>Error</title>\n</head>\n<body>\n<pre>Cannot %s %s</pre>\n</body>\n'
               '</html>\n')


class _Session:
    def __init__(self, sid, version):
        self.id = sid
        self.version = version
        self.count = 0
        self.ids = set()
        self.streams = []  # queues of open GET streams
        self.initialized = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, fake):
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, _Aborted)) or self.fake.closing:
            return
        super().handle_error(request, client_address)


class _Aborted(Exception):
    pass


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake_mcp/1"
    disable_nagle_algorithm = True

    @property
    def fake(self) -> "FakeMcp":
        return self.server.fake

    def finish(self):
        try:
            super().finish()  # TrackedHandler's: the connection is forgotten either way
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002
        if self.fake.verbose:
            sys.stderr.write(f"fake_mcp: {self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body=b"", ctype="application/json", headers=None):
        if not isinstance(body, (bytes, str)):
            body = _dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if body or status not in (202, 204):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _sse_start(self, headers=None):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.close_connection = True

    def _sse(self, data, event=None, eol="\n"):
        out = ""
        if event:
            out += f"event: {event}{eol}"
        for line in (data if isinstance(data, str) else _dumps(data)).split("\n"):
            out += f"data: {line}{eol}"
        self.wfile.write((out + eol).encode())
        self.wfile.flush()

    def _client_gone(self, timeout) -> bool:
        """True when the client closed its end (waits up to `timeout` for that)."""
        try:
            r, _, _ = select.select([self.connection], [], [], timeout)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    # -- dispatch --

    def do_GET(self):
        path = urlsplit(self.path).path
        if path.startswith("/_fake/"):
            return self._control("GET", path)
        if self.fake.legacy_sse:
            return self._legacy_get(path)
        if path != self.fake.path:
            return self._send(404, "not found\n", "text/plain")
        rec = self.fake._record(self, b"")
        sess, err = self.fake._session_for(self, rec, is_init=False)
        if err:
            rec["status"] = err[0]
            return self._send(*err)
        if "text/event-stream" not in (self.headers.get("Accept") or ""):
            self.fake._violation("GET without Accept: text/event-stream")
        if not self.fake.get_stream:
            rec["status"] = 405
            return self._send(405, "GET not supported\n", "text/plain", {"Allow": "POST, DELETE"})
        rec["status"] = 200
        q = queue.Queue()
        self.fake._add_stream(sess, q)
        try:
            self._sse_start()
            self.wfile.write(b": stream open\n\n")
            self.wfile.flush()
            while not self.fake.closing:
                try:
                    msg = q.get(timeout=0.2)
                except queue.Empty:
                    if self._client_gone(0):
                        return
                    continue
                if msg is None:
                    return  # the session ended: close the stream
                self._sse(msg, event="message")
        except OSError:
            pass
        finally:
            self.fake._remove_stream(sess, q)

    def do_DELETE(self):
        path = urlsplit(self.path).path
        if path != self.fake.path:
            return self._send(404, "not found\n", "text/plain")
        rec = self.fake._record(self, b"")
        sess, err = self.fake._session_for(self, rec, is_init=False)
        if err:
            rec["status"] = err[0]
            return self._send(*err)
        self.fake._end_session(sess)
        rec["status"] = self.fake.delete_status
        return self._send(self.fake.delete_status, b"", "text/plain")

    def do_POST(self):
        path = urlsplit(self.path).path
        raw = self._read_body()
        if path.startswith("/_fake/"):
            return self._control("POST", path, raw)
        if self.fake.legacy_sse:
            return self._legacy_post(path, raw)
        if path != self.fake.path:
            return self._send(404, "not found\n", "text/plain")
        rec = self.fake._record(self, raw)
        msg = rec["body"]
        if isinstance(msg, list):
            self.fake._violation("client sent a JSON-RPC batch")
            rec["status"] = 400
            return self._send(400, {"jsonrpc": "2.0", "id": None,
                                    "error": {"code": -32600, "message": "no batches"}})
        if not isinstance(msg, dict):
            rec["status"] = 400
            return self._send(400, {"jsonrpc": "2.0", "id": None,
                                    "error": {"code": -32700, "message": "Parse error"}})
        accept = self.headers.get("Accept") or ""
        if "application/json" not in accept or "text/event-stream" not in accept:
            self.fake._violation(f"POST Accept is {accept!r}")
        method = msg.get("method")
        is_init = method == "initialize"
        sess, err = self.fake._session_for(self, rec, is_init=is_init)
        if err:
            rec["status"] = err[0]
            return self._send(*err)
        rid = msg.get("id")
        if method is None:  # a response from the client (to our ping)
            self.fake._client_response(msg)
            rec["status"] = 202
            return self._send(202)
        if rid is None:  # a notification
            if method == "notifications/initialized" and self.fake.initialized_delay:
                self.fake._stop.wait(self.fake.initialized_delay)
            self.fake._notification(sess, msg)
            rec["status"] = 202
            return self._send(202)
        self.fake._check_id(sess, rid)
        if sess is not None and not sess.initialized and method != "ping":
            # as the Python SDK's ServerSession: only pings before the client said it is ready
            self.fake._violation(f"{method} before notifications/initialized")
            rec["status"] = 200
            return self._answer(_response(rid, (
                "error", -32600, "Received request before initialization was complete")))
        if is_init:
            result = self.fake.logic.initialize_result(msg.get("params"))
            headers = {}
            if not self.fake.stateless:
                sess = self.fake._new_session(result["protocolVersion"])
                headers["Mcp-Session-Id"] = sess.id
                rec["session"] = sess.id
            else:
                self.fake.stateless_version = result["protocolVersion"]
            rec["status"] = 200
            return self._answer(_response(rid, result), headers)
        if method == "ping":
            rec["status"] = 200
            return self._answer(_response(rid, {}))
        if method == "tools/list":
            try:
                res = self.fake.logic.list_tools(msg.get("params"))
            except ValueError as e:
                res = ("error", -32602, str(e))
            rec["status"] = 200
            return self._answer(_response(rid, res))
        if method == "tools/call":
            return self._tools_call(rec, sess, rid, msg.get("params"))
        rec["status"] = 200
        return self._answer(_response(rid, ("error", -32601, f"Method not found: {method}")))

    def _answer(self, obj, headers=None):
        if self.fake.answer == "sse":
            self._sse_start(headers)
            self._sse(obj, event="message")
        else:
            self._send(200, obj, "application/json", headers)

    def _tools_call(self, rec, sess, rid, params):
        out = self.fake.logic.call(params)
        rec["status"] = 200
        if not isinstance(out, Special):
            return self._answer(_response(rid, out))
        k = out.kind
        if k == "slow":
            if self.fake._stop.wait(out.seconds):
                raise _Aborted()
            return self._answer(_response(rid, out.result))
        if k == "swap_tools":
            self._answer(_response(rid, out.result))
            self.fake.notify_streams({"jsonrpc": "2.0",
                                      "method": "notifications/tools/list_changed"})
            return None
        if k == "hang":
            h = {"id": rid, "started": time.monotonic(), "closed": None}
            with self.fake.lock:
                self.fake.hangs[rid] = h
            rec["status"] = None
            while not self.fake.closing:
                if self._client_gone(0.1):
                    h["closed"] = time.monotonic()
                    break
            self.close_connection = True
            raise _Aborted()
        if k == "garbage":
            return self._send(200, "this is not json {", "application/json")
        if k == "invalid_jsonrpc":
            return self._send(200, {"jsonrpc": "2.0", "id": rid, "bogus": True})
        if k == "duplicate":
            return self._send(200, duplicate_answer(rid), "application/json")
        if k == "http_status":
            st = int(out.tool.get("status", 500))
            rec["status"] = st
            return self._send(st, out.tool.get("body", "fake_mcp: internal error\n"),
                              "text/plain")
        if k == "crash":
            self.close_connection = True
            raise _Aborted()
        if k == "huge":
            return self._huge(rid, out)
        if k == "ping":
            return self._ping(rid)
        if k == "sse_mixed":
            self._sse_start()
            eol = "\r\n"
            w = self.wfile.write
            w(f": a comment line{eol}{eol}".encode())
            w(f"id: prime-1{eol}data:{eol}{eol}".encode())  # empty priming event
            w(f"retry: 1000{eol}".encode())
            self._sse({"jsonrpc": "2.0", "method": "notifications/message",
                       "params": {"level": "info", "data": "working"}}, "message", eol)
            body = json.dumps(_response(rid, text_result("mixed ok")), indent=1)
            self._sse(body, "message", eol)  # multi-line data: joined with \n
            return None
        raise AssertionError(k)

    def _huge(self, rid, out):
        n = int(out.tool.get("bytes", HUGE_BYTES))
        as_sse = bool(out.args.get("sse", out.tool.get("sse", False)))
        head = ('{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"'
                % _dumps(rid)).encode()
        tail = b'"}]}}'
        fill = n - len(head) - len(tail)
        block = b"A" * 65536
        try:
            if as_sse:
                self._sse_start()
                self.wfile.write(b"event: message\ndata: " + head)
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(head) + fill + len(tail)))
                self.end_headers()
                self.wfile.write(head)
            left = fill
            while left > 0 and not self.fake.closing:
                chunk = block if left >= len(block) else block[:left]
                self.wfile.write(chunk)
                left -= len(chunk)
            self.wfile.write(tail + (b"\n\n" if as_sse else b""))
            self.wfile.flush()
            with self.fake.lock:
                self.fake.huge_sent.append(n)
        except OSError:
            with self.fake.lock:
                self.fake.huge_sent.append(-1)  # the client hung up midway: fine
            self.close_connection = True

    def _ping(self, rid):
        pid = f"srv-ping-{uuid.uuid4().hex[:8]}"
        ev = threading.Event()
        with self.fake.lock:
            self.fake._ping_waiters[pid] = ev
            self.fake.pings_sent.append(pid)
        self._sse_start()
        self._sse({"jsonrpc": "2.0", "id": pid, "method": "ping"}, "message")
        ok = ev.wait(5)
        self._sse(_response(rid, text_result("pong: ok" if ok else "pong: none")), "message")

    # -- legacy HTTP+SSE (2024-11-05) --

    def _express_404(self, method, path):
        return self._send(404, EXPRESS_404 % (method, path), "text/html; charset=utf-8")

    def _legacy_get(self, path):
        if path != self.fake.path:
            return self._express_404("GET", path)
        rec = self.fake._record(self, b"")
        rec["status"] = 200
        sid = uuid.uuid4().hex
        q = queue.Queue()
        with self.fake.lock:
            self.fake.legacy_streams[sid] = q
        try:
            self._sse_start()
            self._sse(f"/messages?sessionId={sid}", event="endpoint")
            while not self.fake.closing:
                try:
                    msg = q.get(timeout=0.2)
                except queue.Empty:
                    if self._client_gone(0):
                        return
                    continue
                self._sse(msg, event="message")
        except OSError:
            pass
        finally:
            with self.fake.lock:
                self.fake.legacy_streams.pop(sid, None)

    def _legacy_post(self, path, raw):
        rec = self.fake._record(self, raw)
        if path != "/messages":
            rec["status"] = 404
            return self._express_404("POST", path)
        sid = dict(p.split("=", 1) for p in urlsplit(self.path).query.split("&") if "=" in p
                   ).get("sessionId")
        with self.fake.lock:
            q = self.fake.legacy_streams.get(sid)
        if q is None:
            rec["status"] = 400
            return self._send(400, "No transport found for sessionId", "text/plain")
        msg = rec["body"]
        rec["status"] = 202
        self._send(202, "Accepted", "text/plain")
        if not isinstance(msg, dict) or "method" not in msg or "id" not in msg:
            return None
        method, params, rid = msg["method"], msg.get("params"), msg["id"]
        if method == "initialize":
            res = self.fake.logic.initialize_result(params)
        elif method == "ping":
            res = {}
        elif method == "tools/list":
            res = self.fake.logic.list_tools(params)
        elif method == "tools/call":
            res = self.fake.logic.call(params)
            if isinstance(res, Special):
                res = ("error", -32603, f"{res.kind} is not acted out over legacy SSE")
        else:
            res = ("error", -32601, f"Method not found: {method}")
        q.put(_response(rid, res))
        return None

    # -- control --

    def _control(self, method, path, raw=b""):
        f = self.fake
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            return self._send(400, {"error": "body is not JSON"})
        if method == "GET" and path == "/_fake/requests":
            return self._send(200, f.requests)
        if method == "GET" and path == "/_fake/state":
            return self._send(200, f.state())
        if method == "POST" and path == "/_fake/tools":
            f.set_tools((data or {}).get("tools", []), notify=(data or {}).get("notify", True))
            return self._send(200, {"ok": True})
        if method == "POST" and path == "/_fake/expire":
            return self._send(200, {"expired": f.expire_sessions()})
        if method == "POST" and path == "/_fake/notify":
            return self._send(200, {"streams": f.notify_streams(data)})
        if method == "POST" and path == "/_fake/reset":
            f.reset()
            return self._send(200, {"ok": True})
        return self._send(404, {"error": f"no control endpoint {method} {path}"})


class FakeMcp(Served):
    """The Streamable HTTP fake (see the module docstring)."""

    def __init__(self, host="127.0.0.1", port=0, *, tools=None, page_size=None,
                 stateless=False, answer="json", protocol_version=None, expire_after=None,
                 get_stream=True, delete_status=200, path="/mcp", verbose=False,
                 unknown_session="404", legacy_sse=False, initialized_delay=0.0):
        if answer not in ("json", "sse"):
            raise ValueError("answer is 'json' or 'sse'")
        if unknown_session not in UNKNOWN_SESSION:
            raise ValueError(f"unknown_session is one of {tuple(UNKNOWN_SESSION)}")
        self.unknown_session = unknown_session
        self.legacy_sse = legacy_sse
        # seconds the 202 to notifications/initialized takes (the session counts as
        # initialized only then): a client that does not wait for it sends tools/list early
        self.initialized_delay = initialized_delay
        self.legacy_streams = {}  # legacy SSE: session id -> queue of its stream
        self.logic = Logic(tools, page_size, protocol_version)
        self.stateless = stateless
        self.answer = answer
        self.expire_after = expire_after
        self.get_stream = get_stream
        self.delete_status = delete_status
        self.path = path
        self.verbose = verbose
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._stop = threading.Event()
        self.sessions = {}
        self.ended_sessions = []
        self.stateless_version = None
        self._stateless_streams = []
        self.reset()
        self._server = _Server((host, port), self)
        self._thread = None

    def reset(self):
        with self.lock:
            self.requests = []
            self.violations = []
            self.cancelled = []
            self.hangs = {}
            self.huge_sent = []
            self.pings_sent = []
            self.ping_answers = []
            self._ping_waiters = {}
            self.not_found = 0  # 404s answered for unknown sessions
            self.discovers = 0  # server/discover probes refused (a 2025-era server)
            self.logic.cursors.clear()

    # -- lifecycle --

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def closing(self):
        return self._stop.is_set()

    def _closing(self):
        self._stop.set()


    # -- recording and checks --

    def _record(self, h, raw):
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = {"method": h.command, "path": h.path, "headers": Headers(h.headers.items()),
               "body": body, "raw": raw[:4096].decode("utf-8", "replace"), "time": time.time(),
               "monotonic": time.monotonic(), "status": None, "session": None,
               "peer": "%s:%s" % h.client_address[:2]}
        with self.lock:
            self.requests.append(rec)
            self.changed.notify_all()
        return rec

    def _violation(self, what):
        with self.lock:
            self.violations.append(what)

    def _session_for(self, h, rec, is_init):
        """(session or None, error tuple for _send or None)."""
        sid = h.headers.get("Mcp-Session-Id")
        pv = h.headers.get("MCP-Protocol-Version")
        body = rec["body"]
        if isinstance(body, dict) and body.get("method") == "server/discover" and not sid:
            # The 2026-07-28 revision's probe, which a client offering both revisions sends
            # first: this 2025-era server refuses it the way the TypeScript SDK v1 does.
            self.discovers += 1
            return None, (400, {"jsonrpc": "2.0", "id": None, "error": {
                "code": -32000, "message": "Bad Request: Server not initialized"}})
        if self.stateless:
            if sid:
                self._violation(f"Mcp-Session-Id {sid!r} sent to a stateless server")
            if not is_init and self.stateless_version and pv != self.stateless_version:
                self._violation(f"MCP-Protocol-Version {pv!r}, negotiated "
                                f"{self.stateless_version!r}")
            if not is_init and self.stateless_version is None and h.command == "POST":
                body = rec["body"]
                if isinstance(body, dict) and "id" in body and "method" in body:
                    self._violation(f"{body['method']} before initialize")
            return None, None
        if is_init:
            if sid:
                self._violation(f"initialize carried Mcp-Session-Id {sid!r}")
            return None, None
        if not sid:
            self._violation(f"{h.command} without Mcp-Session-Id")
            return None, (400, {"jsonrpc": "2.0", "id": None, "error": {
                "code": -32000, "message": "Bad Request: Mcp-Session-Id header is required"}})
        with self.lock:
            sess = self.sessions.get(sid)
            # POSTs only: the client's GET stream may come before or after a call, and a
            # count that depended on that order would make the expiry land at random.
            if sess is not None and self.expire_after is not None and h.command == "POST":
                sess.count += 1
                if sess.count > self.expire_after:
                    self._end_session(sess)
                    sess = None
                    self.expire_after = None  # once, as a server restart
            if sess is None:
                self.not_found += 1
                rec["session"] = sid
                return None, UNKNOWN_SESSION[self.unknown_session](rec)
        rec["session"] = sid
        if pv != sess.version:
            self._violation(f"{h.command} with MCP-Protocol-Version {pv!r}, negotiated "
                            f"{sess.version!r}")
        return sess, None

    def _check_id(self, sess, rid):
        if not isinstance(rid, (int, str)) or isinstance(rid, bool):
            self._violation(f"request id {rid!r} is not an integer or string")
            return
        if sess is None:
            return
        with self.lock:
            if rid in sess.ids:
                self._violation(f"request id {rid!r} reused in session {sess.id}")
            sess.ids.add(rid)

    def _new_session(self, version):
        sess = _Session(uuid.uuid4().hex, version)
        with self.lock:
            self.sessions[sess.id] = sess
        return sess

    def _end_session(self, sess):
        with self.lock:
            if self.sessions.pop(sess.id, None) is not None:
                self.ended_sessions.append(sess.id)
            for q in sess.streams:
                q.put(None)
            sess.streams = []

    def _notification(self, sess, msg):
        m = msg.get("method")
        with self.lock:
            if m == "notifications/cancelled":
                self.cancelled.append((msg.get("params") or {}).get("requestId"))
            if m == "notifications/initialized" and sess is not None:
                sess.initialized = True
            self.changed.notify_all()

    def _client_response(self, msg):
        with self.lock:
            self.ping_answers.append(msg)
            ev = self._ping_waiters.pop(msg.get("id"), None)
        if ev:
            ev.set()

    def _add_stream(self, sess, q):
        with self.lock:
            if sess is not None:
                sess.streams.append(q)
            else:
                self._stateless_streams.append(q)
            self.changed.notify_all()

    def _remove_stream(self, sess, q):
        with self.lock:
            for lst in (sess.streams if sess else None, self._stateless_streams):
                if lst is not None and q in lst:
                    lst.remove(q)
            self.changed.notify_all()

    # -- queries --

    @property
    def get_streams(self) -> int:
        """How many GET streams are open now."""
        with self.lock:
            return sum(len(s.streams) for s in self.sessions.values()) + len(
                self._stateless_streams)

    @property
    def messages(self):
        """The JSON-RPC messages the client POSTed to the MCP endpoint, in order."""
        with self.lock:
            return [r["body"] for r in self.requests
                    if r["method"] == "POST" and isinstance(r["body"], dict)]

    def methods(self):
        return [m.get("method") for m in self.messages]

    def posts(self, method=None):
        with self.lock:
            return [r for r in self.requests if r["method"] == "POST"
                    and isinstance(r["body"], dict)
                    and (method is None or r["body"].get("method") == method)]

    def wait(self, pred, timeout=10.0):
        """Waits until pred(self) is truthy (re-checked on every request); returns it or None."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                v = pred(self)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(min(left, 0.1))

    def state(self):
        with self.lock:
            return {"sessions": sorted(self.sessions), "ended_sessions": list(self.ended_sessions),
                    "get_streams": self.get_streams, "violations": list(self.violations),
                    "cancelled": list(self.cancelled), "hangs": {str(k): v for k, v in
                                                                 self.hangs.items()},
                    "not_found": self.not_found, "cursors": list(self.logic.cursors),
                    "huge_sent": list(self.huge_sent), "pings_sent": list(self.pings_sent),
                    "ping_answers": list(self.ping_answers)}

    # -- scripting --

    def set_tools(self, tools, notify=True):
        """Replaces the tool set; with notify, sends tools/list_changed on every GET stream."""
        self.logic.set_tools(tools)
        if notify:
            return self.notify_streams({"jsonrpc": "2.0",
                                        "method": "notifications/tools/list_changed"})
        return 0

    def notify_streams(self, msg):
        with self.lock:
            qs = [q for s in self.sessions.values() for q in s.streams] + list(
                self._stateless_streams)
        for q in qs:
            q.put(msg)
        return len(qs)

    def expire_sessions(self):
        """Forgets every session (their next request gets 404); closes their GET streams."""
        with self.lock:
            sessions = list(self.sessions.values())
        for s in sessions:
            self._end_session(s)
        return len(sessions)


# ---------------------------------------------------------------------------
# stdio
# ---------------------------------------------------------------------------

class StdioServer:
    """The stdio fake: newline-delimited JSON-RPC on stdin/stdout."""

    def __init__(self, logic, record=None, early_notifications=False, garbage_first=False,
                 ignore_sigterm=False, ignore_eof=False, close_stdin_after_list=False,
                 hang_initialize=False, session_lost_once=None, initialize_delay=0.0):
        self.logic = logic
        self.initialize_delay = initialize_delay
        self.close_stdin_after_list = close_stdin_after_list
        self.hang_initialize = hang_initialize
        self.session_lost_once = session_lost_once
        self.record = open(record, "a", encoding="utf-8") if record else None
        self.early = early_notifications
        self.garbage_first = garbage_first
        self.ignore_sigterm = ignore_sigterm
        self.ignore_eof = ignore_eof or ignore_sigterm
        self.out_lock = threading.Lock()
        self.ping_waiters = {}

    def write(self, obj):
        line = obj if isinstance(obj, str) else _dumps(obj)
        with self.out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def rec(self, obj):
        if self.record:
            self.record.write(_dumps(obj) + "\n")
            self.record.flush()

    def run(self):
        if self.garbage_first:
            self.write("fake_mcp: this line is not JSON-RPC")
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                self.rec({"_unparsable": line[:4096]})
                continue
            self.rec(msg)
            if not isinstance(msg, dict):
                continue
            if "method" not in msg:
                ev = self.ping_waiters.pop(msg.get("id"), None)
                if ev:
                    ev.set()
                continue
            if "id" not in msg:
                continue  # notifications: recorded only
            if self.close_stdin_after_list and msg["method"] == "tools/list":
                # Close fd 0 for good, then answer, and stay alive: the client's next write,
                # sent only after it has the list, gets EPIPE. Answering first raced: a client
                # quick enough (or this process slow enough, under a loaded machine) wrote its
                # tools/call into the pipe before the close, and waited for an answer that
                # never came (its 10 s timeout instead of "closed its stdin").
                sys.stdin.close()
                os.close(0)
                self.rec({"_stdin_closed": True})
                self.handle(msg)
                while True:
                    time.sleep(3600)
            threading.Thread(target=self.handle, args=(msg,), daemon=True).start()
        self.rec({"_eof": True})
        if self.ignore_eof:
            while True:
                time.sleep(3600)

    def handle(self, msg):
        rid, method, params = msg["id"], msg["method"], msg.get("params")
        if method == "initialize" and self.hang_initialize:
            return None
        if method == "initialize" and self.initialize_delay:
            time.sleep(self.initialize_delay)
        if method == "tools/call" and self.session_lost_once:
            # What a bridge such as mcp-remote passes on when its upstream restarted and
            # forgot the session: the SDK's -32001 "Session not found". Once per marker
            # file, so the server started anew answers.
            try:
                os.close(os.open(self.session_lost_once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                return self.write(_rpc_err(rid, -32001, "Session not found: No valid session ID"))
        if method == "initialize":
            if self.early:
                self.write({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
                self.write({"jsonrpc": "2.0", "method": "notifications/message",
                            "params": {"level": "info", "data": "before the initialize answer"}})
            return self.write(_response(rid, self.logic.initialize_result(params)))
        if method == "ping":
            return self.write(_response(rid, {}))
        if method == "tools/list":
            try:
                return self.write(_response(rid, self.logic.list_tools(params)))
            except ValueError as e:
                return self.write(_response(rid, ("error", -32602, str(e))))
        if method != "tools/call":
            return self.write(_response(rid, ("error", -32601, f"Method not found: {method}")))
        out = self.logic.call(params)
        if not isinstance(out, Special):
            return self.write(_response(rid, out))
        k = out.kind
        if k == "slow":
            with self.out_lock if out.hold else contextlib.nullcontext():
                time.sleep(out.seconds)
            return self.write(_response(rid, out.result))
        if k == "swap_tools":
            self.write(_response(rid, out.result))
            return self.write({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        if k == "hang":
            return None
        if k in ("garbage", "http_status"):
            return self.write("this is not json {")
        if k == "invalid_jsonrpc":
            return self.write({"jsonrpc": "2.0", "id": rid, "bogus": True})
        if k == "duplicate":
            return self.write(duplicate_answer(rid))
        if k == "crash":
            sys.stdout.flush()
            os._exit(3)
        if k == "huge":
            n = int(out.tool.get("bytes", HUGE_BYTES))
            head = '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"' % (
                _dumps(rid))
            tail = '"}]}}'
            seconds = float(out.tool.get("seconds", 0))
            with self.out_lock:
                sys.stdout.write(head)
                left = n - len(head) - len(tail)
                # Paced: about four blocks a second over `seconds`, flushed as they go.
                size = max(1, min(65536, int(left / (seconds * 4)))) if seconds > 0 else 65536
                block = "A" * size
                try:
                    while left > 0:
                        c = block if left >= len(block) else block[:left]
                        sys.stdout.write(c)
                        left -= len(c)
                        if seconds > 0:
                            sys.stdout.flush()
                            time.sleep(0.25)
                    sys.stdout.write(tail + "\n")
                    sys.stdout.flush()
                except BrokenPipeError:
                    os._exit(0)
            return None
        if k == "ping":
            pid = f"srv-ping-{uuid.uuid4().hex[:8]}"
            ev = threading.Event()
            self.ping_waiters[pid] = ev
            self.write({"jsonrpc": "2.0", "id": pid, "method": "ping"})
            ok = ev.wait(5)
            return self.write(_response(rid, text_result("pong: ok" if ok else "pong: none")))
        if k == "sse_mixed":
            self.write({"jsonrpc": "2.0", "method": "notifications/message",
                        "params": {"level": "info", "data": "working"}})
            return self.write(_response(rid, text_result("mixed ok")))
        raise AssertionError(k)


def tee_stdio(cmd, record):
    """Runs the stdio server `cmd`, recording every line the client sends it (JSON lines in
    `record`); the server's stdout and stderr are ours. Used to see what hermetic sends to a
    real stdio peer (``notifications/cancelled``). Exits with the child's status; SIGTERM is
    passed on to the child."""
    import subprocess
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    with open(record, "a", encoding="utf-8") as rec:
        for line in sys.stdin.buffer:
            try:
                msg = json.loads(line)
            except ValueError:
                msg = {"_unparsable": line[:4096].decode("utf-8", "replace")}
            rec.write(_dumps(msg) + "\n")
            rec.flush()
            try:
                child.stdin.write(line)
                child.stdin.flush()
            except OSError:
                break
        rec.write(_dumps({"_eof": True}) + "\n")
    try:
        child.stdin.close()
    except OSError:
        pass
    return child.wait()


# ---------------------------------------------------------------------------
# Script mode
# ---------------------------------------------------------------------------

def _write_file(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _load_tools(args):
    tools = None
    if args.tools_file:
        with open(args.tools_file, encoding="utf-8") as f:
            tools = json.load(f)
    if args.tools:
        names = [n for n in args.tools.split(",") if n]
        by = {t["name"]: t for t in (tools or DEFAULT_TOOLS)}
        tools = [by[n] if n in by else tool(n) for n in names]
    return tools


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--tools-file", help="JSON list of tools (see tool())")
    p.add_argument("--tools", help="comma-separated tool names (kinds of DEFAULT_TOOLS, or "
                                   "echo tools with that name)")
    p.add_argument("--page-size", type=int)
    p.add_argument("--protocol-version")
    p.add_argument("--stateless", action="store_true")
    p.add_argument("--answer", choices=("json", "sse"), default="json")
    p.add_argument("--expire-after", type=int)
    p.add_argument("--no-get-stream", action="store_true")
    p.add_argument("--delete-status", type=int, default=200)
    p.add_argument("--unknown-session", choices=tuple(UNKNOWN_SESSION), default="404")
    p.add_argument("--legacy-sse", action="store_true",
                   help="serve the legacy HTTP+SSE transport at --path instead")
    p.add_argument("--path", default="/mcp")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--stdio", action="store_true", help="serve MCP on stdin/stdout")
    p.add_argument("--record", help="stdio: append every received message (JSON lines)")
    p.add_argument("--early-notifications", action="store_true",
                   help="stdio: notifications before the initialize answer")
    p.add_argument("--garbage-first", action="store_true",
                   help="stdio: a non-JSON line on stdout before anything else")
    p.add_argument("--stderr-lines", type=int, default=0, help="stdio: log lines on stderr")
    p.add_argument("--ignore-sigterm", action="store_true",
                   help="ignore SIGTERM and keep running after stdin closes")
    p.add_argument("--pid-file")
    p.add_argument("--close-stdin-after-list", action="store_true",
                   help="stdio: after answering tools/list, close fd 0 and stay alive")
    p.add_argument("--hang-initialize", action="store_true",
                   help="stdio: never answer initialize")
    p.add_argument("--initialize-delay", type=float, default=0.0, metavar="S",
                   help="stdio: answer initialize after S seconds (a slow server start)")
    p.add_argument("--session-lost-once", metavar="FILE",
                   help="stdio: answer the first tools/call with -32001 Session not found if "
                        "FILE does not exist yet (and create it)")
    p.add_argument("--stderr-exit", metavar="STATUS", type=int,
                   help="stdio: after --stderr-lines, exit with STATUS before reading stdin")
    p.add_argument("--exec", nargs=argparse.REMAINDER, dest="exec_cmd",
                   help="stdio: run this real server, recording what the client sends (--record)")
    args = p.parse_args(argv)
    if args.exec_cmd:
        if not args.record:
            p.error("--exec needs --record")
        return tee_stdio(args.exec_cmd, args.record)
    tools = _load_tools(args)
    if args.pid_file:
        _write_file(args.pid_file, f"{os.getpid()}\n")
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    if args.stdio:
        for i in range(args.stderr_lines):
            sys.stderr.write(f"fake_mcp stderr line {i + 1}\n")
        sys.stderr.flush()
        if args.stderr_exit is not None:
            os._exit(args.stderr_exit)
        logic = Logic(tools, args.page_size, args.protocol_version)
        StdioServer(logic, record=args.record, early_notifications=args.early_notifications,
                    garbage_first=args.garbage_first, ignore_sigterm=args.ignore_sigterm,
                    close_stdin_after_list=args.close_stdin_after_list,
                    hang_initialize=args.hang_initialize,
                    initialize_delay=args.initialize_delay,
                    session_lost_once=args.session_lost_once).run()
        return 0

    fake = FakeMcp(args.host, args.port, tools=tools, page_size=args.page_size,
                   stateless=args.stateless, answer=args.answer,
                   protocol_version=args.protocol_version, expire_after=args.expire_after,
                   get_stream=not args.no_get_stream, delete_status=args.delete_status,
                   verbose=args.verbose, unknown_session=args.unknown_session,
                   legacy_sse=args.legacy_sse, path=args.path)
    signals = (signal.SIGINT,) if args.ignore_sigterm else (signal.SIGTERM, signal.SIGINT)
    serve_until_signal(fake, fake.url, args.port_file, signals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
