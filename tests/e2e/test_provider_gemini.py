"""`hermetic router` with a gemini/ deployment: the real binary speaks OpenAI to its client and
Gemini's generateContent to tests/fakes/fake_gemini.py (which validates requests as Google
does): answers, SSE streams, a tool round trip, Google's errors in OpenAI's shape with the
router's classes, and a fallback from a gemini deployment to an OpenAI one."""
import json

import pytest

from fakes.fake_gemini import (FakeGemini, blocked, context_too_long, function_calls,
                               google_error, text)
from fakes.fake_openai import text as openai_text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    deployment, fake, router_config, start_router,
)

GEMINI_KEY = "AIza-e2e-gemini-SECRET-93b1"
GEMINI_ENV = "E2E_GEMINI_KEY"
MODEL = "gemini-2.5-flash"

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city", "strict": True,
    "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                   "additionalProperties": False,
                   "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
def gemini():
    with FakeGemini(api_key=GEMINI_KEY) as g:
        yield g


def gemini_deployment(name, g, model=MODEL, **params):
    return {"model_name": name,
            "litellm_params": {"model": f"gemini/{model}", "api_base": g.url,
                               "api_key": f"os.environ/{GEMINI_ENV}", **params}}


def start(start_router, fake, models, key=GEMINI_KEY, **sections):
    return start_router(router_config(fake, models, **sections), env={GEMINI_ENV: key})


def only_request(g):
    assert len(g.requests) == 1, [r["path"] for r in g.requests]
    return g.requests[0]


