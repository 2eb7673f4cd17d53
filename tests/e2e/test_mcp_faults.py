"""MCP transport faults: servers that break the pipe, lose the session, hang, outlive a
timeout, die at start, or speak only the legacy SSE transport.

Each test drives the real binary (`hermetic mcp ...`, doctor, the gateway) against
tests/fakes/fake_mcp.py, which acts out what real servers and bridges do.
"""
import os
import signal
import subprocess
import time

import pytest

from agent_harness import agent, fake, tool_results  # noqa: F401 (fake: the model)
from fakes.fake_mcp import FakeMcp, tool
from fakes.fake_openai import text, tool_calls
from mcp_harness import (CALL_TIMEOUT, CONNECT_TIMEOUT, FAKE_MCP, PY, assert_clean_exit, doctor,
                         free_port, hermetic, http_entry, mcp_call, mcp_gateway, mcp_list, out_text,
                         port_open, proc_state, wait_until, write_config)  # noqa: F401

ECHO = "fake echo: "


@pytest.fixture
def mcp_fake():
    """FakeMcp servers made by the test (Streamable HTTP or legacy SSE), closed after it."""
    made = []

    def make(**kw):
        f = FakeMcp(**kw).start()
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def _fake_pids():
    """PIDs of fake_mcp.py processes of this checkout."""
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if str(FAKE_MCP).encode() in f.read():
                        out.add(int(d))
            except OSError:
                pass
    return out


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _ours_or_orphaned(pid):
    """True for a process left to init or one this test process started (through any chain
    of children). Fakes of other xdist workers are neither: they are not ours to kill."""
    me, ppid = os.getpid(), _parent(pid)
    if ppid == 1:
        return True
    for _ in range(64):
        if ppid in (None, 0, 1):
            return False
        if ppid == me:
            return True
        ppid = _parent(ppid)
    return False


@pytest.fixture(autouse=True)
def no_orphans_left():
    """Kills the fake servers a test started that are still alive after it: a build with the
    bugs these tests catch leaves them to init (the tests fail on that before this runs).
    Only this worker's own fakes and orphans: under xdist other tests' fakes run beside."""
    before = _fake_pids()
    yield
    for pid in _fake_pids() - before:
        if not _ours_or_orphaned(pid):
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _stdio(*args, **kw):
    return {"command": PY, "args": [str(FAKE_MCP), "--stdio", *map(str, args)],
            "timeout": kw.pop("timeout", CALL_TIMEOUT),
            "connect_timeout": kw.pop("connect_timeout", CONNECT_TIMEOUT), **kw}


def _alive(pid):
    return proc_state(pid) not in (None, "Z")


# ---------------------------------------------------------------------------
# Item 1: a server that closes its stdin breaks the call, never the process
# ---------------------------------------------------------------------------

def test_cli_call_to_a_server_that_closed_its_stdin_is_an_error(tmp_path):
    c = write_config(tmp_path, {"fake": _stdio("--close-stdin-after-list")})
    r = mcp_call(c, "fake", "echo", {"message": "x"})
    assert_clean_exit(r, (1,))  # not SIGPIPE (141), not SIGSEGV
    assert "closed its stdin" in r.stdout + r.stderr, r


def test_gateway_survives_a_server_that_closed_its_stdin(tmp_path, mcp_gateway):
    g = mcp_gateway({"fake": _stdio("--close-stdin-after-list")})
    g.wait_tools("fake")
    r = g.call("mcp_fake_echo", {"message": "x"})
    assert r.status in (200, 503), r
    if r.status == 200:  # the call got its one answer: an error
        assert r.json()["is_error"] is True
        assert "closed its stdin" in r.json()["content"], r
    assert g.proc.poll() is None, g.stderr()
    assert g.request("GET", "/healthz").status == 200
    # again, after the reconnect: the same clean error, the process still up
    g.wait_tools("fake", timeout=20)
    r = g.call("mcp_fake_echo", {"message": "y"})
    assert r.status in (200, 503), r
    assert g.proc.poll() is None, g.stderr()


def test_turn_tool_call_to_a_server_that_closed_its_stdin(agent, fake):
    """The model's tool call gets the error as its result; the turn goes on to the answer."""
    agent.configure(mcp_servers={"fake": _stdio("--close-stdin-after-list")})
    fake.script_for("test/free", tool_calls(("c0", "mcp_fake_echo", '{"message": "x"}')),
                    text("handled"))
    r = agent.chat("use the tool")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "handled"
    results = tool_results(fake.chat_requests[1])
    assert len(results) == 1 and "closed its stdin" in results[0], results


# ---------------------------------------------------------------------------
# Item 28: a stdio server's last stderr lines are shown with its failure
# ---------------------------------------------------------------------------

