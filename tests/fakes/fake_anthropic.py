#!/usr/bin/env python3
"""A scripted fake of Anthropic's Messages API (``POST /v1/messages``).

hermetic's ``anthropic/`` dialect is tested against this server instead of
https://api.anthropic.com. It follows Anthropic's documentation (the Messages API, its streaming
events and its error table; docs/providers/anthropic.md says what hermetic relies on):

* Headers: ``x-api-key`` (missing: 401 ``x-api-key header is required``; wrong: 401
  ``invalid x-api-key``, both ``authentication_error``) and ``anthropic-version`` (missing: 400
  ``anthropic-version: header is required``).
* The body is validated the way the API does, each failure a 400 ``invalid_request_error`` in
  Anthropic's shape ``{"type":"error","error":{"type","message"},"request_id"}``: ``model``,
  ``max_tokens`` and ``messages`` required; no unknown top-level field (``<field>: Extra inputs
  are not permitted``: OpenAI-only fields must not reach Anthropic); roles ``user``/``assistant``
  alternating; block shapes (text non-empty, image base64/url sources, tool_use input an object,
  tool_result ids matching a ``tool_use`` of the previous assistant message, every ``tool_use``
  answered in the next message); ``system`` a string or text blocks; tools with ``input_schema``;
  ``tool_choice`` types; at most 4 ``cache_control`` breakpoints; ``metadata`` only ``user_id``.
* Answers: a Message (``content`` blocks, ``stop_reason``, ``usage`` with input/output and the
  cache counts) or, with ``"stream": true``, the documented SSE events: ``message_start``,
  per block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
  ``input_json_delta`` with ``partial_json`` pieces, ``thinking_delta``) /
  ``content_block_stop``, ``message_delta`` (stop_reason, cumulative usage), ``message_stop``;
  ``ping`` events between them; ``event: error`` mid-stream.

In a test::

    from fakes.fake_anthropic import FakeAnthropic, text, tool_use, overloaded
    with FakeAnthropic(api_key="sk-ant-test") as fake:
        fake.script(overloaded(), text("Hello!"))
        ...  # api_base: fake.url ("http://127.0.0.1:PORT"); the client adds /v1/messages
        assert fake.message_requests[0]["body"]["max_tokens"] == 4096

Steps (one per ``POST /v1/messages`` that passed validation, FIFO; an empty queue answers 500
``api_error`` ``fake_anthropic: script exhausted``):

``text(content, **opts)``
    A text answer (``stop_reason`` ``end_turn``).
``tool_use((id, name, input), ..., text=None, **opts)``
    ``tool_use`` blocks (after an optional text block), ``stop_reason`` ``tool_use``.
``error(status, type, message, retry_after=None)``
    An HTTP error in Anthropic's shape. Shorthands: ``overloaded()`` (529 overloaded_error),
    ``rate_limited(retry_after)`` (429 rate_limit_error with ``retry-after``),
    ``prompt_too_long(tokens, maximum)`` (400 ``prompt is too long: N tokens > M maximum``).

Options of ``text`` / ``tool_use``: ``thinking`` (a thinking block first), ``stop_reason``,
``usage`` (merged over ``input_tokens`` = request bytes // 4, ``output_tokens`` = produced
chars // 4, cache counts 0), ``model``, ``chunk_size`` (characters per text delta, default 5),
``json_chunk`` (characters per ``partial_json`` piece, default 4, so an input's JSON is split
across events mid-token), ``ping_every`` (a ``ping`` after every N events, default 2; 0 = only
the one after ``message_start``), ``error_after`` (N events, then ``event: error`` with
``error`` = ``{"type","message"}``, default overloaded, and the stream ends).

Recorded requests (``fake.requests``): ``method``, ``path``, ``headers`` (lower-case keys),
``body`` (parsed JSON or None), ``status`` (what the fake answered), ``error`` (the validation
message, if any), ``cache_read`` / ``cache_creation`` / ``prompt_tokens`` (all the prompt's
tokens, cached or not; with the prompt cache on).

Prompt caching (``FakeAnthropic(prompt_cache_min_tokens=N)``): breakpoints write and read a
cache of prefixes as Anthropic documents it (see ``prompt_cache``), and the usage reports
``cache_read_input_tokens`` / ``cache_creation_input_tokens`` with ``input_tokens`` the rest.
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
try:
    from fakes.served import Served
except ImportError:  # run as a script from tests/fakes
    from served import Served

VERSION = "2023-06-01"
MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
TOP_LEVEL = frozenset({
    "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
    "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier",
    "container", "mcp_servers",
})
STATUS_OF_TYPE = {"invalid_request_error": 400, "authentication_error": 401,
                  "billing_error": 402, "permission_error": 403, "not_found_error": 404,
                  "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
                  "timeout_error": 504, "overloaded_error": 529}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------

def text(content: str, **opts) -> dict:
    return {"kind": "answer", "text": content, "calls": [], **opts}


def tool_use(*calls, text=None, **opts) -> dict:  # noqa: A002 (Anthropic's name)
    return {"kind": "answer", "text": text,
            "calls": [{"id": c[0], "name": c[1], "input": c[2]} for c in calls], **opts}


def error(status: int, type: str, message: str, retry_after=None) -> dict:  # noqa: A002
    return {"kind": "error", "status": status, "type": type, "message": message,
            "retry_after": retry_after}


def overloaded() -> dict:
    return error(529, "overloaded_error", "Overloaded")


def rate_limited(retry_after=1) -> dict:
    return error(429, "rate_limit_error",
                 "This request would exceed the rate limit for your organization of 50 input "
                 "tokens per minute.", retry_after=retry_after)


def prompt_too_long(tokens=210000, maximum=200000) -> dict:
    return error(400, "invalid_request_error",
                 f"prompt is too long: {tokens} tokens > {maximum} maximum")


# ---------------------------------------------------------------------------
# Validation: Anthropic's rules, each failure a message of its wording
# ---------------------------------------------------------------------------

class Invalid(Exception):
    def __init__(self, message, status=400, type="invalid_request_error"):  # noqa: A002
        super().__init__(message)
        self.status, self.type = status, type


def _cache_count(obj) -> int:
    return 1 if isinstance(obj, dict) and "cache_control" in obj else 0


def _check_cache(where, block):
    cc = block.get("cache_control")
    if cc is None:
        return
    if not isinstance(cc, dict) or cc.get("type") != "ephemeral" or \
            set(cc) - {"type", "ttl"} or cc.get("ttl", "5m") not in ("5m", "1h"):
        raise Invalid(f"{where}.cache_control: Input tag does not match the expected tags")


def _check_source(where, src):
    if not isinstance(src, dict):
        raise Invalid(f"{where}.source: Field required")
    if src.get("type") == "base64":
        if src.get("media_type") not in MEDIA_TYPES + ("application/pdf",):
            raise Invalid(f"{where}.source.base64.media_type: Input should be "
                          "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
        if not isinstance(src.get("data"), str) or not src["data"]:
            raise Invalid(f"{where}.source.base64.data: Field required")
    elif src.get("type") == "url":
        if not isinstance(src.get("url"), str) or not src["url"].startswith(("http://",
                                                                                "https://")):
            raise Invalid(f"{where}.source.url.url: Field required")
    else:
        raise Invalid(f"{where}.source: Input tag '{src.get('type')}' found using 'type' "
                      "does not match any of the expected tags: 'base64', 'url'")


def _check_text(where, block):
    if not isinstance(block.get("text"), str):
        raise Invalid(f"{where}.text: Field required")
    if not block["text"]:
        raise Invalid("messages: text content blocks must be non-empty")


def _check_block(where, role, block, prev_tool_ids):
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise Invalid(f"{where}.type: Field required")
    kind = block["type"]
    _check_cache(where, block)
    if kind == "text":
        _check_text(where, block)
    elif kind in ("image", "document"):
        _check_source(where, block.get("source"))
    elif kind == "tool_use":
        if role != "assistant":
            raise Invalid(f"{where}: tool_use blocks are only allowed in assistant messages")
        for f in ("id", "name"):
            if not isinstance(block.get(f), str) or not block[f]:
                raise Invalid(f"{where}.{f}: Field required")
        if not isinstance(block.get("input"), dict):
            raise Invalid(f"{where}.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if role != "user":
            raise Invalid(f"{where}: tool_result blocks are only allowed in user messages")
        tid = block.get("tool_use_id")
        if tid not in prev_tool_ids:
            raise Invalid(f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                          f"{tid}. Each `tool_result` block must have a corresponding "
                          "`tool_use` block in the previous message.")
        content = block.get("content")
        if isinstance(content, list):
            for j, b in enumerate(content):
                _check_block(f"{where}.content.{j}", "user", b, ())
        elif content is not None and not isinstance(content, str):
            raise Invalid(f"{where}.content: Input should be a valid string or list")
    elif kind in ("thinking", "redacted_thinking"):
        if role != "assistant":
            raise Invalid(f"{where}: thinking blocks are only allowed in assistant messages")
    else:
        raise Invalid(f"{where}: Input tag '{kind}' found using 'type' does not match any of "
                      "the expected tags")


def _check_messages(messages) -> int:
    """Validates messages; returns the number of cache_control breakpoints in them."""
    if not isinstance(messages, list):
        raise Invalid("messages: Input should be a valid list")
    prev_role, prev_tool_ids, breakpoints = None, set(), 0
    for i, msg in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(msg, dict):
            raise Invalid(f"{where}: Input should be a valid dictionary")
        role = msg.get("role")
        if role not in ("user", "assistant"):
            raise Invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        if set(msg) - {"role", "content"}:
            extra = sorted(set(msg) - {"role", "content"})[0]
            raise Invalid(f"{where}.{extra}: Extra inputs are not permitted")
        if role == prev_role:
            raise Invalid('messages: roles must alternate between "user" and "assistant", '
                          f'but found multiple "{role}" roles in a row')
        content = msg.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise Invalid(f"{where}.content: Input should be a valid list")
        if not blocks and not (role == "assistant" and i == len(messages) - 1):
            raise Invalid(f"{where}: all messages must have non-empty content except for the "
                          "optional final assistant message")
        answered = set()
        for j, block in enumerate(blocks):
            _check_block(f"{where}.content.{j}", role, block,
                         prev_tool_ids if role == "user" else ())
            breakpoints += _cache_count(block)
            if isinstance(block, dict) and block.get("type") == "tool_result":
                answered.add(block.get("tool_use_id"))
        missing = prev_tool_ids - answered
        if role == "user" and missing:
            raise Invalid(f"messages.{i - 1}: `tool_use` ids were found without `tool_result` "
                          f"blocks immediately after: {sorted(missing)[0]}. Each `tool_use` "
                          "block must have a corresponding `tool_result` block in the next "
                          "message.")
        prev_tool_ids = {b.get("id") for b in blocks
                         if isinstance(b, dict) and b.get("type") == "tool_use"}
        prev_role = role
    return breakpoints


def _check_system(system) -> int:
    if system is None or isinstance(system, str):
        return 0
    if not isinstance(system, list):
        raise Invalid("system: Input should be a valid string or list")
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise Invalid(f"system.{j}.type: Input should be 'text'")
        _check_cache(f"system.{j}", block)
        _check_text(f"system.{j}", block)
    return sum(_cache_count(b) for b in system)


def _check_tools(tools, tool_choice) -> int:
    if tools is None:
        tools = []
    if not isinstance(tools, list):
        raise Invalid("tools: Input should be a valid list")
    for j, t in enumerate(tools):
        if not isinstance(t, dict) or not TOOL_NAME.match(str(t.get("name", ""))):
            raise Invalid(f"tools.{j}.custom.name: String should match pattern "
                          "'^[a-zA-Z0-9_-]{1,128}$'")
        if set(t) - {"name", "description", "input_schema", "cache_control", "type"}:
            extra = sorted(set(t) - {"name", "description", "input_schema", "cache_control",
                                     "type"})[0]
            raise Invalid(f"tools.{j}.custom.{extra}: Extra inputs are not permitted")
        schema = t.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(f"tools.{j}.custom.input_schema.type: Input should be 'object'")
        _check_cache(f"tools.{j}", t)
    if tool_choice is not None:
        kind = tool_choice.get("type") if isinstance(tool_choice, dict) else None
        if kind not in ("auto", "any", "tool", "none"):
            raise Invalid("tool_choice: Input tag does not match the expected tags: 'auto', "
                          "'any', 'tool', 'none'")
        if kind == "tool" and tool_choice.get("name") not in [t.get("name") for t in tools]:
            raise Invalid("tool_choice.tool.name: tool not found in tools")
        allowed = {"type", "name"} if kind == "tool" else {"type"}
        if kind != "none":
            allowed.add("disable_parallel_tool_use")
        if set(tool_choice) - allowed:
            raise Invalid(f"tool_choice.{kind}.{sorted(set(tool_choice) - allowed)[0]}: Extra "
                          "inputs are not permitted")
    return sum(_cache_count(t) for t in tools)


def validate(body):
    """Raises Invalid with Anthropic's wording when the request would be refused."""
    if not isinstance(body, dict):
        raise Invalid("There was an issue with your request body: not a JSON object")
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            raise Invalid(f"{field}: Field required")
    extra = sorted(set(body) - TOP_LEVEL)
    if extra:
        raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
    if not isinstance(body["model"], str) or not body["model"]:
        raise Invalid("model: Input should be a valid string")
    mt = body["max_tokens"]
    if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
        raise Invalid("max_tokens: Input should be greater than or equal to 1")
    t = body.get("temperature")
    if t is not None and (not isinstance(t, (int, float)) or not 0 <= t <= 1):
        raise Invalid("temperature: Input should be less than or equal to 1")
    stop = body.get("stop_sequences")
    if stop is not None and (not isinstance(stop, list) or
                             not all(isinstance(s, str) for s in stop)):
        raise Invalid("stop_sequences: Input should be a valid list of strings")
    meta = body.get("metadata")
    if meta is not None and (not isinstance(meta, dict) or set(meta) - {"user_id"}):
        raise Invalid("metadata: Extra inputs are not permitted")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Invalid("stream: Input should be a valid boolean")
    n = _check_system(body.get("system")) + _check_messages(body["messages"]) + \
        _check_tools(body.get("tools"), body.get("tool_choice"))
    if n > 4:
        raise Invalid(f"A maximum of 4 blocks with cache_control may be provided. Found {n}.")


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------

