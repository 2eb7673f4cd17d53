"""The fake OpenAI/OpenRouter upstream must be faithful before anything is tested against it.

Everything goes over real HTTP on loopback with http.client only.
"""

import base64
import hashlib
import http.client
import json
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

TESTS_DIR = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS_DIR))

from conftest import SLOW, wait_port_file  # noqa: E402
from fakes.fake_openai import (  # noqa: E402
    ECHO_TEXT, FakeOpenAI, content_policy, context_length_exceeded, error, hang,
    normalize_step, openai_error, openrouter_error, raw, text, tool_calls,
)

SCRIPT = TESTS_DIR / "fakes" / "fake_openai.py"
CHAT = "/v1/chat/completions"


# -- helpers ----------------------------------------------------------------

def request(fake_or_port, method, path, body=None, headers=None, timeout=5.0):
    """One request on a fresh connection: (status, headers, body bytes, complete?)."""
    port = fake_or_port if isinstance(fake_or_port, int) else fake_or_port.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        return send(conn, method, path, body, headers)
    finally:
        conn.close()


def send(conn, method, path, body=None, headers=None):
    """Send on ``conn``; a body cut short comes back with complete=False."""
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data,
                 headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    try:
        return resp.status, resp.headers, resp.read(), True
    except http.client.IncompleteRead as e:
        return resp.status, resp.headers, e.partial, False


def chat(fake, stream=False, model="fake/model", include_usage=False, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}],
            "stream": stream, **extra}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return request(fake, "POST", CHAT, body)


def sse(raw_bytes, eol="\n"):
    """Split an SSE body into (data payloads, comment lines)."""
    datas, comments = [], []
    for event in raw_bytes.decode().split(eol + eol):
        for line in event.split(eol):
            if line.startswith("data: "):
                datas.append(line[len("data: "):])
            elif line.startswith(":"):
                comments.append(line)
    return datas, comments


def chunks(raw_bytes):
    """Parsed JSON chunks of a stream (the [DONE] marker excluded)."""
    return [json.loads(d) for d in sse(raw_bytes)[0] if d != "[DONE]"]


def content_of(parsed):
    return "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in parsed if c.get("choices"))


@pytest.fixture
def fake():
    with FakeOpenAI() as f:
        yield f


# -- answers ----------------------------------------------------------------

def test_non_stream_text_with_usage_and_cost(fake):
    fake.script(text("Hello there", cost=0.0012, extra={"system_fingerprint": "fp_1"},
                     usage={"prompt_tokens": 10, "completion_tokens": 3,
                            "prompt_tokens_details": {"cached_tokens": 4},
                            "completion_tokens_details": {"reasoning_tokens": 2}}))
    status, headers, body, _ = chat(fake)
    assert status == 200 and headers["Content-Type"] == "application/json"
    obj = json.loads(body)
    assert obj["object"] == "chat.completion" and obj["model"] == "fake/model"
    assert obj["system_fingerprint"] == "fp_1"
    assert obj["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": "Hello there"}}]
    assert obj["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
                            "cost": 0.0012, "prompt_tokens_details": {"cached_tokens": 4},
                            "completion_tokens_details": {"reasoning_tokens": 2}}


def test_default_usage_is_computed_from_sizes(fake):
    fake.script(text("x" * 40))
    _, _, body, _ = chat(fake)
    raw_request = fake.requests[0]["raw"].encode()
    usage = json.loads(body)["usage"]
    assert usage["prompt_tokens"] == len(raw_request) // 4
    assert usage["completion_tokens"] == 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + 10
    assert usage["cost"] == 0.0


def test_stream_text_reassembles_and_ends_with_done(fake):
    content = "The quick brown fox jumps over the lazy dog."
    fake.script(text(content, chunk_size=5, extra={"system_fingerprint": "fp_2"}),
                text(content, chunk_size=5))
    status, headers, body, complete = chat(fake, stream=True, include_usage=True)
    assert status == 200 and complete
    assert headers["Content-Type"] == "text/event-stream"
    datas = sse(body)[0]
    assert datas[-1] == "[DONE]"
    parsed = chunks(body)
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(parsed) >= 10  # role + 9 content pieces + final + usage
    assert content_of(parsed) == content
    assert all(c["object"] == "chat.completion.chunk" and c["system_fingerprint"] == "fp_2"
               for c in parsed)
    assert [c["choices"][0]["finish_reason"] for c in parsed[:-1]][-1] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in parsed[:-2])
    assert parsed[-1]["choices"] == [] and parsed[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in parsed[:-1])

    _, _, body, _ = chat(fake, stream=True)
    parsed = chunks(body)
    assert content_of(parsed) == content and sse(body)[0][-1] == "[DONE]"
    assert all(c["choices"] and "usage" not in c for c in parsed)


