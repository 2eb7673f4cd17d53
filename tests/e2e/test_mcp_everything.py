"""hermetic's MCP client against @modelcontextprotocol/server-everything@2026.8.31 over stdio,
legacy SSE and streamable HTTP: list, call (text, structured content, image, resources),
unknown tools, timeouts with cancellation, and the server dying and coming back under the
gateway."""
import json
import os
import re
import signal
import time

import pytest

from mcp_harness import (CALL_TIMEOUT, CONNECT_TIMEOUT, HANG_TIMEOUT, NODE_CONNECT_TIMEOUT, EVERYTHING_LATE_TOOLS, EVERYTHING_TOOLS,
                         FAKE_MCP, LOOPBACK, NODE, PY, RecordingProxy, assert_clean_exit,
                         everything_entry, mcp_call, mcp_gateway,  # noqa: F401
                         mcp_list, model_name, module_servers, out_text, peers, proc_state,
                         server_children, servers, wait_until, write_config)
from conftest import SLOW

TRANSPORTS = [
    pytest.param("stdio", id="stdio"),
    pytest.param("sse", id="sse"),
    pytest.param("http", id="http"),
]
WEATHER_NY = {"temperature": 33, "conditions": "Cloudy", "humidity": 82}


def _smoke(*marked):
    """TRANSPORTS with the smoke mark on the given ids."""
    return [pytest.param(p.values[0], id=p.id,
                         marks=[pytest.mark.smoke] if p.id in marked else [])
            for p in TRANSPORTS]


@pytest.fixture
def cfg(module_servers, tmp_path):
    """cfg(transport, **entry options) -> config path with one server named everything."""
    def make(transport, **kw):
        return write_config(tmp_path, {"everything": everything_entry(module_servers, transport,
                                                                      **kw)})
    return make


@pytest.mark.parametrize("transport", _smoke("http"))
def test_list_tools(cfg, transport):
    r = mcp_list(cfg(transport))
    assert_clean_exit(r, (0,))
    s = r.server("everything")
    assert s["transport"] == transport
    assert s["state"] == "connected", s
    assert s["error"] is None
    assert s["protocol_version"] == "2025-11-25"
    tools = {t["tool"]: t for t in s["tools"]}
    assert set(EVERYTHING_TOOLS) <= set(tools) <= set(EVERYTHING_TOOLS + EVERYTHING_LATE_TOOLS)
    for name, t in tools.items():
        assert t["name"] == model_name("everything", name)
        assert re.fullmatch(r"[A-Za-z0-9_]{1,64}", t["name"])
    assert tools["echo"]["name"] == "mcp_everything_echo"
    assert tools["echo"]["description"] == "Echoes back the input string"
    assert tools["get-tiny-image"]["name"] == "mcp_everything_get_tiny_image"


@pytest.mark.parametrize("transport", _smoke("stdio"))
def test_call_echo(cfg, transport):
    r = mcp_call(cfg(transport), "everything", "echo", {"message": "hello from hermetic"})
    assert_clean_exit(r, (0,))
    assert out_text(r) == "Echo: hello from hermetic"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_structured_content_is_compact_json_once(cfg, transport):
    r = mcp_call(cfg(transport), "everything", "get-structured-content", {"location": "New York"})
    assert_clean_exit(r, (0,))
    text = out_text(r)
    # the text block is the same JSON as structuredContent: shown once, compact
    assert json.loads(text) == WEATHER_NY
    assert text == json.dumps(WEATHER_NY, separators=(",", ":"))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_image_is_a_size_note(cfg, transport):
    r = mcp_call(cfg(transport), "everything", "get-tiny-image")
    assert_clean_exit(r, (0,))
    assert out_text(r) == ("Here's the image you requested:\n"
                           "[image: image/png, 4033 bytes]\n"
                           "The image above is the MCP logo.")
    assert "iVBOR" not in r.stdout  # never base64 in the text


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_unknown_tool_fails(cfg, transport):
    r = mcp_call(cfg(transport), "everything", "no-such-tool", {})
    assert_clean_exit(r, (1,))
    assert "no-such-tool" in r.stdout + r.stderr
    if r.stdout.strip():
        assert r.stdout.startswith("error: ")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_invalid_arguments_is_a_tool_error(cfg, transport):
    r = mcp_call(cfg(transport), "everything", "echo", {})  # `message` is required
    assert_clean_exit(r, (1,))
    assert out_text(r).startswith("error: ")
    assert "message" in out_text(r)