def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _pieces(s: str, size: int) -> list[str]:
    return [s[i:i + size] for i in range(0, len(s), size)] or [""]


class _Answer:
    def __init__(self, n: int, body: dict, raw_len: int, step: dict, cache=None):
        self.step = step
        self.id = f"msg_fake{n:06d}"
        self.model = step.get("model") or body.get("model")
        self.blocks = []
        if step.get("thinking"):
            self.blocks.append({"type": "thinking", "thinking": step["thinking"],
                                "signature": "sig-fake"})
        if step.get("text"):
            self.blocks.append({"type": "text", "text": step["text"]})
        for c in step["calls"]:
            self.blocks.append({"type": "tool_use", "id": c["id"], "name": c["name"],
                                "input": c["input"]})
        produced = len(step.get("text") or "") + sum(
            len(c["name"]) + len(_dumps(c["input"])) for c in step["calls"])
        read, written = cache if cache else (0, 0)
        self.usage = {"input_tokens": max(0, raw_len // 4 - read - written),
                      "output_tokens": max(1, produced // 4),
                      "cache_creation_input_tokens": written, "cache_read_input_tokens": read,
                      **step.get("usage", {})}
        self.stop_reason = step.get("stop_reason",
                                    "tool_use" if step["calls"] else "end_turn")

    def message(self) -> dict:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": self.blocks, "stop_reason": self.stop_reason,
                "stop_sequence": None, "usage": self.usage}

    def events(self) -> list[tuple[str, dict]]:
        """The stream's events, pings excluded."""
        start = dict(self.message(), content=[], stop_reason=None,
                     usage=dict(self.usage, output_tokens=1))
        out = [("message_start", {"type": "message_start", "message": start})]
        size = max(1, int(self.step.get("chunk_size", 5)))
        jsize = max(1, int(self.step.get("json_chunk", 4)))
        for i, b in enumerate(self.blocks):
            if b["type"] == "text":
                first, deltas = {"type": "text", "text": ""}, [
                    {"type": "text_delta", "text": p} for p in _pieces(b["text"], size)]
            elif b["type"] == "thinking":
                first, deltas = {"type": "thinking", "thinking": ""}, [
                    {"type": "thinking_delta", "thinking": p}
                    for p in _pieces(b["thinking"], size)]
                deltas.append({"type": "signature_delta", "signature": b["signature"]})
            else:
                first = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": p}
                          for p in _pieces(_dumps(b["input"]), jsize)]
            out.append(("content_block_start", {"type": "content_block_start", "index": i,
                                                "content_block": first}))
            out += [("content_block_delta", {"type": "content_block_delta", "index": i,
                                             "delta": d}) for d in deltas]
            out.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        out.append(("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": self.stop_reason,
                                                "stop_sequence": None},
                                      "usage": {"output_tokens": self.usage["output_tokens"]}}))
        out.append(("message_stop", {"type": "message_stop"}))
        return out