def test_openrouter_usage_include_also_requests_the_usage_chunk(fake):
    fake.script(text("hi"))
    _, _, body, _ = chat(fake, stream=True, usage={"include": True})
    assert chunks(body)[-1]["choices"] == []


def test_streamed_tool_calls_reassemble_per_index_interleaved(fake):
    calls = [("call_1", "get_weather", '{"city": "Paris", "unit": "celsius"}'),
             ("call_2", "pods_list", '{"namespace": "default", broken')]
    fake.script(tool_calls(*calls, interleave=True, chunk_size=6),
                tool_calls(*calls))
    _, _, body, complete = chat(fake, stream=True)
    assert complete and sse(body)[0][-1] == "[DONE]"
    parsed = chunks(body)
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    fragments = [f for c in parsed for f in c["choices"][0]["delta"].get("tool_calls", [])]
    heads = {}
    arguments = {}
    for frag in fragments:
        if frag["index"] not in heads:
            assert frag["function"]["arguments"] == ""
            heads[frag["index"]] = (frag["id"], frag["type"], frag["function"]["name"])
            arguments[frag["index"]] = ""
        else:
            assert set(frag) == {"index", "function"} and set(frag["function"]) == {"arguments"}
            arguments[frag["index"]] += frag["function"]["arguments"]
    assert [(heads[i][0], heads[i][2], arguments[i]) for i in sorted(heads)] == calls
    assert all(h[1] == "function" for h in heads.values())
    order = [f["index"] for f in fragments]
    assert order[:4] == [0, 1, 0, 1]  # interleaved
    assert sum(1 for f in fragments if f["index"] == 0) > 3  # split across chunks
    assert parsed[-1]["choices"][0]["finish_reason"] == "tool_calls"

    _, _, body, _ = chat(fake)
    message = json.loads(body)["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"]["content"] is None
    assert [(t["id"], t["function"]["name"], t["function"]["arguments"])
            for t in message["message"]["tool_calls"]] == calls


# -- errors -----------------------------------------------------------------

@pytest.mark.parametrize("code", [400, 401, 402, 403, 408, 429, 502, 503])
def test_openrouter_error_shapes(fake, code):
    fake.script(openrouter_error(code, retry_after=7 if code == 429 else None))
    status, headers, body, _ = chat(fake, stream=True)
    obj = json.loads(body)
    assert status == code and set(obj) == {"error"}
    assert obj["error"]["code"] == code and isinstance(obj["error"]["message"], str)
    assert set(obj["error"]) <= {"code", "message", "metadata"}
    assert (headers["Retry-After"] == "7") == (code == 429)


def test_openrouter_rate_limit_metadata(fake):
    fake.script(openrouter_error(429))
    _, _, body, _ = chat(fake)
    err = json.loads(body)["error"]
    assert err["message"].startswith("Rate limit exceeded: free-models-per-min")
    assert err["metadata"]["headers"]["X-RateLimit-Remaining"] == "0"


def test_openai_error_shape_and_retry_after(fake):
    fake.script(openai_error(429, "Rate limit reached", type="requests",
                             code="rate_limit_exceeded", retry_after=2))
    status, headers, body, _ = chat(fake)
    assert status == 429 and headers["Retry-After"] == "2"
    assert json.loads(body) == {"error": {"message": "Rate limit reached", "type": "requests",
                                          "param": None, "code": "rate_limit_exceeded"}}


def test_context_length_exceeded_both_styles(fake):
    fake.script(context_length_exceeded(8192, 9000),
                context_length_exceeded(style="openrouter"))
    status, _, body, _ = chat(fake)
    err = json.loads(body)["error"]
    assert status == 400 and err["code"] == "context_length_exceeded"
    assert err["message"].startswith("This model's maximum context length is 8192 tokens")
    assert err["type"] == "invalid_request_error"
    status, _, body, _ = chat(fake)
    err = json.loads(body)["error"]
    assert status == 400 and err["code"] == 400 and "maximum context length" in err["message"]


