"""Shared fixtures for the end-to-end tests: they drive the real hermetic binary.

HERMETIC_BIN names the binary (default: build/hermetic); HERMETIC_WRAPPER an emulator to run it
under (qemu-aarch64-static for the aarch64 build). Everything listens on 127.0.0.1 only.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

BIN = os.environ.get("HERMETIC_BIN", str(ROOT / "build" / "hermetic"))
WRAPPER = os.environ.get("HERMETIC_WRAPPER", "")
# Emulated binaries start and answer slower; waits scale with this, never assertions on time.
SLOW = 6 if WRAPPER else 1


def argv(*args):
    return ([WRAPPER] if WRAPPER else []) + [BIN, *args]


# A config given as a dict, written as block YAML (the e2e harnesses share it).
def _flow(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return json.dumps(str(v))


def _emit(obj, indent, out):
    pad = "  " * indent
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = k if re.fullmatch(r"[A-Za-z0-9_.-]+", str(k)) else json.dumps(str(k))
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{key}:")
                _emit(v, indent + 1, out)
            else:
                out.append(f"{pad}{key}: {_flow(v)}")
    else:
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = []
                _emit(item, 0, sub)
                out.append(f"{pad}- {sub[0]}")
                out.extend(f"{pad}  {line}" for line in sub[1:])
            else:
                out.append(f"{pad}- {_flow(item)}")


def to_yaml(obj):
    out = []
    _emit(obj, 0, out)
    return "\n".join(out) + "\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Secret hygiene over the whole e2e run: every secret a test hands to hermetic through the
# environment (names like *KEY*, *TOKEN*, *SECRET*) is remembered here, and after each test
# the files hermetic wrote under that test's tmp_path (logs, stderr/stdout captures, state.db)
# and what the one-shot commands run() started printed (doctor, config check, mcp list...)
# must not contain any of them (the autouse fixture below).
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|^UPSTREAM$")
_handed_secrets = set()
_run_outputs = []


def clean_env(**extra):
    """A minimal environment: nothing from the developer's shell leaks into a test."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": "UTC"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    if os.geteuid() == 0:
        # CI and this machine run as root; gateway, router and chat refuse that without it.
        env["HERMETIC_ALLOW_ROOT"] = "1"
    env.update(extra)
    for k, v in extra.items():
        if _SECRET_NAME.search(k) and isinstance(v, str) and len(v) >= 8:
            _handed_secrets.add(v)
    return env


def _hermetic_output(root):
    """Files hermetic itself writes under a test directory."""
    for p in root.rglob("*"):
        n = p.name
        if p.is_file() and (n.startswith("hermetic.log") or n.startswith("state.db")
                            or n in ("stderr.log", "stdout.log", "gateway-stderr.log")):
            yield p


@pytest.fixture(autouse=True)
def no_secret_in_output(tmp_path):
    _handed_secrets.clear()
    _run_outputs.clear()
    yield
    root = tmp_path
    leaks = [f"{s!r} in the output of `{' '.join(args)}`" for args, out in _run_outputs
             for s in sorted(_handed_secrets) if s in out]
    for p in _hermetic_output(root):
        data = p.read_bytes()
        leaks += [f"{s!r} in {p.relative_to(root)}" for s in sorted(_handed_secrets)
                  if s.encode() in data]
    assert not leaks, "secrets handed to hermetic leaked into what it wrote: " + "; ".join(leaks)


def run(*args, env=None, timeout=60):
    r = subprocess.run(argv(*args), env=env or clean_env(), capture_output=True, text=True,
                       timeout=timeout * SLOW)
    _run_outputs.append(([str(a) for a in args], (r.stdout or "") + (r.stderr or "")))
    return r


def signal_state(pid):
    """Each thread's pending, blocked and caught signals (/proc), hex masks: a SIGTERM that is
    pending but blocked everywhere, or caught but never acted on, shows here."""
    out = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            fields = dict(ln.split(":\t", 1) for ln in (task / "status").read_text().splitlines()
                          if ":\t" in ln)
            wchan = (task / "wchan").read_text()
        except OSError:
            continue
        out.append(f"tid {task.name} {fields.get('Name', '?').strip()}: " +
                   " ".join(f"{k}={fields.get(k, '?').strip()}"
                            for k in ("State", "SigPnd", "ShdPnd", "SigBlk", "SigCgt")) +
                   f" wchan={wchan}")
    return "\n".join(out)


def thread_stacks(pid):
    """Every thread's backtrace of a live process, by gdb when it is installed (for a daemon
    that does not exit: the stacks say where it waits), after each thread's signal state.
    Under a wrapper the pid is qemu's."""
    state = signal_state(pid) + "\n"
    gdb = shutil.which("gdb")
    if WRAPPER or not gdb:
        return state + "(no stacks: " + ("under " + WRAPPER if WRAPPER else "gdb not installed") + ")"
    try:
        r = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
                            "-ex", "thread apply all bt"], capture_output=True, text=True,
                           timeout=120)
        return state + r.stdout[-20000:] + r.stderr[-2000:]
    except (OSError, subprocess.TimeoutExpired) as e:
        return state + f"(no stacks: {e})"


def wait_exit(proc, timeout, stderr):
    """proc's exit status once it has exited; if it has not within timeout (scaled by SLOW),
    fails with its threads' stacks and the tail of its log (stderr() reads it), and kills it."""
    try:
        return proc.wait(timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        stacks = thread_stacks(proc.pid)
        proc.kill()
        proc.wait()
        raise AssertionError(f"pid {proc.pid} did not exit within {timeout * SLOW} s.\n"
                             f"--- its threads ---\n{stacks}\n"
                             f"--- its log (tail) ---\n{stderr()[-6000:]}") from None


def wait_for(pred, timeout, what, interval=0.05):
    """Polls pred until it is true, for timeout seconds (scaled by SLOW here)."""
    deadline = time.monotonic() + timeout * SLOW
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def http_get(url, timeout=5, headers=None):
    """Returns (status, headers, body text); HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class Gateway:
    """A running `hermetic gateway` with its own home directory and config."""

    def __init__(self, tmp_path, config_text, env=None):
        self.home = tmp_path / "home"
        self.port = free_port()
        self.config = tmp_path / "config.yaml"
        self.config.write_text(config_text.format(home=self.home, port=self.port))
        self.env = clean_env(**(env or {}))
        self.stderr_path = tmp_path / "stderr.log"
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait=True):
        self._err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(argv("gateway", "--config", str(self.config)), env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=self._err)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=20):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if http_get(self.url + "/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"gateway not healthy after {timeout * SLOW}s:\n{self.stderr()}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return wait_exit(self.proc, timeout, self.stderr)
        finally:
            self._err.close()

    def stderr(self):
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def gateway(tmp_path):
    started = []

    def make(config_text, env=None, start=True):
        g = Gateway(tmp_path, config_text, env)
        started.append(g)
        return g.start() if start else g

    yield make
    for g in started:
        g.kill()