# ---------------------------------------------------------------------------
# Prompt caching
# ---------------------------------------------------------------------------

def cache_blocks(body: dict) -> list[tuple[str, bool]]:
    """The request's blocks in the order Anthropic caches them (tools, system, messages), each
    as its canonical JSON without ``cache_control`` and whether it carries a breakpoint."""
    out = []

    def add(block):
        if isinstance(block, str):
            block = {"type": "text", "text": block}
        bare = {k: v for k, v in block.items() if k != "cache_control"}
        out.append((json.dumps(bare, sort_keys=True, separators=(",", ":")),
                    "cache_control" in block))

    for t in body.get("tools") or []:
        add(t)
    system = body.get("system")
    for b in [system] if isinstance(system, str) else system or []:
        add(b)
    for m in body.get("messages") or []:
        content = m.get("content")
        for b in [content] if isinstance(content, str) else content or []:
            add(dict(b, role=m.get("role")) if isinstance(b, dict) else
                {"type": "text", "text": b, "role": m.get("role")})
    return out


LOOKBACK = 20  # blocks before a breakpoint where Anthropic looks for an earlier cache entry


def prompt_cache(self, body: dict):
    """Anthropic's prompt cache, as documented: a breakpoint's prefix (everything up to and
    including its block) is written when it is at least ``prompt_cache_min_tokens`` long; a
    request reads the longest prefix written before that ends at a breakpoint or up to 20
    blocks before one. Returns ``(read, written)`` tokens (4 bytes a token of the canonical
    blocks), or None when the cache is off."""
    if self.prompt_cache_min_tokens is None:
        return None
    blocks = cache_blocks(body)
    keys, sizes, h, size = [], [], hashlib.sha256(str(body.get("model")).encode()), 0
    for text, _ in blocks:
        h.update(text.encode())
        size += len(text.encode())
        keys.append(h.hexdigest())
        sizes.append(size // 4)
    marks = [i for i, (_, marked) in enumerate(blocks) if marked]
    with self._lock:
        hit = -1
        for b in marks:
            for i in range(b, max(-1, b - LOOKBACK - 1), -1):
                if keys[i] in self._cached:
                    hit = max(hit, i)
                    break
        read = sizes[hit] if hit >= 0 else 0
        written = 0
        for b in marks:
            if sizes[b] >= self.prompt_cache_min_tokens and b > hit:
                self._cached[keys[b]] = sizes[b]
                written = max(written, sizes[b] - read)
    return read, written


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, fake):
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake_anthropic/1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _send_json(self, status, obj, headers=None):
        data = _dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_fake")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, type, message, headers=None):  # noqa: A002
        self._send_json(status, {"type": "error", "error": {"type": type, "message": message},
                                 "request_id": "req_fake"}, headers)

    def do_POST(self):  # noqa: N802 (http.server's name)
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec = {"method": "POST", "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
               "status": 0, "error": None}
        fake._record(rec)
        try:
            if self.path.split("?")[0] != "/v1/messages":
                raise Invalid(f"Not Found: {self.path}", 404, "not_found_error")
            key = self.headers.get("x-api-key")
            if not key:
                raise Invalid("x-api-key header is required", 401, "authentication_error")
            if fake.api_key is not None and key != fake.api_key:
                raise Invalid("invalid x-api-key", 401, "authentication_error")
            if not self.headers.get("anthropic-version"):
                raise Invalid("anthropic-version: header is required")
            if self.headers.get("anthropic-version") != VERSION:
                raise Invalid(f"anthropic-version: invalid version "
                              f"{self.headers.get('anthropic-version')}")
            if body is None:
                raise Invalid("There was an issue with your request body: invalid JSON")
            validate(body)
        except Invalid as e:
            rec.update(status=e.status, error=str(e))
            return self._error(e.status, e.type, str(e))
        step = fake._next()
        if step is None:
            rec["status"] = 500
            return self._error(500, "api_error", "fake_anthropic: script exhausted")
        if step["kind"] == "error":
            rec["status"] = step["status"]
            ra = step.get("retry_after")
            return self._error(step["status"], step["type"], step["message"],
                               {"retry-after": str(ra)} if ra is not None else None)
        rec["status"] = 200
        cache = fake._cache_lookup(body)
        if cache:
            rec.update(cache_read=cache[0], cache_creation=cache[1], prompt_tokens=len(raw) // 4)
        answer = _Answer(fake._count, body, len(raw), step, cache)
        if body.get("stream") is True:
            return self._stream(answer)
        return self._send_json(200, answer.message())

    def _stream(self, answer: _Answer):
        step = answer.step
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(name, obj):
            data = f"event: {name}\ndata: {_dumps(obj)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        every = int(step.get("ping_every", 2))
        for n, (name, obj) in enumerate(answer.events()):
            if n == step.get("error_after"):
                err = step.get("error") or {"type": "overloaded_error", "message": "Overloaded"}
                send("error", {"type": "error", "error": err})
                break
            send(name, obj)
            if n == 0 or (every and n % every == 0 and name != "message_stop"):
                send("ping", {"type": "ping"})
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = step.get("error_after") is not None


class FakeAnthropic(Served):
    """The fake on 127.0.0.1 (ephemeral port); a context manager."""

    def __init__(self, api_key: str | None = None, host="127.0.0.1", port=0,
                 prompt_cache_min_tokens: int | None = None):
        self.api_key = api_key
        self.prompt_cache_min_tokens = prompt_cache_min_tokens
        self._cached: dict[str, int] = {}  # prefix hash -> tokens (no expiry: tests are short)
        self._lock = threading.Lock()
        self._queue: collections.deque = collections.deque()
        self._requests: list[dict] = []
        self._count = 0
        self._server = _Server((host, port), self)
        self._thread = None

    @property
    def url(self) -> str:
        """The api_base: ``http://127.0.0.1:PORT`` (clients add ``/v1/messages``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *steps):
        with self._lock:
            self._queue.extend(steps)
        return self

    def _cache_lookup(self, body: dict):
        return prompt_cache(self, body)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return list(self._requests)

    @property
    def message_requests(self) -> list[dict]:
        """Requests that passed validation and consumed (or found no) step."""
        return [r for r in self.requests if r["error"] is None]

    def _record(self, rec):
        with self._lock:
            self._requests.append(rec)

    def _next(self):
        with self._lock:
            self._count += 1
            return self._queue.popleft() if self._queue else None


if __name__ == "__main__":
    with FakeAnthropic() as f:
        print(f"listening on {f.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