def test_call_resources_and_links(cfg):
    c = cfg("stdio")
    r = mcp_call(c, "everything", "get-resource-reference", {"resourceType": "Text",
                                                            "resourceId": 1})
    assert_clean_exit(r, (0,))
    assert re.fullmatch(
        r"Returning resource reference for Resource 1:\n"
        r"\[resource demo://resource/dynamic/text/1\][\n ]"
        r"Resource 1: This is a plaintext resource created at [^\n]+\n"
        r"You can access this resource using the URI: demo://resource/dynamic/text/1",
        out_text(r)), r
    r = mcp_call(c, "everything", "get-resource-reference", {"resourceType": "Blob",
                                                            "resourceId": 2})
    assert_clean_exit(r, (0,))
    m = re.search(r"\[resource demo://resource/dynamic/blob/2: text/plain, (\d+) bytes\]",
                  out_text(r))
    assert m, r
    # "Resource 2: This is a base64 blob created at 10:05:21 AM" decoded
    assert 50 <= int(m.group(1)) <= 70
    r = mcp_call(c, "everything", "get-resource-links", {"count": 2})
    assert_clean_exit(r, (0,))
    assert out_text(r) == ("Here are 2 resource links to resources available in this server:\n"
                           "[resource link: demo://resource/dynamic/blob/1]\n"
                           "[resource link: demo://resource/dynamic/text/2]")


def test_stdio_child_gets_a_filtered_environment(module_servers, tmp_path):
    entry = module_servers.everything_stdio_entry(env={"MCP_E2E_VAR": "from-config"},
                                                  timeout=CALL_TIMEOUT,
                                                  connect_timeout=NODE_CONNECT_TIMEOUT)
    c = write_config(tmp_path, {"everything": entry})
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": str(tmp_path),
           "E2E_LEAK_ME": "parent-secret-value", "OPENROUTER_API_KEY": "sk-or-v1-leak"}
    r = mcp_call(c, "everything", "get-env", env=env)
    assert_clean_exit(r, (0,))
    child_env = json.loads(out_text(r))
    assert child_env.get("MCP_E2E_VAR") == "from-config"
    assert "E2E_LEAK_ME" not in child_env and "OPENROUTER_API_KEY" not in child_env
    assert set(child_env) <= {"PATH", "HOME", "LANG", "TZ", "MCP_E2E_VAR"}, child_env
    assert child_env["PATH"]


def test_stdio_env_entries_override_the_passed_on_variables(module_servers, tmp_path):
    entry = module_servers.everything_stdio_entry(
        env={"PATH": "/opt/e2e-path:/usr/bin:/bin", "TZ": "Asia/Manila"},
        timeout=CALL_TIMEOUT, connect_timeout=NODE_CONNECT_TIMEOUT)
    c = write_config(tmp_path, {"everything": entry})
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": str(tmp_path)}
    r = mcp_call(c, "everything", "get-env", env=env)
    assert_clean_exit(r, (0,))
    child_env = json.loads(out_text(r))
    assert child_env["PATH"] == "/opt/e2e-path:/usr/bin:/bin"
    assert child_env["TZ"] == "Asia/Manila"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_long_running_call_times_out(cfg, transport):
    t0 = time.monotonic()
    # an operation far longer than the timeout: ending well before it proves the call was cut
    # at its timeout, however long a loaded machine takes to start the server
    r = mcp_call(cfg(transport, timeout=1), "everything", "trigger-long-running-operation",
                 {"duration": 60, "steps": 60})
    elapsed = time.monotonic() - t0
    assert_clean_exit(r, (1,))
    assert out_text(r) == "error: timed out after 1 s; the call was cancelled"
    assert elapsed < 45, f"took {elapsed:.1f}s for a 1 s timeout (the operation takes 60 s)"


