"""Helpers for the MCP client end-to-end tests (tests/e2e/test_mcp_*.py).

The tests prove hermetic's MCP client against real peers from npm (installed once per session by
tests/peers/install.sh, see tests/peers/README.md for what was measured) and against
tests/fakes/fake_mcp.py for what real servers never do:

    from mcp_harness import peers, everything, kubernetes, fake_mcp, mcp_gateway, Mcp

    def test_x(peers, tmp_path):
        srv = everything(peers, "streamableHttp")           # a running server-everything
        cfg = write_config(tmp_path, {"everything": srv.server_entry()})
        r = mcp_list(cfg)                                   # `hermetic mcp list --json`
        assert "mcp_everything_echo" in r.tool_names("everything")

Servers are started on free loopback ports (server-everything with tests/peers/loopback.cjs
preloaded, kubernetes-mcp-server with --bind-address 127.0.0.1) and are stopped by the fixtures.
`PyMcp*` is a tiny Python MCP client used to check the peers themselves (test_mcp_peers.py), so
a broken peer install fails there, not as a mystery in a hermetic test.
"""
from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from conftest import ROOT, SLOW, argv, clean_env, free_port, to_yaml, wait_exit

PEERS_DIR = ROOT / "tests" / "peers"
LOOPBACK = PEERS_DIR / "loopback.cjs"
KUBECONFIG = PEERS_DIR / "kubeconfig-dummy.yaml"
FAKE_MCP = ROOT / "tests" / "fakes" / "fake_mcp.py"
NODE = os.environ.get("HERMETIC_NODE", "/usr/bin/node")
PY = sys.executable or "/usr/bin/python3"

# Default per-server limits in test configs: short, so a failure costs seconds, not minutes.
CONNECT_TIMEOUT = 3 * SLOW
CALL_TIMEOUT = 5 * SLOW
# A real MCP server on Node.js loads its runtime and SDK first: server-everything took 2.4 s to
# answer initialize on an idle slow VM, past 12 s under make test's load.
NODE_CONNECT_TIMEOUT = 3 * CONNECT_TIMEOUT
# How long this harness's own MCP clients and a peer's start wait: 10 s on an idle fast machine,
# scaled like every wait here (SLOW). A Node.js peer missed a fixed 10 s and 20 s under make test's
# load (CI of stop 61), though it answered.
PEER_WAIT = 10 * SLOW
# A server timeout a test means to hit with a hanging call, while its other calls to that server
# must still make it: 1 s on an idle fast machine. A fixed 1 s failed such an echo under make
# test's load (CI of stop 62).
HANG_TIMEOUT = max(1, int(SLOW))

PROTOCOL_LATEST = "2025-11-25"
PROTOCOL_ACCEPTED = ("2025-11-25", "2025-06-18", "2025-03-26")

SANITIZER_MARKERS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer")

# The name a tool is offered under: mcp_<server>_<tool>, [^a-zA-Z0-9_] -> _, at most 64 chars.
TOOL_PREFIX = "mcp_"
MAX_TOOL_NAME = 64

# Measured on @modelcontextprotocol/server-everything@2026.8.31 (see tests/peers/README.md).
EVERYTHING_TOOLS = (
    "echo", "get-annotated-message", "get-env", "get-resource-links", "get-resource-reference",
    "get-structured-content", "get-sum", "get-tiny-image", "gzip-file-as-resource",
    "toggle-simulated-logging", "toggle-subscriber-updates", "trigger-long-running-operation",
)
# Registered only after notifications/initialized (and announced with tools/list_changed); with
# `capabilities: {}` only this one appears (the others need sampling/elicitation/roots).
EVERYTHING_LATE_TOOLS = ("simulate-research-query",)
# kubernetes-mcp-server 0.0.67 --read-only, default toolsets core,config.
K8S_READONLY_TOOLS = (
    "configuration_view", "events_list", "namespaces_list", "nodes_log", "nodes_stats_summary",
    "nodes_top", "pods_get", "pods_list", "pods_list_in_namespace", "pods_log", "pods_top",
    "projects_list", "resources_get", "resources_list",
)


