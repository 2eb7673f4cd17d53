"""hermetic's MCP client against tests/fakes/fake_mcp.py: what real servers never do.

JSON answers, nextCursor paging, stateless servers, expired sessions, calls that never answer,
garbage and over-cap answers (streamed to an excerpt and home/tool-output/), list_changed, server pings, protocol versions, headers, the
rendering rules, the 64-character tool names, and stdio children that misbehave.
"""
import base64
import json
import os
import re
import threading
import time

import pytest

from conftest import SLOW, TRAITS
from fakes.fake_mcp import DEFAULT_TOOLS, FakeMcp, text_result, tool
from mcp_harness import (CALL_TIMEOUT, CONNECT_TIMEOUT, FAKE_MCP, HANG_TIMEOUT, PY, assert_clean_exit,
                         hermetic_rusage, http_entry, mcp_call, mcp_gateway,
                         mcp_list, model_name, out_text, proc_state, rss_kib, wait_until,
                         write_config)  # noqa: F401

ECHO = "fake echo: "


@pytest.fixture
def fake():
    """A default FakeMcp (every tool kind, JSON answers, sessions); closed after the test."""
    made = []

    def make(**kw):
        f = FakeMcp(**kw).start()
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def _cfg(tmp_path, fake, name="fake", sections=None, **entry):
    return write_config(tmp_path, {name: http_entry(fake.url, **entry)}, **(sections or {}))


def _ids_unique(fake):
    ids = [m["id"] for m in fake.messages if "id" in m and "method" in m]
    assert len(ids) == len(set(ids)), f"request ids reused: {ids}"


# ---------------------------------------------------------------------------
# Protocol and headers
# ---------------------------------------------------------------------------

@pytest.mark.smoke
def test_json_answers_lifecycle_and_headers(fake, tmp_path):
    f = fake(answer="json")
    c = write_config(tmp_path, {"fake": http_entry(
        f.url, headers={"Authorization": "Bearer ${E2E_MCP_TOKEN}", "X-E2E": "yes"})})
    secret = "e2e-mcp-header-secret-5c1d"
    r = mcp_call(c, "fake", "echo", {"message": "json"},
                 env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC",
                      "E2E_MCP_TOKEN": secret})
    assert_clean_exit(r, (0,))
    assert out_text(r) == ECHO + "json"
    assert secret not in r.stderr
    assert f.violations == []
    posts = f.posts()
    # the 2026-07-28 revision is offered first; this 2025-era server refuses it
    assert posts[0]["body"]["method"] == "server/discover" and f.discovers == 1
    assert "mcp-session-id" not in posts[0]["headers"]
    posts = posts[1:]
    init = posts[0]["body"]
    assert init["method"] == "initialize"
    assert init["params"]["protocolVersion"] == "2025-11-25"
    assert isinstance(init["params"]["capabilities"], dict)
    assert init["params"]["clientInfo"]["name"]
    assert posts[1]["body"]["method"] == "notifications/initialized"
    sid = posts[0]["session"]
    assert sid
    for p in posts[1:]:
        assert p["headers"]["mcp-protocol-version"] == "2025-11-25"
        assert p["headers"]["mcp-session-id"] == sid
    for p in f.requests:
        assert p["headers"].get("authorization") == f"Bearer {secret}", p["method"]
        assert p["headers"].get("x-e2e") == "yes"
    for p in posts:
        accept = p["headers"]["accept"]
        assert "application/json" in accept and "text/event-stream" in accept
        assert p["headers"]["content-type"].startswith("application/json")
    # the session is ended with a DELETE on the way out
    deletes = [q for q in f.requests if q["method"] == "DELETE"]
    assert len(deletes) == 1 and deletes[0]["headers"]["mcp-session-id"]
    assert [m.get("method") for m in f.messages].count("tools/call") == 1
    _ids_unique(f)


@pytest.mark.parametrize("answer", ["json", "sse"])
def test_requests_wait_for_the_initialized_notification(fake, tmp_path, answer):
    """Separate POSTs race: tools/list must not overtake notifications/initialized, which a
    Python-SDK server refuses. The fake holds that notification's 202 for 0.5 s."""
    f = fake(answer=answer, initialized_delay=0.5)
    c = _cfg(tmp_path, f)
    r = mcp_call(c, "fake", "echo", {"message": "after"})
    assert_clean_exit(r, (0,))
    assert out_text(r) == ECHO + "after"
    assert f.violations == []
    methods = [p["body"].get("method") for p in f.posts()]
    assert methods[:4] == ["server/discover", "initialize", "notifications/initialized",
                           "tools/list"], methods


