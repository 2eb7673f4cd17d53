"""`hermetic router` with a bedrock/ deployment: OpenAI requests become signed Bedrock Converse
and ConverseStream calls (SigV4 checked independently by tests/fakes/fake_bedrock.py), answers,
event streams and errors come back in OpenAI's shape, and retries and fallbacks work across
dialects."""
import json

import pytest

from fakes.fake_bedrock import (FakeBedrock, canonical_uri, error, service_unavailable,
                                stream_exception, text, throttling, too_long, tool_use)
from fakes.fake_openai import text as openai_text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    deployment, fake, router_config, start_router,
)

MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
AKID = "AKIDE2EBEDROCKTEST"
SECRET = "e2e-bedrock-secret-access-key-4b1d"
TOKEN = "e2e-session-token-IQoJb3JpZ2luX2VjEXAMPLE"

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.fixture
def bedrock():
    with FakeBedrock(access_key_id=AKID, secret_access_key=SECRET, region="eu-west-1") as f:
        yield f


def bedrock_deployment(fake_bedrock, name="claude", model_id=MODEL_ID, **params):
    lp = {"model": f"bedrock/{model_id}", "api_base": fake_bedrock.url,
          "aws_region_name": "eu-west-1", **params}
    return {"model_name": name, "litellm_params": lp}


def aws_env(secret=SECRET, token=None):
    env = {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": secret}
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return env


def start(start_router, fake, models, env=None, **sections):
    return start_router(router_config(fake, models, **sections), env=env or aws_env())


@pytest.mark.smoke
def test_chat_is_a_signed_converse_call_with_the_model_id_encoded(bedrock, fake, start_router):
    bedrock.script(text("Hello from Bedrock.", usage={"inputTokens": 21, "outputTokens": 5}))
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    reply = r.post("/v1/chat/completions", {
        "model": "claude", "max_tokens": 100, "temperature": 0.5, "stop": ["END"],
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "hi"}]})
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"] == {"role": "assistant",
                                            "content": "Hello from Bedrock."}
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"]["prompt_tokens"] == 21 and doc["usage"]["completion_tokens"] == 5
    [req] = bedrock.requests
    assert req["path"] == "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    assert req["model_id"] == MODEL_ID
    assert req["auth"] == "ok"
    assert "%253A0" in canonical_uri(req["path"])  # what the fake verified the signature on
    assert req["headers"]["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={AKID}/")
    assert "/eu-west-1/bedrock/aws4_request" in req["headers"]["authorization"]
    assert req["body"] == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "stopSequences": ["END"]}}


@pytest.mark.smoke
def test_stream_is_decoded_from_event_stream_frames(bedrock, fake, start_router):
    bedrock.script(text("Streaming out of an event stream, frame by frame.", chunk_size=5,
                        usage={"inputTokens": 30, "outputTokens": 12,
                               "cacheReadInputTokens": 4}))
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    reply = r.chat("claude", stream=True, include_usage=True)
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.error_events() == [], reply.text
    assert reply.stream_content() == "Streaming out of an event stream, frame by frame."
    assert reply.done(), reply.text
    finish = [c["finish_reason"] for e in reply.events() for c in e.get("choices") or []
              if c.get("finish_reason")]
    assert finish == ["stop"]
    [usage] = [e["usage"] for e in reply.events() if e.get("usage")]
    assert usage["prompt_tokens"] == 34 and usage["completion_tokens"] == 12
    assert usage["prompt_tokens_details"]["cached_tokens"] == 4
    [req] = bedrock.requests
    assert req["path"].endswith("%3A0/converse-stream") and req["auth"] == "ok"


def test_tool_calls_round_trip(bedrock, fake, start_router):
    bedrock.script(tool_use(("tooluse_abc123", "get_weather", {"city": "Paris"})),
                   text("It is sunny in Paris."))
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    first = r.post("/v1/chat/completions", {
        "model": "claude", "tools": [WEATHER_TOOL], "tool_choice": "auto",
        "messages": [{"role": "user", "content": "Weather in Paris?"}]})
    assert first.status == 200, first.text
    choice = first.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "tooluse_abc123" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    second = r.post("/v1/chat/completions", {
        "model": "claude", "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Weather in Paris?"},
                     choice["message"],
                     {"role": "tool", "tool_call_id": "tooluse_abc123",
                      "content": "sunny, 24 C"},
                     {"role": "user", "content": "Thanks. Summarize."}]})
    assert second.status == 200, second.text
    assert second.json()["choices"][0]["message"]["content"] == "It is sunny in Paris."
    sent = bedrock.requests[1]["body"]
    assert sent["toolConfig"]["tools"] == [{"toolSpec": {
        "name": "get_weather", "description": "Current weather of a city",
        "inputSchema": {"json": WEATHER_TOOL["function"]["parameters"]}}}]
    assert bedrock.requests[0]["body"]["toolConfig"]["toolChoice"] == {"auto": {}}
    assert sent["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [{"toolUse": {
            "toolUseId": "tooluse_abc123", "name": "get_weather", "input": {"city": "Paris"}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "tooluse_abc123", "content": [{"text": "sunny, 24 C"}],
                            "status": "success"}},
            {"text": "Thanks. Summarize."}]}]


