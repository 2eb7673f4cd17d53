"""MCP tool schemas on demand: when the MCP tools' schemas pass agent.tool_schema_budget_tokens,
or there are more of them than agent.max_tools leaves room for, the model gets a one-line
catalog in `mcp_call` and loads a tool's schema with `mcp_tool_schema`; a call through
`mcp_call` reaches the named MCP tool with its arguments, and the tool list is the same in
every call of the session (the provider's prompt cache keeps it)."""
import json
import time
import urllib.request

import pytest

from agent_harness import agent_config, fake, messages, tool_results  # noqa: F401
from conftest import SLOW, Gateway, http_get, to_yaml
from fakes.fake_mcp import FakeMcp, tool
from fakes.fake_openai import text, tool_calls
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

API_KEY = "sk-e2e-catalog-SECRET-41"


def schema(i):
    """A real-shaped input schema: a handful of described, typed properties."""
    props = {f"field_{k}": {"type": "string",
                            "description": f"Field {k} of request {i}: a selector such as "
                                           f"app=web or a namespace name."}
             for k in range(6)}
    props["message"] = {"type": "string", "description": "what to echo"}
    return {"type": "object", "properties": props, "required": ["message"]}


def many_tools(n):
    return [tool(f"tool_{i}", "echo", input_schema=schema(i),
                 description=f"Tool {i} lists the cluster objects of kind {i} in a namespace.\n"
                             "Second line with details the catalog leaves out.",
                 annotations={"readOnlyHint": True})
            for i in range(n)]


@pytest.fixture
def start(tmp_path, fake):
    started = []

    def make(n_tools, **agent):
        mcp = FakeMcp(tools=many_tools(n_tools)).__enter__()
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT",
                                              "key": "os.environ/API_SERVER_KEY"},
                           mcp_servers={"k8s": {"url": mcp.url, "timeout": 10 * SLOW}},
                           agent=agent)
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        (tmp_path / f"g{len(started)}").mkdir()
        g = Gateway(tmp_path / f"g{len(started)}", text_,
                    {UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})
        started.append((g, mcp))
        g.start()
        deadline = time.monotonic() + 30 * SLOW
        while f"mcp_k8s_tool_{n_tools - 1}" not in offered(g):
            assert time.monotonic() < deadline, "the MCP tools never came"
            time.sleep(0.05)
        return g, mcp

    yield make
    for g, mcp in started:
        g.kill()
        mcp.__exit__(None, None, None)
        assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def offered(g):
    try:
        return http_get(g.url + "/v1/tools", headers={"Authorization": f"Bearer {API_KEY}"})[2]
    except OSError:  # not listening yet
        return ""


def ask(g, prompt):
    req = urllib.request.Request(
        g.url + "/v1/chat/completions",
        data=json.dumps({"user": "ana", "messages": [{"role": "user", "content": prompt}]})
        .encode(), headers={"Content-Type": "application/json",
                            "Authorization": f"Bearer {API_KEY}"}, method="POST")
    with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
        return json.loads(r.read())


def names(req):
    return [t["function"]["name"] for t in req["body"]["tools"]]


def test_over_the_budget_the_model_gets_a_catalog_and_loads_what_it_needs(start, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_tool_schema", {"names": ["mcp_k8s_tool_7"]})),
                    # the catalog's own short name reaches the tool as the full one does
                    tool_calls(("c2", "mcp_call", {"name": "tool_7",
                                                   "arguments": {"message": "pods?"}})),
                    text("Seven pods."))
    g, mcp = start(40)
    assert ask(g, "list kind 7")["choices"][0]["message"]["content"] == "Seven pods."
    reqs = fake.chat_requests
    assert len(reqs) == 3
    tools = names(reqs[0])
    assert "mcp_call" in tools and "mcp_tool_schema" in tools
    assert not any(n.startswith("mcp_k8s_") for n in tools), tools
    # The same list, byte for byte, in every call: the prompt cache keeps it.
    assert all(r["body"]["tools"] == reqs[0]["body"]["tools"] for r in reqs)
    mcp_part = [t for t in reqs[0]["body"]["tools"]
                if t["function"]["name"] in ("mcp_call", "mcp_tool_schema")]
    assert len(json.dumps(mcp_part)) // 4 <= 1500, len(json.dumps(mcp_part))
    print(f"\n  40 MCP tools as a catalog: {len(json.dumps(mcp_part)) // 4} tokens (bytes/4)")
    catalog = next(t for t in mcp_part if t["function"]["name"] == "mcp_call")
    desc = catalog["function"]["description"]
    # 40 tools with descriptions pass the catalog's 850 bytes: names only, under the server
    assert "\n[k8s]\ntool_0\ntool_1\n" in desc, desc
    assert all(f"\ntool_{i}\n" in desc + "\n" for i in range(40)), desc
    assert len(desc.encode()) <= 850 + 200
    assert "Second line" not in desc and "lists" not in desc
    loaded = json.loads(tool_results(reqs[1])[0].splitlines()[0])
    assert loaded["name"] == "mcp_k8s_tool_7"
    assert loaded["parameters"] == schema(7)
    assert "Second line" in loaded["description"]
    assert tool_results(reqs[2])[-1].endswith("fake echo: pods?"), tool_results(reqs[2])
    calls = [p["body"]["params"] for p in mcp.posts("tools/call")]
    assert calls == [{"name": "tool_7", "arguments": {"message": "pods?"}}], calls