@pytest.mark.parametrize("version", ["2025-06-18", "2025-03-26"])
def test_accepts_older_protocol_versions(fake, tmp_path, version):
    f = fake(protocol_version=version)
    c = _cfg(tmp_path, f)
    r = mcp_list(c)
    assert_clean_exit(r, (0,))
    assert r.server("fake")["protocol_version"] == version
    r = mcp_call(c, "fake", "echo", {"message": version})
    assert out_text(r) == ECHO + version
    assert f.violations == []  # MCP-Protocol-Version: <negotiated> on every later request


def test_refuses_an_unsupported_protocol_version(fake, tmp_path):
    f = fake(protocol_version="1999-01-01")
    r = mcp_list(_cfg(tmp_path, f))
    assert_clean_exit(r, (1,))
    s = r.server("fake")
    assert s["state"] == "failed" and s["error"], s
    assert "1999-01-01" in s["error"] or "version" in s["error"].lower()
    assert s["tools"] == []


def test_tools_list_paging_collects_every_page(fake, tmp_path):
    f = fake(tools=[tool(f"t{i}") for i in range(7)], page_size=3)
    r = mcp_list(_cfg(tmp_path, f))
    assert_clean_exit(r, (0,))
    assert r.server_tools("fake") == [f"t{i}" for i in range(7)]
    assert f.logic.cursors == [None, "page-3", "page-6"]


def test_stateless_server_never_gets_a_session_id(fake, tmp_path):
    f = fake(stateless=True)
    c = _cfg(tmp_path, f)
    assert_clean_exit(mcp_list(c), (0,))
    r = mcp_call(c, "fake", "echo", {"message": "stateless"})
    assert out_text(r) == ECHO + "stateless"
    assert f.requests
    assert all("mcp-session-id" not in q["headers"] for q in f.requests)
    assert f.violations == []


@pytest.mark.parametrize("answer", ["json", "sse"])
def test_sse_details_and_server_ping(fake, tmp_path, answer):
    f = fake(answer=answer)
    c = _cfg(tmp_path, f)
    # comment lines, an empty priming event, CRLF, a notification first, multi-line data
    r = mcp_call(c, "fake", "sse_mixed")
    assert_clean_exit(r, (0,))
    assert out_text(r) == "mixed ok"
    # a ping request from the server in the middle of a call is answered
    r = mcp_call(c, "fake", "ping")
    assert_clean_exit(r, (0,))
    assert out_text(r) == "pong: ok"
    assert [a.get("result") for a in f.ping_answers] == [{}]
    assert f.ping_answers[0]["id"] == f.pings_sent[0]
    assert f.violations == []


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------

def _b64(n, fill=b"\x89"):
    return base64.b64encode(fill * n).decode()


RENDER_TOOLS = [
    tool("two_texts", "fixed", result={"content": [{"type": "text", "text": "first"},
                                                   {"type": "text", "text": "second"}]}),
    tool("unicode", "fixed", result=text_result("héllo wörld ✓ 日本")),
    tool("structured_diff", "fixed", result={
        "content": [{"type": "text", "text": "Weather follows"}],
        "structuredContent": {"t": 1, "u": "x"}}),
    tool("structured_same", "fixed", result={
        "content": [{"type": "text", "text": "{\"t\": 1, \"u\": \"x\"}"}],
        "structuredContent": {"t": 1, "u": "x"}}),
    tool("audio", "fixed", result={"content": [
        {"type": "audio", "mimeType": "audio/wav", "data": _b64(1000)}]}),
    tool("image_padded", "fixed", result={"content": [
        {"type": "image", "mimeType": "image/png", "data": _b64(1001)}]}),
    tool("resource_text", "fixed", result={"content": [
        {"type": "resource", "resource": {"uri": "file:///notes/a.txt", "mimeType": "text/plain",
                                          "text": "alpha\nbeta"}}]}),
    tool("resource_blob", "fixed", result={"content": [
        {"type": "resource", "resource": {"uri": "file:///b.bin",
                                          "mimeType": "application/octet-stream",
                                          "blob": _b64(5)}}]}),
    tool("link", "fixed", result={"content": [
        {"type": "resource_link", "uri": "file:///c.txt", "name": "c"}]}),
    tool("is_error", "fixed", result={"content": [{"type": "text", "text": "bad input"}],
                                      "isError": True}),
    tool("rpc_error", "rpc_error", code=-32001, message="custom failure"),
    tool("big_text", "big_text"),
]


