"""A fake Alertmanager API v2 (prometheus/alertmanager api/v2/openapi.yaml) for silences:
``POST /api/v2/silences`` with a ``postableSilence`` body, ``GET /api/v2/silences`` and
``GET /api/v2/silence/{id}``.

As the real one: the body must be a JSON object with ``matchers`` (at least one, each with
``name``, ``value`` and ``isRegex``; ``isEqual`` defaults to true), ``startsAt``, ``endsAt``,
``createdBy`` and ``comment`` (all required); ``endsAt`` must not be before ``startsAt`` nor in
the past; at least one matcher must not match the empty string; an ``id`` that is not known
is 404. A valid silence answers 200 ``{"silenceID": "<uuid>"}``; an invalid one answers 400
with the error as a JSON string (the API's error responses are ``type: string``), e.g.
``"silence invalid: comment missing"``. Every request is recorded raw and parsed."""
import json
import re
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _time(value):
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def validate(body):
    """The error text of a postableSilence, or None when it is valid."""
    if not isinstance(body, dict):
        return "parsing silence body failed: expected an object"
    for field in ("matchers", "startsAt", "endsAt", "createdBy", "comment"):
        if field not in body:
            return f"{field} in body is required"
    matchers = body["matchers"]
    if not isinstance(matchers, list) or not matchers:
        return "silence invalid: at least one matcher required"
    empty_ok = True
    for m in matchers:
        if not isinstance(m, dict):
            return "silence invalid: invalid label matcher"
        for field in ("name", "value", "isRegex"):
            if field not in m:
                return f"matchers.{field} in body is required"
        if not LABEL_NAME.match(str(m["name"])):
            return f"silence invalid: invalid label matcher: invalid label name {m['name']!r}"
        equal = m.get("isEqual", True)
        if not m["isRegex"] and equal and m["value"] != "":
            empty_ok = False
    if empty_ok:
        return "silence invalid: at least one matcher must not match the empty string"
    start, end = _time(body["startsAt"]), _time(body["endsAt"])
    if start is None or end is None:
        return "startsAt and endsAt in body must be of type date-time"
    if end < start:
        return "silence invalid: end time must not be before start time"
    if end < datetime.now(timezone.utc):
        return "silence invalid: end time can't be in the past"
    if not body["createdBy"]:
        return "silence invalid: creator information missing"
    if not body["comment"]:
        return "silence invalid: comment missing"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        fake = self.server.fake
        if self.path == "/api/v2/silences":
            return self._send(200, list(fake.silences.values()))
        m = re.match(r"^/api/v2/silence/([^/]+)$", self.path)
        if m and m.group(1) in fake.silences:
            return self._send(200, fake.silences[m.group(1)])
        self._send(404, "silence not found")

    def do_POST(self):
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        record = {"method": "POST", "path": self.path, "headers": dict(self.headers),
                  "raw": raw.decode("utf-8", "replace")}
        try:
            record["body"] = json.loads(raw)
        except ValueError:
            record["body"] = None
        with fake.lock:
            fake.requests.append(record)
        if self.path != "/api/v2/silences":
            return self._send(404, "not found")
        if fake.fail_with:
            status, text = fake.fail_with
            return self._send(status, text)
        if record["body"] is None:
            return self._send(400, "parsing silence body failed")
        error = validate(record["body"])
        if error:
            return self._send(400, error)
        sid = record["body"].get("id")
        if sid and sid not in fake.silences:
            return self._send(404, "silence not found")
        sid = sid or str(uuid.uuid4())
        with fake.lock:
            fake.silences[sid] = {**record["body"], "id": sid,
                                  "status": {"state": "active"},
                                  "updatedAt": datetime.now(timezone.utc).isoformat()}
        self._send(200, {"silenceID": sid})


class FakeAlertmanager:
    def __init__(self):
        self.requests = []
        self.silences = {}
        self.lock = threading.Lock()
        self.fail_with = None  # (status, error text) answered to every POST
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
