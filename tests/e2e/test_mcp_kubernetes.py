"""hermetic's MCP client against kubernetes-mcp-server@0.0.67 --read-only with a dummy
kubeconfig (the production sidecar): the read-only tool set with tools.exclude/include, the
server's errors as tool errors, and a session the server forgot (restart on the same port)."""
import time

import pytest

from mcp_harness import (K8S_READONLY_TOOLS, assert_clean_exit,
                         doctor, free_port, http_entry, mcp_call, mcp_gateway, mcp_list,
                         model_name, module_servers, out_text, peers, servers,  # noqa: F401
                         wait_until, write_config)


@pytest.fixture(scope="module")
def k8s(module_servers):
    return module_servers.kubernetes()


def test_lists_the_read_only_tools_minus_excluded(k8s, tmp_path):
    c = write_config(tmp_path, {"k8s": http_entry(k8s.url,
                                                  tools={"exclude": ["configuration_view"]})})
    r = mcp_list(c)
    assert_clean_exit(r, (0,))
    s = r.server("k8s")
    assert s["state"] == "connected" and s["transport"] == "http", s
    assert s["protocol_version"] == "2025-11-25"
    want = sorted(set(K8S_READONLY_TOOLS) - {"configuration_view"})
    assert sorted(r.server_tools("k8s")) == want
    assert sorted(r.tool_names("k8s")) == [model_name("k8s", t) for t in want]
    assert len(want) == 13


def test_lists_all_fourteen_and_include_filters(k8s, tmp_path):
    c = write_config(tmp_path, {"k8s": http_entry(k8s.url)})
    r = mcp_list(c)
    assert_clean_exit(r, (0,))
    assert sorted(r.server_tools("k8s")) == sorted(K8S_READONLY_TOOLS)
    c = write_config(tmp_path, {"k8s": http_entry(
        k8s.url, tools={"include": ["pods_list", "namespaces_list", "no_such_tool"]})},
        name="include.yaml")
    r = mcp_list(c)
    assert_clean_exit(r, (0,))
    assert sorted(r.tool_names("k8s")) == ["mcp_k8s_namespaces_list", "mcp_k8s_pods_list"]


def test_human_list_output(k8s, tmp_path):
    from mcp_harness import hermetic
    c = write_config(tmp_path, {"k8s": http_entry(k8s.url)})
    r = hermetic("mcp", "list", "--config", str(c))
    assert_clean_exit(r, (0,))
    assert "k8s" in r.stdout and "connected" in r.stdout
    assert "mcp_k8s_pods_list" in r.stdout


def test_pods_list_error_is_a_tool_error(k8s, tmp_path):
    c = write_config(tmp_path, {"k8s": http_entry(k8s.url)})
    r = mcp_call(c, "k8s", "pods_list", {})
    assert_clean_exit(r, (1,))
    text = out_text(r)
    assert text.startswith("error: failed to list pods in all namespaces: "), r
    assert "127.0.0.1:1" in text and "connection refused" in text


def test_unknown_tool_is_refused(k8s, tmp_path):
    c = write_config(tmp_path, {"k8s": http_entry(k8s.url)})
    r = mcp_call(c, "k8s", "nope", {})
    assert_clean_exit(r, (1,))
    assert "nope" in r.stdout + r.stderr


def test_excluded_tool_cannot_be_called(k8s, tmp_path, mcp_gateway):
    """configuration_view prints credentials: excluded, it must not be reachable at all."""
    entry = http_entry(k8s.url, tools={"exclude": ["configuration_view"]})
    c = write_config(tmp_path, {"k8s": entry})
    r = mcp_call(c, "k8s", "configuration_view", {})
    assert_clean_exit(r, (1,))
    assert "e2e-dummy-token-not-a-secret" not in r.stdout + r.stderr
    g = mcp_gateway({"k8s": entry})
    g.wait_tools("k8s")
    assert "mcp_k8s_configuration_view" not in g.tool_names()
    r = g.call("mcp_k8s_configuration_view", {})
    assert r.status == 404, r
    assert "e2e-dummy-token-not-a-secret" not in r.text