def test_content_policy_both_styles(fake):
    fake.script(content_policy(reasons=["violence"], flagged_input="bad words"),
                content_policy(style="openai"))
    status, _, body, _ = chat(fake)
    err = json.loads(body)["error"]
    assert status == 403 and err["code"] == 403
    assert err["metadata"]["reasons"] == ["violence"]
    assert err["metadata"]["flagged_input"] == "bad words"
    status, _, body, _ = chat(fake)
    err = json.loads(body)["error"]
    assert status == 400 and err["code"] == "content_policy_violation"


def test_error_with_custom_body_and_headers(fake):
    fake.script(error(200, {"error": {"code": 502, "message": "after start"}},
                      headers={"X-Test": "1"}))
    status, headers, body, _ = chat(fake)
    assert status == 200 and headers["X-Test"] == "1"
    assert json.loads(body)["error"]["code"] == 502


def test_invalid_steps_are_rejected():
    with pytest.raises(ValueError):
        text("x", chunksize=3)
    with pytest.raises(ValueError):
        tool_calls()
    with pytest.raises(ValueError):
        normalize_step({"kind": "nope"})
    with pytest.raises(ValueError):
        normalize_step({"kind": "error", "status": "429"})


# -- timing and broken streams -------------------------------------------------

def test_slow_first_byte_is_delayed(fake):
    fake.script(text("late", first_byte_delay=0.3))
    start = time.monotonic()
    status, _, _, _ = chat(fake)
    assert status == 200 and time.monotonic() - start >= 0.3


def test_headers_then_slow_first_chunk_and_slow_chunks(fake):
    fake.script(text("abcdef", chunk_size=2, first_chunk_delay=0.3, chunk_delay=0.05))
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    start = time.monotonic()
    conn.request("POST", CHAT, body=json.dumps({"model": "m", "stream": True}))
    resp = conn.getresponse()
    assert resp.status == 200 and time.monotonic() - start < 0.25
    first = resp.readline()
    assert first.startswith(b"data: ") and time.monotonic() - start >= 0.3
    rest = resp.read()
    assert time.monotonic() - start >= 0.3 + 4 * 0.05
    assert content_of(chunks(first + rest)) == "abcdef"
    conn.close()


def test_truncated_stream_has_no_done(fake):
    fake.script(text("abcdefghij", chunk_size=2, cut_after=3))
    status, _, body, complete = chat(fake, stream=True, include_usage=True)
    assert status == 200 and not complete
    datas = sse(body)[0]
    assert len(datas) == 3 and "[DONE]" not in datas
    assert all(json.loads(d)["choices"] for d in datas)


def test_truncated_non_stream_body(fake):
    fake.script(text("abcdefghij", cut_after=0))
    status, _, body, complete = chat(fake)
    assert status == 200 and not complete
    with pytest.raises(ValueError):
        json.loads(body)


def test_mid_stream_error_event(fake):
    fake.script(text("abcdefghij", chunk_size=2, error_after=2, error_finish_reason=True),
                text("abc", error_after=1,
                     error={"code": 503, "message": "no provider"}))
    status, _, body, _ = chat(fake, stream=True)
    datas = sse(body)[0]
    assert status == 200 and "[DONE]" not in datas
    events = [json.loads(d) for d in datas]
    assert events[-1] == {"error": {"code": 502, "message": "Provider returned error"}}
    assert events[-2]["choices"][0]["finish_reason"] == "error"
    assert len(events) == 4
    status, _, body, _ = chat(fake)  # non-stream: HTTP 200 with the error in the body
    assert status == 200 and json.loads(body) == {"error": {"code": 503, "message": "no provider"}}


def test_malformed_json_body_and_sse_line(fake):
    fake.script(text("hello", malformed_after=0), text("hello", malformed_after=2))
    status, _, body, complete = chat(fake)
    assert status == 200 and complete
    with pytest.raises(ValueError):
        json.loads(body)
    _, _, body, _ = chat(fake, stream=True)
    datas = sse(body)[0]
    with pytest.raises(ValueError):
        json.loads(datas[2])
    assert datas[-1] == "[DONE]"
    assert "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                   for i, d in enumerate(datas[:-1]) if i != 2) == "hello"


