"""`hermetic router` serves OpenAI's Responses API (POST /v1/responses and /responses) for the
OpenAI-compatible providers: the request goes out as the client wrote it with the deployment's
upstream id, the answer and the stream of named events come back as the provider sent them (no
[DONE]), and the call goes through the same allowlist, key restrictions, max_output_tokens
clamp, budgets, ledger, fallbacks and metrics as chat. Against
tests/fakes/fake_openai_responses.py and with the official OpenAI Node SDK."""
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import ROOT, SLOW
from fakes.fake_openai_responses import TEXT, FakeOpenAIResponses, error, ok
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    BUDGET_EXCEEDED, INVALID_MODEL, UPSTREAM_ENV, UPSTREAM_KEY, approx, fake, msum,
    router_config, start_router,
)
from test_router_endpoints import sdk_node_path  # noqa: F401 (a fixture)

IN_PRICE = 1e-6
OUT_PRICE = 4e-6
BOB_KEY = "sk-e2e-responses-bob-SECRET-1a2b"


@pytest.fixture
def upstream():
    with FakeOpenAIResponses(api_key=UPSTREAM_KEY) as u:
        yield u


def dep(name, model_id, upstream, provider="openai", id=None, **params):
    """A model_list entry whose upstream is `provider/<model_id>` at the fake."""
    lp = {"model": f"{provider}/{model_id}", "api_base": upstream.url,
          "api_key": f"os.environ/{UPSTREAM_ENV}", **params}
    return {"model_name": name, "litellm_params": lp,
            "model_info": {"id": id or f"{name}-1", "input_cost_per_token": IN_PRICE,
                           "output_cost_per_token": OUT_PRICE}}


def models(upstream):
    return [dep("gpt", "gpt-4.1-mini", upstream), dep("backup", "gpt-4.1", upstream)]


def sse_events(reply):
    """[(event name or None, data JSON)] of an SSE body; raw data kept when not JSON."""
    out, name, data = [], None, []
    for line in reply.text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                d = "\n".join(data)
                try:
                    d = json.loads(d)
                except ValueError:
                    pass
                out.append((name, d))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    return out


def rows_of(r, group, count=1):
    r.wait_spend_rows(count)
    return [x for x in r.spend_rows() if x["model_group"] == group]


def assert_openai_400(reply, param, code):
    assert reply.status == 400, reply.text
    err = reply.error()
    assert err["type"] == "invalid_request_error" and err["param"] == param, err
    assert err["code"] == code, err
    return err


# ---------------------------------------------------------------------------
# Pass-through
# ---------------------------------------------------------------------------

@pytest.mark.smoke
def test_a_response_passes_through_with_the_upstream_id_and_bills_its_usage(
        fake, upstream, start_router):
    r = start_router(router_config(fake, models(upstream)))
    body = {"model": "gpt", "input": [{"role": "user", "content": "Say hi"}],
            "instructions": "Be brief.", "temperature": 0.50, "store": False,
            "metadata": {"ticket": "42"}, "max_output_tokens": 256}
    raw = json.dumps(body).replace('"temperature": 0.5', '"temperature": 0.50').encode()
    reply = r.post("/v1/responses", raw=raw)
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["object"] == "response" and doc["status"] == "completed", doc
    assert doc["output"][0]["type"] == "message"
    assert doc["output"][0]["content"][0]["text"] == TEXT
    assert reply.headers["x-litellm-model-id"] == "gpt-1"
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/responses"
    assert sent["body"] == {**body, "model": "gpt-4.1-mini"}, "the request goes out as written"
    assert sent["raw"] == raw.replace(b'"model": "gpt"', b'"model": "gpt-4.1-mini"'), \
        "the client's text goes out with only its model replaced (numbers as written)"
    assert "stream_options" not in sent["body"]
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    u = doc["usage"]
    row = rows_of(r, "gpt")[0]
    assert row["input_tokens"] == u["input_tokens"] and row["output_tokens"] == u["output_tokens"]
    assert row["estimated"] == 0 and row["cost_source"] == "model_info", row
    assert approx(row["cost_usd"], u["input_tokens"] * IN_PRICE + u["output_tokens"] * OUT_PRICE,
                  1e-15), row
    assert r.post("/responses", {"model": "gpt", "input": "x"}).status == 200