def test_gateway_tools_have_schemas(k8s, mcp_gateway):
    g = mcp_gateway({"k8s": http_entry(k8s.url)})
    g.wait_tools("k8s")
    tools = {t["name"]: t for t in g.tools()}
    assert set(tools) == {model_name("k8s", t) for t in K8S_READONLY_TOOLS}
    t = tools["mcp_k8s_pods_get"]
    assert t["server"] == "k8s" and t["tool"] == "pods_get"
    assert t["description"]
    assert t["parameters"]["type"] == "object"
    assert "name" in t["parameters"]["properties"]
    r = g.call("mcp_k8s_pods_list", {})
    assert r.status == 200, r
    body = r.json()
    assert body["is_error"] is True
    assert body["content"].startswith("error: failed to list pods in all namespaces: ")
    assert g.metric("hermetic_mcp_calls_total", server="k8s", outcome="error") == 1
    assert g.metric("hermetic_mcp_tools", server="k8s") == 14


def test_session_lost_on_restart_reinitializes(servers, mcp_gateway):
    """The Go server restarted on the same port forgets the session (404 session not found):
    the client re-initializes and the next call reaches the new server."""
    srv = servers.kubernetes()
    g = mcp_gateway({"k8s": http_entry(srv.url)})
    g.wait_tools("k8s")
    r = g.call("mcp_k8s_namespaces_list", {})
    assert r.status == 200 and r.json()["content"].startswith("error: failed to list namespaces")
    inits_before = srv.log(tail=None).count('"session initialized"')
    srv.restart()  # same port, same log file (appended)

    def call_reaches_server():
        r = g.call("mcp_k8s_namespaces_list", {})
        if r.status == 503:
            return False  # the GET stream broke first and the server is reconnecting
        assert r.status == 200, r
        return r.json()
    body = wait_until(call_reaches_server, timeout=15, interval=0.2,
                      what="a call through a new session")
    assert body["is_error"] is True
    assert body["content"].startswith("error: failed to list namespaces: "), body
    # the new server process saw a fresh initialize
    assert srv.log(tail=None).count('"session initialized"') > inits_before
    assert g.proc.poll() is None


def test_doctor_reports_each_server(k8s, tmp_path):
    closed = free_port()
    (tmp_path / "home").mkdir()
    c = write_config(tmp_path, {
        "k8s": http_entry(k8s.url),
        "gone": http_entry(f"http://127.0.0.1:{closed}/mcp", connect_timeout=1),
    })
    r = doctor(c)
    assert_clean_exit(r, (1,))
    lines = r.stdout.splitlines()
    assert "mcp k8s: connected, 2025-11-25, 14 tools" in lines, r
    gone = [l for l in lines if l.startswith("mcp gone: ")]
    assert len(gone) == 1 and gone[0].startswith("mcp gone: FAILED: "), r
    c = write_config(tmp_path, {"k8s": http_entry(k8s.url)}, name="ok.yaml")
    r = doctor(c)
    assert "mcp k8s: connected, 2025-11-25, 14 tools" in r.stdout.splitlines(), r
    if not [l for l in r.stdout.splitlines() if "FAILED" in l]:
        assert r.returncode == 0, r


def test_list_waits_at_most_connect_timeout_for_a_silent_server(tmp_path):
    """A server that accepts the connection and never answers: failed after connect_timeout."""
    import socket
    import threading
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(lsock.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        port = lsock.getsockname()[1]
        c = write_config(tmp_path, {"silent": http_entry(f"http://127.0.0.1:{port}/mcp",
                                                         connect_timeout=1)})
        # What a run costs besides the wait, on this machine now: a server that refuses the
        # connection fails at once.
        nobody = f"http://127.0.0.1:{free_port()}/mcp"
        refused = write_config(tmp_path, {"refused": http_entry(nobody, connect_timeout=1)},
                               name="refused.yaml")
        t0 = time.monotonic()
        assert_clean_exit(mcp_list(refused), (1,))
        base = time.monotonic() - t0
        t0 = time.monotonic()
        r = mcp_list(c)
        elapsed = time.monotonic() - t0 - base
        assert_clean_exit(r, (1,))
        s = r.server("silent")
        assert s["state"] == "failed" and s["error"], s
        assert s["protocol_version"] is None and s["tools"] == []
        assert elapsed < 5, f"{elapsed:.1f}s more than a refused connection for connect_timeout 1"
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        lsock.close()
