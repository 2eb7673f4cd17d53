"""The provider's prompt cache, end to end through `hermetic router`: cached and cache-written
prompt tokens are read from each provider's usage, kept per call in the ledger, priced at
LiteLLM's cache_read_input_token_cost / cache_creation_input_token_cost, and shown by
`hermetic spend` and /metrics; `cache_control` marks (the config's
cache_control_injection_points, or the client's own) reach the providers that cache only what
is marked (Anthropic here, with a fake that caches prefixes as Anthropic documents) and never a
provider that does not take them, where the request goes out as if it had none."""
import json

import pytest

from conftest import run

from fakes.fake_anthropic import FakeAnthropic, overloaded
from fakes.fake_anthropic import text as claude_text
from fakes.fake_openai import FakeOpenAI, text
from router_harness import (  # noqa: F401 (start_router is a fixture)
    UPSTREAM_ENV, UPSTREAM_KEY, approx, msum, router_config, start_router,
)

IN, READ, WRITE, OUT = 1e-06, 1e-07, 1.25e-06, 2e-06
PRICES = {"input_cost_per_token": IN, "output_cost_per_token": OUT,
          "cache_read_input_token_cost": READ, "cache_creation_input_token_cost": WRITE}
SYSTEM = "You are a careful assistant. " + " ".join(f"Rule {i}: be precise." for i in range(60))
NO_COST = {"cost": None}  # OpenAI sends no usage.cost: the router prices the tokens


@pytest.fixture
def fake():
    # OpenAI's automatic cache, scaled down: prefixes of 16 tokens and more, counted exactly.
    with FakeOpenAI(api_key=UPSTREAM_KEY, prompt_cache=(16, 1)) as f:
        yield f


@pytest.fixture
def claude():
    with FakeAnthropic(api_key=UPSTREAM_KEY, prompt_cache_min_tokens=16) as f:
        yield f


def openai_entry(name, fake, **params):
    return {"model_name": name, "model_info": PRICES,
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": fake.url,
                               "api_key": f"os.environ/{UPSTREAM_ENV}", **params}}


def claude_entry(name, claude, **params):
    return {"model_name": name, "model_info": PRICES,
            "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_base": claude.url,
                               "api_key": f"os.environ/{UPSTREAM_ENV}", **params}}


def chat(r, model, messages):
    reply = r.post("/v1/chat/completions", {"model": model, "messages": messages})
    assert reply.status == 200, reply.text
    return reply.json()


def conversation(turns):
    """A growing chat: each call repeats the last one's messages, its answer and a question."""
    msgs = [{"role": "system", "content": SYSTEM}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"question {i}: what is rule {i}?"})
        msgs.append({"role": "assistant", "content": f"Rule {i} says: be precise."})
    msgs.append({"role": "user", "content": f"question {turns}: what is rule {turns}?"})
    return msgs