def model_name(server, tool):
    """The tool name hermetic shows the model (before the 64-char rule)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{TOOL_PREFIX}{server}_{tool}")


def wait_until(pred, timeout=10, interval=0.05, what="condition"):
    """Polls `pred` until it returns a truthy value (returned); AssertionError after timeout."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout * SLOW}s waiting for {what} (last: {last!r})")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------
# Peers: installed once per session
# ---------------------------------------------------------------------------

class Peers:
    """Where tests/peers/install.sh put the real servers."""

    def __init__(self, prefix):
        self.prefix = Path(prefix)
        nm = self.prefix / "node_modules"
        self.everything_js = (nm / "@modelcontextprotocol" / "server-everything" / "dist" /
                              "index.js")
        self.k8s_bin = (nm / "kubernetes-mcp-server-linux-amd64" / "bin" /
                        "kubernetes-mcp-server-linux-amd64")


_peers_cache = {}


def install_peers():
    if "peers" not in _peers_cache:
        try:
            p = subprocess.run(["bash", str(PEERS_DIR / "install.sh")], capture_output=True,
                               text=True, timeout=600)
        except subprocess.TimeoutExpired as e:
            _peers_cache["peers"] = AssertionError(f"tests/peers/install.sh timed out: {e}")
        else:
            lines = p.stdout.strip().splitlines()
            if p.returncode != 0 or not lines:
                _peers_cache["peers"] = AssertionError(
                    f"tests/peers/install.sh failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
            else:
                _peers_cache["peers"] = Peers(lines[-1])
    v = _peers_cache["peers"]
    if isinstance(v, Exception):
        pytest.fail(str(v), pytrace=False)
    return v


@pytest.fixture(scope="session")
def peers():
    return install_peers()


# ---------------------------------------------------------------------------
# Server processes
# ---------------------------------------------------------------------------

class ServerProcess:
    """A server child on a loopback port; `restart()` brings it back on the same port."""

    def __init__(self, name, cmd, port, env, log_path, path="/mcp", ready=None):
        self.name = name
        self.cmd = cmd
        self.port = port
        self.env = env
        self.log_path = Path(log_path)
        self.path = path
        self.ready = ready or (lambda: port_open(self.port))
        self.proc = None
        self._log = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self, wait=True):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=2 * PEER_WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                     f"{self.log()}")
            if self.ready():
                return self
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not listening on {self.port} after {timeout}s:\n"
                             f"{self.log()}")

    def kill(self, sig=signal.SIGKILL):
        """Kills the server (its process group: node may have children) and reaps it."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        # the port must be free again before a restart binds it
        wait_until(lambda: not port_open(self.port), timeout=5, what=f"{self.name} port closed")

    stop = kill

    def restart(self):
        self.kill()
        return self.start()

    def log(self, tail=4000):
        try:
            text = self.log_path.read_text(errors="replace")
            return text[-tail:] if tail else text
        except OSError:
            return ""


class ServerPool:
    """Fixture object: every server started through it is killed at teardown."""

    def __init__(self, peers, tmp_path):
        self.peers = peers
        self.tmp_path = tmp_path
        self.started = []

    def _track(self, s):
        self.started.append(s)
        return s

    def everything(self, mode, port=None, start=True, env=None):
        """server-everything in `mode` ("sse" or "streamableHttp") on a free loopback port."""
        assert mode in ("sse", "streamableHttp"), mode
        port = port or free_port()
        e = clean_env(PORT=str(port), HOME=str(self.tmp_path), **(env or {}))
        cmd = [NODE, "--require", str(LOOPBACK), str(self.peers.everything_js), mode]
        s = ServerProcess(f"everything-{mode}", cmd, port, e,
                          self.tmp_path / f"everything-{mode}-{port}.log",
                          path="/sse" if mode == "sse" else "/mcp")
        self._track(s)
        return s.start() if start else s

    def shared(self, mode):
        """One server-everything per mode for the whole pool (started on first use)."""
        key = f"_shared_{mode}"
        if getattr(self, key, None) is None:
            setattr(self, key, self.everything(mode))
        return getattr(self, key)

    def everything_stdio_entry(self, env=None, **extra):
        """The mcp_servers entry that makes hermetic spawn server-everything over stdio."""
        entry = {"command": NODE,
                 "args": ["--require", str(LOOPBACK), str(self.peers.everything_js), "stdio"],
                 "connect_timeout": NODE_CONNECT_TIMEOUT}
        if env:
            entry["env"] = dict(env)
        entry.update(extra)
        return entry

    def kubernetes(self, port=None, start=True, extra_args=()):
        """kubernetes-mcp-server --read-only with the dummy kubeconfig, on 127.0.0.1."""
        port = port or free_port()
        cmd = [str(self.peers.k8s_bin), "--port", str(port), "--bind-address", "127.0.0.1",
               "--read-only", "--kubeconfig", str(KUBECONFIG), *extra_args]
        s = ServerProcess("kubernetes-mcp-server", cmd, port,
                          clean_env(HOME=str(self.tmp_path), KUBECONFIG=str(KUBECONFIG)),
                          self.tmp_path / f"kubernetes-{port}.log", path="/mcp",
                          ready=lambda: http_status(port, "/healthz") == 200)
        self._track(s)
        return s.start() if start else s

    def fake(self, *args, port=None, start=True):
        """tests/fakes/fake_mcp.py as a process (for kill/restart tests)."""
        port = port or free_port()
        cmd = [PY, str(FAKE_MCP), "--port", str(port), *args]
        s = ServerProcess("fake_mcp", cmd, port, clean_env(),
                          self.tmp_path / f"fake-mcp-{port}.log", path="/mcp")
        self._track(s)
        return s.start() if start else s

    def close(self):
        for s in self.started:
            s.kill()


@pytest.fixture
def servers(peers, tmp_path):
    pool = ServerPool(peers, tmp_path)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def module_servers(peers, tmp_path_factory):
    """A pool shared by a module's tests (servers that no test kills or reconfigures)."""
    pool = ServerPool(peers, tmp_path_factory.mktemp("mcp-servers"))
    yield pool
    pool.close()