@pytest.fixture
def render(fake, tmp_path):
    f = fake(tools=RENDER_TOOLS)

    def call(name, args=None, cap=None, code=0):
        sections = {"agent": {"tool_result_max_bytes": cap}} if cap else None
        c = _cfg(tmp_path, f, sections=sections)
        r = mcp_call(c, "fake", name, args or {})
        assert_clean_exit(r, (code,))
        return out_text(r)
    return call


def test_render_text_blocks_and_unicode(render):
    assert render("two_texts") == "first\nsecond"
    assert render("unicode") == "héllo wörld ✓ 日本"


def test_render_structured_content(render):
    # text blocks win: structuredContent is read only when there is no text (issue 14, item 22)
    assert render("structured_diff") == "Weather follows"
    assert render("structured_same") == '{"t": 1, "u": "x"}'


def test_render_media_resources_links(render):
    assert render("audio") == "[audio: audio/wav, 1000 bytes]"
    assert render("image_padded") == "[image: image/png, 1001 bytes]"
    assert re.fullmatch(r"\[resource file:///notes/a\.txt\][\n ]alpha\nbeta",
                        render("resource_text"))
    assert render("resource_blob") == "[resource file:///b.bin: application/octet-stream, 5 bytes]"
    assert render("link") == "[resource link: file:///c.txt]"


def test_render_errors(render):
    assert render("is_error", code=1) == "error: bad input"
    assert render("rpc_error", code=1) == "error: MCP error -32001: custom failure"


TRUNC = re.compile(r"(?s)(.*?)\n?\[truncated: showed (\d+) of (\d+) bytes\]")


@pytest.mark.parametrize("unit,cap,total", [("é", 1000, 40000), ("€", 1000, 30000),
                                            ("😀", 1001, 8000), ("a", None, 20000)])