def test_stderr_of_a_server_that_exits_at_start_is_shown(tmp_path):
    c = write_config(tmp_path, {"fs": _stdio("--stderr-lines", 20, "--stderr-exit", 1)})
    r = mcp_list(c)
    assert_clean_exit(r, (1,))
    err = r.server("fs")["error"]
    assert "exited with status 1" in err or "closed its stdout" in err, err
    assert "fake_mcp stderr line 20" in err, err
    assert "fake_mcp stderr line 13" in err, err
    assert "fake_mcp stderr line 12" not in err, err  # the last 8 lines only
    assert len(err) < 2600, err
    d = doctor(c)
    assert_clean_exit(d, (1,))
    assert "mcp fs: FAILED" in d.stdout and "fake_mcp stderr line 20" in d.stdout, d
    # as text, the stderr lines sit indented under their server
    t = hermetic("mcp", "list", "--config", str(c))
    lines = t.stdout.splitlines()
    first = next(i for i, l in enumerate(lines) if l.startswith("fs  stdio  failed"))
    assert lines[first + 1].strip() == "its stderr ended with:", t
    assert all(l.startswith("    ") for l in lines[first + 1:first + 10]), t
    assert lines[first + 9].strip() == "fake_mcp stderr line 20", t


def test_gateway_log_has_the_stderr_with_the_failure(tmp_path, mcp_gateway):
    g = mcp_gateway({"fs": _stdio("--stderr-lines", 3, "--stderr-exit", 1)})

    def failure_logged():
        return [l for l in g.log().splitlines()
                if "mcp fs: " in l and "its stderr ended with" in l]
    lines = wait_until(failure_logged, timeout=10, what="the failure with its stderr in the log")
    assert "fake_mcp stderr line 3" in lines[0], lines


def test_initialize_has_connect_timeout_not_the_call_timeout(tmp_path):
    """connect_timeout is "seconds to connect and initialize" (docs/configuration.md): a server
    that starts slower than its tools' call timeout still connects. initialize had the call
    timeout, so a 1 s `timeout` failed a server whose start took 2 s."""
    c = write_config(tmp_path, {"slow": _stdio("--initialize-delay", 2, timeout=1,
                                               connect_timeout=10)})
    r = mcp_list(c)
    assert_clean_exit(r, (0,))
    assert r.server("slow")["state"] == "connected", r.server("slow")


def test_stderr_is_shown_after_a_connect_timeout(tmp_path):
    # connect_timeout leaves the fake time to start and write its stderr on a loaded machine
    c = write_config(tmp_path, {"slow": _stdio("--stderr-lines", 2, "--hang-initialize",
                                               connect_timeout=CONNECT_TIMEOUT)})
    r = mcp_list(c)
    assert_clean_exit(r, (1,))
    err = r.server("slow")["error"]
    assert "connect_timeout" in err and "fake_mcp stderr line 2" in err, err


# ---------------------------------------------------------------------------
# Item 27: every child is killed and reaped
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["list", "call", "doctor"])
def test_cli_kills_a_child_that_missed_connect_timeout(tmp_path, command):
    pidf = tmp_path / "child.pid"
    # long enough for the fake to start and write its pid file, however loaded the machine
    c = write_config(tmp_path, {"slow": _stdio("--hang-initialize", "--ignore-sigterm",
                                               "--pid-file", pidf,
                                               connect_timeout=CONNECT_TIMEOUT)})
    if command == "list":
        r = mcp_list(c)
    elif command == "call":
        r = mcp_call(c, "slow", "echo", {})
    else:
        r = doctor(c)
    assert_clean_exit(r, (1,))
    pid = int(pidf.read_text())
    # gone when hermetic has exited: killed and reaped, not left to init
    assert not _alive(pid), f"child {pid} outlived `hermetic {command}` ({proc_state(pid)})"


@pytest.mark.parametrize("shell", [False, True], ids=["direct", "through-a-shell"])
def test_gateway_stop_kills_a_connecting_child_and_its_group(tmp_path, mcp_gateway, shell):
    """A server still in its handshake that ignores SIGTERM, started directly or through a
    shell (as `npx` starts node): the shell and the server both go when the gateway stops."""
    pidf = tmp_path / "child.pid"
    if shell:
        inner = f"{PY} {FAKE_MCP} --stdio --hang-initialize --ignore-sigterm --pid-file {pidf}"
        entry = {"command": "/bin/sh", "args": ["-c", f"trap '' TERM; {inner}; :"]}
    else:
        entry = _stdio("--hang-initialize", "--ignore-sigterm", "--pid-file", pidf)
    g = mcp_gateway({"slow": {**entry, "connect_timeout": 30, "timeout": 30}})
    wait_until(lambda: pidf.exists() and pidf.read_text().strip(), timeout=10,
               what="the server's pid file")
    pid = int(pidf.read_text())
    t0 = time.monotonic()
    assert g.stop() == 0, g.stderr()
    assert time.monotonic() - t0 < 12
    wait_until(lambda: not _alive(pid), timeout=3, what=f"server {pid} gone")