@pytest.fixture
def fake_servers(tmp_path):
    """Like `servers` but without the npm peers (for fake_mcp-only tests)."""
    pool = ServerPool(None, tmp_path)
    yield pool
    pool.close()


def http_status(port, path, host="127.0.0.1"):
    try:
        c = http.client.HTTPConnection(host, port, timeout=1)
        c.request("GET", path)
        st = c.getresponse().status
        c.close()
        return st
    except OSError:
        return None


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------

def mcp_config(tmp_path, servers, api_port=None, **sections):
    """A config dict: home under tmp_path, debug log, the given mcp_servers, `sections` merged."""
    cfg = {"home": str(tmp_path / "home"), "log": {"level": "debug"},
           "api": {"listen": f"127.0.0.1:{api_port or free_port()}"},
           "mcp_servers": servers}
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def write_config(tmp_path, servers, name="config.yaml", **sections):
    """Writes an mcp config under tmp_path and returns its path."""
    cfg = mcp_config(tmp_path, servers, **sections)
    path = Path(tmp_path) / name
    path.write_text(to_yaml(cfg))
    return path


def http_entry(url, timeout=CALL_TIMEOUT, connect_timeout=CONNECT_TIMEOUT, **extra):
    return {"url": url, "timeout": timeout, "connect_timeout": connect_timeout, **extra}


# ---------------------------------------------------------------------------
# hermetic mcp list / call
# ---------------------------------------------------------------------------