def test_streamed_tool_call_arrives_as_openai_deltas(bedrock, fake, start_router):
    bedrock.script(tool_use(("tooluse_s1", "get_weather", {"city": "Lyon"}), chunk_size=4))
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    reply = r.post("/v1/chat/completions", {
        "model": "claude", "stream": True, "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Weather in Lyon?"}]})
    assert reply.status == 200 and reply.done(), reply.text
    frags = [tc for e in reply.events() for c in e.get("choices") or []
             for tc in (c.get("delta") or {}).get("tool_calls") or []]
    assert frags[0]["id"] == "tooluse_s1" and frags[0]["function"]["name"] == "get_weather"
    assert all(f["index"] == 0 for f in frags)
    args = "".join(f["function"]["arguments"] for f in frags)
    assert json.loads(args) == {"city": "Lyon"}


def test_throttling_is_429_and_retried(bedrock, fake, start_router):
    bedrock.script(throttling(), text("after the retry"))
    r = start(start_router, fake, [bedrock_deployment(bedrock)],
              router_settings={"num_retries": 1, "retry_after": 0})
    reply = r.chat("claude")
    assert reply.status == 200, reply.text
    assert reply.content() == "after the retry"
    assert [q["step"] for q in bedrock.requests] == ["error", "text"]
    assert [q["auth"] for q in bedrock.requests] == ["ok", "ok"]


def test_throttling_without_retries_reaches_the_client_as_429(bedrock, fake, start_router):
    bedrock.script(throttling())
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    reply = r.chat("claude")
    assert reply.status == 429, reply.text
    err = reply.error()
    assert "Too many requests" in err["message"] and err["type"] == "rate_limit_error"


def test_wrong_secret_key_is_a_clear_auth_error(bedrock, fake, start_router):
    r = start(start_router, fake, [bedrock_deployment(bedrock)],
              env=aws_env(secret="not-the-right-secret-key"))
    reply = r.chat("claude")
    assert reply.status == 403, reply.text
    err = reply.error()
    assert "signature we calculated does not match" in err["message"], err
    assert err["type"] == "authentication_error"
    assert [q["auth"] for q in bedrock.requests] == ["InvalidSignatureException"]
    assert bedrock.remaining == 0


def test_region_is_the_signature_scope(bedrock, fake, start_router):
    r = start(start_router, fake, [bedrock_deployment(bedrock, aws_region_name="us-east-1")])
    reply = r.chat("claude")
    assert reply.status == 403, reply.text
    assert "scoped to a valid region" in reply.error()["message"]
    assert "/us-east-1/bedrock/aws4_request" in bedrock.requests[0]["headers"]["authorization"]


def test_session_token_is_sent_and_signed(fake, start_router):
    with FakeBedrock(access_key_id=AKID, secret_access_key=SECRET, region="eu-west-1",
                     session_token=TOKEN) as sts:
        sts.script(text("temporary credentials work"))
        r = start(start_router, fake, [bedrock_deployment(sts)], env=aws_env(token=TOKEN))
        reply = r.chat("claude")
        assert reply.status == 200, reply.text
        [req] = sts.requests
        assert req["headers"]["x-amz-security-token"] == TOKEN
        assert "x-amz-security-token" in req["headers"]["authorization"]


def test_missing_session_token_is_refused_by_the_fake(fake, start_router):
    with FakeBedrock(access_key_id=AKID, secret_access_key=SECRET, region="eu-west-1",
                     session_token=TOKEN) as sts:
        r = start(start_router, fake, [bedrock_deployment(sts)])
        reply = r.chat("claude")
        assert reply.status == 403, reply.text
        assert "security token included in the request is invalid" in reply.error()["message"]


def test_arn_model_id_is_encoded_with_its_slash(bedrock, fake, start_router):
    arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-v1:0"
    bedrock.script(text("via an inference profile"))
    r = start(start_router, fake, [bedrock_deployment(bedrock, model_id=arn)])
    reply = r.chat("claude")
    assert reply.status == 200, reply.text
    [req] = bedrock.requests
    assert req["model_id"] == arn and req["auth"] == "ok"
    assert "inference-profile%2Feu.anthropic" in req["path"]