def test_keepalive_comments_crlf_and_close_framing(fake):
    fake.script(text("abcdef", chunk_size=2, keepalive=2, keepalive_every=2, crlf=True,
                     framing="close"))
    status, headers, body, complete = chat(fake, stream=True)
    assert status == 200 and complete and headers["Connection"] == "close"
    assert body.startswith(b": OPENROUTER PROCESSING\r\n\r\n: OPENROUTER PROCESSING\r\n\r\ndata: ")
    datas, comments = sse(body, eol="\r\n")
    assert comments == [": OPENROUTER PROCESSING"] * 4  # 2 first + after data events 2 and 4
    assert datas[-1] == "[DONE]" and content_of(chunks(body.replace(b"\r\n", b"\n"))) == "abcdef"


def test_hang_ends_when_client_gives_up_and_does_not_block_close():
    fake = FakeOpenAI().start()
    fake.script(hang())
    with pytest.raises(TimeoutError):
        request(fake, "POST", CHAT, {"model": "m"}, timeout=0.3)
    fake.script(hang())
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", CHAT, body=b'{"model": "m"}')
    fake.wait_requests(2)
    start = time.monotonic()
    fake.close()
    assert time.monotonic() - start < 1.0
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()
    conn.close()


def test_raw_step(fake):
    fake.script(raw(418, b"teapot", {"Content-Type": "text/plain"}))
    status, headers, body, _ = chat(fake)
    assert (status, headers["Content-Type"], body) == (418, "text/plain", b"teapot")


# -- queues, recording, endpoints ------------------------------------------------

def test_per_model_queues_then_shared_then_exhausted(fake):
    fake.script(text("shared-1"))
    fake.script_for("qwen/qwen3-coder:free", openrouter_error(429), text("qwen-2"))
    fake.script_for("cheap", text("cheap-1"))
    answers = []
    for model in ["qwen/qwen3-coder:free", "cheap", "qwen/qwen3-coder:free",
                  "qwen/qwen3-coder:free", "cheap"]:
        status, _, body, _ = chat(fake, model=model)
        answers.append((status, json.loads(body).get("choices", [{}])[0]
                        .get("message", {}).get("content")))
    assert answers[:4] == [(429, None), (200, "cheap-1"), (200, "qwen-2"), (200, "shared-1")]
    status, _, body, _ = chat(fake, model="cheap")
    assert status == 500 and (answers[4][0], fake.remaining) == (500, 0)
    assert json.loads(body)["error"]["message"] == (
        "fake_openai: script exhausted (request 6 for model cheap)")
    assert [r["step"] for r in fake.chat_requests] == [
        "error", "text", "text", "text", "exhausted", "exhausted"]


def test_keep_alive_connection_is_reused_and_requests_recorded(fake):
    fake.script(text("one"), text("two", chunk_size=1), text("three"))
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    headers = {"HTTP-Referer": "https://example.org", "X-Title": "hermetic"}
    for stream in (False, True, False):
        status, _, _, complete = send(conn, "POST", CHAT, {"model": "m", "stream": stream},
                                      headers)
        assert status == 200 and complete
    conn.close()
    reqs = fake.requests
    assert len({r["peer"] for r in reqs}) == 1
    assert [r["n"] for r in reqs] == [1, 2, 3] and [r["stream"] for r in reqs] == [
        False, True, False]
    assert reqs[0]["headers"]["x-title"] == "hermetic"
    assert reqs[0]["headers"]["HTTP-Referer"] == "https://example.org"
    assert reqs[0]["body"] == {"model": "m", "stream": False}
    assert reqs[1]["monotonic"] >= reqs[0]["monotonic"]
    fake.reset()
    assert fake.requests == [] and fake.remaining == 0


