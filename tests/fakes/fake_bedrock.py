#!/usr/bin/env python3
"""A scripted fake of the AWS Bedrock runtime's Converse and ConverseStream APIs.

hermetic's e2e tests point a ``bedrock/<model id>`` deployment at this server (``api_base:
http://127.0.0.1:PORT``) instead of ``https://bedrock-runtime.<region>.amazonaws.com``. It is
faithful to /work/shared/REFERENCE-2.md section 3 and AWS's documentation:

* ``POST /model/{modelId}/converse`` answers a ConverseResponse (JSON);
  ``POST /model/{modelId}/converse-stream`` answers ``application/vnd.amazon.eventstream``:
  binary frames (big-endian total length, headers length, prelude CRC32, headers, JSON
  payload, message CRC32) carrying ``:event-type`` messageStart, contentBlockStart,
  contentBlockDelta, contentBlockStop, messageStop, metadata; modelled exceptions as
  ``:message-type: exception`` frames with ``:exception-type``.
* Every request must be signed with AWS Signature Version 4 for service ``bedrock``. The
  fake verifies it independently of the client: it rebuilds the canonical request from what
  arrived (the path as sent, each segment URI-encoded once more, so ``%3A`` is signed as
  ``%253A``; the signed headers' trimmed values; the SHA-256 of the body), derives the signing
  key with hmac/hashlib and compares. A mismatch is a 403 InvalidSignatureException with
  AWS's own message; a wrong key id, a missing or wrong session token, a wrong service or
  region scope, or a stale x-amz-date get AWS's answers for those.
* Request bodies are checked the way Converse checks them (a conversation starts with a user
  turn and alternates, content blocks have exactly one member, toolUse/toolResult need
  toolConfig, toolResult ids match the previous toolUse, inferenceConfig ranges, toolChoice
  shape): a violation is a 400 ValidationException.
* Errors are ``{"message": ...}`` with the ``x-amzn-ErrorType`` header, as Bedrock sends them.

In a test::

    from fakes.fake_bedrock import FakeBedrock, text, tool_use, error, throttling
    with FakeBedrock(access_key_id="AKIDTEST", secret_access_key="s3cr3t") as fake:
        fake.script(throttling(), text("Hello!"))
        ...  # api_base: fake.url
        assert fake.requests[0]["model_id"] == "anthropic.claude-3-5-sonnet-20240620-v1:0"

Each converse request that passes the signature and shape checks takes the next step of the
script (FIFO). With the script empty the fake answers 500 InternalServerException.

Steps: ``text(content, stop_reason="end_turn", usage=None, chunk_size=8)``,
``tool_use((id, name, input_dict), ..., content=None)``, ``error(status, error_type, message)``,
``throttling()``, ``service_unavailable()``, ``too_long()``, ``stream_exception(exception_type,
message, after=N)`` (a stream that sends N events, then the exception frame).
"""
import argparse
import base64
import binascii
import collections
import datetime
import hashlib
import hmac
import http.server
import json
import socketserver
import struct
import sys
import threading
try:
    from fakes.served import Served, serve_until_signal
except ImportError:  # run as a script from tests/fakes
    from served import Served, serve_until_signal
import urllib.parse

SERVICE = "bedrock"
SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method. Consult "
                      "the service documentation for details.")
INVALID_TOKEN = "The security token included in the request is invalid."
ERROR_NAMESPACE = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
BLOCK_MEMBERS = {"text", "image", "document", "video", "toolUse", "toolResult", "guardContent",
                 "cachePoint", "reasoningContent"}
STOP_REASONS = {"end_turn", "tool_use", "max_tokens", "stop_sequence", "guardrail_intervened",
                "content_filtered"}
EXCEPTION_STATUS = {"internalServerException": 500, "modelStreamErrorException": 424,
                    "serviceUnavailableException": 503, "throttlingException": 429,
                    "validationException": 400}


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------

def text(content, stop_reason="end_turn", usage=None, chunk_size=8, **opts):
    return {"kind": "text", "content": content, "stop_reason": stop_reason,
            "usage": usage or {}, "chunk_size": chunk_size, **opts}


def tool_use(*calls, content=None, usage=None, chunk_size=8, **opts):
    return {"kind": "tool_use", "content": content,
            "calls": [{"id": c[0], "name": c[1], "input": c[2]} for c in calls],
            "stop_reason": "tool_use", "usage": usage or {}, "chunk_size": chunk_size, **opts}


