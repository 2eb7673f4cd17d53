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
# How slow this machine starts a program (tests/machine_speed.py: 1 on a quick one, or 2):
# measured once by tests/run-all.sh, or here by the first pytest process, whose xdist workers
# inherit it.
if not os.environ.get("HERMETIC_SLOW_MACHINE", "").isdigit():
    from machine_speed import factor as _machine_factor
    os.environ["HERMETIC_SLOW_MACHINE"] = str(
        1 if os.environ.get("PYTEST_XDIST_WORKER") else _machine_factor())
MACHINE = max(1, int(os.environ["HERMETIC_SLOW_MACHINE"]))
# Emulated binaries start and answer slower, and so does everything when make test spreads a
# stage over pytest-xdist workers beside the other lanes' builds on two cores, and on a slow
# machine; waits scale with this, never assertions on time. Under emulation the fixed 6 stands
# for the machine too: it held on the slow VM, and 6 x 4 pushed waits written into configs past
# their keys' ranges (connect_timeout <= 300 s).
SLOW = (6 if WRAPPER else MACHINE) * (2 if os.environ.get("PYTEST_XDIST_WORKER") else 1)
# for the test scripts this process starts (the browser scripts' waits)
os.environ["HERMETIC_E2E_SLOW"] = str(SLOW)


def argv(*args):
    return ([WRAPPER] if WRAPPER else []) + [BIN, *args]


# What this run's binary is, for tests that prove something only one kind of build can show
# (resident memory of the static binary, seccomp really loaded, LD_PRELOAD into a dynamic one).
# Such a test says so with @pytest.mark.needs("static", "native", ...); a run whose binary lacks
# a trait does not collect it (deselected, counted in the summary), so a skip in `make test`
# always means the machine lacks something (tests/skip-allowlist.txt), never "wrong stage".
def _elf_machine(path):
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    return int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None


def _sanitized(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return any(m in data for m in (b"__asan_init", b"libasan.so", b"__tsan_init", b"libtsan.so"))


_STATIC = bool(os.environ.get("HERMETIC_STATIC"))
_SANITIZED = _sanitized(BIN)
TRAITS = {
    "static": _STATIC,                     # a release (musl, static) binary
    "dynamic": not _STATIC,                # a development or sanitizer build
    "native": not WRAPPER,                 # runs on this kernel directly, not under qemu-user
    "sanitized": _SANITIZED,               # ASan/UBSan or TSan
    "unsanitized": not _SANITIZED,
    "aarch64": _elf_machine(BIN) == 183,   # EM_AARCH64: the shipped architecture
    "container": bool(os.environ.get("HERMETIC_CONTAINER_BIN")),   # make test's image stage
    "vm": bool(os.environ.get("HERMETIC_VM_BIN")),                  # make test's arm64 kernels
    "netns": os.environ.get("HERMETIC_E2E_NETNS") == "1",           # inside test_web_ssrf's namespace
    "host-netns": os.environ.get("HERMETIC_E2E_NETNS") != "1",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*traits): run only where the binary has every "
                            "trait (tests/e2e/conftest.py TRAITS); elsewhere deselected")


def pytest_collection_modifyitems(config, items):
    keep, dropped, why = [], [], {}
    for item in items:
        missing = [t for m in item.iter_markers("needs") for t in m.args if not TRAITS[t]]
        if missing:
            dropped.append(item)
            why[missing[0]] = why.get(missing[0], 0) + 1
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        config._hermetic_needs = why


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    why = getattr(config, "_hermetic_needs", None)
    if why:
        terminalreporter.write_line("not for this binary (deselected): " + ", ".join(
            f"{n} need {t}" for t, n in sorted(why.items())))


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


# Ports handed to hermetic before it binds them. They come from below the kernel's ephemeral
# range (where bind(0) and connect() never pick), and under pytest-xdist each worker has its
# own slice, so a port one test reserved cannot be taken meanwhile by another worker's fake
# server or client. Recently handed ports are not handed again (a daemon may still be exiting).
# make test runs several pytest sessions at once (one per lane), each with workers gw0...: a
# session's slices start at HERMETIC_PORT_BASE (tests/run-all.sh gives each lane its own), or
# else a test could find another session's fake listening on the port its own fake lost.
_WORKER = int(re.sub(r"\D", "", os.environ.get("PYTEST_XDIST_WORKER", "gw0")) or 0)
_PORT_SLICE = 500
_PORT_LO = int(os.environ.get("HERMETIC_PORT_BASE", "20000")) + (_WORKER % 8) * _PORT_SLICE
_recent_ports = []


def free_port():
    import random
    for _ in range(200):
        port = random.randrange(_PORT_LO, _PORT_LO + _PORT_SLICE)
        if port in _recent_ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _recent_ports.append(port)
        del _recent_ports[:-200]
        return port
    raise AssertionError(f"no free port in {_PORT_LO}..{_PORT_LO + _PORT_SLICE - 1}")


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


def wait_port_file(proc, port_file, timeout):
    """The port a started fake wrote to port_file; fails with its stderr if it exits first, or
    kills it and fails if the file is not there within timeout (scaled by SLOW). Never reads a
    live process's pipe (that would block for good)."""
    deadline = time.monotonic() + timeout * SLOW
    while not port_file.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before writing {port_file}:\n"
                                 f"{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"no {port_file} within {timeout * SLOW} s:\n{err}")
        time.sleep(0.02)
    return int(port_file.read_text())


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