@pytest.mark.smoke
def test_a_stream_keeps_its_event_names_and_ends_without_done(fake, upstream, start_router):
    r = start_router(router_config(fake, models(upstream)))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "Say hi", "stream": True})
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"] == "text/event-stream"
    evs = sse_events(reply)
    names = [n for n, _ in evs]
    assert names[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"], names
    assert names[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"], names
    assert all(n == d["type"] for n, d in evs), "each event: line names its data's type"
    assert [d["sequence_number"] for _, d in evs] == list(range(len(evs)))
    assert "[DONE]" not in reply.text
    assert "".join(d["delta"] for n, d in evs if n == "response.output_text.delta") == TEXT
    sent = upstream.requests[-1]["body"]
    assert sent["stream"] is True and "stream_options" not in sent, sent
    usage = evs[-1][1]["response"]["usage"]
    row = rows_of(r, "gpt")[0]
    assert row["input_tokens"] == usage["input_tokens"], row
    assert row["output_tokens"] == usage["output_tokens"] and row["estimated"] == 0, row


def test_an_upstream_done_after_the_final_event_is_not_forwarded(fake, upstream, start_router):
    upstream.script(ok(done=True))
    r = start_router(router_config(fake, models(upstream)))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "hi", "stream": True})
    evs = sse_events(reply)
    assert evs[-1][0] == "response.completed" and "[DONE]" not in reply.text, reply.text
    assert rows_of(r, "gpt")[0]["estimated"] == 0


