"""tests/fakes/fake_gemini.py refuses what Google refuses, with Google's error bodies, and
frames streams as Google does (the e2e tests of the gemini dialect rely on both)."""
import http.client
import json

import pytest

from fakes.fake_gemini import FakeGemini, function_calls, text

KEY = "AIza-fake-test"
PATH = "/v1beta/models/gemini-2.5-flash:generateContent"


def post(g, path, body, key=KEY):
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["x-goog-api-key"] = key
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type"), resp.read().decode()
    finally:
        conn.close()


def user(text_):
    return {"role": "user", "parts": [{"text": text_}]}


@pytest.fixture
def g():
    with FakeGemini(api_key=KEY) as fake:
        yield fake


def google_error(status, body):
    err = json.loads(body)["error"]
    assert err["code"] == status and isinstance(err["status"], str)
    return err


def test_keys_are_checked_as_google_checks_them(g):
    status, _, body = post(g, PATH, {"contents": [user("hi")]}, key=None)
    assert status == 403 and google_error(403, body)["status"] == "PERMISSION_DENIED"
    status, _, body = post(g, PATH, {"contents": [user("hi")]}, key="AIza-wrong")
    err = google_error(400, body)
    assert err["message"] == "API key not valid. Please pass a valid API key."
    assert err["details"][0]["reason"] == "API_KEY_INVALID"


@pytest.mark.parametrize("body, message", [
    ({"contents": []}, "contents is not specified"),
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
     "Please use a valid role: user, model."),
    ({"contents": [user("x"), {"role": "user", "parts": [
        {"functionResponse": {"name": "f", "response": {}}}]}]},
     "function response turn comes immediately after a function call turn"),
    ({"contents": [user("x"), {"role": "model", "parts": [
        {"functionCall": {"name": "f", "args": {}}}, {"functionCall": {"name": "g"}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
     "number of function response parts is equal to the number of function call parts"),
    ({"contents": [user("x")], "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
        "type": "object", "additionalProperties": False, "properties": {"a": {"type": "string"}}
    }}]}]}, 'Unknown name "additionalProperties"'),
    ({"contents": [user("x")], "generationConfig": {"max_tokens": 5}},
     'Unknown name "max_tokens"'),
    ({"contents": [{"role": "user", "parts": []}]}, "contents.parts must not be empty"),
])
def test_requests_google_refuses_get_its_400(g, body, message):
    status, _, text_ = post(g, PATH, body)
    assert status == 400, text_
    assert message in google_error(400, text_)["message"]


def test_snake_case_fields_are_accepted(g):
    g.script(text("ok"))
    status, _, body = post(g, PATH, {"contents": [user("x")],
                                     "system_instruction": {"parts": [{"text": "s"}]},
                                     "generation_config": {"max_output_tokens": 5}})
    assert status == 200, body


def test_sse_stream_framing(g):
    g.script(function_calls(("f", {"a": 1}), text="t"))
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
    conn.request("POST", "/v1beta/models/m:streamGenerateContent?alt=sse",
                 body=json.dumps({"contents": [user("x")]}),
                 headers={"x-goog-api-key": KEY, "Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read().decode()
    conn.close()
    assert resp.status == 200 and resp.getheader("content-type") == "text/event-stream"
    events = [e for e in raw.split("\r\n\r\n") if e]
    assert all(e.startswith("data: ") for e in events) and "[DONE]" not in raw
    last = json.loads(events[-1][6:])
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["candidates"][0]["content"]["parts"][1]["functionCall"] == {
        "name": "f", "args": {"a": 1}}
    assert last["usageMetadata"]["totalTokenCount"] > 0