def test_children_die_with_a_killed_gateway(tmp_path, mcp_gateway):
    """SIGKILL leaves hermetic no time to stop its servers: its launcher does it."""
    pidf = tmp_path / "child.pid"
    g = mcp_gateway({"fake": _stdio("--ignore-sigterm", "--pid-file", pidf)})
    g.wait_tools("fake")
    pid = int(pidf.read_text())
    g.proc.kill()
    g.proc.wait(10)
    wait_until(lambda: not _alive(pid), timeout=3, what=f"server {pid} gone with the gateway")


# ---------------------------------------------------------------------------
# Item 26: lost sessions are renewed once; a hung server is marked down
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("answer", ["400-jsonrpc", "404-jsonrpc", "200-rpc-error"])
def test_lost_session_answers_reinitialize_and_retry(mcp_fake, mcp_gateway, answer):
    f = mcp_fake(get_stream=False, unknown_session=answer)
    g = mcp_gateway({"fake": http_entry(f.url)})
    g.wait_tools("fake")
    assert g.call("mcp_fake_echo", {"message": "one"}).json()["content"] == ECHO + "one"
    assert f.expire_sessions() == 1
    r = g.call("mcp_fake_echo", {"message": "two"})
    assert r.status == 200, r
    assert r.json() == {"content": ECHO + "two", "is_error": False}
    assert len(f.posts("initialize")) == 2
    calls = f.posts("tools/call")
    assert calls[-1]["body"]["params"]["arguments"] == {"message": "two"}
    assert calls[-1]["session"] == f.state()["sessions"][0]
    assert calls[-1]["body"]["id"] != calls[-2]["body"]["id"]
    assert f.violations == []


def test_cli_lost_session_is_renewed(mcp_fake, tmp_path):
    # POSTs of the session: notifications/initialized, tools/list, then tools/call expires.
    f = mcp_fake(get_stream=False, unknown_session="400-jsonrpc", expire_after=2)
    r = mcp_call(write_config(tmp_path, {"fake": http_entry(f.url)}), "fake", "echo",
                 {"message": "cli"})
    assert_clean_exit(r, (0,))
    assert out_text(r) == ECHO + "cli"
    assert len(f.posts("initialize")) == 2


def test_stdio_bridge_lost_session_restarts_and_retries(tmp_path, mcp_gateway):
    """A stdio bridge (mcp-remote) passes on -32001 "Session not found" when its upstream
    restarted: the session is the process, so it is started anew and the call sent once more."""
    marker, pidf = tmp_path / "lost-once", tmp_path / "child.pid"
    g = mcp_gateway({"bridge": _stdio("--session-lost-once", marker, "--pid-file", pidf)})
    g.wait_tools("bridge")
    first = int(pidf.read_text())
    r = g.call("mcp_bridge_echo", {"message": "again"})
    assert r.status == 200, r
    assert r.json() == {"content": ECHO + "again", "is_error": False}
    assert marker.exists() and int(pidf.read_text()) != first
    wait_until(lambda: not _alive(first), timeout=5, what="the old bridge process gone")