UNKNOWN_COMMAND = "unknown command"


class Result:
    """A finished `hermetic mcp ...` run."""

    def __init__(self, proc, args, elapsed):
        self.proc = proc
        self.args = args
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed

    def __repr__(self):
        return (f"<hermetic {' '.join(self.args)} -> {self.returncode}\n"
                f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}>")

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as e:
            raise AssertionError(f"stdout is not JSON ({e}): {self!r}") from None

    def server(self, name):
        for s in self.json()["servers"]:
            if s["name"] == name:
                return s
        raise AssertionError(f"server {name!r} not in the list: {self!r}")

    def tool_names(self, server):
        return [t["name"] for t in self.server(server)["tools"]]

    def server_tools(self, server):
        return [t["tool"] for t in self.server(server)["tools"]]


def hermetic(*args, env=None, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run(argv(*args), env=env or clean_env(), capture_output=True, text=True,
                       timeout=timeout * SLOW)
    r = Result(p, args, time.monotonic() - t0)
    # Until the client lands, every test fails here with one clear reason.
    if p.returncode == 2 and UNKNOWN_COMMAND in p.stderr and args and args[0] == "mcp":
        pytest.fail(f"hermetic has no `mcp` command yet: {p.stderr.strip().splitlines()[0]}",
                    pytrace=False)
    return r


def mcp_list(config, *extra, env=None, timeout=60):
    return hermetic("mcp", "list", "--config", str(config), "--json", *extra, env=env,
                    timeout=timeout)


def mcp_call(config, server, tool, arguments=None, env=None, timeout=60):
    args = ["mcp", "call", "--config", str(config), server, tool]
    if arguments is not None:
        args.append(arguments if isinstance(arguments, str) else json.dumps(arguments))
    return hermetic(*args, env=env, timeout=timeout)


def doctor(config, env=None, timeout=60):
    return hermetic("doctor", "--config", str(config), env=env, timeout=timeout)


# ---------------------------------------------------------------------------
# The gateway with its MCP API
# ---------------------------------------------------------------------------

class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"not JSON ({e}): {self.status} {self.text[:2000]}") from None

    def __repr__(self):
        return f"<{self.status} {self.text[:2000]}>"


class McpGateway:
    """A running `hermetic gateway` whose config has `mcp_servers`."""

    def __init__(self, tmp_path, servers, api_key=None, env=None, **sections):
        self.tmp_path = Path(tmp_path)
        self.port = free_port()
        self.api_key = api_key
        api = {"listen": f"127.0.0.1:{self.port}"}
        extra_env = dict(env or {})
        if api_key:
            api["key"] = "os.environ/E2E_MCP_API_KEY"
            extra_env["E2E_MCP_API_KEY"] = api_key
        self.config = write_config(self.tmp_path, servers, name="gateway.yaml",
                                   api=api, **sections)
        self.home = self.tmp_path / "home"
        self.env = clean_env(**extra_env)
        self.stderr_path = self.tmp_path / "gateway-stderr.log"
        self.proc = None
        self._err = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait=True):
        self._err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(argv("gateway", "--config", str(self.config)), env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=self._err)
        if wait:
            self.wait_healthy()
            r = self.tools_reply()
            if r.status == 404:
                pytest.fail("the gateway has no GET /v1/tools (MCP client not there yet)",
                            pytrace=False)
        return self

    def wait_healthy(self, timeout=20):
        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited with {self.proc.returncode}:\n"
                                     f"{self.stderr()}")
            return self.request("GET", "/healthz", timeout=1).status == 200
        wait_until(healthy, timeout=timeout, what="gateway /healthz")
        return self

    def request(self, method, path, body=None, headers=None, timeout=30, auth=True):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * SLOW)
        h = dict(headers or {})
        if auth and self.api_key:
            h.setdefault("Authorization", f"Bearer {self.api_key}")
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            c.close()

    # /v1/tools
    def tools_reply(self, **kw):
        return self.request("GET", "/v1/tools", **kw)

    def tools(self):
        r = self.tools_reply()
        assert r.status == 200, r
        return r.json()["tools"]

    def tool_names(self, server=None):
        return [t["name"] for t in self.tools() if server is None or t["server"] == server]

    def call(self, name, arguments=None, timeout=30, **kw):
        body = {"name": name, "arguments": arguments if arguments is not None else {}}
        return self.request("POST", "/v1/tools/call", body=body, timeout=timeout, **kw)

    def wait_tools(self, server, present=True, timeout=30):
        """Waits until `server` has tools in /v1/tools (or none, with present=False)."""
        def check():
            names = self.tool_names(server)
            return bool(names) == present
        return wait_until(check, timeout=timeout,
                          what=f"tools of {server} {'present' if present else 'gone'}")

    # /metrics
    def metrics(self):
        r = self.request("GET", "/metrics")
        assert r.status == 200, r
        return r.text

    def metric(self, name, **labels):
        """The value of one sample (labels matched exactly as a set), or None."""
        return metric_value(self.metrics(), name, **labels)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return wait_exit(self.proc, timeout, self.stderr)
        finally:
            if self._err:
                self._err.close()
                self._err = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._err:
            self._err.close()
            self._err = None

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def log(self):
        p = self.home / "logs" / "hermetic.log"
        try:
            return p.read_text(errors="replace")
        except OSError:
            return ""


_LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_samples(text, name):
    """[(labels dict, value)] of every sample of `name` in Prometheus text."""
    out = []
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        rest = line[len(name):]
        if rest.startswith("{"):
            end = rest.rindex("}")
            labels = dict(_LABEL_RE.findall(rest[1:end]))
            value = rest[end + 1:].split()[0]
        elif rest.startswith(" "):
            labels, value = {}, rest.split()[0]
        else:
            continue
        out.append((labels, float(value)))
    return out


def metric_value(text, name, **labels):
    for lab, v in metric_samples(text, name):
        if lab == labels:
            return v
    return None


@pytest.fixture
def mcp_gateway(tmp_path):
    started = []

    def make(servers, start=True, **kw):
        g = McpGateway(tmp_path, servers, **kw)
        started.append(g)
        if start:
            g.start()
        return g

    yield make
    problems = []
    for g in started:
        # Stop it the clean way: it must exit 0 (MCP servers closed, children reaped) and
        # without a sanitizer report (LeakSanitizer speaks at exit).
        if g.proc and g.proc.poll() is None:
            try:
                rc = g.stop(timeout=20)
            except AssertionError as e:  # wait_exit: it hung; its stacks say where
                rc = f"hung on SIGTERM: {e}"
            if rc != 0:
                problems.append(f"gateway exit status {rc} after SIGTERM")
        g.kill()
        err = g.stderr()
        for m in SANITIZER_MARKERS:
            if m in err:
                problems.append(f"sanitizer report in the gateway's stderr:\n{err[-6000:]}")
                break
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---------------------------------------------------------------------------
# A tiny Python MCP client (checks the peers and the fake themselves)
# ---------------------------------------------------------------------------

class McpError(Exception):
    pass


def sse_events(chunks):
    """Parses an iterable of text lines into SSE events: dicts with event, data, id."""
    ev = {"event": "message", "data": [], "id": None}
    for line in chunks:
        line = line.rstrip("\r\n")
        if line == "":
            if "\n".join(ev["data"]):  # empty-data (priming) events are not dispatched
                yield {"event": ev["event"], "data": "\n".join(ev["data"]), "id": ev["id"]}
            ev = {"event": "message", "data": [], "id": None}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                ev["data"].append(value)
            elif field == "event":
                ev["event"] = value
            elif field == "id":
                ev["id"] = value


