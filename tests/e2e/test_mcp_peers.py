"""The MCP test peers themselves, checked with the harness's tiny Python client (no hermetic).

If one of these fails, the peer install or the fake is broken (or a pinned peer changed
behaviour), and the hermetic tests in test_mcp_*.py cannot be trusted until it is fixed. They
also pin the measured quirks the C client has to live with (tests/peers/README.md).
"""
import json
import time

import pytest

from fakes.fake_mcp import FakeMcp, tool
from mcp_harness import (EVERYTHING_LATE_TOOLS, EVERYTHING_TOOLS, FAKE_MCP, K8S_READONLY_TOOLS,
                         LOOPBACK, NODE, PY, McpError, PyMcpHttp, PyMcpSse, PyMcpStdio,
                         RecordingProxy, b64_size, peers, servers)  # noqa: F401


def _names(tools):
    return sorted(t["name"] for t in tools)


def test_peers_install_is_idempotent_and_fast(peers):
    assert peers.everything_js.is_file()
    assert peers.k8s_bin.is_file()
    from mcp_harness import PEERS_DIR
    import subprocess
    p = subprocess.run(["bash", str(PEERS_DIR / "install.sh")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == str(peers.prefix)


def test_everything_stdio_tools_and_results(peers):
    c = PyMcpStdio([NODE, "--require", str(LOOPBACK), str(peers.everything_js), "stdio"])
    try:
        assert c.initialize()["protocolVersion"] == "2025-11-25"
        names = _names(c.list_tools())
        assert set(EVERYTHING_TOOLS) <= set(names) <= set(EVERYTHING_TOOLS + EVERYTHING_LATE_TOOLS)
        assert c.call_tool("echo", {"message": "hi"}) == {
            "content": [{"type": "text", "text": "Echo: hi"}]}
        r = c.call_tool("get-structured-content", {"location": "New York"})
        weather = {"temperature": 33, "conditions": "Cloudy", "humidity": 82}
        assert r["structuredContent"] == weather
        assert r["content"] == [{"type": "text", "text": json.dumps(weather,
                                                                   separators=(",", ":"))}]
        r = c.call_tool("get-tiny-image")
        assert [b["type"] for b in r["content"]] == ["text", "image", "text"]
        assert r["content"][1]["mimeType"] == "image/png"
        assert b64_size(r["content"][1]["data"]) == 4033
        r = c.call_tool("no-such-tool")
        assert r["isError"] is True
        assert r["content"][0]["text"] == "MCP error -32602: Tool no-such-tool not found"
        # older protocol versions are echoed back
        for v in ("2025-06-18", "2025-03-26"):
            c2 = PyMcpStdio([NODE, "--require", str(LOOPBACK), str(peers.everything_js), "stdio"])
            try:
                assert c2.initialize(version=v)["protocolVersion"] == v
            finally:
                c2.close()
    finally:
        c.close()
    assert "Starting default (STDIO) server..." in c.stderr_lines


def test_everything_streamable_http_quirks(servers):
    s = servers.everything("streamableHttp")
    c = PyMcpHttp(s.url)
    assert c.initialize()["protocolVersion"] == "2025-11-25"
    assert c.session_id
    names = _names(c.list_tools())
    assert set(EVERYTHING_TOOLS) <= set(names)
    # answers are SSE (with an empty-data priming event first)
    assert c.last_headers["content-type"].startswith("text/event-stream")
    # an unknown session is 400, not 404
    good = c.session_id
    c.session_id = "no-such-session"
    with pytest.raises(McpError):
        c.call_tool("echo", {"message": "x"})
    assert c.last_status == 400
    c.session_id = good
    assert c.call_tool("echo", {"message": "x"})["content"][0]["text"] == "Echo: x"
    assert c.delete() == 200
    assert c.delete() == 400


def test_everything_legacy_sse_endpoint_is_relative(servers):
    s = servers.everything("sse")
    c = PyMcpSse(s.url)
    try:
        assert c.endpoint.startswith(f"http://127.0.0.1:{s.port}/message?sessionId=")
        c.initialize()
        assert set(EVERYTHING_TOOLS) <= set(_names(c.list_tools()))
        assert c.call_tool("echo", {"message": "sse"})["content"][0]["text"] == "Echo: sse"
    finally:
        c.close()


def test_everything_binds_loopback_only(servers):
    s = servers.everything("streamableHttp")
    with open("/proc/net/tcp") as f:
        rows = [l.split() for l in f.read().splitlines()[1:]]
    listening = [r[1] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == s.port]
    assert listening == [f"0100007F:{s.port:04X}"]


def test_recording_proxy_sees_cancel_and_close(servers):
    s = servers.everything("streamableHttp")
    px = RecordingProxy(s.port)
    try:
        c = PyMcpHttp(px.url())
        c.initialize()
        with pytest.raises(OSError):
            c.call_tool("trigger-long-running-operation", {"duration": 3, "steps": 3},
                        timeout=0.5)
        call = px.posts("tools/call")[-1]
        deadline = time.monotonic() + 3
        while call["client_closed"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert call["client_closed"] is not None
        assert c.call_tool("echo", {"message": "after"})["content"][0]["text"] == "Echo: after"
    finally:
        px.close()


def test_kubernetes_readonly_quirks(servers):
    s = servers.kubernetes()
    c = PyMcpHttp(s.url)
    assert c.initialize()["protocolVersion"] == "2025-11-25"
    assert c.session_id
    assert _names(c.list_tools()) == sorted(K8S_READONLY_TOOLS)
    r = c.call_tool("pods_list", {})
    assert r["isError"] is True
    assert r["content"][0]["text"].startswith("failed to list pods in all namespaces: ")
    with pytest.raises(McpError, match=r'-32602: unknown tool "nope"'):
        c.call_tool("nope")
    # Host must be 127.0.0.1:<port> or localhost:<port>
    bad = PyMcpHttp(s.url, host_header="example.com")
    with pytest.raises(McpError):
        bad.initialize()
    assert bad.last_status == 403
    # a restarted server does not know the session: 404 text/plain
    s.restart()
    with pytest.raises(McpError):
        c.call_tool("pods_list", {})
    assert c.last_status == 404
    assert c.last_headers["content-type"].startswith("text/plain")
    fresh = PyMcpHttp(s.url)
    fresh.initialize()
    assert fresh.delete() == 204
    assert fresh.delete() == 404


def test_fake_http_paging_sessions_and_records():
    tools = [tool(f"t{i}") for i in range(7)]
    with FakeMcp(tools=tools, page_size=2) as fake:
        c = PyMcpHttp(fake.url)
        c.initialize()
        assert [t["name"] for t in c.list_tools()] == [f"t{i}" for i in range(7)]
        assert fake.logic.cursors == [None, "page-2", "page-4", "page-6"]
        assert c.call_tool("t3", {"message": "m"})["content"][0]["text"] == "fake echo: m"
        fake.expire_sessions()
        with pytest.raises(McpError):
            c.call_tool("t3", {"message": "m"})
        assert c.last_status == 404
        assert fake.violations == []


def test_fake_http_hang_garbage_huge():
    with FakeMcp() as fake:
        c = PyMcpHttp(fake.url)
        c.initialize()
        with pytest.raises(OSError):
            c.call_tool("hang", timeout=0.3)
        assert fake.wait(lambda f: [h for h in f.hangs.values() if h["closed"]], 3)
        c.notify("notifications/cancelled", {"requestId": 2, "reason": "timeout"})
        assert fake.cancelled == [2]
        with pytest.raises(ValueError):
            c.call_tool("garbage")
        with pytest.raises(McpError):
            c.call_tool("invalid_jsonrpc")
        status, _, msgs = c.post({"jsonrpc": "2.0", "id": 50, "method": "tools/call",
                                  "params": {"name": "huge", "arguments": {}}}, timeout=30)
        assert status == 200 and len(msgs[0]["result"]["content"][0]["text"]) > 32_000_000
        assert c.call_tool("sse_mixed")["content"][0]["text"] == "mixed ok"
        assert fake.violations == []


def test_fake_stateless_and_versions():
    with FakeMcp(stateless=True, answer="sse", protocol_version="2025-06-18") as fake:
        c = PyMcpHttp(fake.url)
        assert c.initialize()["protocolVersion"] == "2025-06-18"
        assert c.session_id is None
        assert c.call_tool("echo", {"message": "s"})["content"][0]["text"] == "fake echo: s"
        assert fake.violations == []


def test_fake_stdio_mode(tmp_path):
    rec = tmp_path / "rec.jsonl"
    c = PyMcpStdio([PY, str(FAKE_MCP), "--stdio", "--early-notifications", "--stderr-lines", "2",
                    "--record", str(rec)])
    try:
        c.initialize()
        assert [n["method"] for n in c.notifications] == ["notifications/tools/list_changed",
                                                         "notifications/message"]
        assert c.call_tool("echo", {"message": "x"})["content"][0]["text"] == "fake echo: x"
        assert c.call_tool("ping")["content"][0]["text"] == "pong: ok"
    finally:
        c.close()
    assert c.stderr_lines[:2] == ["fake_mcp stderr line 1", "fake_mcp stderr line 2"]
    methods = [json.loads(l).get("method") for l in rec.read_text().splitlines()]
    assert methods[:2] == ["initialize", "notifications/initialized"]