def stopped(pid):
    """The process is in state T (stopped) per /proc."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")


def test_hung_server_is_marked_down_by_the_ping(tmp_path, mcp_gateway):
    port = free_port()
    p = subprocess.Popen([PY, str(FAKE_MCP), "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_open(port), timeout=10, what="the fake's port")
        g = mcp_gateway({"fake": http_entry(f"http://127.0.0.1:{port}/mcp", timeout=1)})
        g.wait_tools("fake")
        assert g.metric("hermetic_mcp_server_up", server="fake") == 1
        os.kill(p.pid, signal.SIGSTOP)
        # the stop is delivered asynchronously: call only once the fake is really stopped
        wait_until(lambda: stopped(p.pid), timeout=10, what="the fake stopped by SIGSTOP")
        r = g.call("mcp_fake_echo", {"message": "hung"})
        assert r.status == 200 and r.json()["is_error"] is True, r
        wait_until(lambda: g.metric("hermetic_mcp_server_up", server="fake") == 0, timeout=5,
                   what="hermetic_mcp_server_up 0 for the hung server")
        assert g.tool_names("fake") == []
        os.kill(p.pid, signal.SIGCONT)
        g.wait_tools("fake", timeout=30)
        assert g.metric("hermetic_mcp_server_up", server="fake") == 1
    finally:
        os.kill(p.pid, signal.SIGCONT)
        p.terminate()
        p.wait(10)


# ---------------------------------------------------------------------------
# Item 29: legacy SSE behind a plain url; no HTML page in an error
# ---------------------------------------------------------------------------

def test_url_without_transport_falls_back_to_legacy_sse(mcp_fake, tmp_path):
    f = mcp_fake(legacy_sse=True, path="/sse", tools=[tool("echo")])
    c = write_config(tmp_path, {"old": http_entry(f.url)})
    r = mcp_list(c)
    assert_clean_exit(r, (0,))
    s = r.server("old")
    assert s["state"] == "connected" and s["transport"] == "sse", s
    assert [t["tool"] for t in s["tools"]] == ["echo"]
    r = mcp_call(c, "old", "echo", {"message": "legacy"})
    assert_clean_exit(r, (0,))
    assert out_text(r) == ECHO + "legacy"
    # the spec's order: POST to the url first (the 2026-07-28 revision's server/discover,
    # then the 2025-11-25 initialize), then GET it for the event stream
    first = [q for q in f.requests if q["path"].startswith("/sse")][:3]
    assert [(q["method"], (q["body"] or {}).get("method")) for q in first] == [
        ("POST", "server/discover"), ("POST", "initialize"), ("GET", None)], first


def test_legacy_sse_large_answer_streams_to_an_excerpt(mcp_fake, tmp_path):
    """An answer event over the 4 MiB line cap on a legacy SSE stream (once an error) streams
    like one of Streamable HTTP: the excerpt (é kept whole at the cut) with its note, the whole
    text in home/tool-output/."""
    n = 6 * 1024 * 1024
    f = mcp_fake(legacy_sse=True, path="/sse", tools=[tool("big_text", "big_text")])
    r = mcp_call(write_config(tmp_path, {"old": http_entry(f.url)}), "old", "big_text",
                 {"bytes": n})
    assert_clean_exit(r, (0,))
    text = out_text(r)
    cut = text.index("\n[output cut: the first ")
    assert set(text[:cut]) == {"é"}
    note = text[cut:]
    assert f" of {n} bytes shown; the whole output is in {tmp_path / 'home' / 'tool-output'}/" \
        in note, note
    with open(note.split(" is in ", 1)[1].rstrip("]"), encoding="utf-8") as kept:
        assert kept.read() == "é" * (n // 2)


def test_gateway_uses_a_legacy_sse_url_without_transport(mcp_fake, mcp_gateway):
    f = mcp_fake(legacy_sse=True, path="/sse", tools=[tool("echo")])
    g = mcp_gateway({"old": http_entry(f.url)})
    g.wait_tools("old")
    r = g.call("mcp_old_echo", {"message": "gw"})
    assert r.json() == {"content": ECHO + "gw", "is_error": False}


def test_legacy_sse_session_lost_by_the_server_is_renewed(mcp_fake, mcp_gateway):
    """A legacy server that restarted answers a POST for the old session 400 "No transport
    found for sessionId" (the SDK's Express example): a new event stream, the call again."""
    f = mcp_fake(legacy_sse=True, path="/sse", tools=[tool("echo")])
    g = mcp_gateway({"old": {**http_entry(f.url), "transport": "sse"}})
    g.wait_tools("old")
    assert g.call("mcp_old_echo", {"message": "one"}).json()["content"] == ECHO + "one"
    with f.lock:
        f.legacy_streams.clear()  # forgets the session, the stream stays open
    r = g.call("mcp_old_echo", {"message": "two"})
    assert r.json() == {"content": ECHO + "two", "is_error": False}, r
    assert len([q for q in f.requests if q["method"] == "GET"]) == 2


def test_html_error_page_is_never_printed(mcp_fake, tmp_path):
    f = mcp_fake(legacy_sse=True, path="/sse")
    c = write_config(tmp_path, {"wrong": http_entry(f"http://127.0.0.1:{f.port}/nothing-here")})
    r = mcp_list(c)
    assert_clean_exit(r, (1,))
    err = r.server("wrong")["error"]
    for text in (err, r.stderr):
        assert "<html" not in text.lower() and "<pre>" not in text.lower(), text
    assert "404" in err and "text/html" in err, err
    d = doctor(c)
    assert "<html" not in (d.stdout + d.stderr).lower(), d


@pytest.fixture
def web_page():
    """A plain web server: POST gets a 404 page, GET a 200 HTML page (a url that is no MCP
    server at all)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _page(self, status):
            body = b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>\n"
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._page(200)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._page(404)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()


def test_web_page_url_fails_at_once_without_html(web_page, tmp_path):
    c = write_config(tmp_path, {"site": http_entry(web_page, connect_timeout=10)})
    r = mcp_list(c)
    assert_clean_exit(r, (1,))
    assert r.elapsed < 8, f"waited {r.elapsed:.1f}s for an event stream that cannot come"
    err = r.server("site")["error"]
    assert "404" in err and "not text/event-stream" in err and "text/html" in err, err
    assert "<html" not in (err + r.stderr).lower(), err
