"""Helpers for the `hermetic router` end-to-end tests (tests/e2e/test_router_*.py).

A test builds a config as a Python dict (`router_config()` + overrides), starts the real binary
with `start_router` (a fixture), points its deployments at the scripted fake upstream (`fake`, a
FakeOpenAI on loopback, see tests/fakes/README.md) and talks to it over plain http.client.

    def test_x(fake, start_router):
        fake.script_for("test/free", text("hi"))
        r = start_router(router_config(fake, [deployment("free", "test/free", fake)]))
        reply = r.chat("free")
        assert reply.status == 200

Import the fixtures into the test module: `from router_harness import fake, start_router`.
"""
import hashlib
import http.client
import json
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import SLOW, argv, clean_env, free_port, run, to_yaml, wait_exit
from fakes.fake_openai import FakeOpenAI

# The upstream (OpenRouter) key every deployment uses; the fake insists on it.
UPSTREAM_KEY = "sk-or-v1-e2e-upstream-SECRET-7f3a9c"
UPSTREAM_ENV = "E2E_UPSTREAM_KEY"
MASTER_KEY = "sk-e2e-router-master-SECRET-41d2"
MASTER_ENV = "LITELLM_MASTER_KEY"

INVALID_MODEL = ("Invalid model name passed in model={}. Call /v1/models to view available "
                 "models for your key.")
NO_DEPLOYMENTS = re.compile(r"^No deployments available for selected model, Try again in "
                            r"(\d+(?:\.\d+)?) seconds")
BUDGET_EXCEEDED = re.compile(r"^Budget has been exceeded! Current cost: ([-+0-9.eE]+), "
                             r"Max budget: ([-+0-9.eE]+)$")


SANITIZER_MARKERS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer")


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


# ---------------------------------------------------------------------------
# Config: a dict rendered as block YAML
# ---------------------------------------------------------------------------

def deep_merge(base, over):
    """A copy of `base` with `over` merged in (dicts recursively; anything else replaced)."""
    out = dict(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def api_base_of(upstream):
    """A FakeOpenAI, or a base URL string (e.g. a closed port for connection-refused tests)."""
    return upstream if isinstance(upstream, str) else upstream.url


def deployment(name, model_id, upstream, id=None, model_info=None, **params):
    """One model_list entry: group `name`, upstream model `model_id` via openrouter/<id>."""
    lp = {"model": f"openrouter/{model_id}", "api_base": api_base_of(upstream),
          "api_key": f"os.environ/{UPSTREAM_ENV}", **params}
    entry = {"model_name": name, "litellm_params": lp}
    info = dict(model_info or {})
    if id is not None:
        info["id"] = id
    if info:
        entry["model_info"] = info
    return entry


def router_config(fake, models=None, **sections):
    """A router config; `sections` are deep-merged over the defaults.

    Defaults keep tests deterministic: no retries unless a test asks, cooldowns out of the way
    (allowed_fails high), a 10 s call timeout, UTC, no auth.
    """
    if models is None:
        models = [deployment("free", "test/free", fake), deployment("cheap", "test/cheap", fake)]
    base = {
        "timezone": "UTC",
        "log": {"level": "debug"},
        "model_list": models,
        "router_settings": {"num_retries": 0, "allowed_fails": 100, "cooldown_time": 2,
                            "timeout": 10},
    }
    return deep_merge(base, sections)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class Reply:
    """One HTTP answer. `headers` has lower-case keys; `truncated` = the body was cut short."""

    def __init__(self, status, headers, body, truncated=False, elapsed=0.0):
        self.status = status
        self.headers = headers
        self.body = body
        self.truncated = truncated
        self.elapsed = elapsed

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def error(self):
        """The `error` object of an OpenAI-shaped error body."""
        doc = self.json()
        assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), self.text
        return doc["error"]

    def content(self):
        return self.json()["choices"][0]["message"]["content"]

    # -- SSE --
    def sse(self):
        """(data payloads, comment lines) of an SSE body; CRLF or LF, multi-line data joined."""
        datas, comments, cur = [], [], []
        for line in self.text.replace("\r\n", "\n").split("\n"):
            if line == "":
                if cur:
                    datas.append("\n".join(cur))
                    cur = []
            elif line.startswith(":"):
                comments.append(line)
            elif line.startswith("data:"):
                v = line[5:]
                cur.append(v[1:] if v.startswith(" ") else v)
        if cur:
            datas.append("\n".join(cur))
        return datas, comments

    def events(self):
        """Parsed JSON data events (the [DONE] marker excluded)."""
        return [json.loads(d) for d in self.sse()[0] if d != "[DONE]"]

    def done(self):
        datas = self.sse()[0]
        return bool(datas) and datas[-1] == "[DONE]"

    def stream_content(self):
        return "".join((c.get("delta") or {}).get("content") or ""
                       for e in self.events() for c in (e.get("choices") or []))

    def error_events(self):
        return [e for e in self.events() if "error" in e]