# ---------------------------------------------------------------------------
# Under the gateway: cancellation observed on the wire, the next call works
# ---------------------------------------------------------------------------

def _recorded_stdio_entry(peers, record, **kw):
    """server-everything over stdio behind fake_mcp.py --exec, which records what hermetic
    sends the real server."""
    return {"command": PY,
            "args": [str(FAKE_MCP), "--record", str(record), "--exec", NODE, "--require",
                     str(LOOPBACK), str(peers.everything_js), "stdio"], **kw}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gateway_timeout_sends_cancelled_and_next_call_works(peers, servers, mcp_gateway,
                                                             tmp_path, transport):
    proxy = None
    record = tmp_path / "stdio-record.jsonl"
    # HANG_TIMEOUT: the echo after the hang lives under it too; the long operation runs four
    if transport == "stdio":
        entry = _recorded_stdio_entry(peers, record, timeout=HANG_TIMEOUT,
                                      connect_timeout=NODE_CONNECT_TIMEOUT)
    else:
        srv = servers.everything("sse" if transport == "sse" else "streamableHttp")
        proxy = RecordingProxy(srv.port)
        entry = {"url": proxy.url("/sse" if transport == "sse" else "/mcp"), "timeout": HANG_TIMEOUT,
                 "connect_timeout": CONNECT_TIMEOUT}
        if transport == "sse":
            entry["transport"] = "sse"
    try:
        g = mcp_gateway({"everything": entry})
        g.wait_tools("everything")
        t0 = time.monotonic()
        r = g.call("mcp_everything_trigger_long_running_operation",
                   {"duration": 4 * HANG_TIMEOUT, "steps": 4})
        assert time.monotonic() - t0 < 3.5 * HANG_TIMEOUT  # not held to the operation's end
        assert r.status == 200, r
        assert r.json() == {
            "content": f"error: timed out after {HANG_TIMEOUT} s; the call was cancelled",
            "is_error": True}
        r = g.call("mcp_everything_echo", {"message": "still alive"})
        assert r.status == 200, r
        assert r.json() == {"content": "Echo: still alive", "is_error": False}

        if transport == "stdio":
            msgs = [json.loads(l) for l in record.read_text().splitlines()]
        else:
            msgs = proxy.messages()
        calls = [m for m in msgs if m.get("method") == "tools/call"
                 and m["params"]["name"] == "trigger-long-running-operation"]
        assert len(calls) == 1, msgs
        cancels = [m for m in msgs if m.get("method") == "notifications/cancelled"]
        assert [c["params"]["requestId"] for c in cancels] == [calls[0]["id"]], msgs
        ids = [m["id"] for m in msgs if "id" in m and "method" in m]
        assert len(ids) == len(set(ids)), f"request ids reused: {ids}"
        if transport == "http":
            # the client closed the POST stream it gave up on
            rec = [p for p in proxy.posts("tools/call")
                   if p["body"]["params"]["name"] == "trigger-long-running-operation"][0]
            wait_until(lambda: rec["client_closed"] is not None, timeout=3 * SLOW,
                       what="the client to close the timed-out POST stream")
        assert g.metric("hermetic_mcp_calls_total", server="everything", outcome="timeout") == 1
        assert g.metric("hermetic_mcp_calls_total", server="everything", outcome="ok") == 1
    finally:
        if proxy:
            proxy.close()