def test_models_and_key_info(fake):
    fake.script_for("qwen/qwen3-coder:free", text("a"))
    fake.script(text("b", model="strong"))
    status, _, body, _ = request(fake, "GET", "/v1/models")
    assert status == 200 and json.loads(body)["object"] == "list"
    assert [m["id"] for m in json.loads(body)["data"]] == ["qwen/qwen3-coder:free", "strong"]
    fake.key_info = {"limit": 1.0, "limit_remaining": 0.25, "usage_daily": 0.75}
    status, _, body, _ = request(fake, "GET", "/api/v1/key")
    data = json.loads(body)["data"]
    assert status == 200 and data["limit_remaining"] == 0.25 and data["usage_daily"] == 0.75
    assert {"label", "limit", "usage", "is_free_tier"} <= set(data)


def test_auth_401_shapes():
    with FakeOpenAI(api_key="sk-or-v1-test") as fake:
        fake.script(text("ok"))
        status, _, body, _ = chat(fake)
        assert status == 401 and json.loads(body) == {
            "error": {"code": 401, "message": "No auth credentials found"}}
        status, _, body, _ = request(fake, "POST", CHAT, {"model": "m"},
                                     {"Authorization": "Bearer sk-or-v1-wrong"})
        assert status == 401 and json.loads(body)["error"]["message"] == "User not found."
        status, _, _, _ = request(fake, "GET", "/api/v1/key")
        assert status == 401
        status, _, body, _ = request(fake, "POST", CHAT, {"model": "m"},
                                     {"Authorization": "Bearer sk-or-v1-test"})
        assert status == 200 and fake.remaining == 0
        assert [r["step"] for r in fake.chat_requests] == ["auth", "auth", "text"]


# -- as a separate process --------------------------------------------------------

def start_process(tmp_path, *args):
    port_file = tmp_path / f"port{len(list(tmp_path.iterdir()))}"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--port", "0",
                             "--port-file", str(port_file), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, wait_port_file(proc, port_file, 5)


def stop_process(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=5 * SLOW)
    assert proc.returncode == 0
    assert err == ""
    return out


def test_script_mode_control_endpoints_and_sigterm(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"steps": [{"kind": "text", "content": "from file"}],
                                  "key_info": {"limit": 5}}))
    proc, port = start_process(tmp_path, "--script", str(script))
    try:
        status, _, body, _ = request(port, "POST", "/_fake/script",
                                     {"model": "m2", "steps": [
                                         {"kind": "text", "content": "slow", "chunk_delay": 0.2,
                                          "chunk_size": 1},
                                         {"kind": "error", "status": 503,
                                          "body": {"error": {"code": 503, "message": "x"}}}]})
        assert status == 200 and json.loads(body)["remaining"] == 3
        assert request(port, "POST", "/_fake/script", [{"kind": "bogus"}])[0] == 400
        assert json.loads(chat(port)[2])["choices"][0]["message"]["content"] == "from file"
        # a client that disconnects mid-stream must not make the fake print a traceback
        sock = socket.create_connection(("127.0.0.1", port))
        payload = json.dumps({"model": "m2", "stream": True}).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        sock.close()
        assert chat(port, model="m2")[0] == 503
        assert json.loads(request(port, "GET", "/api/v1/key")[2])["data"]["limit"] == 5
        recorded = json.loads(request(port, "GET", "/_fake/requests")[2])
        assert [r["model"] for r in recorded if "n" in r] == ["fake/model", "m2", "m2"]
        assert request(port, "POST", "/_fake/reset")[0] == 200
        assert json.loads(request(port, "GET", "/_fake/requests")[2]) == []
        assert chat(port)[0] == 500
        time.sleep(0.5)  # let the abandoned slow stream hit the closed socket
    finally:
        out = stop_process(proc)
    assert out.startswith(f"listening on http://127.0.0.1:{port}")


def test_script_mode_echo_responder_with_latency(tmp_path):
    proc, port = start_process(tmp_path, "--responder", "echo", "--latency-ms", "100")
    try:
        start = time.monotonic()
        status, _, body, _ = chat(port)
        assert time.monotonic() - start >= 0.1
        assert status == 200
        assert json.loads(body)["choices"][0]["message"]["content"] == ECHO_TEXT
        _, _, body, _ = chat(port, stream=True)
        assert content_of(chunks(body)) == ECHO_TEXT
    finally:
        stop_process(proc)


def test_sigint_also_exits_cleanly(tmp_path):
    proc, _ = start_process(tmp_path)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=5 * SLOW)
    assert proc.returncode == 0 and err == ""


