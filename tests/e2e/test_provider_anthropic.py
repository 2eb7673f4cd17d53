"""`hermetic router` with an `anthropic/` deployment: OpenAI chat completions in, Anthropic's
Messages API out (tests/fakes/fake_anthropic.py, which validates requests as the API does), and
back: non-stream and stream answers, tool calls both ways, usage and cost in the ledger, errors
in OpenAI's shape with LiteLLM's classes, retries, and fallback across dialects to an OpenAI
deployment. The last tests check the fake itself against Anthropic's documented refusals."""
import http.client
import json

import pytest

from fakes.fake_anthropic import (
    FakeAnthropic, overloaded, prompt_too_long, rate_limited, text, tool_use,
)
from fakes.fake_openai import text as openai_text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    UPSTREAM_ENV, UPSTREAM_KEY, approx, deployment, fake, router_config, start_router,
)

MODEL = "claude-sonnet-4-5"
PRICES = {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05}


@pytest.fixture
def claude():
    with FakeAnthropic(api_key=UPSTREAM_KEY) as f:
        yield f


def claude_deployment(upstream, name="claude", model_info=None, **params):
    lp = {"model": f"anthropic/{MODEL}", "api_base": upstream.url,
          "api_key": f"os.environ/{UPSTREAM_ENV}", **params}
    entry = {"model_name": name, "litellm_params": lp}
    if model_info:
        entry["model_info"] = model_info
    return entry


def start(start_router, fake, claude, *more, **sections):
    return start_router(router_config(fake, [claude_deployment(claude, model_info=PRICES),
                                             *more], **sections))


def chat(r, messages, **extra):
    return r.post("/v1/chat/completions", {"model": "claude", "messages": messages, **extra})


def tool_deltas(reply):
    """{index: {"id", "name", "arguments"}} assembled from a stream's tool_calls deltas."""
    got = {}
    for e in reply.events():
        for choice in e.get("choices") or []:
            for d in (choice.get("delta") or {}).get("tool_calls") or []:
                slot = got.setdefault(d["index"], {"id": None, "name": None, "arguments": ""})
                slot["id"] = d.get("id") or slot["id"]
                fn = d.get("function") or {}
                slot["name"] = fn.get("name") or slot["name"]
                slot["arguments"] += fn.get("arguments") or ""
    return got


# -- answers ------------------------------------------------------------------------------