def request(port, method, path, body=None, headers=None, timeout=15, raw=None):
    """One request on a fresh connection. HTTP errors are answers, not exceptions."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    t0 = time.monotonic()
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        parts, truncated = [], False
        try:
            while True:
                b = resp.read1(65536)
                if not b:
                    break
                parts.append(b)
        except http.client.IncompleteRead as e:
            parts.append(e.partial)
            truncated = True
        except (ConnectionResetError, BrokenPipeError):
            truncated = True
        hdr = {k.lower(): v for k, v in resp.getheaders()}
        return Reply(resp.status, hdr, b"".join(parts), truncated, time.monotonic() - t0)
    finally:
        conn.close()


def chat_body(model, content="hi", stream=False, include_usage=None, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    if stream:
        body["stream"] = True
    if include_usage is not None:
        body["stream_options"] = {"include_usage": include_usage}
    body.update(extra)
    return body


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparseable metrics line: {line!r}"
        labels = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in
                  _LABEL.findall(m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def samples(parsed, name, **labels):
    return [(n, l, v) for n, l, v in parsed
            if n == name and all(l.get(k) == str(val) for k, val in labels.items())]


def msum(parsed, name, **labels):
    """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
    return sum(v for _, _, v in samples(parsed, name, **labels))


def promtool_check(text):
    r = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


# ---------------------------------------------------------------------------
# The router process
# ---------------------------------------------------------------------------