def test_render_cap_cuts_at_utf8_boundary(render, unit, cap, total):
    text = render("big_text", {"bytes": total, "unit": unit}, cap=cap)
    m = TRUNC.fullmatch(text)
    assert m, text[-200:]
    shown, n, m_total = m.group(1), int(m.group(2)), int(m.group(3))
    limit = cap or 16384
    assert m_total == total
    assert n == len(shown.encode())
    assert limit - len(unit.encode()) < n <= limit
    assert n % len(unit.encode()) == 0  # whole characters only
    assert shown == unit * (n // len(unit.encode()))


# ---------------------------------------------------------------------------
# Failures: hang, garbage, over-cap
# ---------------------------------------------------------------------------

def test_hang_times_out_cancels_and_closes_the_stream(fake, tmp_path):
    f = fake()
    c = _cfg(tmp_path, f, timeout=1)
    t0 = time.monotonic()
    r = mcp_call(c, "fake", "hang")
    assert time.monotonic() - t0 < 4.5
    assert_clean_exit(r, (1,))
    assert out_text(r) == "error: timed out after 1 s; the call was cancelled"
    call_id = f.posts("tools/call")[0]["body"]["id"]
    got = f.wait(lambda f: f.cancelled, 3)
    if not got:
        order = [(q["method"], (q["body"] or {}).get("method"), q["status"]) for q in f.requests]
        pytest.fail("the server never accepted notifications/cancelled; requests in order "
                    f"(method, JSON-RPC method, status): {order}. A cancel sent after the "
                    "DELETE that ended the session is lost (404).", pytrace=False)
    assert got == [call_id]
    assert f.wait(lambda f: f.hangs.get(call_id, {}).get("closed"), 3), \
        "the client never closed the POST it gave up on"
    assert f.violations == []


def test_gateway_after_a_hang_the_next_call_works(fake, mcp_gateway):
    f = fake()
    g = mcp_gateway({"fake": http_entry(f.url, timeout=HANG_TIMEOUT)})
    g.wait_tools("fake")
    r = g.call("mcp_fake_hang")
    assert r.status == 200 and r.json() == {
        "content": f"error: timed out after {HANG_TIMEOUT} s; the call was cancelled",
        "is_error": True}
    r = g.call("mcp_fake_echo", {"message": "next"})
    assert r.status == 200 and r.json() == {"content": ECHO + "next", "is_error": False}
    call_id = [p for p in f.posts("tools/call") if p["body"]["params"]["name"] == "hang"][0]
    assert f.wait(lambda f: f.cancelled, 3) == [call_id["body"]["id"]]
    _ids_unique(f)


@pytest.mark.parametrize("name", ["garbage", "invalid_jsonrpc", "http_status", "crash"])
def test_bad_answers_are_clear_errors(fake, tmp_path, name):
    f = fake()
    r = mcp_call(_cfg(tmp_path, f), "fake", name)
    assert_clean_exit(r, (1,))
    # a tool error naming the server, e.g. "error: MCP server fake: HTTP 500: ..."
    assert out_text(r).startswith("error: "), r
    assert "fake" in out_text(r)


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_a_repeated_member_is_a_protocol_error(fake, tmp_path, transport):
    """An answer with "content" twice (Python's json reads the second, cJSON the first) is
    refused by the one parser (I-JSON, issue 38): the server is failed as for any protocol
    error, and the call says why instead of showing either content."""
    entry = http_entry(fake().url) if transport == "http" else _stdio_entry()
    r = mcp_call(write_config(tmp_path, {"fake": entry}), "fake", "duplicate")
    assert_clean_exit(r, (1,))
    assert out_text(r).startswith("error: "), r
    assert 'duplicate member "content" at $.result' in out_text(r), r
    assert "first" not in out_text(r) and "second" not in out_text(r)


def test_gateway_survives_bad_answers(fake, mcp_gateway):
    f = fake()
    g = mcp_gateway({"fake": http_entry(f.url)})
    g.wait_tools("fake")
    for name in ("garbage", "http_status", "crash", "invalid_jsonrpc"):
        r = g.call(f"mcp_fake_{name}")
        assert r.status == 200, r
        assert r.json()["is_error"] is True, r
        assert r.json()["content"].startswith("error: "), r
        assert g.request("GET", "/healthz").status == 200
        wait_until(lambda: "mcp_fake_echo" in g.tool_names()
                   and g.metric("hermetic_mcp_server_up", server="fake") == 1,
                   what="fake tools back")
    r = g.call("mcp_fake_echo", {"message": "fine"})
    assert r.status == 200 and r.json()["content"] == ECHO + "fine", r
    assert g.proc.poll() is None


MARK = re.compile(r"\n\[output cut: the first (\d+) of (\d+) bytes shown; the whole output is "
                  r"in (\S+/tool-output/\S+\.txt)\]$")
# fake_mcp's huge answer: HUGE_BYTES in all, of which this much JSON around the text.
HUGE_TEXT = 32 * 1024 * 1024 - len('{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text",'
                                   '"text":""}]}}')


def _kept_file(text, home):
    """The excerpt's note checked: (shown, total, path), the path below home/tool-output."""
    m = MARK.search(text)
    assert m, f"no cut note at the end: {text[-300:]!r}"
    shown, total, path = int(m.group(1)), int(m.group(2)), m.group(3)
    assert path.startswith(str(home / "tool-output") + "/"), path
    assert text[:m.start()] == "A" * shown
    return shown, total, path


@pytest.mark.parametrize("sse", [False, True], ids=["json", "sse"])
def test_over_cap_answer_streams_to_an_excerpt_and_a_file(fake, tmp_path, sse):
    f = fake()
    c = _cfg(tmp_path, f)
    base, base_rss = hermetic_rusage("mcp", "call", "--config", str(c), "fake", "echo",
                                     '{"message": "small"}')
    assert_clean_exit(base, (0,))
    r, rss = hermetic_rusage("mcp", "call", "--config", str(c), "fake", "huge",
                             json.dumps({"sse": sse}))
    assert_clean_exit(r, (0,))
    shown, total, path = _kept_file(out_text(r), tmp_path / "home")
    assert total == HUGE_TEXT and 15_000 < shown <= 16384
    with open(path, "rb") as kept:
        assert os.fstat(kept.fileno()).st_size == HUGE_TEXT
        assert kept.read(65536) == b"A" * 65536
    grew_mib = (rss - base_rss) / 1024
    assert grew_mib < 4, f"peak RSS grew {grew_mib:.1f} MiB for a 32 MiB answer"


@pytest.mark.parametrize("answer", ["json", "sse"])
def test_large_message_that_is_no_call_answer_is_still_read_whole(fake, tmp_path, answer):
    """Only tools/call answers stream: a 2 MiB tools/list (over the 1 MiB frame cap, under the
    4 MiB the client always took) is held and parsed whole as before."""
    f = fake(answer=answer, tools=[tool("echo", description="d" * (2 * 1024 * 1024))])
    r = mcp_list(_cfg(tmp_path, f))
    assert_clean_exit(r, (0,))
    assert [t["tool"] for t in r.server("fake")["tools"]] == ["echo"]


def test_over_cap_answer_past_max_bytes_is_cut_with_an_error(fake, tmp_path):
    """A message that does not end (here: longer than agent.tool_output.max_bytes) is read no
    further: the call fails saying why, and the server is reconnected."""
    f = fake()
    c = _cfg(tmp_path, f, sections={"agent": {"tool_output": {"max_bytes": 2 * 1024 * 1024}}})
    r = mcp_call(c, "fake", "huge")
    assert_clean_exit(r, (1,))
    assert out_text(r).startswith("error: ") and "agent.tool_output.max_bytes" in out_text(r), r
    assert "AAAAAAAAAAAAAAAA" not in r.stdout


def test_over_cap_answer_not_kept_when_configured_off(fake, tmp_path):
    f = fake()
    c = _cfg(tmp_path, f, sections={"agent": {"tool_output": {"keep": False}}})
    r = mcp_call(c, "fake", "huge")
    assert_clean_exit(r, (0,))
    assert out_text(r).endswith(
        f" of {HUGE_TEXT} bytes shown; the whole output was not kept "
        "(agent.tool_output.keep: false)]"), out_text(r)[-300:]
    assert not (tmp_path / "home" / "tool-output").exists()


def test_gateway_over_cap_answer_keeps_serving(fake, mcp_gateway):
    f = fake()
    g = mcp_gateway({"fake": http_entry(f.url)})
    g.wait_tools("fake")
    before = rss_kib(g.proc.pid)
    for sse in (False, True):
        r = g.call("mcp_fake_huge", {"sse": sse}, timeout=60)
        assert r.status == 200, r
        assert r.json()["is_error"] is False, r
        _kept_file(r.json()["content"], g.home)
        assert len(r.body) < 64 * 1024
        assert g.request("GET", "/healthz").status == 200
        assert g.metric("hermetic_mcp_server_up", server="fake") == 1
    r = g.call("mcp_fake_echo", {"message": "after huge"})
    assert r.status == 200 and r.json()["content"] == ECHO + "after huge"
    grew_mib = (rss_kib(g.proc.pid) - before) / 1024
    # ASan's quarantine keeps freed blocks resident for a while
    limit = 24 if TRAITS["sanitized"] else 4
    assert grew_mib < limit, f"gateway RSS grew {grew_mib:.1f} MiB"


# ---------------------------------------------------------------------------
# Sessions, list_changed, servers that come and go
# ---------------------------------------------------------------------------

def test_expired_session_reinitializes_once_and_retries(fake, mcp_gateway):
    f = fake(get_stream=False)
    g = mcp_gateway({"fake": http_entry(f.url)})
    g.wait_tools("fake")
    r = g.call("mcp_fake_echo", {"message": "one"})
    assert r.json()["content"] == ECHO + "one"
    assert f.expire_sessions() == 1
    r = g.call("mcp_fake_echo", {"message": "two"})
    assert r.status == 200, r
    assert r.json() == {"content": ECHO + "two", "is_error": False}
    assert f.not_found == 1
    inits = f.posts("initialize")
    assert len(inits) == 2
    assert "mcp-session-id" not in inits[1]["headers"]
    calls = f.posts("tools/call")
    assert calls[-1]["body"]["params"]["arguments"] == {"message": "two"}
    assert calls[-1]["session"] == f.state()["sessions"][0]
    assert [c["status"] for c in calls] == [200, 404, 200]
    _ids_unique(f)
    assert f.violations == []


def test_expired_session_with_get_stream_recovers(fake, mcp_gateway):
    f = fake()
    g = mcp_gateway({"fake": http_entry(f.url)})
    g.wait_tools("fake")
    assert f.wait(lambda f: f.get_streams, 5), "the client never opened the GET stream"
    get = [q for q in f.requests if q["method"] == "GET"][0]
    assert "text/event-stream" in get["headers"]["accept"]
    assert get["headers"]["mcp-session-id"] and get["headers"]["mcp-protocol-version"]
    f.expire_sessions()

    def ok():
        r = g.call("mcp_fake_echo", {"message": "again"})
        return r.status == 200 and r.json()["content"] == ECHO + "again"
    wait_until(ok, timeout=15, interval=0.2, what="a call through a new session")
    _ids_unique(f)


def test_list_changed_refreshes_tools(fake, mcp_gateway):
    f = fake(tools=[tool("echo"), tool("alpha")])
    g = mcp_gateway({"fake": http_entry(f.url)})
    g.wait_tools("fake")
    assert sorted(g.tool_names()) == ["mcp_fake_alpha", "mcp_fake_echo"]
    assert f.wait(lambda f: f.get_streams, 5), "the client never opened the GET stream"
    assert f.set_tools([tool("echo"), tool("beta", "fixed", result=text_result("I am beta"))]) >= 1
    wait_until(lambda: sorted(g.tool_names()) == ["mcp_fake_beta", "mcp_fake_echo"],
               what="the new tool list")
    r = g.call("mcp_fake_beta")
    assert r.json() == {"content": "I am beta", "is_error": False}
    assert g.call("mcp_fake_alpha").status == 404
    assert g.metric("hermetic_mcp_tools", server="fake") == 2


def test_server_down_at_gateway_start_comes_up_later(mcp_gateway):
    from mcp_harness import free_port
    port = free_port()
    g = mcp_gateway({"fake": http_entry(f"http://127.0.0.1:{port}/mcp", connect_timeout=1)})
    assert g.request("GET", "/readyz").status in (200, 503)
    assert g.tool_names() == []
    assert g.metric("hermetic_mcp_server_up", server="fake") == 0
    time.sleep(1.0)  # a few failed attempts
    with FakeMcp(port=port) as f:
        g.wait_tools("fake", timeout=40)
        r = g.call("mcp_fake_echo", {"message": "late"})
        assert r.json() == {"content": ECHO + "late", "is_error": False}
        assert g.metric("hermetic_mcp_server_up", server="fake") == 1
        assert g.metric("hermetic_mcp_reconnects_total", server="fake") >= 1
        assert f.violations == []


def test_gateway_deletes_the_session_on_shutdown(fake, mcp_gateway):
    f = fake()
    g = mcp_gateway({"fake": http_entry(f.url)})
    g.wait_tools("fake")
    assert g.stop() == 0, g.stderr()
    deletes = [q for q in f.requests if q["method"] == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0]["headers"]["mcp-session-id"] in f.state()["ended_sessions"]


# ---------------------------------------------------------------------------
# Tool names
# ---------------------------------------------------------------------------

def test_tool_name_mapping_and_collisions(fake, tmp_path, mcp_gateway):
    """mcp_<server>_<tool>, [^A-Za-z0-9_] -> _, at most 64 characters; a tool whose name is
    already taken is refused (and logged). How a long name is shortened is the client's
    choice (a plain cut, or a cut plus a hash); it must stay a prefix of the mapped name and
    keep leading to the original tool."""
    long_x = "x" * 80
    ya, yb = "y" * 70 + "A", "y" * 70 + "B"
    f = fake(tools=[
        tool("do.thing", "fixed", result=text_result("did the thing")),
        tool(long_x, "fixed", result=text_result("I am x80")),
        tool(ya, "fixed", result=text_result("yA")),
        tool(yb, "fixed", result=text_result("yB")),
        tool("a.b", "fixed", result=text_result("I am a.b")),
        tool("a_b", "fixed", result=text_result("I am a_b")),
    ])
    r = mcp_list(_cfg(tmp_path, f, name="my-fake"))
    assert_clean_exit(r, (0,))
    listed = r.server("my-fake")["tools"]
    names = [t["name"] for t in listed]
    assert len(names) == len(set(names))
    by_tool = {t["tool"]: t["name"] for t in listed}
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_]{1,64}", name), name
    assert by_tool["do.thing"] == "mcp_my_fake_do_thing"
    assert by_tool["a.b"] == "mcp_my_fake_a_b"
    assert "a_b" not in by_tool  # maps to the name a.b already has: refused
    long_name = by_tool[long_x]
    assert len(long_name) <= 64 and long_name.startswith(model_name("my-fake", long_x)[:50])
    assert ya in by_tool  # the first of two long names sharing a prefix is always kept
    if yb in by_tool:  # kept only if the shortening tells them apart
        assert by_tool[yb] != by_tool[ya]

    g = mcp_gateway({"my-fake": http_entry(f.url)})
    g.wait_tools("my-fake")
    assert sorted(g.tool_names()) == sorted(names)  # the same mapping every time
    assert g.call(long_name).json()["content"] == "I am x80"
    assert g.call(by_tool[ya]).json()["content"] == "yA"
    assert g.call("mcp_my_fake_a_b").json()["content"] == "I am a.b"
    assert g.call("mcp_my_fake_do_thing").json()["content"] == "did the thing"
    # the refused one is logged (the CLI logs errors only: look in the gateway's log)
    wait_until(lambda: "a_b" in g.log() and "refused" in g.log(), timeout=5,
               what="the refused tool in the log")