def test_bedrock_503_falls_back_to_an_openai_deployment(bedrock, fake, start_router):
    bedrock.script(service_unavailable())
    fake.script_for("test/backup", openai_text("from the openai fallback"))
    r = start(start_router, fake,
              [bedrock_deployment(bedrock), deployment("backup", "test/backup", fake)],
              router_settings={"fallbacks": [{"claude": ["backup"]}]})
    reply = r.chat("claude")
    assert reply.status == 200, reply.text
    assert reply.content() == "from the openai fallback"
    assert [q["step"] for q in bedrock.requests] == ["error"]


def test_stream_exception_before_content_falls_back(bedrock, fake, start_router):
    bedrock.script(stream_exception("serviceUnavailableException", "Model is overloaded"))
    fake.script_for("test/backup", openai_text("streamed by the fallback"))
    r = start(start_router, fake,
              [bedrock_deployment(bedrock), deployment("backup", "test/backup", fake)],
              router_settings={"fallbacks": [{"claude": ["backup"]}]})
    reply = r.chat("claude", stream=True)
    assert reply.status == 200, reply.text
    assert reply.stream_content() == "streamed by the fallback"
    assert reply.done()


def test_stream_exception_after_content_is_an_error_event(bedrock, fake, start_router):
    bedrock.script(stream_exception("modelStreamErrorException", "The model stopped", after=3))
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    reply = r.chat("claude", stream=True)
    assert reply.status == 200
    [err] = reply.error_events()
    assert "The model stopped" in err["error"]["message"]
    assert not reply.done()


def test_input_too_long_is_context_length_exceeded(bedrock, fake, start_router):
    bedrock.script(too_long())
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    reply = r.chat("claude")
    assert reply.status == 400, reply.text
    err = reply.error()
    assert "Input is too long" in err["message"]
    assert err["type"] == "context_length_exceeded"


def test_shape_the_fake_refuses_is_a_validation_error(bedrock, fake, start_router):
    bedrock.script(error(400, "ValidationException", "unused"))
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    reply = r.post("/v1/chat/completions", {
        "model": "claude", "temperature": 1.5,
        "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status == 400, reply.text
    assert "inferenceConfig.temperature" in reply.error()["message"]
    assert bedrock.requests[0]["step"] == "invalid"


def test_remote_image_url_is_refused_before_sending(bedrock, fake, start_router):
    r = start(start_router, fake, [bedrock_deployment(bedrock)])
    reply = r.post("/v1/chat/completions", {"model": "claude", "messages": [{
        "role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})
    assert reply.status == 400, reply.text
    assert "data:image" in reply.error()["message"]
    assert bedrock.requests == []



# ---------------------------------------------------------------------------
# The fake's own verifier: AWS's published vectors, and curl's signer as a second opinion
# ---------------------------------------------------------------------------

def test_fake_verifier_reproduces_aws_published_vectors():
    import email.message
    import hashlib
    import hmac

    from fakes.fake_bedrock import canonical_request, signing_key
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    assert signing_key(secret, "20150830", "us-east-1", "iam").hex() == (
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    h = email.message.Message()
    h["Host"] = "example.amazonaws.com"
    h["X-Amz-Date"] = "20150830T123600Z"
    vectors = (("GET", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
               ("POST", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"))
    for method, want in vectors:
        creq = canonical_request(method, "/", "", h, ["host", "x-amz-date"], b"")
        sts = "\n".join(["AWS4-HMAC-SHA256", "20150830T123600Z",
                         "20150830/us-east-1/service/aws4_request",
                         hashlib.sha256(creq.encode()).hexdigest()])
        key = signing_key(secret, "20150830", "us-east-1", "service")
        assert hmac.new(key, sts.encode(), hashlib.sha256).hexdigest() == want


def test_curl_aws_sigv4_agrees_on_plain_ids_and_old_curl_fails_on_colons(bedrock):
    """Why hermetic signs itself: libcurl 7.88's CURLOPT_AWS_SIGV4 signs the path verbatim."""
    import shutil
    import subprocess
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("no curl command")
    version = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout
    bedrock.script(text("one"), text("two"))
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})

    def call(model_path):
        out = subprocess.run([curl, "-s", "--aws-sigv4", "aws:amz:eu-west-1:bedrock",
                              "--user", f"{AKID}:{SECRET}",
                              "-H", "Content-Type: application/json",
                              "-d", body, f"{bedrock.url}/model/{model_path}/converse"],
                             capture_output=True, text=True, timeout=10)
        return json.loads(out.stdout)

    assert "output" in call("amazon.nova-lite-v1")  # an independent signer passes the fake
    answer = call("anthropic.claude-3-5-sonnet-20240620-v1%3A0")
    if version.startswith("curl 7.88"):
        assert "signature we calculated does not match" in answer["message"]