class Router:
    """A running `hermetic router` with its own home directory and config file."""

    def __init__(self, tmp_path, config, env=None, name="router"):
        self.dir = tmp_path / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home = tmp_path / "home"
        self.port = free_port()
        self.config_path = self.dir / "config.yaml"
        if isinstance(config, dict):
            config = deep_merge(config, {"home": str(self.home),
                                         "router": {"listen": f"127.0.0.1:{self.port}"}})
            text = to_yaml(config)
        else:
            # A text template: {home} and {port} are replaced (no str.format: YAML has braces).
            text = config.replace("{home}", str(self.home)).replace("{port}", str(self.port))
        self.config_path.write_text(text)
        self.env = clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, **(env or {})})
        self.stderr_path = self.dir / "stderr.log"
        self.stdout_path = self.dir / "stdout.log"
        self.proc = None
        self.key = None  # default bearer key for requests

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait=True):
        self._err = open(self.stderr_path, "a")
        self._out = open(self.stdout_path, "a")
        self.proc = subprocess.Popen(argv("router", "--config", str(self.config_path)),
                                     env=self.env, stdout=self._out, stderr=self._err)
        if wait:
            self.wait_alive()
        return self

    def wait_alive(self, timeout=20):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"hermetic router exited with {self.proc.returncode}:\n"
                                     f"{self.stderr()}")
            try:
                if request(self.port, "GET", "/health/liveliness", timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"router not alive after {timeout * SLOW}s:\n{self.stderr()}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return wait_exit(self.proc, timeout, self.stderr)
        finally:
            self._err.close()
            self._out.close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f and not f.closed:
                f.close()

    def restart(self):
        self.kill()
        return self.start()

    def stderr(self):
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def stdout(self):
        return self.stdout_path.read_text() if self.stdout_path.exists() else ""

    def logfile(self):
        p = self.home / "logs" / "hermetic.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # -- requests --
    def _auth(self, key, headers):
        h = dict(headers or {})
        key = self.key if key is None else key
        if key:
            h["Authorization"] = f"Bearer {key}"
        return h

    def get(self, path, key=None, headers=None, timeout=15):
        return request(self.port, "GET", path, headers=self._auth(key, headers), timeout=timeout)

    def post(self, path, body=None, key=None, headers=None, timeout=15, raw=None):
        return request(self.port, "POST", path, body=body, headers=self._auth(key, headers),
                       timeout=timeout, raw=raw)

    def chat(self, model, key=None, headers=None, timeout=15, path="/v1/chat/completions",
             **body):
        return self.post(path, chat_body(model, **body), key=key, headers=headers,
                         timeout=timeout)

    def metrics_text(self):
        r = request(self.port, "GET", "/metrics")
        assert r.status == 200, r.text
        return r.text

    def metrics(self):
        return parse_metrics(self.metrics_text())

    # -- state.db --
    def spend_rows(self):
        db = self.home / "state.db"
        if not db.exists():
            return []
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM spend ORDER BY ts_ms")]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise
        finally:
            con.close()

    def wait_spend_rows(self, count, timeout=5):
        deadline = time.monotonic() + timeout * SLOW
        rows = self.spend_rows()
        while len(rows) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            rows = self.spend_rows()
        return rows

    def spend_cli(self, *args):
        return run("spend", *args, "--config", str(self.config_path), env=self.env)


def upstream_models(fake):
    """Upstream model ids of the recorded chat requests, in order."""
    return [r["model"] for r in fake.chat_requests]


def count_calls(fake, model):
    return sum(1 for r in fake.chat_requests if r["model"] == model)


# ---------------------------------------------------------------------------
# Fixtures (import them into the test module)
# ---------------------------------------------------------------------------

@pytest.fixture
def fake():
    with FakeOpenAI(api_key=UPSTREAM_KEY) as f:
        yield f


@pytest.fixture
def start_router(tmp_path, fake):
    """start_router(config, env=None, key=None, wait=True, name="router") -> Router."""
    started = []

    def make(config, env=None, key=None, start=True, name="router"):
        r = Router(tmp_path, config, env, name=name)
        r.key = key
        started.append(r)
        return r.start() if start else r

    yield make
    # Every router must also shut down cleanly, and sanitizer builds must have nothing to say.
    problems = []
    for r in started:
        if r.proc is None:
            continue
        if r.proc.poll() is None:
            try:
                rc = r.stop(timeout=10)
                if rc != 0:
                    problems.append(f"{r.dir.name}: exit {rc} after SIGTERM")
            except AssertionError as e:  # wait_exit: it hung; its stacks say where
                problems.append(f"{r.dir.name}: still running 10 s after SIGTERM: {e}")
        r.kill()
        err = r.stderr()
        for marker in SANITIZER_MARKERS:
            if marker in err:
                problems.append(f"{r.dir.name}: {marker!r} in stderr")
    if problems:
        pytest.fail("router teardown: " + "; ".join(problems) + "\n" +
                    "\n".join(r.stderr()[-4000:] for r in started), pytrace=False)


def closed_port_url():
    """An api_base nobody listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


def approx(a, b, tol=1e-9):
    return abs(float(a) - float(b)) <= tol


def today_utc():
    return time.strftime("%Y-%m-%d", time.gmtime())