class PyMcpBase:
    """Request/response bookkeeping shared by the transports."""

    def __init__(self):
        self.ids = itertools.count(1)
        self.notifications = []
        self.protocol_version = None
        self.server_info = None

    def initialize(self, version=PROTOCOL_LATEST, capabilities=None):
        res = self.request("initialize", {"protocolVersion": version,
                                          "capabilities": capabilities or {},
                                          "clientInfo": {"name": "e2e-pymcp", "version": "0"}})
        self.protocol_version = res["protocolVersion"]
        self.server_info = res.get("serverInfo")
        self.notify("notifications/initialized")
        return res

    def list_tools(self):
        tools, cursor = [], None
        while True:
            res = self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(res.get("tools", []))
            cursor = res.get("nextCursor")
            if not cursor:
                return tools

    def call_tool(self, name, arguments=None, timeout=PEER_WAIT):
        return self.request("tools/call", {"name": name, "arguments": arguments or {}},
                            timeout=timeout)


class PyMcpHttp(PyMcpBase):
    """Streamable HTTP: one POST per message, JSON or SSE answers."""

    def __init__(self, url, host_header=None):
        super().__init__()
        u = urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path or "/"
        self.host_header = host_header
        self.session_id = None
        self.last_status = None
        self.last_headers = {}

    def _headers(self, extra=None):
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.session_id:
            h["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            h["MCP-Protocol-Version"] = self.protocol_version
        if self.host_header:
            h["Host"] = self.host_header
        h.update(extra or {})
        return h

    def post(self, msg, timeout=PEER_WAIT):
        """POSTs one message: (status, headers, [JSON messages answered])."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request("POST", self.path, body=json.dumps(msg).encode(), headers=self._headers())
            r = c.getresponse()
            headers = {k.lower(): v for k, v in r.getheaders()}
            self.last_status, self.last_headers = r.status, headers
            ctype = headers.get("content-type", "")
            msgs = []
            if ctype.startswith("text/event-stream"):
                want = msg.get("id")
                lines = (raw.decode("utf-8") for raw in iter(r.readline, b""))
                for ev in sse_events(lines):
                    m = json.loads(ev["data"])
                    msgs.append(m)
                    if want is not None and m.get("id") == want and "method" not in m:
                        break
            else:
                body = r.read()
                if body and ctype.startswith("application/json"):
                    doc = json.loads(body)
                    msgs.extend(doc if isinstance(doc, list) else [doc])
                elif body:
                    msgs.append({"_raw": body.decode("utf-8", "replace")})
            return r.status, headers, msgs
        finally:
            c.close()

    def request(self, method, params=None, timeout=PEER_WAIT):
        rid = next(self.ids)
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        status, headers, msgs = self.post(msg, timeout=timeout)
        if method == "initialize" and headers.get("mcp-session-id"):
            self.session_id = headers["mcp-session-id"]
        for m in msgs:
            if m.get("id") == rid and "method" not in m:
                if "error" in m:
                    raise McpError(f"{m['error'].get('code')}: {m['error'].get('message')}")
                if "result" not in m:
                    raise McpError(f"invalid JSON-RPC answer: {m!r}")
                return m["result"]
            self.notifications.append(m)
        raise McpError(f"HTTP {status}: no answer to {method} ({msgs!r})")

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        return self.post(msg)[0]

    def delete(self):
        c = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            c.request("DELETE", self.path, headers=self._headers())
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()


class PyMcpStdio(PyMcpBase):
    """stdio: newline-delimited JSON on a child's stdin/stdout."""

    def __init__(self, cmd, env=None):
        super().__init__()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env or clean_env())
        self.q = queue.Queue()
        self.stderr_lines = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.q.put(json.loads(line))
            except ValueError:
                self.q.put({"_raw": line.decode("utf-8", "replace")})
        self.q.put(None)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    def send(self, msg):
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method, params=None, timeout=PEER_WAIT):
        rid = next(self.ids)
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            try:
                m = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise McpError(f"timeout waiting for {method}") from None
            if m is None:
                raise McpError(f"child exited waiting for {method}")
            if m.get("method") == "ping" and "id" in m:  # a server ping: answer it
                self.send({"jsonrpc": "2.0", "id": m["id"], "result": {}})
                continue
            if m.get("id") == rid and "method" not in m:
                if "error" in m:
                    raise McpError(f"{m['error'].get('code')}: {m['error'].get('message')}")
                if "result" not in m:
                    raise McpError(f"invalid JSON-RPC answer: {m!r}")
                return m["result"]
            self.notifications.append(m)

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class PyMcpSse(PyMcpBase):
    """Legacy HTTP+SSE (2024-11-05): GET the stream, POST to the `endpoint` it names."""

    def __init__(self, url):
        super().__init__()
        self.url = url
        u = urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=PEER_WAIT)
        self.conn.request("GET", u.path, headers={"Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.status
        self.q = queue.Queue()
        self.endpoint = None
        self._ep = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._ep.wait(PEER_WAIT), "no endpoint event"

    def _read(self):
        try:
            lines = (raw.decode("utf-8") for raw in iter(self.resp.readline, b""))
            for ev in sse_events(lines):
                if ev["event"] == "endpoint":
                    self.endpoint = urljoin(self.url, ev["data"])
                    self._ep.set()
                else:
                    self.q.put(json.loads(ev["data"]))
        except Exception:  # noqa: BLE001 (closed under us: OSError, AttributeError, ...)
            pass
        self.q.put(None)

    def _post(self, msg):
        u = urlsplit(self.endpoint)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        try:
            c.request("POST", u.path + ("?" + u.query if u.query else ""),
                      body=json.dumps(msg).encode(), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    def request(self, method, params=None, timeout=PEER_WAIT):
        rid = next(self.ids)
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        st = self._post(msg)
        if st not in (200, 202):
            raise McpError(f"POST {st}")
        deadline = time.monotonic() + timeout
        while True:
            try:
                m = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise McpError(f"timeout waiting for {method}") from None
            if m is None:
                raise McpError("stream closed")
            if m.get("id") == rid and "method" not in m:
                if "error" in m:
                    raise McpError(f"{m['error'].get('code')}: {m['error'].get('message')}")
                if "result" not in m:
                    raise McpError(f"invalid JSON-RPC answer: {m!r}")
                return m["result"]
            self.notifications.append(m)

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        return self._post(msg)

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)  # unblocks the reader thread
        except OSError:
            pass
        self.conn.close()


# ---------------------------------------------------------------------------
# A recording HTTP proxy in front of a real peer
# ---------------------------------------------------------------------------

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection",
        "te", "trailer", "upgrade"}


class RecordingProxy:
    """Forwards every request to a real peer on 127.0.0.1:`upstream_port` and records it.

    Lets the tests see what hermetic sends to real servers (headers, `notifications/cancelled`)
    and whether it closes a stream it gave up on (`records[i]["client_closed"]`). Responses are
    streamed back chunk by chunk as they arrive; each connection serves one request. The Host
    header is forwarded unchanged (kubernetes-mcp-server checks it against its own port, so use
    the proxy with server-everything only).
    """

    def __init__(self, upstream_port):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.upstream_port = upstream_port
        self.records = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _do(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                try:
                    doc = json.loads(body) if body else None
                except ValueError:
                    doc = None
                rec = {"method": self.command, "path": self.path,
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": doc, "status": None, "client_closed": None,
                       "monotonic": time.monotonic()}
                with proxy.lock:
                    proxy.records.append(rec)
                up = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=300)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                try:
                    up.request(self.command, self.path, body=body or None, headers=hdrs)
                    r = up.getresponse()
                except OSError as e:
                    rec["status"] = 502
                    msg = f"proxy: upstream: {e}\n".encode()
                    self.send_response(502)
                    self.send_header("Content-Length", str(len(msg)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(msg)
                    self.close_connection = True
                    return
                rec["status"] = r.status
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                done = threading.Event()

                def watch():  # the client hanging up ends the upstream request too
                    while not done.is_set():
                        try:
                            rd, _, _ = select.select([self.connection], [], [], 0.1)
                            if rd and self.connection.recv(1, socket.MSG_PEEK) == b"":
                                rec["client_closed"] = time.monotonic()
                                break
                        except OSError:
                            rec["client_closed"] = time.monotonic()
                            break
                    if not done.is_set():
                        try:
                            up.sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                threading.Thread(target=watch, daemon=True).start()
                try:
                    while True:
                        chunk = r.read1(65536)
                        if not chunk:
                            break
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (OSError, http.client.HTTPException):
                    pass
                finally:
                    done.set()
                    up.close()

            do_GET = do_POST = do_DELETE = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self, path="/mcp"):
        return f"http://127.0.0.1:{self.port}{path}"

    def messages(self):
        with self.lock:
            return [r["body"] for r in self.records if isinstance(r["body"], dict)]

    def posts(self, method=None):
        with self.lock:
            return [r for r in self.records if r["method"] == "POST" and isinstance(r["body"], dict)
                    and (method is None or r["body"].get("method") == method)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------
# Result text expectations (the contract's rendering)
# ---------------------------------------------------------------------------

def b64_size(data):
    return len(base64.b64decode(data))


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def out_text(r):
    """What `hermetic mcp call` printed: the result text (its one trailing newline removed)."""
    s = r.stdout
    return s[:-1] if s.endswith("\n") else s


def children_of(pid):
    """PIDs of the direct children of `pid` (from /proc)."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def server_children(pid):
    """PIDs of the processes hermetic `pid` started (stdio MCP servers): the children of its
    process launcher, which is hermetic's only direct child."""
    return [gc for c in children_of(pid) for gc in children_of(c)]


def proc_state(pid):
    """The state letter of a process (R, S, Z, ...) or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def hermetic_rusage(*args, env=None, timeout=60):
    """Runs hermetic like `hermetic()` and also returns its peak RSS in KiB (wait4)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv(*args), env=env or clean_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = [], []
    to = threading.Thread(target=lambda: out.append(p.stdout.read()), daemon=True)
    te = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
    to.start()
    te.start()
    deadline = time.monotonic() + timeout * SLOW
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    to.join(5)
    te.join(5)
    cp = subprocess.CompletedProcess(p.args, p.returncode,
                                     (out[0] if out else b"").decode("utf-8", "replace"),
                                     (err[0] if err else b"").decode("utf-8", "replace"))
    return Result(cp, args, time.monotonic() - t0), ru.ru_maxrss



def assert_clean_exit(r, codes=(0, 1)):
    """No crash, no signal, no sanitizer report."""
    assert r.returncode in codes, r
    for m in SANITIZER_MARKERS:
        assert m not in r.stderr, r


def everything_entry(pool, transport, timeout=CALL_TIMEOUT, connect_timeout=None, **extra):
    """An mcp_servers entry for server-everything over `transport` (stdio|sse|http); the
    HTTP servers come from `pool` (started on first use and shared). connect_timeout: by default
    NODE_CONNECT_TIMEOUT over stdio (the child starts Node.js), CONNECT_TIMEOUT over HTTP."""
    if connect_timeout is None:
        connect_timeout = NODE_CONNECT_TIMEOUT if transport == "stdio" else CONNECT_TIMEOUT
    if transport == "stdio":
        return pool.everything_stdio_entry(timeout=timeout, connect_timeout=connect_timeout,
                                           **extra)
    mode = "sse" if transport == "sse" else "streamableHttp"
    srv = pool.shared(mode)
    e = {"url": srv.url, "timeout": timeout, "connect_timeout": connect_timeout}
    if transport == "sse":
        e["transport"] = "sse"
    e.update(extra)
    return e
