"""The gateway's OpenAI-compatible agent route, POST /v1/chat/completions, over real HTTP:
auth, a turn with a tool call, streaming framing, persistent sessions by `user`, stateless
requests folding their history into the prompt, and the router's metrics now in the gateway."""
import json
import urllib.request

import pytest

from agent_harness import agent_config, fake, messages, tool_results  # noqa: F401
from conftest import SLOW, http_get, to_yaml
from fakes.fake_openai import text, tool_calls
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

API_KEY = "sk-e2e-gateway-api-SECRET-9c1e"


def post(g, body, key=API_KEY, headers=None):
    h = {"Content-Type": "application/json", **(headers or {})}
    if key:
        h["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(g.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


@pytest.fixture
def chat_gateway(gateway, fake, tmp_path):
    def make(**sections):
        cfg = agent_config(fake, "{home}", api={"listen": "127.0.0.1:{port}",
                                                 "key": "os.environ/API_SERVER_KEY"}, **sections)
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace("{{home}}", "{home}").replace("{{port}}", "{port}")
        return gateway(text_, env={UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})
    return make


def test_chat_route_needs_the_api_key(chat_gateway, fake):
    g = chat_gateway()
    status, _, body = post(g, {"messages": [{"role": "user", "content": "hi"}]}, key=None)
    assert status == 401 and "api.key" in body
    status, _, _ = post(g, {"messages": [{"role": "user", "content": "hi"}]}, key="wrong")
    assert status == 401
    assert fake.chat_requests == []


def test_chat_route_runs_a_turn_with_tools(chat_gateway, fake):
    g = chat_gateway()
    fake.script_for("test/free", tool_calls(("t1", "time", "{}"), cost=0.001),
                    text("It is noon.", cost=0.002))
    status, _, body = post(g, {"model": "hermetic-agent",
                               "messages": [{"role": "user", "content": "time?"}]})
    assert status == 200, body
    r = json.loads(body)
    assert r["object"] == "chat.completion"
    assert r["model"] == "hermetic-agent"
    assert r["choices"][0]["message"] == {"role": "assistant", "content": "It is noon."}
    assert r["choices"][0]["finish_reason"] == "stop"
    assert r["usage"]["cost"] == pytest.approx(0.003)
    assert "UTC" in tool_results(fake.chat_requests[1])[0]
    # The in-process router's LiteLLM series are on the gateway's /metrics now.
    _, _, metrics = http_get(g.url + "/metrics")
    served = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("litellm_requests_metric_total{"))
    assert served == 2  # the tool-call round and the answer


