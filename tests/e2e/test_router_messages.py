"""`hermetic router` POST /v1/messages: Anthropic's Messages API (as Claude Code speaks it)
translated onto the router's OpenAI core. The upstream is the scripted OpenAI fake behind an
`openai/` deployment; every test checks both ends: the Anthropic answer or event stream the
client gets, and the OpenAI request the fake received."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fakes.fake_openai import openai_error, text, tool_calls
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    MASTER_ENV, MASTER_KEY, UPSTREAM_ENV, fake, request, router_config, start_router,
)

ROOT = Path(__file__).resolve().parents[2]


def openai_deployment(name, model_id, upstream):
    """A model_list entry for the OpenAI dialect: openai/<id> at the fake."""
    return {"model_name": name,
            "litellm_params": {"model": f"openai/{model_id}", "api_base": upstream.url,
                               "api_key": f"os.environ/{UPSTREAM_ENV}"}}


def config(fake, **sections):
    return router_config(fake, [openai_deployment("claude-sonnet", "gpt-test", fake)],
                         **sections)


def messages(r, body, headers=None, path="/v1/messages"):
    h = {"anthropic-version": "2023-06-01"}
    h.update(headers or {})
    return request(r.port, "POST", path, body=body, headers=h)


def body(content="Hello", **extra):
    b = {"model": "claude-sonnet", "max_tokens": 256,
         "messages": [{"role": "user", "content": content}]}
    b.update(extra)
    return b


def anthropic_events(reply):
    """[(event name, parsed data)] of an Anthropic SSE body; the name must equal data.type."""
    out = []
    for frame in reply.text.split("\n\n"):
        if not frame.strip():
            continue
        lines = frame.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        assert len(lines) == 2, frame
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["type"] == name, frame
        out.append((name, data))
    return out


def reassemble(events):
    """The message a client builds from the events, as the Anthropic SDKs accumulate it."""
    msg, partial = None, {}
    for name, d in events:
        if name == "message_start":
            msg = d["message"]
        elif name == "content_block_start":
            assert d["index"] == len(msg["content"]), events
            msg["content"].append(dict(d["content_block"]))
        elif name == "content_block_delta":
            block, delta = msg["content"][d["index"]], d["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                partial[d["index"]] = partial.get(d["index"], "") + delta["partial_json"]
        elif name == "content_block_stop":
            if d["index"] in partial:
                msg["content"][d["index"]]["input"] = json.loads(partial[d["index"]])
        elif name == "message_delta":
            msg["stop_reason"] = d["delta"]["stop_reason"]
            msg["usage"].update(d["usage"])
    return msg


def anthropic_error(reply, status, type_):
    assert reply.status == status, reply.text
    doc = reply.json()
    assert doc["type"] == "error" and doc["error"]["type"] == type_, doc
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"], doc
    return doc["error"]["message"]


def assert_openai_order(msgs):
    """OpenAI's rule: every tool message answers a tool_call of the assistant message right
    before the run of tool messages it belongs to, and every call is answered."""
    pending = set()
    for m in msgs:
        if m["role"] == "tool":
            assert m["tool_call_id"] in pending, msgs
            pending.discard(m["tool_call_id"])
            continue
        assert not pending, f"unanswered tool calls {pending} before {m}"
        if m["role"] == "assistant":
            pending = {c["id"] for c in m.get("tool_calls") or []}
    assert not pending, msgs


@pytest.mark.smoke
def test_non_streamed_message_is_answered_in_anthropic_shape(fake, start_router):
    fake.script_for("gpt-test", text("Hi there!", usage={
        "prompt_tokens": 40, "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 30}}))
    r = start_router(config(fake))
    reply = messages(r, body(system="Be brief."))
    assert reply.status == 200, reply.text
    msg = reply.json()
    assert msg["id"].startswith("msg_") and msg["type"] == "message", msg
    assert msg["role"] == "assistant" and msg["model"] == "claude-sonnet", msg
    assert msg["content"] == [{"type": "text", "text": "Hi there!"}], msg
    assert msg["stop_reason"] == "end_turn" and msg["stop_sequence"] is None, msg
    assert msg["usage"] == {"input_tokens": 10, "output_tokens": 3,
                            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 30}
    [req] = fake.chat_requests
    assert req["path"] == "/v1/chat/completions", req
    assert req["model"] == "gpt-test"
    assert req["body"]["messages"] == [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Hello"}]
    assert req["body"]["max_tokens"] == 256


@pytest.mark.smoke
def test_stream_has_anthropic_events_in_order(fake, start_router):
    fake.script_for("gpt-test", text("Streaming in small pieces.", chunk_size=3,
                                     usage={"prompt_tokens": 12, "completion_tokens": 6}))
    r = start_router(config(fake))
    reply = messages(r, body(stream=True))
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = anthropic_events(reply)
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[1] == "content_block_start", names
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"], names
    assert set(names[2:-3]) == {"content_block_delta"}, names
    msg = reassemble(events)
    assert msg["content"] == [{"type": "text", "text": "Streaming in small pieces."}]
    assert msg["stop_reason"] == "end_turn"
    assert msg["usage"]["output_tokens"] == 6 and msg["usage"]["input_tokens"] == 12, msg
    [req] = fake.chat_requests
    assert req["body"]["stream"] is True
    assert req["body"]["stream_options"] == {"include_usage": True}


def test_stream_of_text_then_two_tool_calls(fake, start_router):
    fake.script_for("gpt-test", tool_calls(
        ("call_a", "read_file", '{"path": "/etc/hostname"}'),
        ("call_b", "list_dir", '{"path": "/tmp", "depth": 2}'),
        content="Let me look.", chunk_size=5))
    r = start_router(config(fake))
    reply = messages(r, body(stream=True, tools=[
        {"name": "read_file", "description": "Read a file",
         "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
        {"name": "list_dir", "input_schema": {"type": "object"}}]))
    events = anthropic_events(reply)
    starts = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert starts == ["text", "tool_use", "tool_use"], events
    # each block is closed before the next one opens
    opened = []
    for n, d in events:
        if n == "content_block_start":
            assert not opened, events
            opened.append(d["index"])
        elif n == "content_block_stop":
            assert opened == [d["index"]], events
            opened.clear()
    msg = reassemble(events)
    assert msg["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_a", "name": "read_file",
         "input": {"path": "/etc/hostname"}},
        {"type": "tool_use", "id": "call_b", "name": "list_dir",
         "input": {"path": "/tmp", "depth": 2}}]
    assert msg["stop_reason"] == "tool_use"
    deltas = [d for n, d in events if n == "content_block_delta" and d["index"] == 1]
    assert len(deltas) > 1, "the arguments should arrive in several input_json_delta pieces"
    [req] = fake.chat_requests
    assert req["body"]["tools"][0] == {
        "type": "function", "function": {
            "name": "read_file", "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}


def test_tool_round_trip_reaches_the_upstream_in_openai_order(fake, start_router):
    fake.script_for("gpt-test", text("It is box-1."))
    r = start_router(config(fake))
    reply = messages(r, body(
        tools=[{"name": "read_file", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[
            {"role": "user", "content": "Which host is this?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "read_file",
                 "input": {"path": "/etc/hostname"}},
                {"type": "tool_use", "id": "toolu_2", "name": "read_file",
                 "input": {"path": "/etc/machine-id", "limit": 12345678901234567890}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "box-1"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                 "content": [{"type": "text", "text": "permission denied"}]},
                {"type": "text", "text": "Answer briefly."}]}]))
    assert reply.status == 200, reply.text
    assert reply.json()["content"] == [{"type": "text", "text": "It is box-1."}]
    [req] = fake.chat_requests
    sent = req["body"]
    msgs = sent["messages"]
    assert_openai_order(msgs)
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "user"], msgs
    assert msgs[1]["content"] == "Checking."
    assert [c["function"]["arguments"] for c in msgs[1]["tool_calls"]] == [
        '{"path":"/etc/hostname"}', '{"path":"/etc/machine-id","limit":12345678901234567890}']
    assert msgs[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "box-1"}
    assert msgs[3] == {"role": "tool", "tool_call_id": "toolu_2",
                       "content": "Error: permission denied"}
    assert msgs[4] == {"role": "user", "content": "Answer briefly."}
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    raw = req["raw"].decode() if isinstance(req["raw"], bytes) else req["raw"]
    assert "12345678901234567890" in raw, "tool input numbers must keep their digits"


def test_non_streamed_tool_call_answer(fake, start_router):
    fake.script_for("gpt-test", tool_calls(("call_9", "get_weather", '{"city": "Paris"}'),
                                           ("call_10", "broken", '{"city": ')))
    r = start_router(config(fake))
    reply = messages(r, body(tools=[{"name": "get_weather", "input_schema": {"type": "object"}},
                                    {"name": "broken", "input_schema": {"type": "object"}}]))
    assert reply.status == 200, reply.text
    msg = reply.json()
    assert msg["stop_reason"] == "tool_use"
    assert msg["content"] == [
        {"type": "tool_use", "id": "call_9", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_10", "name": "broken", "input": {}}]


def test_x_api_key_and_bearer_both_authenticate(fake, start_router):
    fake.script_for("gpt-test", text("one"), text("two"))
    r = start_router(config(fake, general_settings={"master_key": f"os.environ/{MASTER_ENV}"}),
                     env={MASTER_ENV: MASTER_KEY})
    assert messages(r, body(), {"x-api-key": MASTER_KEY}).json()["content"][0]["text"] == "one"
    ok = messages(r, body(), {"Authorization": f"Bearer {MASTER_KEY}"})
    assert ok.json()["content"][0]["text"] == "two", ok.text
    anthropic_error(messages(r, body(), {"x-api-key": "sk-wrong"}), 401, "authentication_error")
    anthropic_error(messages(r, body()), 401, "authentication_error")
    assert len(fake.chat_requests) == 2


def test_unknown_model_is_refused_in_anthropic_shape(fake, start_router):
    r = start_router(config(fake))
    msg = anthropic_error(messages(r, body(model="claude-nope")), 400, "invalid_request_error")
    assert "claude-nope" in msg
    anthropic_error(messages(r, {"model": "claude-sonnet", "messages": "no"}), 400,
                    "invalid_request_error")
    assert fake.chat_requests == []


def test_budget_refusal_is_in_anthropic_shape(fake, start_router):
    fake.script_for("gpt-test", text("paid", cost=0.02))
    r = start_router(config(fake, budget={"daily_usd": 0.01}))
    assert messages(r, body()).status == 200
    msg = anthropic_error(messages(r, body(stream=True)), 400, "invalid_request_error")
    assert msg.startswith("Budget has been exceeded!"), msg
    assert len(fake.chat_requests) == 1


def test_upstream_errors_map_to_anthropic_types(fake, start_router):
    fake.script_for("gpt-test", openai_error(429, "slow down", type="rate_limit_error"),
                    openai_error(500, "boom", type="server_error"))
    r = start_router(config(fake))
    assert "slow down" in anthropic_error(messages(r, body()), 429, "rate_limit_error")
    assert anthropic_error(messages(r, body()), 500, "api_error")


def test_error_mid_stream_becomes_an_error_event(fake, start_router):
    fake.script_for("gpt-test", text("partial answer that breaks", chunk_size=4, error_after=3,
                                     error={"code": 502, "message": "Provider returned error"}))
    r = start_router(config(fake))
    reply = messages(r, body(stream=True))
    assert reply.status == 200, reply.text
    events = anthropic_events(reply)
    assert events[0][0] == "message_start"
    assert events[-1][0] == "error", events
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "message_stop" not in [n for n, _ in events]


def test_count_tokens_is_an_estimate_without_an_upstream_call(fake, start_router):
    r = start_router(config(fake))
    reply = messages(r, {"model": "claude-sonnet", "messages": [
        {"role": "user", "content": "x" * 400}]}, path="/v1/messages/count_tokens?beta=true")
    assert reply.status == 200, reply.text
    n = reply.json()["input_tokens"]
    assert 100 <= n <= 140, n
    anthropic_error(messages(r, {"model": "nope", "messages": [
        {"role": "user", "content": "x"}]}, path="/v1/messages/count_tokens"),
        400, "invalid_request_error")
    assert fake.chat_requests == []


# ---------------------------------------------------------------------------
# The official Anthropic TypeScript SDK against the router
# ---------------------------------------------------------------------------

def sdk_dir():
    """node_modules of tests/peers (pinned by its package-lock.json), where tests/peers/install.sh
    puts @anthropic-ai/sdk with the other real peers (npm registry only)."""
    p = subprocess.run(["bash", str(ROOT / "tests" / "peers" / "install.sh")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"tests/peers/install.sh failed:\n{p.stdout}\n{p.stderr}"
    return Path(p.stdout.strip().splitlines()[-1]) / "node_modules"


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="node is not installed")
def test_official_typescript_sdk_create_and_stream(fake, start_router):
    fake.script_for("gpt-test", text("Hello from the SDK."),
                    text("Streamed via the SDK.", chunk_size=4),
                    tool_calls(("call_s", "get_weather", '{"city": "Oslo"}'), chunk_size=3))
    r = start_router(config(fake, general_settings={"master_key": f"os.environ/{MASTER_ENV}"}),
                     env={MASTER_ENV: MASTER_KEY})
    env = dict(os.environ, NODE_PATH=str(sdk_dir()), ROUTER_URL=r.url, ROUTER_KEY=MASTER_KEY)
    out = subprocess.run(["node", str(Path(__file__).with_name("anthropic_sdk_client.cjs"))],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["create"]["content"] == [{"type": "text", "text": "Hello from the SDK."}]
    assert res["create"]["stop_reason"] == "end_turn"
    assert res["stream_text"] == "Streamed via the SDK."
    assert res["stream_final"]["stop_reason"] == "end_turn"
    assert res["stream_final"]["usage"]["output_tokens"] > 0
    assert res["tool"]["content"] == [{"type": "tool_use", "id": "call_s",
                                       "name": "get_weather", "input": {"city": "Oslo"}}]
    assert res["tool"]["stop_reason"] == "tool_use"
    assert res["error_status"] == 400 and res["error_type"] == "invalid_request_error", res


# ---------------------------------------------------------------------------
# Anthropic in, Anthropic out: /v1/messages to an anthropic/ deployment
# ---------------------------------------------------------------------------

def test_messages_to_an_anthropic_deployment_round_trips_through_openai(fake, start_router):
    """Claude Code's request through /v1/messages to an anthropic/ deployment is translated
    to OpenAI's shape and back to Anthropic's by the dialect: the provider gets a valid
    Messages request (system, tools, the tool_result after its tool_use), and the client gets
    the tool_use and, streamed, the text, as Anthropic would send them."""
    from fakes.fake_anthropic import FakeAnthropic, text as a_text, tool_use as a_tool_use
    with FakeAnthropic(api_key="sk-ant-e2e-key-1234") as anth:
        anth.script(a_tool_use(("toolu_1", "get_weather", {"city": "Oslo"})),
                    a_text("It is sunny in Oslo.", chunk_size=4))
        cfg = router_config(fake, [{"model_name": "claude-sonnet", "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5", "api_base": anth.url,
            "api_key": "sk-ant-e2e-key-1234"}}])
        r = start_router(cfg)
        tools = [{"name": "get_weather", "description": "Weather for a city",
                  "input_schema": {"type": "object",
                                   "properties": {"city": {"type": "string"}}}}]
        first = messages(r, body("Weather in Oslo?", system="Be brief.", tools=tools))
        assert first.status == 200, first.text
        answer = first.json()
        assert answer["stop_reason"] == "tool_use"
        [call] = [b for b in answer["content"] if b["type"] == "tool_use"]
        assert call["name"] == "get_weather" and call["input"] == {"city": "Oslo"}
        follow = body(stream=True, system="Be brief.", tools=tools, messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": answer["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                          "content": "sunny, 21 C"}]}])
        second = messages(r, follow)
        assert second.status == 200, second.text
        msg = reassemble(anthropic_events(second))
        assert msg["content"] == [{"type": "text", "text": "It is sunny in Oslo."}]
        sent = [q for q in anth.requests if q["path"] == "/v1/messages"]
        assert [q["status"] for q in sent] == [200, 200], [q.get("error") for q in sent]
        upstream = sent[1]["body"]
        assert upstream["model"] == "claude-sonnet-4-5" and upstream["system"] == "Be brief."
        assert upstream["messages"][1]["content"][-1]["type"] == "tool_use"
        assert upstream["messages"][2]["content"][0] == {
            "type": "tool_result", "tool_use_id": call["id"], "content": "sunny, 21 C"}