# ---------------------------------------------------------------------------
# Under the gateway: the server dies and comes back
# ---------------------------------------------------------------------------

def _assert_down(g, name):
    g.wait_tools("everything", present=False)
    wait_until(lambda: g.metric("hermetic_mcp_server_up", server="everything") == 0,
               what="hermetic_mcp_server_up 0")
    r = g.call(name, {"message": "while down"})
    assert r.status == 503, r  # a known tool whose server is not connected
    assert "error" in r.json()


def _assert_back(g, name):
    g.wait_tools("everything", present=True, timeout=30)
    assert g.metric("hermetic_mcp_server_up", server="everything") == 1
    r = g.call(name, {"message": "after restart"})
    assert r.status == 200, r
    assert r.json() == {"content": "Echo: after restart", "is_error": False}
    assert g.metric("hermetic_mcp_reconnects_total", server="everything") >= 1


@pytest.mark.parametrize("transport", [p for p in TRANSPORTS if p.id != "stdio"])
def test_gateway_server_killed_and_restarted(servers, mcp_gateway, transport):
    srv = servers.everything("sse" if transport == "sse" else "streamableHttp")
    entry = {"url": srv.url, "timeout": CALL_TIMEOUT, "connect_timeout": CONNECT_TIMEOUT}
    if transport == "sse":
        entry["transport"] = "sse"
    g = mcp_gateway({"everything": entry})
    g.wait_tools("everything")
    assert g.metric("hermetic_mcp_server_up", server="everything") == 1
    assert g.metric("hermetic_mcp_tools", server="everything") == len(g.tool_names("everything"))
    r = g.call("mcp_everything_echo", {"message": "before"})
    assert r.json() == {"content": "Echo: before", "is_error": False}

    srv.kill()
    _assert_down(g, "mcp_everything_echo")
    srv.start()
    _assert_back(g, "mcp_everything_echo")
    assert g.proc.poll() is None


def test_gateway_stdio_child_killed_is_reaped_and_respawned(servers, mcp_gateway):
    entry = servers.everything_stdio_entry(timeout=CALL_TIMEOUT, connect_timeout=NODE_CONNECT_TIMEOUT)
    g = mcp_gateway({"everything": entry})
    g.wait_tools("everything")
    kids = [p for p in server_children(g.proc.pid) if proc_state(p) not in (None, "Z")]
    assert len(kids) == 1, kids
    old = kids[0]
    os.kill(old, signal.SIGKILL)
    # the gateway reaps the dead child (no zombie left behind) and starts a new one
    wait_until(lambda: proc_state(old) is None, timeout=10, what=f"child {old} reaped")
    _assert_back(g, "mcp_everything_echo")
    kids = [p for p in server_children(g.proc.pid) if proc_state(p) not in (None, "Z")]
    assert len(kids) == 1 and kids[0] != old
    # a clean stop takes the child with it
    assert g.stop() == 0, g.stderr()
    wait_until(lambda: proc_state(kids[0]) is None, timeout=10, what="child gone after stop")


def test_legacy_sse_url_without_transport_falls_back(module_servers, tmp_path):
    """The MCP spec's backwards compatibility: the initialize POST to the /sse url is refused
    (Express's 404 page), so the client GETs it and finds the legacy endpoint event."""
    srv = module_servers.everything("sse")
    c = write_config(tmp_path, {"everything": {"url": srv.url, "timeout": CALL_TIMEOUT,
                                               "connect_timeout": CONNECT_TIMEOUT}})
    r = mcp_list(c)
    assert_clean_exit(r, (0,))
    s = r.server("everything")
    assert s["state"] == "connected" and s["transport"] == "sse", s
    assert "mcp_everything_echo" in r.tool_names("everything")
    r = mcp_call(c, "everything", "echo", {"message": "fallback"})
    assert_clean_exit(r, (0,))
    assert out_text(r) == "Echo: fallback"