# ---------------------------------------------------------------------------
# stdio edge cases
# ---------------------------------------------------------------------------

def _stdio_entry(*args, **kw):
    return {"command": PY, "args": [str(FAKE_MCP), "--stdio", *map(str, args)],
            "timeout": kw.pop("timeout", CALL_TIMEOUT),
            "connect_timeout": kw.pop("connect_timeout", CONNECT_TIMEOUT), **kw}


def test_stdio_early_notifications_and_stderr_to_log(tmp_path, mcp_gateway):
    c = write_config(tmp_path, {"fake": _stdio_entry("--early-notifications",
                                                     "--stderr-lines", 3)})
    r = mcp_call(c, "fake", "echo", {"message": "stdio"})
    assert_clean_exit(r, (0,))
    assert out_text(r) == ECHO + "stdio"
    # the CLI logs errors only; the gateway writes the child's stderr into its log
    g = mcp_gateway({"fake": _stdio_entry("--early-notifications", "--stderr-lines", 3)})
    g.wait_tools("fake")
    for i in (1, 2, 3):
        wait_until(lambda: f"fake_mcp stderr line {i}" in g.log(), timeout=5,
                   what=f"stderr line {i} in home/logs/hermetic.log")


def test_stdio_ping_paging_and_cancel(tmp_path):
    rec = tmp_path / "rec.jsonl"
    c = write_config(tmp_path, {"fake": _stdio_entry("--page-size", 2, "--record", rec,
                                                     timeout=HANG_TIMEOUT)})
    r = mcp_list(c)
    assert_clean_exit(r, (0,))
    assert r.server_tools("fake") == [t["name"] for t in DEFAULT_TOOLS]
    r = mcp_call(c, "fake", "ping")
    assert out_text(r) == "pong: ok"
    r = mcp_call(c, "fake", "hang")
    assert_clean_exit(r, (1,))
    assert out_text(r) == f"error: timed out after {HANG_TIMEOUT} s; the call was cancelled"
    msgs = [json.loads(l) for l in rec.read_text().splitlines()]
    hang = [m for m in msgs if m.get("method") == "tools/call"
            and m["params"]["name"] == "hang"][0]
    cancels = [m for m in msgs if m.get("method") == "notifications/cancelled"]
    assert [m["params"]["requestId"] for m in cancels] == [hang["id"]]
    cursors = [(m.get("params") or {}).get("cursor") for m in msgs
               if m.get("method") == "tools/list"]
    assert "page-2" in cursors