def test_a_function_call_item_passes_through_answered_and_streamed(
        fake, upstream, start_router):
    call = {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'}
    tools = [{"type": "function", "name": "get_weather", "description": "Weather of a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                             "required": ["city"]}}]
    upstream.script(ok(call=call), ok(call=call))
    r = start_router(router_config(fake, models(upstream)))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "Weather in Paris?",
                                     "tools": tools})
    assert reply.status == 200, reply.text
    item = reply.json()["output"][0]
    assert item["type"] == "function_call" and item["name"] == "get_weather", item
    assert item["arguments"] == call["arguments"] and item["call_id"].startswith("call_")
    assert upstream.requests[-1]["body"]["tools"] == tools

    streamed = r.post("/v1/responses", {"model": "gpt", "input": "Weather in Paris?",
                                        "tools": tools, "stream": True})
    evs = sse_events(streamed)
    args = "".join(d["delta"] for n, d in evs if n == "response.function_call_arguments.delta")
    assert args == call["arguments"], evs
    assert evs[-1][0] == "response.completed"
    assert evs[-1][1]["response"]["output"][0]["type"] == "function_call"
    rows = rows_of(r, "gpt", 2)
    assert len(rows) == 2 and all(x["estimated"] == 0 for x in rows), rows


def test_without_usage_the_output_text_is_estimated_and_marked(fake, upstream, start_router):
    upstream.script(ok(usage=None, text="x" * 400))
    r = start_router(router_config(fake, models(upstream)))
    assert r.post("/v1/responses", {"model": "gpt", "input": "hi"}).status == 200
    row = rows_of(r, "gpt")[0]
    assert row["estimated"] == 1 and row["cost_source"] == "estimate", row
    assert row["output_tokens"] == 100, "400 characters of output_text are 100 tokens"


def test_an_incomplete_response_ends_the_stream_like_a_completed_one(
        fake, upstream, start_router):
    r = start_router(router_config(fake, models(upstream)))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "hi", "stream": True,
                                     "max_output_tokens": 16})
    upstream.script(ok(text="y" * 200))
    long = r.post("/v1/responses", {"model": "gpt", "input": "hi", "stream": True,
                                    "max_output_tokens": 16})
    assert sse_events(reply)[-1][0] == "response.completed"
    evs = sse_events(long)
    assert evs[-1][0] == "response.incomplete", evs[-1]
    assert evs[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert not any(n == "error" for n, _ in evs), long.text
    m = r.metrics()
    assert msum(m, "litellm_proxy_failed_requests_metric_total", requested_model="gpt") == 0


# ---------------------------------------------------------------------------
# Checks before anything is sent
# ---------------------------------------------------------------------------

def test_requests_the_route_cannot_take_get_openai_400s_before_anything_is_sent(
        fake, upstream, start_router):
    r = start_router(router_config(fake, models(upstream)))
    assert_openai_400(r.post("/v1/responses", {"model": "gpt"}), "input",
                      "missing_required_parameter")
    assert_openai_400(r.post("/v1/responses", {"model": "gpt", "input": 3}), "input",
                      "invalid_type")
    assert_openai_400(r.post("/v1/responses", {"model": "gpt", "input": "x",
                                               "max_output_tokens": "many"}),
                      "max_output_tokens", "invalid_type")
    assert_openai_400(r.post("/v1/responses", {"model": "gpt", "input": "x",
                                               "max_output_tokens": 0}),
                      "max_output_tokens", "integer_below_min_value")
    no_model = r.post("/v1/responses", {"input": "x"})
    assert no_model.status == 400 and "model is required" in no_model.error()["message"]
    unknown = r.post("/v1/responses", {"model": "gpt-5", "input": "x"})
    assert unknown.status == 400 and unknown.error()["message"] == INVALID_MODEL.format("gpt-5")
    assert upstream.requests == [] and r.spend_rows() == []


def test_the_provider_judges_the_rest_and_its_400_message_comes_back(
        fake, upstream, start_router):
    """Pass-through: a parameter the router does not know goes upstream, which refuses it
    with OpenAI's 400; a request with a reusable prompt needs no input."""
    r = start_router(router_config(fake, models(upstream)))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "x", "frobnicate": True})
    assert reply.status == 400, reply.text
    assert reply.error()["type"] == "invalid_request_error", reply.text
    assert reply.error()["message"] == "Unknown parameter: 'frobnicate'."
    assert upstream.requests[-1]["body"]["frobnicate"] is True
    prompt = r.post("/v1/responses", {"model": "gpt", "prompt": {"id": "pmpt_123"}})
    assert prompt.status == 200, prompt.text
    assert r.wait_spend_rows(1) and len(r.spend_rows()) == 1, "a refused request is not billed"


def test_max_output_tokens_is_clamped_and_added_by_the_guardrail(fake, upstream, start_router):
    r = start_router(router_config(fake, models(upstream), guardrails={"max_tokens": 64}))
    assert r.post("/v1/responses", {"model": "gpt", "input": "x",
                                    "max_output_tokens": 5000}).status == 200
    assert r.post("/v1/responses", {"model": "gpt", "input": "x"}).status == 200
    assert r.post("/v1/responses", {"model": "gpt", "input": "x",
                                    "max_output_tokens": 32}).status == 200
    sent = [q["body"] for q in upstream.requests]
    assert [b["max_output_tokens"] for b in sent] == [64, 64, 32], sent
    assert all("max_tokens" not in b for b in sent), "chat's field is not the Responses API's"


def test_providers_without_the_responses_api_answer_400_before_sending(
        fake, upstream, start_router):
    ms = [dep("claude", "claude-sonnet-4-5", upstream, provider="anthropic"),
          dep("gemini", "gemini-2.5-flash", upstream, provider="gemini"),
          dep("nova", "amazon.nova-lite-v1:0", upstream, provider="bedrock",
              aws_region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
              aws_secret_access_key="secret")]
    r = start_router(router_config(fake, ms))
    for name, provider in (("claude", "anthropic"), ("gemini", "gemini"), ("nova", "bedrock")):
        reply = r.post("/v1/responses", {"model": name, "input": "x"})
        assert reply.status == 400, reply.text
        assert reply.error()["message"] == f"provider {provider} does not serve /v1/responses"
    assert upstream.requests == [] and r.spend_rows() == []