def test_a_small_catalog_keeps_each_tools_first_sentence(start, fake):
    fake.script_for("test/free", text("ok"))
    g, _ = start(8, tool_schema_budget_tokens=200)
    ask(g, "hi")
    desc = next(t["function"]["description"] for t in fake.chat_requests[0]["body"]["tools"]
                if t["function"]["name"] == "mcp_call")
    for i in range(8):
        assert f"\ntool_{i}: Tool {i} lists the cluster objects of kind {i}" in desc, desc
    assert "Second line" not in desc and len(desc.encode()) <= 850 + 200


def test_within_the_budget_or_with_none_every_schema_goes_as_it_is(start, fake):
    fake.script_for("test/free", text("ok"))
    g, _ = start(40, tool_schema_budget_tokens=0)
    ask(g, "hi")
    tools = names(fake.chat_requests[0])
    assert "mcp_call" not in tools
    assert sum(n.startswith("mcp_k8s_tool_") for n in tools) == 40
    whole = [t for t in fake.chat_requests[0]["body"]["tools"]
             if t["function"]["name"].startswith("mcp_k8s_")]
    print(f"\n  40 MCP tools with every schema: {len(json.dumps(whole)) // 4} tokens (bytes/4)")


def test_more_tools_than_a_request_may_carry_all_stay_reachable(start, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_call", {"name": "mcp_k8s_tool_149",
                                                   "arguments": "{\"message\": \"last\"}"})),
                    tool_calls(("c2", "mcp_call", {"name": "mcp_k8s_nope"})),
                    text("done"))
    g, mcp = start(150, tool_schema_budget_tokens=1000000)
    ask(g, "the last one")
    reqs = fake.chat_requests
    assert len(reqs[0]["body"]["tools"]) <= 128
    assert "\ntool_149" in next(
        t["function"]["description"] for t in reqs[0]["body"]["tools"]
        if t["function"]["name"] == "mcp_call")
    assert tool_results(reqs[1])[0].endswith("fake echo: last")
    assert "mcp_k8s_nope" in tool_results(reqs[2])[-1]
    assert len(mcp.posts("tools/call")) == 1


def test_a_tool_list_change_mid_turn_waits_for_the_next_turn(start, fake):
    """An MCP server that changes its tools while a turn runs: the turn's later calls send the
    list its first call sent (a changed list would change the request's prefix and the
    provider's cache would miss on all that follows); the next turn offers the new list."""
    import threading
    fake.script_for("test/free",
                    tool_calls(("c1", "time", "{}"), first_byte_delay=3 * SLOW),
                    text("It is now."), text("Three tools."))
    g, mcp = start(2, tool_schema_budget_tokens=0)
    assert mcp.wait(lambda f: f.get_streams, 5 * SLOW), "the client never opened the GET stream"
    answers = []
    turn = threading.Thread(target=lambda: answers.append(ask(g, "what time is it")))
    turn.start()
    fake.wait_requests(1, timeout=10 * SLOW)
    assert mcp.set_tools(many_tools(3)) >= 1
    deadline = time.monotonic() + 10 * SLOW
    while "mcp_k8s_tool_2" not in offered(g):  # the gateway took the new list mid-turn
        assert time.monotonic() < deadline, "the new tool list never came"
        time.sleep(0.05)
    turn.join(timeout=30 * SLOW)
    assert answers and answers[0]["choices"][0]["message"]["content"] == "It is now."
    first, second = fake.chat_requests[:2]
    assert "mcp_k8s_tool_2" not in names(first)
    assert second["body"]["tools"] == first["body"]["tools"]
    ask(g, "and now?")
    assert "mcp_k8s_tool_2" in names(fake.chat_requests[2])