def test_stdio_child_ignoring_sigterm_is_killed(tmp_path):
    pidf = tmp_path / "child.pid"
    c = write_config(tmp_path, {"fake": _stdio_entry("--ignore-sigterm", "--pid-file", pidf)})
    t0 = time.monotonic()
    r = mcp_list(c)
    elapsed = time.monotonic() - t0
    assert_clean_exit(r, (0,))
    pid = int(pidf.read_text())
    wait_until(lambda: proc_state(pid) is None, timeout=5, what=f"child {pid} gone")
    assert elapsed < 12, f"took {elapsed:.1f}s to get rid of the child"


def test_stdio_huge_line_and_garbage(tmp_path):
    c = write_config(tmp_path, {"fake": _stdio_entry()})
    base, base_rss = hermetic_rusage("mcp", "call", "--config", str(c), "fake", "echo", "{}")
    assert_clean_exit(base, (0,))
    r, rss = hermetic_rusage("mcp", "call", "--config", str(c), "fake", "huge")
    assert_clean_exit(r, (0,))
    _kept_file(out_text(r), tmp_path / "home")
    assert (rss - base_rss) / 1024 < 4
    # a non-JSON line cannot be matched to the call: skipped, and the call times out
    c = write_config(tmp_path, {"fake": _stdio_entry(timeout=1)}, name="garbage.yaml")
    r = mcp_call(c, "fake", "garbage")
    assert_clean_exit(r, (1,))
    assert out_text(r).startswith("error: ")