def test_chat_route_streams_openai_sse(chat_gateway, fake):
    g = chat_gateway()
    fake.script_for("test/free", text("streamed answer"))
    status, headers, body = post(g, {"stream": True,
                                     "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    events = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunk = json.loads(events[0])
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"][0]["delta"]["content"] == "streamed answer"


def test_user_field_keeps_a_session_and_stateless_folds_history(chat_gateway, fake):
    g = chat_gateway()
    fake.script_for("test/free", text("Hi Ana."), text("You are Ana."), text("stateless"))
    assert post(g, {"user": "ana", "messages": [{"role": "user", "content": "I am Ana"}]})[0] == 200
    assert post(g, {"user": "ana", "messages": [{"role": "user", "content": "who am I?"}]})[0] == 200
    second = [m.get("content") for m in messages(fake.chat_requests[1])]
    assert "I am Ana" in second and "Hi Ana." in second
    status, _, _ = post(g, {"messages": [{"role": "user", "content": "my dog is Rex"},
                                         {"role": "assistant", "content": "Nice."},
                                         {"role": "user", "content": "name my dog"}]})
    assert status == 200
    last = messages(fake.chat_requests[2])
    assert [m["role"] for m in last] == ["system", "user"]  # a fresh session
    assert "user: my dog is Rex" in last[1]["content"]
    assert last[1]["content"].endswith("name my dog")


def test_bad_requests_and_model_failures_are_openai_errors(chat_gateway, fake):
    from fakes.fake_openai import openrouter_error
    g = chat_gateway()
    status, _, body = post(g, {"messages": [{"role": "system", "content": "no user"}]})
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"
    fake.script_for("test/free", openrouter_error(400, message="upstream says no"))
    status, _, body = post(g, {"messages": [{"role": "user", "content": "hi"}]})
    assert status == 502 and "upstream says no" in json.loads(body)["error"]["message"]


def common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def test_a_session_keeps_a_byte_identical_prefix_for_the_prompt_cache(chat_gateway, fake):
    """System prompt, tools and history are the same bytes from one call to the next, except
    for what was appended: the time is not in the system prompt but in the user message that
    comes after a gap, where it stays."""
    import sqlite3
    g = chat_gateway()
    fake.script_for("test/free", tool_calls(("t1", "time", "{}")), text("Noon."),
                    text("Fine."), text("Still here."))
    for prompt in ("time?", "how are you?"):
        assert post(g, {"user": "ana",
                        "messages": [{"role": "user", "content": prompt}]})[0] == 200
    # A quarter of an hour later (the session's last message moved back in time).
    db = sqlite3.connect(g.home / "state.db")
    db.execute("UPDATE sessions SET updated_ms = updated_ms - 16 * 60000")
    db.commit()
    db.close()
    assert post(g, {"user": "ana",
                    "messages": [{"role": "user", "content": "still there?"}]})[0] == 200
    reqs = fake.chat_requests
    assert len(reqs) == 4
    for prev, cur in zip(reqs, reqs[1:]):
        a, b = messages(prev), messages(cur)
        assert b[:len(a)] == a, (a, b)
        assert prev["body"]["tools"] == cur["body"]["tools"]
        # As a provider renders the prompt (tools, then messages), the common prefix is
        # billed at its cached rate: at least 80% of every call here.
        pa = json.dumps(prev["body"]["tools"]) + json.dumps(a)
        pb = json.dumps(cur["body"]["tools"]) + json.dumps(b)
        assert common_prefix(pa, pb) >= 0.8 * len(pb), (common_prefix(pa, pb), len(pb))
    system = messages(reqs[0])[0]["content"]
    assert "This conversation started" in system and "Now:" not in system
    assert all(messages(r)[0]["content"] == system for r in reqs)
    last_user = messages(reqs[3])[-1]["content"]
    assert last_user.startswith("[") and last_user.endswith("]\nstill there?"), last_user
    assert messages(reqs[2])[-1]["content"] == "how are you?"  # no gap, no time line


def test_an_anthropic_session_marks_its_prompt_and_the_cache_pays(chat_gateway, fake):
    """With a model that caches only what is marked (Anthropic), the agent marks the system
    prompt, the turn's user message and the last message; the fake caches prefixes as
    Anthropic documents, so from the second call of a session on most of each prompt is read
    from the cache, and the ledger keeps and prices those tokens."""
    import sqlite3

    from agent_harness import deployment
    from fakes.fake_anthropic import FakeAnthropic
    from fakes.fake_anthropic import text as claude_text
    from fakes.fake_anthropic import tool_use
    prices = {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
              "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06}
    with FakeAnthropic(api_key=UPSTREAM_KEY, prompt_cache_min_tokens=256) as claude:
        claude.script(tool_use(("t1", "time", {})), claude_text("It is noon."),
                      claude_text("Fine, thanks."))
        g = chat_gateway(model_list=[
            {"model_name": "free", "model_info": prices,
             "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_base": claude.url,
                                "api_key": f"os.environ/{UPSTREAM_ENV}"}},
            deployment("cheap", "test/cheap", fake)])
        for prompt in ("time?", "how are you?"):
            status, _, body = post(g, {"user": "ana",
                                       "messages": [{"role": "user", "content": prompt}]})
            assert status == 200, body
        sent = claude.message_requests
        assert [r["status"] for r in sent] == [200, 200, 200], [r.get("error") for r in sent]
        for r in sent:
            marks = json.dumps(r["body"]).count("cache_control")
            assert 2 <= marks <= 3, r["body"]
            assert r["body"]["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert sent[0]["cache_read"] == 0 and sent[0]["cache_creation"] > 0
        for r in sent[1:]:
            assert r["cache_read"] >= 0.8 * r["prompt_tokens"], \
                (r["cache_read"], r["prompt_tokens"])
        db = sqlite3.connect(g.home / "state.db")
        rows = db.execute("SELECT cached_tokens, cache_write_tokens FROM spend "
                          "WHERE model_group = 'free' ORDER BY id").fetchall()
        db.close()
        assert rows == [(r["cache_read"], r["cache_creation"]) for r in sent], rows