def test_cached_tokens_are_priced_at_the_cache_rate_and_reported(fake, start_router):
    fake.script(text("first", usage=NO_COST), text("second", usage=NO_COST))
    r = start_router(router_config(fake, [openai_entry("gpt", fake)]))
    chat(r, "gpt", conversation(1))
    answer = chat(r, "gpt", conversation(2))
    cached = answer["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached > 100, answer["usage"]
    rows = r.wait_spend_rows(2)
    assert [row["cached_tokens"] for row in rows] == [0, cached], rows
    row = rows[1]
    want = (row["input_tokens"] - cached) * IN + cached * READ + row["output_tokens"] * OUT
    assert row["cost_source"] == "model_info" and approx(row["cost_usd"], want, 1e-12), (row, want)
    # Without the cache price the same tokens would have cost more: the discount is real.
    assert row["cost_usd"] < row["input_tokens"] * IN + row["output_tokens"] * OUT
    m = r.metrics()
    assert msum(m, "hermetic_cached_input_tokens_total") == cached
    assert msum(m, "litellm_input_tokens_metric_total") == rows[0]["input_tokens"] + \
        row["input_tokens"]
    out = r.spend_cli("--days", "1")
    assert out.returncode == 0, out.stderr
    header, line = out.stdout.splitlines()[:2]
    assert "CACHED TOKENS" in header, out.stdout
    fields = line.split()
    assert fields[2] == "2" and int(fields[4]) == cached, out.stdout


def test_config_injection_points_mark_anthropic_requests_and_the_cache_pays(
        fake, claude, start_router):
    claude.script(claude_text("one"), claude_text("two"))
    points = [{"location": "message", "role": "system"}, {"location": "message", "index": -1}]
    r = start_router(router_config(fake, [claude_entry(
        "claude", claude, cache_control_injection_points=points)]))
    chat(r, "claude", conversation(1))
    chat(r, "claude", conversation(2))
    sent = claude.message_requests
    system = sent[0]["body"]["system"]
    assert isinstance(system, list) and system[-1]["cache_control"] == {"type": "ephemeral"}
    last = sent[0]["body"]["messages"][-1]["content"]
    assert last[-1]["cache_control"] == {"type": "ephemeral"}, last
    # First call writes the prefix; the second reads the first's marked prefix and writes on.
    assert sent[0]["cache_read"] == 0 and sent[0]["cache_creation"] > 100, sent[0]
    assert sent[1]["cache_read"] >= sent[0]["cache_creation"], sent[1]
    rows = r.wait_spend_rows(2)
    assert rows[0]["cache_write_tokens"] == sent[0]["cache_creation"], rows
    assert rows[1]["cached_tokens"] == sent[1]["cache_read"], rows
    assert rows[1]["cache_write_tokens"] == sent[1]["cache_creation"], rows
    for row in rows:
        plain = row["input_tokens"] - row["cached_tokens"] - row["cache_write_tokens"]
        want = (plain * IN + row["cached_tokens"] * READ + row["cache_write_tokens"] * WRITE +
                row["output_tokens"] * OUT)
        assert approx(row["cost_usd"], want, 1e-12), (row, want)
    assert msum(r.metrics(), "hermetic_cache_write_input_tokens_total") == \
        rows[0]["cache_write_tokens"] + rows[1]["cache_write_tokens"]


def marked(messages):
    """The client's own marks: the system prompt and the last message as marked text parts."""
    out = []
    for i, m in enumerate(messages):
        if m["role"] == "system" or i == len(messages) - 1:
            m = dict(m, content=[{"type": "text", "text": m["content"],
                                  "cache_control": {"type": "ephemeral"}}])
        out.append(m)
    return out


def test_marks_never_reach_a_provider_that_does_not_take_them(fake, claude, start_router):
    # Anthropic is overloaded: the group falls back to an OpenAI deployment.
    claude.script(overloaded())
    fake.script(text("plain", usage=NO_COST), text("fallback", usage=NO_COST))
    r = start_router(router_config(
        fake, [openai_entry("gpt", fake), claude_entry("claude", claude)],
        router_settings={"fallbacks": [{"claude": ["gpt"]}]}))
    msgs = conversation(1)
    chat(r, "gpt", msgs)
    chat(r, "claude", marked(msgs))
    plain, fell_back = fake.chat_requests
    # The marked request reached OpenAI exactly as the unmarked one did.
    assert "cache_control" not in fell_back["raw"], fell_back["raw"]
    assert fell_back["body"]["messages"] == plain["body"]["messages"]
    assert fell_back["body"]["messages"][0]["content"] == SYSTEM
    # Anthropic itself got the client's marks.
    got = claude.message_requests[0]["body"]
    assert got["system"][-1]["cache_control"] == {"type": "ephemeral"}, got["system"]


def test_marks_at_every_level_are_taken_off_for_a_provider_without_them(fake, start_router):
    # OpenRouter's automatic mark (top level), a tool's, a message's own and a text part's:
    # OpenAI gets none of them, and the rest of the request as the client sent it.
    fake.script(text("plain", usage=NO_COST), text("marked", usage=NO_COST))
    r = start_router(router_config(fake, [openai_entry("gpt", fake)]))
    mark = {"type": "ephemeral"}
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    msgs = conversation(1)
    plain = {"model": "gpt", "messages": msgs, "tools": [tool]}
    marked_msgs = [dict(m, cache_control=mark) if m["role"] == "assistant" else m for m in msgs]
    marked_msgs[-1] = dict(msgs[-1], content=[{"type": "text", "text": msgs[-1]["content"],
                                               "cache_control": mark}])
    marked_req = {"model": "gpt", "messages": marked_msgs, "cache_control": mark,
                  "tools": [dict(tool, cache_control=mark)]}
    for body in (plain, marked_req):
        reply = r.post("/v1/chat/completions", body)
        assert reply.status == 200, reply.text
    sent_plain, sent_marked = fake.chat_requests
    assert "cache_control" not in sent_marked["raw"], sent_marked["raw"]
    assert sent_marked["body"]["messages"] == sent_plain["body"]["messages"]
    assert sent_marked["body"]["tools"] == sent_plain["body"]["tools"] == [tool]


def test_a_mark_past_anthropics_four_is_not_added(fake, claude, start_router):
    claude.script(claude_text("ok"))
    # Both points name unmarked messages: the last one and the last assistant message.
    points = [{"location": "message", "index": -1}, {"location": "message", "role": "assistant"}]
    r = start_router(router_config(fake, [claude_entry(
        "claude", claude, cache_control_injection_points=points)]))
    msgs = conversation(3)
    # The client marked three: the system prompt and messages 1 and 2.
    for i in (0, 1, 2):
        msgs[i] = dict(msgs[i], content=[{"type": "text", "text": msgs[i]["content"],
                                          "cache_control": {"type": "ephemeral"}}])
    chat(r, "claude", msgs)
    sent = claude.message_requests[0]
    assert sent["status"] == 200, sent.get("error")  # five would be refused
    body = sent["body"]
    assert json.dumps(body).count("cache_control") == 4
    # The first point made the fourth; the second found no room.
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    last_assistant = [m for m in body["messages"] if m["role"] == "assistant"][-1]
    assert "cache_control" not in json.dumps(last_assistant), last_assistant


def test_injection_points_need_a_role_or_an_index(fake, start_router):
    entry = openai_entry("gpt", fake, cache_control_injection_points=[{"location": "message"}])
    r = start_router(router_config(fake, [entry]), start=False)
    out = run("config", "check", "--config", str(r.config_path), env=r.env)
    assert out.returncode != 0
    assert "cache_control_injection_points[0]: a cache_control_injection_points entry needs a " \
        "role or an index" in out.stderr, out.stderr