def test_gateway_ping_waits_behind_a_long_answer_but_fails_a_silent_pipe(mcp_gateway, tmp_path):
    """A ready server is pinged every 30 s and failed when a ping goes 10 s unanswered. On
    stdio one pipe carries every message, so a ping sent while a long answer is still
    arriving waits behind it: that server is alive (its bytes keep coming) and is pinged
    again, while a server whose pipe went silent is failed as dead. Both servers get their
    first ping about 30 s after they are ready, in the middle of their calls."""
    paced_rec, stuck_rec = tmp_path / "paced.jsonl", tmp_path / "stuck.jsonl"
    paced_tools, stuck_tools = tmp_path / "paced.json", tmp_path / "stuck.json"
    paced_tools.write_text(json.dumps([tool("answer", "huge", bytes=2 * 1024 * 1024,
                                            seconds=55)]))
    stuck_tools.write_text(json.dumps([tool("answer", "slow", seconds=120,
                                            hold_output=True)]))
    entry = {"timeout": 240 * SLOW, "connect_timeout": CONNECT_TIMEOUT}
    g = mcp_gateway({
        "paced": {"command": PY, "args": [str(FAKE_MCP), "--stdio", "--tools-file",
                                          str(paced_tools), "--record", str(paced_rec)],
                  **entry},
        "stuck": {"command": PY, "args": [str(FAKE_MCP), "--stdio", "--tools-file",
                                          str(stuck_tools), "--record", str(stuck_rec)],
                  **entry}})
    g.wait_tools("paced")
    g.wait_tools("stuck")
    replies = {}

    def call(name):
        replies[name] = g.call(f"mcp_{name}_answer", timeout=300)

    threads = [threading.Thread(target=call, args=(n,)) for n in ("paced", "stuck")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(400 * SLOW)
    stuck, paced = replies["stuck"], replies["paced"]
    assert stuck.status == 200 and stuck.json()["is_error"] is True, stuck
    assert "ping timed out: the connection is dead" in stuck.json()["content"], stuck
    assert paced.status == 200 and paced.json()["is_error"] is False, paced
    _kept_file(paced.json()["content"], g.home)

    def pings(rec):
        return [m for m in map(json.loads, rec.read_text().splitlines())
                if m.get("method") == "ping"]
    # The paced server was pinged while it wrote, and again once that ping ran out.
    assert len(pings(paced_rec)) >= 2, pings(paced_rec)
    assert g.metric("hermetic_mcp_server_up", server="paced") == 1
    assert not g.metric("hermetic_mcp_reconnects_total", server="paced")


def test_gateway_stdio_crash_respawn_and_shutdown(mcp_gateway, tmp_path):
    pidf = tmp_path / "child.pid"
    g = mcp_gateway({"fake": _stdio_entry("--pid-file", pidf)})
    g.wait_tools("fake")
    first = int(pidf.read_text())
    r = g.call("mcp_fake_crash")
    assert r.status == 200, r  # the call in flight fails with the child
    assert r.json()["is_error"] is True and r.json()["content"].startswith("error: ")
    wait_until(lambda: proc_state(first) is None, timeout=10, what="crashed child reaped")
    wait_until(lambda: pidf.exists() and int(pidf.read_text()) != first, timeout=30,
               what="a new child")
    g.wait_tools("fake", timeout=30)
    r = g.call("mcp_fake_echo", {"message": "respawned"})
    assert r.json() == {"content": ECHO + "respawned", "is_error": False}
    second = int(pidf.read_text())
    assert g.stop() == 0, g.stderr()
    wait_until(lambda: proc_state(second) is None, timeout=10, what="child gone after stop")


def test_gateway_stop_kills_a_child_that_ignores_sigterm(mcp_gateway, tmp_path):
    pidf = tmp_path / "child.pid"
    g = mcp_gateway({"fake": _stdio_entry("--ignore-sigterm", "--pid-file", pidf)})
    g.wait_tools("fake")
    pid = int(pidf.read_text())
    t0 = time.monotonic()
    assert g.stop() == 0, g.stderr()
    assert time.monotonic() - t0 < 12
    wait_until(lambda: proc_state(pid) is None, timeout=5, what=f"child {pid} gone")