def error(status, error_type, message, **opts):
    return {"kind": "error", "status": status, "type": error_type, "message": message, **opts}


def throttling():
    return error(429, "ThrottlingException", "Too many requests, please wait before trying "
                 "again.")


def service_unavailable():
    return error(503, "ServiceUnavailableException", "Bedrock is unable to process your "
                 "request.")


def too_long():
    return error(400, "ValidationException", "Input is too long for requested model.")


def stream_exception(exception_type, message, after=0, **opts):
    return {"kind": "stream_exception", "exception_type": exception_type, "message": message,
            "after": after, **opts}


# ---------------------------------------------------------------------------
# Event-stream framing (application/vnd.amazon.eventstream)
# ---------------------------------------------------------------------------

def frame(headers, payload: bytes) -> bytes:
    """One message: string headers (type 7) and the payload, both CRCs over it."""
    hb = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        hb += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(hb) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + hb + payload
    return body + struct.pack(">I", binascii.crc32(body))


def event(event_type, payload: dict) -> bytes:
    # Bedrock pads every event with a "p" member of varying length (hides token sizes).
    data = dict(payload, p="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"[:len(event_type) % 9 + 3])
    return frame({":event-type": event_type, ":content-type": "application/json",
                  ":message-type": "event"}, json.dumps(data).encode())


def exception(exception_type, message) -> bytes:
    return frame({":exception-type": exception_type, ":content-type": "application/json",
                  ":message-type": "exception"}, json.dumps({"message": message}).encode())


# ---------------------------------------------------------------------------
# SigV4 verification
# ---------------------------------------------------------------------------

def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def canonical_uri(raw_path: str) -> str:
    """The path as it arrived, each segment URI-encoded again (all services but S3)."""
    return urllib.parse.quote(raw_path or "/", safe="/~")


def canonical_query(raw_query: str) -> str:
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
    enc = [(urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
           for k, v in pairs]
    return "&".join(f"{k}={v}" for k, v in sorted(enc))


def canonical_request(method, raw_path, raw_query, headers, signed, body: bytes) -> str:
    lines = []
    for name in signed:
        values = headers.get_all(name) or []
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                      "".join(lines), ";".join(signed), hashlib.sha256(body).hexdigest()])


class AuthError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def verify(fake, method, raw_path, raw_query, headers, body: bytes) -> dict:
    """Checks the request's SigV4 signature; returns what was checked or raises AuthError."""
    auth = headers.get("Authorization")
    if not auth:
        raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algo, _, rest = auth.partition(" ")
    fields = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
    if algo != "AWS4-HMAC-SHA256" or not {"Credential", "SignedHeaders", "Signature"} <= set(
            fields):
        raise AuthError("IncompleteSignatureException",
                        f"Authorization header requires 'Credential', 'Signature' and "
                        f"'SignedHeaders' parameters. Authorization={auth}")
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthError("IncompleteSignatureException", "Credential is malformed.")
    akid, date, region, service, _ = cred
    if akid != fake.access_key_id:
        raise AuthError("UnrecognizedClientException", INVALID_TOKEN)
    if service != SERVICE:
        raise AuthError("InvalidSignatureException",
                        f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if region != fake.region:
        raise AuthError("InvalidSignatureException",
                        "Credential should be scoped to a valid region. ")
    amz_date = headers.get("X-Amz-Date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        raise AuthError("IncompleteSignatureException",
                        "Authorization header requires existence of either a 'X-Amz-Date' or "
                        "a 'Date' header.")
    if not amz_date.startswith(date):
        raise AuthError("InvalidSignatureException",
                        "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                        "version of date from HTTP")
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 300:
        raise AuthError("InvalidSignatureException",
                        f"Signature expired: {amz_date} is now earlier than the allowed "
                        f"window.")
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(signed) or "host" not in signed or "x-amz-date" not in signed:
        raise AuthError("InvalidSignatureException", SIGNATURE_MISMATCH)
    token = headers.get("X-Amz-Security-Token")
    if fake.session_token is not None and (token != fake.session_token or
                                           "x-amz-security-token" not in signed):
        raise AuthError("UnrecognizedClientException", INVALID_TOKEN)
    sha = headers.get("X-Amz-Content-Sha256")
    if sha is not None and sha != hashlib.sha256(body).hexdigest():
        raise AuthError("InvalidSignatureException",
                        "The provided 'x-amz-content-sha256' header does not match what was "
                        "computed.")
    creq = canonical_request(method, raw_path, raw_query, headers, signed, body)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, f"{date}/{region}/{service}/aws4_request",
                     hashlib.sha256(creq.encode()).hexdigest()])
    want = hmac.new(signing_key(fake.secret_access_key, date, region, service), sts.encode(),
                    hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, fields["Signature"]):
        raise AuthError("InvalidSignatureException", SIGNATURE_MISMATCH)
    return {"canonical_request": creq, "signed_headers": signed}


