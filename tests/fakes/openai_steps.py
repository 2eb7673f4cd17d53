"""What the small OpenAI fakes (fake_openai_media.py, fake_openai_responses.py) share: the
steps a test scripts (ok, error), OpenAI's error body, the request reader and answer writer of
their handler, and the fake itself as a FIFO of steps over Served. Each fake re-exports the
step helpers, so a test imports them from the fake it drives."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from fakes.served import Served
except ImportError:  # run as a script from tests/fakes
    from served import Served


def openai_error(message, param=None, code=None, type_="invalid_request_error"):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error(status, body=None, retry_after=None, delay=0):
    """An HTTP error answer (OpenAI's shape unless body is given)."""
    if body is None:
        body = openai_error(f"fake upstream error {status}", None, None,
                            "server_error" if status >= 500 else "invalid_request_error")
    return {"kind": "error", "status": status, "body": body, "retry_after": retry_after,
            "delay": delay}


def ok(**overrides):
    """The normal answer, with overrides (the fake's module docstring lists them)."""
    return {"kind": "ok", **overrides}


class BadRequest(Exception):
    def __init__(self, message, param=None, code=None, status=400):
        super().__init__(message)
        self.status = status
        self.body = openai_error(message, param, code)


def tokens_of(text):
    return max(1, len(text.encode()) // 4)


class StepHandler(BaseHTTPRequestHandler):
    """Reads a request body (Content-Length or chunked) and writes an answer, recording its
    status in self.rec. log_name prefixes the --verbose log lines."""
    protocol_version = "HTTP/1.1"
    log_name = "fake"

    def log_message(self, fmt, *args):
        if self.server.fake.verbose:
            sys.stderr.write(f"{self.log_name}: " + fmt % args + "\n")

    def _read(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status, body, content_type="application/json", headers=None):
        """body: bytes as they are, anything else as JSON."""
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.rec["status"] = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class StepFake(Served):
    """A fake on 127.0.0.1 whose answers follow the scripted steps, first in first out, and
    {"kind": "ok"} when none is left. handler: the fake's StepHandler class."""

    def __init__(self, handler, api_key=None, verbose=False):
        self.api_key = api_key
        self.verbose = verbose
        self.lock = threading.Lock()
        self.requests = []
        self.steps = []
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.fake = self
        self._thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *steps):
        with self.lock:
            self.steps.extend(steps)

    def next_step(self):
        with self.lock:
            return self.steps.pop(0) if self.steps else {"kind": "ok"}

    def paths(self):
        with self.lock:
            return [r["path"] for r in self.requests]