@pytest.mark.smoke
def test_answer_is_translated_both_ways(gemini, fake, start_router):
    gemini.script(text("Hello from Gemini.", thoughts="User greets; greet back."))
    r = start(start_router, fake, [gemini_deployment("gem", gemini)])
    reply = r.chat("gem", messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Hi"}],
                   max_tokens=64, temperature=0.2, stop=["END"])
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["object"] == "chat.completion"
    msg = doc["choices"][0]["message"]
    assert msg["content"] == "Hello from Gemini."
    assert msg["reasoning_content"] == "User greets; greet back."
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"]["prompt_tokens"] > 0
    assert doc["usage"]["completion_tokens"] > 0
    req = only_request(gemini)
    assert req["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert req["headers"]["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in req["headers"]
    body = req["body"]
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    assert body["generationConfig"]["maxOutputTokens"] == 64
    assert body["generationConfig"]["temperature"] == 0.2
    assert body["generationConfig"]["stopSequences"] == ["END"]


@pytest.mark.smoke
def test_stream_is_translated_and_ends_with_done(gemini, fake, start_router):
    gemini.script(text("Streaming from Gemini, in small pieces.", chunk_size=5))
    r = start(start_router, fake, [gemini_deployment("gem", gemini)])
    reply = r.chat("gem", stream=True, include_usage=True)
    assert reply.status == 200, reply.text
    assert reply.headers.get("content-type", "").startswith("text/event-stream")
    assert reply.error_events() == [], reply.text
    assert reply.stream_content() == "Streaming from Gemini, in small pieces."
    assert reply.done(), reply.text
    events = reply.events()
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    finish = [c["finish_reason"] for e in events for c in e["choices"] if c.get("finish_reason")]
    assert finish == ["stop"]
    usage = [e for e in events if e.get("usage")]
    assert len(usage) == 1 and usage[0]["choices"] == []
    assert usage[0]["usage"]["total_tokens"] > 0
    req = only_request(gemini)
    assert req["path"] == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert req["query"] == {"alt": "sse"}


def test_tool_round_trip(gemini, fake, start_router):
    gemini.script(function_calls(("get_weather", {"city": "Oslo"}, "c2lnLTE=")),
                  text("It is 3 degrees in Oslo."))
    r = start(start_router, fake, [gemini_deployment("gem", gemini)])
    question = {"role": "user", "content": "Weather in Oslo?"}
    first = r.chat("gem", messages=[question], tools=[WEATHER_TOOL], tool_choice="auto")
    assert first.status == 200, first.text
    choice = first.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}

    second = r.chat("gem", tools=[WEATHER_TOOL], messages=[
        question, {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 3}'}])
    assert second.status == 200, second.text
    assert second.content() == "It is 3 degrees in Oslo."

    sent_first, sent_second = (r_["body"] for r_ in gemini.requests)
    decl = sent_first["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_weather"
    assert decl["parameters"] == {"type": "object", "properties": {"city": {"type": "string"}},
                                  "required": ["city"]}
    assert sent_first["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert [c["role"] for c in sent_second["contents"]] == ["user", "model", "user"]
    call_part = sent_second["contents"][1]["parts"][0]
    assert call_part["functionCall"] == {"name": "get_weather", "args": {"city": "Oslo"}}
    assert call_part["thoughtSignature"] == "c2lnLTE="
    assert sent_second["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 3}}}]
    assert [q["status"] for q in gemini.requests] == [200, 200]


def test_streamed_tool_call(gemini, fake, start_router):
    gemini.script(function_calls(("get_weather", {"city": "Bergen"}), text="Checking."))
    r = start(start_router, fake, [gemini_deployment("gem", gemini)])
    reply = r.chat("gem", stream=True, tools=[WEATHER_TOOL],
                   tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert reply.status == 200, reply.text
    assert reply.done(), reply.text
    calls = [tc for e in reply.events() for c in e["choices"]
             for tc in (c["delta"].get("tool_calls") or [])]
    assert len(calls) == 1 and calls[0]["index"] == 0
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Bergen"}
    assert reply.stream_content() == "Checking."
    sent = only_request(gemini)["body"]
    assert sent["toolConfig"] == {"functionCallingConfig": {
        "mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


def test_invalid_tool_arguments_are_refused_before_sending(gemini, fake, start_router):
    r = start(start_router, fake, [gemini_deployment("gem", gemini)])
    reply = r.chat("gem", messages=[
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": "{not json"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "r"}])
    assert reply.status == 400, reply.text
    assert "arguments is not a JSON object" in reply.error()["message"]
    assert gemini.requests == []


@pytest.mark.parametrize("step, status, type_", [
    (context_too_long(), 400, "context_length_exceeded"),
    (google_error(429), 429, "rate_limit_error"),
    (google_error(500), 500, "api_error"),
    (google_error(503), 503, "api_error"),
    (google_error(403, "Permission denied"), 403, "authentication_error"),
])
def test_google_errors_are_mapped(gemini, fake, start_router, step, status, type_):
    gemini.script(step)
    r = start(start_router, fake, [gemini_deployment("gem", gemini)])
    reply = r.chat("gem")
    assert reply.status == status, reply.text
    err = reply.error()
    assert step["body"]["error"]["message"] in err["message"], err
    assert err["type"] == type_, err  # the router's class of the translated error


def test_wrong_key_gets_googles_answer(gemini, fake, start_router):
    r = start(start_router, fake, [gemini_deployment("gem", gemini)], key="AIza-wrong")
    reply = r.chat("gem")
    assert reply.status == 400, reply.text
    assert "API key not valid" in reply.error()["message"]
    assert GEMINI_KEY not in reply.text and "AIza-wrong" not in reply.text
    assert gemini.answered(400)[0]["headers"]["x-goog-api-key"] == "AIza-wrong"


def test_blocked_prompt_is_a_content_policy_error(gemini, fake, start_router):
    gemini.script(blocked("PROHIBITED_CONTENT"), blocked("SAFETY"))
    r = start(start_router, fake, [gemini_deployment("gem", gemini)])
    reply = r.chat("gem")
    assert reply.status == 400, reply.text
    assert "content policy" in reply.error()["message"]
    streamed = r.chat("gem", stream=True)
    assert streamed.status == 400, streamed.text
    assert "content policy" in streamed.error()["message"]


def test_gemini_503_falls_back_to_an_openai_deployment(gemini, fake, start_router):
    gemini.script(google_error(503))
    fake.script_for("test/backup", openai_text("from the OpenAI backup"))
    r = start(start_router, fake,
              [gemini_deployment("gem", gemini), deployment("backup", "test/backup", fake)],
              litellm_settings={"fallbacks": [{"gem": ["backup"]}]})
    reply = r.chat("gem")
    assert reply.status == 200, reply.text
    assert reply.content() == "from the OpenAI backup"
    assert reply.headers.get("x-litellm-model-group") == "backup"
    assert reply.headers.get("x-litellm-attempted-fallbacks") == "1"
    assert [q["status"] for q in gemini.requests] == [503]
    assert [q["model"] for q in fake.chat_requests] == ["test/backup"]


def test_stream_error_before_the_first_chunk_falls_back(gemini, fake, start_router):
    gemini.script(text("never seen", error_after=0))
    fake.script_for("test/backup", openai_text("streamed by the backup"))
    r = start(start_router, fake,
              [gemini_deployment("gem", gemini), deployment("backup", "test/backup", fake)],
              litellm_settings={"fallbacks": [{"gem": ["backup"]}]})
    reply = r.chat("gem", stream=True)
    assert reply.status == 200, reply.text
    assert reply.stream_content() == "streamed by the backup"
    assert reply.done()


def test_stream_error_after_the_first_chunk_is_reported_in_the_stream(gemini, fake,
                                                                      start_router):
    gemini.script(text("partial answer then trouble", chunk_size=4, error_after=2))
    r = start(start_router, fake, [gemini_deployment("gem", gemini)])
    reply = r.chat("gem", stream=True)
    assert reply.status == 200, reply.text
    assert reply.stream_content() == "partial "
    errors = reply.error_events()
    assert errors and "overloaded" in errors[-1]["error"]["message"], reply.text
    assert not reply.done()


def test_embeddings_go_to_batch_embed_contents_and_are_billed_as_estimates(gemini, fake,
                                                                           start_router):
    """POST /v1/embeddings to a gemini/ deployment: one batchEmbedContents call with one
    request per input, the answer as OpenAI's embeddings list in input order, and, since
    Google reports no token counts, a ledger row billed from the bytes sent and marked
    estimated (never a silent zero)."""
    r = start(start_router, fake,
              [gemini_deployment("emb", gemini, model="text-embedding-004",
                                 input_cost_per_token=1e-6)])
    reply = r.post("/v1/embeddings", {"model": "emb", "input": ["alpha", "be"]})
    assert reply.status == 200, reply.text
    out = reply.json()
    assert out["object"] == "list"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert out["data"][0]["embedding"][-1] == float(ord("a"))
    assert out["data"][1]["embedding"][0] == 2.0
    req = only_request(gemini)
    assert req["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert [q["content"]["parts"][0]["text"] for q in req["body"]["requests"]] == ["alpha", "be"]
    rows = r.wait_spend_rows(1)  # the row follows the reply (reply_first)
    assert len(rows) == 1 and rows[0]["estimated"] == 1 and rows[0]["cost_usd"] > 0, rows