def test_cycle_repeats_the_script_and_keep_requests_bounds_the_log():
    """Long runs (the gateway benchmark's 10,000 turns): the script repeats, only the last N
    requests are kept, and the counters still cover every request."""
    with FakeOpenAI(cycle=True, keep_requests=3) as fake:
        fake.script(tool_calls(("c1", "time", "{}")), text("done"))
        fake.script_for("cheap", text("summary"))
        answers = []
        for _ in range(5):
            status, _, body, _ = chat(fake)
            assert status == 200
            msg = json.loads(body)["choices"][0]["message"]
            answers.append(msg["tool_calls"][0]["function"]["name"] if msg.get("tool_calls")
                           else msg["content"])
        assert answers == ["time", "done", "time", "done", "time"]
        assert json.loads(chat(fake, model="cheap")[2])["choices"][0]["message"]["content"] \
            == "summary"
        assert json.loads(chat(fake, model="cheap")[2])["choices"][0]["message"]["content"] \
            == "summary"
        assert fake.remaining == 3  # nothing was consumed for good
        assert [r["n"] for r in fake.chat_requests] == [5, 6, 7]
        assert fake.chat_count == 7
        totals = fake.usage_totals
        assert totals["fake/model"]["calls"] == 5 and totals["cheap"]["calls"] == 2
        assert totals["cheap"]["completion_tokens"] == 2 * (len("summary") // 4)
        assert totals["fake/model"]["prompt_tokens"] > 0


# -- user content parts --------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(30)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def parts_chat(fake, *parts, role="user"):
    body = {"model": "m", "messages": [{"role": "system", "content": "be brief"},
                                       {"role": role, "content": list(parts)}]}
    status, _, raw_body, _ = request(fake, "POST", CHAT, body)
    return status, json.loads(raw_body)


def test_content_parts_are_decoded_and_recorded():
    wav, pdf = b"RIFF" + bytes(100), b"%PDF-1.4\n" + bytes(50)
    with FakeOpenAI() as fake:
        fake.script(text("ok"))
        status, _ = parts_chat(
            fake, {"type": "text", "text": "what is this?", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}",
                                                "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "input_audio", "input_audio": {"data": b64(wav), "format": "ogg"}},
            {"type": "file", "file": {"filename": "r.pdf",
                                      "file_data": f"data:application/pdf;base64,{b64(pdf)}"}},
            {"type": "file", "file": {"file_id": "file-abc"}})
        assert status == 200
        parts = fake.requests[-1]["parts"]
        assert [(p["message"], p["index"], p["type"]) for p in parts] == [
            (1, 0, "text"), (1, 1, "image_url"), (1, 2, "image_url"), (1, 3, "input_audio"),
            (1, 4, "file"), (1, 5, "file")]
        assert parts[0]["text"] == "what is this?" and parts[0]["bytes"] == 13
        assert parts[1] == {"message": 1, "index": 1, "type": "image_url", "detail": "low",
                            "mime": "image/png", "bytes": len(PNG),
                            "sha256": hashlib.sha256(PNG).hexdigest()}
        assert parts[2]["url"] == "https://example.com/cat.jpg" and parts[2]["bytes"] is None
        assert parts[3]["format"] == "ogg" and parts[3]["bytes"] == len(wav)
        assert parts[3]["sha256"] == hashlib.sha256(wav).hexdigest()
        assert parts[4]["mime"] == "application/pdf" and parts[4]["bytes"] == len(pdf)
        assert parts[4]["filename"] == "r.pdf" and parts[5]["file_id"] == "file-abc"
        # a string content records no parts; a content array of another role is not checked
        fake.script(text("ok"), text("ok"))
        assert chat(fake)[0] == 200 and fake.requests[-1]["parts"] == []
        assert parts_chat(fake, {"type": "weird"}, role="assistant")[0] == 200


@pytest.mark.parametrize("part, param, code, message", [
    ({"type": "image"}, "messages[1].content[0].type", "invalid_value",
     "Invalid value: 'image'. Supported values are: 'text', 'image_url', 'input_audio', and "
     "'file'."),
    ("hello", "messages[1].content[0]", "invalid_type",
     "Invalid type for 'messages[1].content[0]': expected an object, but got a string instead."),
    ({"text": "x"}, "messages[1].content[0].type", "missing_required_parameter",
     "Missing required parameter: 'messages[1].content[0].type'."),
    ({"type": "text"}, "messages[1].content[0].text", "missing_required_parameter",
     "Missing required parameter: 'messages[1].content[0].text'."),
    ({"type": "image_url", "image_url": "https://x.y/a.png"}, "messages[1].content[0].image_url",
     "invalid_type", "Invalid type for 'messages[1].content[0].image_url': expected an object, "
     "but got a string instead."),
    ({"type": "image_url", "image_url": {"url": b64(PNG)}}, "messages[1].content[0].image_url.url",
     "invalid_value", "Invalid image URL: 'messages[1].content[0].image_url.url'. Expected a "
     "base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGV"
     "zIGhlcmU='), but got a value without the 'data:' prefix."),
    ({"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}},
     "messages[1].content[0].image_url.url", "invalid_value", None),
    ({"type": "image_url", "image_url": {"url": "data:image/png;base64,"}},
     "messages[1].content[0].image_url.url", "invalid_value", None),
    ({"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}},
     "messages[1].content[0].image_url.url", "invalid_value", None),
    ({"type": "image_url", "image_url": {"url": "data:image/bmp;base64,aGk="}},
     "messages[1].content[0].image_url.url", "invalid_image_format", None),
    ({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}},
     "messages[1].content[0].image_url.url", "invalid_value", None),
    ({"type": "image_url", "image_url": {"url": "https://x.y/a.png", "detail": "max"}},
     "messages[1].content[0].image_url.detail", "invalid_value", None),
    ({"type": "input_audio", "input_audio": {"data": "aGk=", "format": "opus"}},
     "messages[1].content[0].input_audio.format", "invalid_value",
     "Invalid value: 'opus'. Supported values are: 'wav', 'mp3', 'flac', 'm4a', 'ogg', 'aiff', "
     "'aac', 'pcm16', and 'pcm24'."),
    ({"type": "input_audio", "input_audio": {"data": "data:audio/ogg;base64,aGk=",
                                             "format": "ogg"}},
     "messages[1].content[0].input_audio.data", "invalid_value", None),
    ({"type": "input_audio", "input_audio": {"data": "not base64!", "format": "wav"}},
     "messages[1].content[0].input_audio.data", "invalid_value", None),
    ({"type": "input_audio", "input_audio": {"data": "aGk="}},
     "messages[1].content[0].input_audio.format", "missing_required_parameter", None),
    ({"type": "file", "file": {"filename": "a.pdf", "file_data": "data:text/csv;base64,aGk="}},
     "messages[1].content[0].file.file_data", "invalid_value", None),
    ({"type": "file", "file": {"filename": "a.pdf", "file_data": "aGk="}},
     "messages[1].content[0].file.file_data", "invalid_value", None),
    ({"type": "file", "file": {"filename": "a.pdf"}},
     "messages[1].content[0].file.file_data", "missing_required_parameter", None),
])
def test_malformed_content_parts_are_refused_like_openai(part, param, code, message):
    with FakeOpenAI() as fake:
        fake.script(text("never sent"))
        status, body = parts_chat(fake, part)
        assert status == 400 and body["error"]["type"] == "invalid_request_error", body
        assert body["error"]["param"] == param and body["error"]["code"] == code, body
        if message:
            assert body["error"]["message"] == message
        assert fake.remaining == 1 and fake.requests[-1]["step"] == "invalid"


def test_content_errors_name_the_part_and_validation_can_be_off():
    with FakeOpenAI() as fake:
        fake.script(text("ok"))
        status, body = parts_chat(fake, {"type": "text", "text": "fine"},
                                  {"type": "image_url", "image_url": {"url": "data:image/jpeg;"
                                                                      "base64,/9j/"}},
                                  {"type": "image_url", "image_url": {"url": "ftp://x"}})
        assert status == 400 and body["error"]["param"] == "messages[1].content[2].image_url.url"
        assert body["error"]["message"].endswith("but got a value without the 'data:' prefix.")
    with FakeOpenAI(validate_content=False) as fake:
        fake.script(text("ok"))
        assert parts_chat(fake, {"type": "bogus"})[0] == 200
        assert fake.requests[-1]["parts"] == []