def test_key_models_aliases_and_wildcards_apply(fake, upstream, start_router):
    ms = models(upstream) + [dep("openai/*", "*", upstream, id="wild-1")]
    master = "sk-e2e-responses-master-SECRET-5e6f"
    r = start_router(router_config(
        fake, ms, router_settings={"model_group_alias": {"fast": "gpt"}},
        general_settings={"master_key": "os.environ/E2E_MASTER"},
        keys=[{"key": "os.environ/E2E_BOB_KEY", "alias": "bob", "models": ["fast"]}]),
        env={"E2E_BOB_KEY": BOB_KEY, "E2E_MASTER": master}, key=BOB_KEY)
    assert r.post("/v1/responses", {"model": "backup", "input": "x"}).status == 401
    assert r.post("/v1/responses", {"model": "openai/o4-mini", "input": "x"}).status == 401
    reply = r.post("/v1/responses", {"model": "fast", "input": "x"})
    assert reply.status == 200, reply.text
    assert reply.headers["x-litellm-model-group"] == "gpt"
    wild = r.post("/v1/responses", {"model": "openai/o4-mini", "input": "x"}, key=master)
    assert wild.status == 200, wild.text
    assert wild.headers["x-litellm-model-group"] == "openai/*"
    assert [q["body"]["model"] for q in upstream.requests] == ["gpt-4.1-mini", "o4-mini"]


# ---------------------------------------------------------------------------
# Budgets
# ---------------------------------------------------------------------------

def test_budget_refuses_a_response_before_the_upstream(fake, upstream, start_router):
    upstream.script(ok(usage={"input_tokens": 30000, "output_tokens": 10000}))
    r = start_router(router_config(fake, models(upstream), budget={"daily_usd": 0.05}))
    # 30000 * 1e-6 + 10000 * 4e-6 = 0.07 spent, over the 0.05 cap
    assert r.post("/v1/responses", {"model": "gpt", "input": "x"}).status == 200
    r.wait_spend_rows(1)
    for stream in (False, True):
        reply = r.post("/v1/responses", {"model": "gpt", "input": "x", "stream": stream})
        assert reply.status == 400, reply.text
        assert reply.error()["type"] == "budget_exceeded", reply.text
        assert BUDGET_EXCEEDED.match(reply.error()["message"]), reply.text
    assert len(upstream.requests) == 1


def second_call_wait_s(r, upstream, max_output_tokens):
    """Seconds a call waits while another, slow one with max_output_tokens is in flight."""
    upstream.script(ok(delay=1.0))
    n = len(upstream.requests)
    replies = {}
    t = threading.Thread(target=lambda: replies.update(first=r.post(
        "/v1/responses", {"model": "gpt", "input": "x", "max_output_tokens": max_output_tokens})))
    t.start()
    deadline = time.monotonic() + 5 * SLOW
    while len(upstream.requests) == n and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    second = r.post("/v1/responses", {"model": "gpt", "input": "x", "max_output_tokens": 16})
    waited = time.monotonic() - t0
    t.join()
    assert replies["first"].status == 200 and second.status == 200, second.text
    return waited


def test_a_response_in_flight_reserves_its_max_output_tokens(fake, upstream, start_router):
    """max_output_tokens 4000 at 4e-6 reserve 0.016, more than a 0.01 budget: a call arriving
    meanwhile waits for the first to settle at its real, small cost, then goes; with 16 the
    first reserves next to nothing and the second goes at once."""
    r = start_router(router_config(fake, models(upstream), budget={"daily_usd": 0.01}))
    assert second_call_wait_s(r, upstream, 16) < 0.5
    assert second_call_wait_s(r, upstream, 4000) > 0.5
    rows = rows_of(r, "gpt", 4)
    assert len(rows) == 4 and sum(x["cost_usd"] for x in rows) < 0.001, rows


# ---------------------------------------------------------------------------
# Failures: retries, fallbacks, mid-stream errors
# ---------------------------------------------------------------------------