@pytest.mark.smoke
def test_non_stream_answer_is_translated_with_usage_and_cost(fake, claude, start_router):
    claude.script(text("Hello from Claude.", usage={
        "input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 50}))
    r = start(start_router, fake, claude)
    reply = chat(r, [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "hi"}], temperature=0.5, user="u-7",
                 frequency_penalty=0.5, seed=1)
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["object"] == "chat.completion" and doc["id"].startswith("msg_")
    assert doc["choices"][0]["message"] == {"role": "assistant", "content": "Hello from Claude."}
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"]["prompt_tokens"] == 180 and doc["usage"]["completion_tokens"] == 20
    assert doc["usage"]["prompt_tokens_details"] == {"cached_tokens": 50}
    assert doc["usage"]["cache_creation_input_tokens"] == 30
    assert approx(reply.headers["x-litellm-response-cost"], 180 * 3e-06 + 20 * 1.5e-05, 1e-12)
    [req] = claude.message_requests
    assert req["path"] == "/v1/messages"
    assert req["headers"]["x-api-key"] == UPSTREAM_KEY
    assert req["headers"]["anthropic-version"] == "2023-06-01"
    body = req["body"]
    assert body["model"] == MODEL and body["max_tokens"] == 4096
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["temperature"] == 0.5 and body["metadata"] == {"user_id": "u-7"}
    [row] = r.wait_spend_rows(1)
    assert (row["input_tokens"], row["output_tokens"]) == (180, 20), row


@pytest.mark.smoke
def test_stream_text_and_tool_call_deltas_arrive_intact(fake, claude, start_router):
    calls = [("toolu_01", "pods_list", {"namespace": "default", "label": "app=web \"x\""}),
             ("toolu_02", "events_list", {"ns": "kube-system", "limit": 5, "q": "caf\u00e9"})]
    claude.script(tool_use(*calls, text="Let me look, \u00e9t\u00e9.", thinking="Pods first.",
                           chunk_size=2, json_chunk=3, ping_every=1,
                           usage={"input_tokens": 400, "output_tokens": 60}))
    r = start(start_router, fake, claude)
    reply = r.chat("claude", stream=True, include_usage=True)
    assert reply.status == 200, reply.text
    assert reply.done() and reply.error_events() == [], reply.text
    assert reply.stream_content() == "Let me look, \u00e9t\u00e9."
    events = reply.events()
    assert all(e["object"] == "chat.completion.chunk" and e["id"].startswith("msg_") and
               e["model"] == MODEL and isinstance(e["created"], int) for e in events), events
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    reasoning = "".join((c.get("delta") or {}).get("reasoning_content") or ""
                        for e in events for c in e.get("choices") or [])
    assert reasoning == "Pods first."
    got = tool_deltas(reply)
    assert {i: (g["id"], g["name"], json.loads(g["arguments"])) for i, g in got.items()} == \
        {i: c for i, c in enumerate(calls)}
    finish = [c["finish_reason"] for e in events for c in e.get("choices") or []
              if c.get("finish_reason")]
    assert finish == ["tool_calls"]
    usage = [e for e in events if e.get("choices") == []]
    assert len(usage) == 1 and usage[0]["usage"]["prompt_tokens"] == 400
    assert usage[0]["usage"]["completion_tokens"] == 60
    assert claude.message_requests[0]["body"]["stream"] is True
    [row] = r.wait_spend_rows(1)
    assert (row["input_tokens"], row["output_tokens"]) == (400, 60), row
    assert approx(row["cost_usd"], 400 * 3e-06 + 60 * 1.5e-05, 1e-12), row


def test_tools_round_trip_is_translated_both_ways(fake, claude, start_router):
    claude.script(tool_use(("toolu_A", "pods_list", {"namespace": "default"})),
                  text("There are 3 pods."))
    r = start(start_router, fake, claude)
    tools = [{"type": "function", "function": {
        "name": "pods_list", "description": "List pods",
        "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}}}}}]
    history = [{"role": "system", "content": "You run kubectl."},
               {"role": "user", "content": "How many pods?"}]
    first = chat(r, history, tools=tools, tool_choice="auto", parallel_tool_calls=False)
    assert first.status == 200, first.text
    msg = first.json()["choices"][0]["message"]
    assert first.json()["choices"][0]["finish_reason"] == "tool_calls"
    assert msg["content"] is None
    [call] = msg["tool_calls"]
    assert call["id"] == "toolu_A" and call["type"] == "function"
    assert call["function"]["name"] == "pods_list"
    assert json.loads(call["function"]["arguments"]) == {"namespace": "default"}

    history += [msg, {"role": "tool", "tool_call_id": "toolu_A", "content": "a\nb\nc"},
                {"role": "user", "content": "Thanks; how many?"}]
    second = chat(r, history, tools=tools)
    assert second.status == 200, second.text
    assert second.content() == "There are 3 pods."
    sent = claude.message_requests[1]["body"]
    assert sent["system"] == "You run kubectl."
    assert sent["tools"] == [{"name": "pods_list", "description": "List pods",
                              "input_schema": tools[0]["function"]["parameters"]}]
    assert claude.message_requests[0]["body"]["tool_choice"] == {
        "type": "auto", "disable_parallel_tool_use": True}
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "How many pods?"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_A",
                                           "name": "pods_list",
                                           "input": {"namespace": "default"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_A", "content": "a\nb\nc"},
            {"type": "text", "text": "Thanks; how many?"}]}]


def test_invalid_tool_arguments_are_refused_before_sending(fake, claude, start_router):
    r = start(start_router, fake, claude)
    reply = chat(r, [{"role": "user", "content": "x"},
                     {"role": "assistant", "tool_calls": [{"id": "toolu_1", "type": "function",
                                                          "function": {"name": "f",
                                                                       "arguments": "{oops"}}]},
                     {"role": "tool", "tool_call_id": "toolu_1", "content": "y"}])
    assert reply.status == 400, reply.text
    assert "not a JSON object" in reply.error()["message"]
    assert claude.requests == []


# -- errors -------------------------------------------------------------------------------

def test_prompt_too_long_is_context_length_exceeded(fake, claude, start_router):
    claude.script(prompt_too_long(210000, 200000))
    r = start(start_router, fake, claude)
    reply = r.chat("claude")
    assert reply.status == 400, reply.text
    err = reply.error()
    assert err["type"] == "context_length_exceeded", err
    assert "prompt is too long" in err["message"]


def test_wrong_key_is_an_authentication_error(fake, claude, start_router):
    r = start_router(router_config(fake, [claude_deployment(claude)]),
                     env={UPSTREAM_ENV: "sk-ant-wrong"})
    reply = r.chat("claude")
    assert reply.status == 401, reply.text
    assert reply.error()["type"] == "authentication_error"
    assert "invalid x-api-key" in reply.error()["message"]


def test_rate_limit_with_retry_after_is_retried(fake, claude, start_router):
    claude.script(rate_limited(retry_after=1), text("second try"))
    r = start(start_router, fake, claude, router_settings={"num_retries": 1})
    reply = r.chat("claude")
    assert reply.status == 200 and reply.content() == "second try", reply.text
    assert reply.headers.get("x-litellm-attempted-retries") == "1"
    assert len(claude.message_requests) == 2


def fallback_to_gpt(fake, claude, start_router):
    fake.script_for("test/gpt", openai_text("from the openai deployment"))
    return start(start_router, fake, claude, deployment("gpt", "test/gpt", fake),
                 litellm_settings={"fallbacks": [{"claude": ["gpt"]}]})


@pytest.mark.smoke
def test_overloaded_529_falls_back_to_an_openai_deployment(fake, claude, start_router):
    claude.script(overloaded())
    r = fallback_to_gpt(fake, claude, start_router)
    reply = r.chat("claude")
    assert reply.status == 200, reply.text
    assert reply.content() == "from the openai deployment"
    assert reply.headers.get("x-litellm-model-group") == "gpt"
    assert reply.headers.get("x-litellm-attempted-fallbacks") == "1"
    assert len(claude.message_requests) == 1


def test_overloaded_529_on_a_stream_falls_back(fake, claude, start_router):
    claude.script(overloaded())
    r = fallback_to_gpt(fake, claude, start_router)
    reply = r.chat("claude", stream=True)
    assert reply.status == 200, reply.text
    assert reply.error_events() == [] and reply.done(), reply.text
    assert reply.stream_content() == "from the openai deployment"


def test_overloaded_error_event_before_any_chunk_falls_back(fake, claude, start_router):
    claude.script(text("never shown", error_after=0))
    r = fallback_to_gpt(fake, claude, start_router)
    reply = r.chat("claude", stream=True)
    assert reply.status == 200, reply.text
    assert reply.error_events() == [] and reply.done(), reply.text
    assert reply.stream_content() == "from the openai deployment"


def test_error_event_mid_stream_reaches_the_client_as_an_error(fake, claude, start_router):
    claude.script(text("partial answer", chunk_size=4, ping_every=0, error_after=4,
                       error={"type": "api_error", "message": "Internal server error"}))
    r = fallback_to_gpt(fake, claude, start_router)
    reply = r.chat("claude", stream=True)
    assert reply.status == 200, reply.text
    assert reply.stream_content() == "partial "
    [err] = reply.error_events()
    assert err["error"]["message"] == "Internal server error"
    assert err["error"]["code"] == 500
    assert not reply.done()
    assert fake.chat_requests == []


# -- the fake answers as Anthropic documents -----------------------------------------------

def post(claude, body, headers=None):
    h = {"content-type": "application/json", "x-api-key": UPSTREAM_KEY,
         "anthropic-version": "2023-06-01"}
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    host, port = claude.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/v1/messages", body=json.dumps(body), headers=h)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


GOOD = {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("body,headers,status,message", [
    (GOOD, {"x-api-key": None}, 401, "x-api-key header is required"),
    (GOOD, {"x-api-key": "sk-ant-nope"}, 401, "invalid x-api-key"),
    (GOOD, {"anthropic-version": None}, 400, "anthropic-version: header is required"),
    ({"model": MODEL, "messages": []}, None, 400, "max_tokens: Field required"),
    (dict(GOOD, frequency_penalty=1), None, 400,
     "frequency_penalty: Extra inputs are not permitted"),
    (dict(GOOD, messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
     None, 400, 'found multiple "user" roles in a row'),
    (dict(GOOD, messages=[
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9"}]}]),
     None, 400, "unexpected `tool_use_id` found in `tool_result` blocks: toolu_9"),
    (dict(GOOD, messages=[
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f",
                                           "input": {}}]},
        {"role": "user", "content": "no result"}]),
     None, 400, "`tool_use` ids were found without `tool_result` blocks"),
    (dict(GOOD, messages=[{"role": "user", "content": ""}]), None, 400,
     "text content blocks must be non-empty"),
])
def test_fake_refuses_what_anthropic_refuses(claude, body, headers, status, message):
    got_status, doc = post(claude, body, headers)
    assert got_status == status, doc
    assert doc["type"] == "error" and message in doc["error"]["message"], doc
    assert doc["error"]["type"] == ("authentication_error" if status == 401
                                    else "invalid_request_error")
