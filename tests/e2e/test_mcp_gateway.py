"""The gateway's MCP API (GET /v1/tools, POST /v1/tools/call) and metrics, and the exit codes
of `hermetic mcp list` with servers up, down and disabled; against tests/fakes/fake_mcp.py."""
import pytest

from fakes.fake_mcp import FakeMcp, text_result, tool
from mcp_harness import (HANG_TIMEOUT, assert_clean_exit, free_port, http_entry, mcp_call, mcp_gateway,
                         mcp_list, metric_samples, metric_value, write_config)  # noqa: F401

API_KEY = "e2e-gateway-mcp-api-key-93be"
SCHEMA = {"type": "object", "properties": {"q": {"type": "string", "description": "query"}},
          "required": ["q"]}


@pytest.fixture
def fake():
    f = FakeMcp(tools=[
        tool("search", "fixed", description="Searches things", input_schema=SCHEMA,
             result=text_result("found it")),
        tool("fails", "tool_error", text="nope"),
        tool("hang", "hang"),
    ]).start()
    yield f
    f.close()


def test_tools_endpoint_shape_and_auth(fake, mcp_gateway):
    g = mcp_gateway({"fake": http_entry(fake.url)}, api_key=API_KEY)
    g.wait_tools("fake")
    assert g.request("GET", "/v1/tools", auth=False).status == 401
    assert g.request("GET", "/v1/tools", auth=False,
                     headers={"Authorization": "Bearer wrong"}).status == 401
    tools = g.tools()
    assert [t["name"] for t in tools] == ["mcp_fake_search", "mcp_fake_fails", "mcp_fake_hang"]
    t = tools[0]
    assert t == {"name": "mcp_fake_search", "server": "fake", "tool": "search",
                 "description": "Searches things", "parameters": SCHEMA}
    r = g.call("mcp_fake_search", {"q": "x"}, auth=False)
    assert r.status == 401
    assert API_KEY not in g.stderr() + g.log()


def test_tools_call_answers_and_errors(fake, mcp_gateway):
    g = mcp_gateway({"fake": http_entry(fake.url, timeout=HANG_TIMEOUT)})
    g.wait_tools("fake")
    r = g.call("mcp_fake_search", {"q": "x"})
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json() == {"content": "found it", "is_error": False}
    assert fake.posts("tools/call")[0]["body"]["params"] == {"name": "search",
                                                            "arguments": {"q": "x"}}
    r = g.call("mcp_fake_fails")
    assert r.status == 200 and r.json() == {"content": "error: nope", "is_error": True}
    # arguments omitted = {}
    r = g.request("POST", "/v1/tools/call", body={"name": "mcp_fake_search"})
    assert r.status == 200, r
    assert fake.posts("tools/call")[-1]["body"]["params"].get("arguments") in ({}, None)
    # an unknown name: 404, OpenAI-shaped
    r = g.call("mcp_fake_nope")
    assert r.status == 404, r
    err = r.json()["error"]
    assert isinstance(err["message"], str) and err["message"] and "type" in err
    # malformed bodies: 400
    for body in (b"not json", {"arguments": {}}, {"name": 5}, {"name": "mcp_fake_search",
                                                                "arguments": [1]}):
        r = g.request("POST", "/v1/tools/call", body=body)
        assert r.status == 400, (body, r)
        assert "error" in r.json()
    r = g.call("mcp_fake_hang")
    assert r.json() == {
        "content": f"error: timed out after {HANG_TIMEOUT} s; the call was cancelled",
        "is_error": True}


def test_metrics(fake, mcp_gateway):
    g = mcp_gateway({"fake": http_entry(fake.url, timeout=HANG_TIMEOUT)})
    g.wait_tools("fake")
    g.call("mcp_fake_search", {"q": "1"})
    g.call("mcp_fake_search", {"q": "2"})
    g.call("mcp_fake_fails")
    g.call("mcp_fake_hang")
    text = g.metrics()
    assert metric_value(text, "hermetic_mcp_server_up", server="fake") == 1
    assert metric_value(text, "hermetic_mcp_tools", server="fake") == 3
    assert metric_value(text, "hermetic_mcp_calls_total", server="fake", outcome="ok") == 2
    assert metric_value(text, "hermetic_mcp_calls_total", server="fake", outcome="error") == 1
    assert metric_value(text, "hermetic_mcp_calls_total", server="fake", outcome="timeout") == 1
    assert metric_value(text, "hermetic_mcp_call_duration_seconds_count", server="fake") == 4
    assert metric_value(text, "hermetic_mcp_call_duration_seconds_sum", server="fake") >= 0.9 * HANG_TIMEOUT
    buckets = [(lab["le"], v) for lab, v in
               metric_samples(text, "hermetic_mcp_call_duration_seconds_bucket")
               if lab.get("server") == "fake"]
    assert buckets and buckets[-1] == ("+Inf", 4)
    values = [v for _, v in buckets]
    assert values == sorted(values)
    # no reconnect yet: 0, or not exported until the first one
    assert metric_value(text, "hermetic_mcp_reconnects_total", server="fake") in (None, 0)
    assert "# TYPE hermetic_mcp_call_duration_seconds histogram" in text


def test_mcp_list_exit_codes_up_down_disabled(fake, tmp_path):
    closed = free_port()
    c = write_config(tmp_path, {
        "up": http_entry(fake.url),
        "off": http_entry(f"http://127.0.0.1:{closed}/mcp", enabled=False),
    })
    r = mcp_list(c)
    assert_clean_exit(r, (0,))  # a disabled server is not a failure
    assert r.server("up")["state"] == "connected"
    off = [s for s in r.json()["servers"] if s["name"] == "off"]
    assert not off or off[0]["state"] != "connected"
    c = write_config(tmp_path, {
        "up": http_entry(fake.url),
        "down": http_entry(f"http://127.0.0.1:{closed}/mcp", connect_timeout=1),
    }, name="down.yaml")
    r = mcp_list(c)
    assert_clean_exit(r, (1,))
    assert r.server("up")["state"] == "connected"
    assert [t["name"] for t in r.server("up")["tools"]] == [
        "mcp_up_search", "mcp_up_fails", "mcp_up_hang"]
    down = r.server("down")
    assert down["state"] == "failed" and down["transport"] == "http"
    assert isinstance(down["error"], str) and down["error"]
    assert down["protocol_version"] is None and down["tools"] == []
    r = mcp_call(c, "down", "search", {"q": "x"})
    assert_clean_exit(r, (1,))
    assert r.stdout == "" and r.stderr.strip()


def test_mcp_call_argument_errors(fake, tmp_path):
    c = write_config(tmp_path, {"fake": http_entry(fake.url)})
    r = mcp_call(c, "fake", "search", "[1, 2]")
    assert r.returncode != 0 and r.returncode > 0
    assert r.stderr.strip()
    r = mcp_call(c, "fake", "search", "{not json")
    assert r.returncode != 0 and r.returncode > 0
    r = mcp_call(c, "nosuchserver", "search", "{}")
    assert r.returncode != 0 and r.returncode > 0
    assert not [p for p in fake.posts("tools/call")]