def fallback_config(fake, upstream, **extra):
    return router_config(fake, models(upstream),
                         litellm_settings={"fallbacks": [{"gpt": ["backup"]}]}, **extra)


def test_a_503_falls_back_to_the_second_deployment(fake, upstream, start_router):
    upstream.script(error(503))
    r = start_router(fallback_config(fake, upstream))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "x"})
    assert reply.status == 200, reply.text
    assert reply.headers["x-litellm-attempted-fallbacks"] == "1"
    assert reply.headers["x-litellm-model-id"] == "backup-1"
    assert [q["status"] for q in upstream.requests] == [503, 200]
    assert [q["body"]["model"] for q in upstream.requests] == ["gpt-4.1-mini", "gpt-4.1"]
    rows = r.wait_spend_rows(1)
    assert [x["deployment"] for x in rows] == ["backup-1"], "a refused attempt is not billed"
    m = r.metrics()
    assert msum(m, "litellm_deployment_successful_fallbacks_total", requested_model="gpt",
                fallback_model="backup") == 1


def test_a_stream_that_fails_before_its_output_falls_back_unseen(fake, upstream, start_router):
    """response.created and response.in_progress are held until the first output, so a
    response.failed right after them still falls back: the client sees one response only."""
    upstream.script(ok(fail_after=2, fail="failed", fail_code="server_error"))
    r = start_router(fallback_config(fake, upstream))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "x", "stream": True})
    assert reply.status == 200, reply.text
    assert reply.headers["x-litellm-attempted-fallbacks"] == "1"
    evs = sse_events(reply)
    names = [n for n, _ in evs]
    assert names.count("response.created") == 1 and names[-1] == "response.completed", names
    assert evs[0][1]["response"]["model"] == "gpt-4.1", "the backup's response only"
    assert "response.failed" not in names
    rows = r.wait_spend_rows(2)
    assert sorted(x["deployment"] for x in rows) == ["backup-1", "gpt-1"], rows


def test_a_rate_limit_error_event_before_output_is_retried(fake, upstream, start_router):
    upstream.script(ok(fail_after=1, fail="error", fail_code="rate_limit_exceeded"))
    r = start_router(router_config(fake, models(upstream),
                                   router_settings={"num_retries": 1, "retry_after": 0}))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "x", "stream": True})
    assert reply.status == 200, reply.text
    assert reply.headers["x-litellm-attempted-retries"] == "1"
    assert sse_events(reply)[-1][0] == "response.completed"
    assert len(upstream.requests) == 2


def test_a_bad_request_failure_before_output_is_the_clients_400(fake, upstream, start_router):
    upstream.script(ok(fail_after=2, fail="failed", fail_code="invalid_image_url"))
    r = start_router(fallback_config(fake, upstream))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "x", "stream": True})
    assert reply.status == 400, reply.text
    assert "invalid_image_url" in reply.error()["message"], reply.text
    assert len(upstream.requests) == 1, "a request the model cannot take does not fall back"


def test_an_error_event_after_output_is_forwarded_and_ends_the_stream(
        fake, upstream, start_router):
    upstream.script(ok(fail_after=5, fail="error", fail_code="server_error"))
    r = start_router(fallback_config(fake, upstream))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "x", "stream": True})
    assert reply.status == 200
    evs = sse_events(reply)
    assert evs[-1][0] == "error" and evs[-1][1]["code"] == "server_error", evs[-1]
    assert evs[-1][1]["type"] == "error"
    assert "response.output_text.delta" in [n for n, _ in evs]
    assert "[DONE]" not in reply.text and len(upstream.requests) == 1
    m = r.metrics()
    assert msum(m, "litellm_proxy_failed_requests_metric_total", requested_model="gpt") == 1