# ---------------------------------------------------------------------------
# Converse request validation
# ---------------------------------------------------------------------------

class Invalid(Exception):
    pass


def _check_block(b, role, tool_ids_before, has_tools):
    if not isinstance(b, dict) or len(b) != 1 or next(iter(b)) not in BLOCK_MEMBERS:
        raise Invalid("The content block must have exactly one of these members: "
                      + ", ".join(sorted(BLOCK_MEMBERS)))
    kind, v = next(iter(b.items()))
    if kind == "text" and not isinstance(v, str):
        raise Invalid("The text field in the ContentBlock object is blank. Add text to the "
                      "text field, and try again." if v == "" else "text must be a string")
    if kind == "text" and v == "":
        raise Invalid("The text field in the ContentBlock object is blank. Add text to the "
                      "text field, and try again.")
    if kind == "image":
        if v.get("format") not in ("png", "jpeg", "gif", "webp"):
            raise Invalid("image.format must be one of png, jpeg, gif, webp")
        try:
            base64.b64decode(v["source"]["bytes"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise Invalid("image.source.bytes must be base64")
    if kind == "cachePoint" and v != {"type": "default"}:
        raise Invalid("cachePoint.type must be default")
    if kind in ("toolUse", "toolResult") and not has_tools:
        raise Invalid("The toolConfig field must be defined when using toolUse and "
                      "toolResult content blocks.")
    if kind == "toolUse":
        if role != "assistant" or not isinstance(v.get("input"), dict) or not v.get(
                "toolUseId") or not v.get("name"):
            raise Invalid("toolUse needs toolUseId, name and an object input, in an "
                          "assistant turn")
    if kind == "toolResult":
        if role != "user" or v.get("toolUseId") not in tool_ids_before:
            raise Invalid("Expected toolResult blocks at messages.N.content for the following "
                          "Ids: " + ", ".join(sorted(tool_ids_before)))
        if v.get("status", "success") not in ("success", "error"):
            raise Invalid("toolResult.status must be success or error")
        for c in v.get("content") or [None]:
            if not isinstance(c, dict) or len(c) != 1 or next(iter(c)) not in (
                    "text", "json", "image", "document"):
                raise Invalid("toolResult.content must hold text, json, image or document "
                              "blocks")
    return kind, v


def validate(body) -> None:
    if not isinstance(body, dict):
        raise Invalid("Malformed input request, please reformat your input and try again.")
    allowed = {"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
               "additionalModelRequestFields", "promptVariables",
               "additionalModelResponseFieldPaths", "requestMetadata", "performanceConfig"}
    extra = set(body) - allowed
    if extra:
        raise Invalid(f"Unknown parameter(s): {', '.join(sorted(extra))}")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise Invalid("A conversation must start with a user message. Try again with a "
                      "conversation that starts with a user message.")
    tc = body.get("toolConfig")
    if tc is not None:
        tools = tc.get("tools") if isinstance(tc, dict) else None
        if not isinstance(tools, list) or not tools:
            raise Invalid("toolConfig.tools must be a non-empty list")
        for t in tools:
            spec = t.get("toolSpec") if isinstance(t, dict) else None
            if not isinstance(spec, dict) or not spec.get("name") or not isinstance(
                    (spec.get("inputSchema") or {}).get("json"), dict):
                raise Invalid("toolSpec needs name and inputSchema.json")
        choice = tc.get("toolChoice")
        if choice is not None and (not isinstance(choice, dict) or len(choice) != 1 or
                                   next(iter(choice)) not in ("auto", "any", "tool")):
            raise Invalid("toolChoice must have exactly one of auto, any, tool")
        if choice and "tool" in choice and not (choice["tool"] or {}).get("name"):
            raise Invalid("toolChoice.tool needs a name")
    for s in body.get("system") or []:
        if not isinstance(s, dict) or len(s) != 1 or next(iter(s)) not in (
                "text", "cachePoint", "guardContent"):
            raise Invalid("system blocks hold text, cachePoint or guardContent")
    ic = body.get("inferenceConfig") or {}
    if not isinstance(ic, dict) or set(ic) - {"maxTokens", "temperature", "topP",
                                              "stopSequences"}:
        raise Invalid("inferenceConfig takes maxTokens, temperature, topP, stopSequences")
    if "maxTokens" in ic and not (isinstance(ic["maxTokens"], int) and ic["maxTokens"] >= 1):
        raise Invalid("1 validation error detected: Value at 'inferenceConfig.maxTokens' "
                      "failed to satisfy constraint: Member must have value greater than or "
                      "equal to 1")
    for k in ("temperature", "topP"):
        if k in ic and not (isinstance(ic[k], (int, float)) and 0 <= ic[k] <= 1):
            raise Invalid(f"1 validation error detected: Value at 'inferenceConfig.{k}' "
                          "failed to satisfy constraint: Member must have value less than "
                          "or equal to 1")
    if "stopSequences" in ic and not (isinstance(ic["stopSequences"], list) and all(
            isinstance(s, str) and s for s in ic["stopSequences"])):
        raise Invalid("inferenceConfig.stopSequences must be a list of non-empty strings")
    prev_role, prev_ids = None, set()
    for m in msgs:
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            raise Invalid("Value at 'messages.role' failed to satisfy constraint: Member must "
                          "satisfy enum value set: [user, assistant]")
        if prev_role is None and role != "user":
            raise Invalid("A conversation must start with a user message. Try again with a "
                          "conversation that starts with a user message.")
        if role == prev_role:
            raise Invalid("A conversation must alternate between user and assistant roles. "
                          "Make sure the conversation alternates between user and assistant "
                          "roles and try again.")
        content = m.get("content")
        if not isinstance(content, list) or not content:
            raise Invalid("The content field in the Message object at messages.N is empty. "
                          "Add a ContentBlock object to the content field and try again.")
        ids = set()
        for b in content:
            kind, v = _check_block(b, role, prev_ids, tc is not None)
            if kind == "toolUse":
                ids.add(v["toolUseId"])
        prev_role, prev_ids = role, ids


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------

def _usage(step, body_len, produced):
    u = {"inputTokens": max(1, body_len // 4), "outputTokens": max(1, produced // 4)}
    u.update(step.get("usage") or {})
    u["totalTokens"] = sum(u.get(k, 0) for k in ("inputTokens", "outputTokens",
                                                  "cacheReadInputTokens",
                                                  "cacheWriteInputTokens"))
    return u


def converse_answer(step, body_len) -> dict:
    content = []
    if step.get("content"):
        content.append({"text": step["content"]})
    for c in step.get("calls") or []:
        content.append({"toolUse": {"toolUseId": c["id"], "name": c["name"],
                                    "input": c["input"]}})
    produced = len(step.get("content") or "") + sum(
        len(json.dumps(c["input"])) for c in step.get("calls") or [])
    return {"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": step["stop_reason"], "usage": _usage(step, body_len, produced),
            "metrics": {"latencyMs": 42}}


def stream_events(step, body_len) -> list:
    size = max(1, step.get("chunk_size", 8))
    out = [event("messageStart", {"role": "assistant"})]
    idx = 0
    if step.get("content"):
        s = step["content"]
        for i in range(0, len(s), size):
            out.append(event("contentBlockDelta", {"contentBlockIndex": idx,
                                                   "delta": {"text": s[i:i + size]}}))
        out.append(event("contentBlockStop", {"contentBlockIndex": idx}))
        idx += 1
    for c in step.get("calls") or []:
        out.append(event("contentBlockStart", {"contentBlockIndex": idx, "start": {
            "toolUse": {"toolUseId": c["id"], "name": c["name"]}}}))
        args = json.dumps(c["input"])
        for i in range(0, len(args), size):
            out.append(event("contentBlockDelta", {"contentBlockIndex": idx, "delta": {
                "toolUse": {"input": args[i:i + size]}}}))
        out.append(event("contentBlockStop", {"contentBlockIndex": idx}))
        idx += 1
    out.append(event("messageStop", {"stopReason": step["stop_reason"]}))
    answer = converse_answer(step, body_len)
    out.append(event("metadata", {"usage": answer["usage"], "metrics": {"latencyMs": 42}}))
    return out


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Server"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.fake.verbose:
            sys.stderr.write("fake_bedrock: " + fmt % args + "\n")

    def _send(self, status, body: bytes, ctype="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "fake-request-id")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status, error_type, message):
        self._send(status, json.dumps({"message": message}).encode(),
                   extra={"x-amzn-ErrorType": error_type + ERROR_NAMESPACE})

    def do_GET(self):
        self._error(404, "UnknownOperationException", "Unknown operation")

    def do_POST(self):
        fake = self.server.fake
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        raw_path, _, raw_query = self.path.partition("?")
        segs = raw_path.split("/")
        record = {"path": raw_path, "headers": {k.lower(): v for k, v in self.headers.items()},
                  "raw": body, "body": None, "model_id": None, "stream": None,
                  "auth": None, "step": None}
        try:
            record["body"] = json.loads(body) if body else None
        except ValueError:
            pass
        fake._record(record)
        if len(segs) != 4 or segs[1] != "model" or segs[3] not in ("converse",
                                                                  "converse-stream"):
            return self._error(404, "UnknownOperationException", "Unknown operation")
        record["model_id"] = urllib.parse.unquote(segs[2])
        record["stream"] = segs[3] == "converse-stream"
        try:
            verify(fake, self.command, raw_path, raw_query, self.headers, body)
            record["auth"] = "ok"
        except AuthError as e:
            record["auth"] = e.error_type
            return self._error(403, e.error_type, str(e))
        try:
            validate(record["body"])
        except Invalid as e:
            record["step"] = "invalid"
            return self._error(400, "ValidationException", str(e))
        step = fake._next_step()
        record["step"] = step["kind"] if step else "exhausted"
        if step is None:
            return self._error(500, "InternalServerException",
                               "fake_bedrock: script exhausted")
        if step["kind"] == "error":
            return self._error(step["status"], step["type"], step["message"])
        if not record["stream"]:
            if step["kind"] == "stream_exception":
                return self._error(EXCEPTION_STATUS[step["exception_type"]],
                                   step["exception_type"][0].upper() +
                                   step["exception_type"][1:], step["message"])
            return self._send(200, json.dumps(converse_answer(step, len(body))).encode())
        self._stream(step, len(body))

    def _stream(self, step, body_len):
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", "fake-request-id")
        self.end_headers()
        if step["kind"] == "stream_exception":
            events = stream_events(text("partial answer " * 3), body_len)[:step["after"]]
            events.append(exception(step["exception_type"], step["message"]))
        else:
            events = stream_events(step, body_len)
        data = b"".join(events)
        # Cut the bytes anywhere (not on frame boundaries): the client must reassemble.
        piece = step.get("write_size", 7)
        for i in range(0, len(data), piece):
            part = data[i:i + piece]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeBedrock(Served):
    """A scripted Bedrock runtime on 127.0.0.1; see the module docstring."""

    def __init__(self, access_key_id="AKIDEXAMPLE", secret_access_key="fake-secret",
                 region="us-east-1", session_token=None, port=0, verbose=False):
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region
        self.session_token = session_token
        self.verbose = verbose
        self._lock = threading.Lock()
        self._steps = collections.deque()
        self._requests = []
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def script(self, *steps):
        with self._lock:
            self._steps.extend(steps)
        return self

    @property
    def remaining(self):
        with self._lock:
            return len(self._steps)

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def _record(self, record):
        with self._lock:
            self._requests.append(record)

    def _next_step(self):
        with self._lock:
            return self._steps.popleft() if self._steps else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--access-key-id", default="AKIDEXAMPLE")
    p.add_argument("--secret-access-key", default="fake-secret")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--session-token")
    p.add_argument("--script", help="JSON list of steps")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    fake = FakeBedrock(args.access_key_id, args.secret_access_key, args.region,
                       args.session_token, args.port, args.verbose)
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            fake.script(*json.load(f))
    serve_until_signal(fake, fake.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