@pytest.mark.parametrize("how", ["cut", "end"])
def test_a_broken_stream_ends_with_an_error_event_of_the_api(fake, upstream, start_router, how):
    """Cut mid-body, or ended cleanly without response.completed: after output reached the
    client the router ends its stream with an `error` event (the next sequence_number)."""
    upstream.script(ok(fail_after=5, fail=how))
    r = start_router(router_config(fake, models(upstream)))
    reply = r.post("/v1/responses", {"model": "gpt", "input": "x", "stream": True})
    evs = sse_events(reply)
    name, data = evs[-1]
    assert name == "error" and data["type"] == "error" and data["code"] == "server_error", evs
    assert data["sequence_number"] == evs[-2][1]["sequence_number"] + 1
    if how == "end":
        assert data["message"] == "upstream stream ended before response.completed", data
    assert "[DONE]" not in reply.text
    row = rows_of(r, "gpt")[0]
    assert row["estimated"] == 1 and row["output_tokens"] > 0, row


# ---------------------------------------------------------------------------
# Azure
# ---------------------------------------------------------------------------

def test_azure_classic_and_v1_paths(fake, upstream, start_router):
    ms = [{"model_name": "az", "litellm_params": {
              "model": "azure/my-gpt-deployment", "api_base": upstream.root,
              "api_key": f"os.environ/{UPSTREAM_ENV}"}},
          {"model_name": "az-new", "litellm_params": {
              "model": "azure/my-gpt-deployment", "api_base": upstream.root,
              "api_version": "2025-05-01-preview",
              "api_key": f"os.environ/{UPSTREAM_ENV}"}},
          {"model_name": "az-v1", "litellm_params": {
              "model": "azure/my-v1-deployment", "api_base": upstream.root + "/openai/v1",
              "api_key": f"os.environ/{UPSTREAM_ENV}"}}]
    r = start_router(router_config(fake, ms))
    for name in ("az", "az-new", "az-v1"):
        reply = r.post("/v1/responses", {"model": name, "input": "x"})
        assert reply.status == 200, reply.text
    paths = [q["path"] for q in upstream.requests]
    assert paths == ["/openai/responses?api-version=2025-04-01-preview",
                     "/openai/responses?api-version=2025-05-01-preview",
                     "/openai/v1/responses"], paths
    assert [q["body"]["model"] for q in upstream.requests] == [
        "my-gpt-deployment", "my-gpt-deployment", "my-v1-deployment"]
    assert all(q["headers"]["api-key"] == UPSTREAM_KEY for q in upstream.requests)


# ---------------------------------------------------------------------------
# The official OpenAI Node SDK
# ---------------------------------------------------------------------------

def test_openai_node_sdk_responses_create_and_stream(fake, upstream, start_router,
                                                    sdk_node_path):  # noqa: F811
    master = "sk-e2e-responses-master-SECRET-3c4d"
    r = start_router(router_config(fake, models(upstream),
                                   general_settings={"master_key": "os.environ/E2E_MASTER"}),
                     env={"E2E_MASTER": master})
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NODE_PATH": sdk_node_path,
           "ROUTER_URL": f"{r.url}/v1", "ROUTER_KEY": master}
    p = subprocess.run(["node", str(ROOT / "tests" / "e2e" / "openai_sdk_responses.cjs")],
                       capture_output=True, text=True, env=env, timeout=60 * SLOW)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["create"]["output_text"] == TEXT and out["create"]["status"] == "completed", out
    assert out["create"]["usage"]["input_tokens"] > 0
    st = out["stream"]
    assert st["deltas"] == TEXT and st["final_text"] == TEXT, st
    assert st["types"][0] == "response.created" and st["types"][-1] == "response.completed"
    raw = out["raw_stream"]
    assert raw["types"][-1] == "response.completed" and raw["text"] == TEXT, raw
    assert out["refused"]["status"] == 400 and "Invalid model name" in out["refused"]["message"]
    assert [q["body"]["model"] for q in upstream.requests] == ["gpt-4.1-mini"] * 3
    assert [bool(q["body"].get("stream")) for q in upstream.requests] == [False, True, True]
    rows = r.wait_spend_rows(3)
    assert len(rows) == 3 and all(x["estimated"] == 0 for x in rows), rows
