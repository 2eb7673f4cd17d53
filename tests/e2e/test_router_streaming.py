"""`hermetic router` streaming: SSE relay, usage chunks, keep-alive comments, tool-call deltas,
stream_timeout, and what happens when an upstream stream breaks before or after the first chunk
reached the client."""
import pytest

from fakes.fake_openai import error, hang, text, tool_calls
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    count_calls, deployment, fake, router_config, start_router, upstream_models,
)


def groups(fake, *names, **free_params):
    return [deployment(n, f"test/{n}", fake, **(free_params if n == "free" else {}))
            for n in names]


def assert_clean_stream(reply, content):
    assert reply.status == 200, reply.text
    assert reply.headers.get("content-type", "").startswith("text/event-stream"), reply.headers
    assert reply.error_events() == [], reply.text
    assert reply.stream_content() == content, reply.text
    assert reply.done(), f"stream does not end with data: [DONE]:\n{reply.text}"


@pytest.mark.smoke
def test_stream_is_relayed_and_ends_with_done(fake, start_router):
    fake.script_for("test/free", text("Hello streaming world, in pieces.", chunk_size=4))
    r = start_router(router_config(fake))
    reply = r.chat("free", stream=True)
    assert_clean_stream(reply, "Hello streaming world, in pieces.")
    events = reply.events()
    assert all(e.get("object") == "chat.completion.chunk" for e in events), events
    finish = [c["finish_reason"] for e in events for c in e.get("choices") or []
              if c.get("finish_reason")]
    assert finish == ["stop"]
    [req] = fake.chat_requests
    assert req["body"]["stream"] is True


def test_usage_chunk_is_forwarded_only_when_the_client_asks(fake, start_router):
    fake.script_for("test/free", text("no usage please", cost=0.0042),
                    text("usage please", cost=0.0042))
    r = start_router(router_config(fake))
    plain = r.chat("free", stream=True)
    assert_clean_stream(plain, "no usage please")
    assert [e for e in plain.events() if e.get("usage")] == [], plain.text
    asked = r.chat("free", stream=True, include_usage=True)
    assert_clean_stream(asked, "usage please")
    usage = [e for e in asked.events() if e.get("usage")]
    assert len(usage) == 1, asked.text
    assert usage[0]["choices"] == []
    assert usage[0]["usage"]["total_tokens"] > 0
    assert abs(usage[0]["usage"]["cost"] - 0.0042) < 1e-12
    for req in fake.chat_requests:  # the router always asks upstream, to count spend
        assert req["body"].get("stream_options", {}).get("include_usage") is True, req["body"]


def test_keepalive_comments_are_not_forwarded(fake, start_router):
    fake.script_for("test/free", text("kept alive", keepalive=3, first_chunk_delay=0.3,
                                      keepalive_every=1, chunk_size=3))
    r = start_router(router_config(fake))
    reply = r.chat("free", stream=True)
    assert_clean_stream(reply, "kept alive")
    assert "OPENROUTER PROCESSING" not in reply.text


def test_crlf_upstream_stream_is_relayed(fake, start_router):
    fake.script_for("test/free", text("carriage returns", crlf=True, chunk_size=5))
    r = start_router(router_config(fake))
    assert_clean_stream(r.chat("free", stream=True), "carriage returns")


def test_unknown_chunk_fields_pass_through(fake, start_router):
    fake.script_for("test/free", text("fields", extra={"system_fingerprint": "fp_e2e",
                                                       "service_tier": "default"}))
    r = start_router(router_config(fake))
    reply = r.chat("free", stream=True)
    assert_clean_stream(reply, "fields")
    chunks = [e for e in reply.events() if e.get("choices")]
    assert chunks and all(e.get("system_fingerprint") == "fp_e2e" and
                          e.get("service_tier") == "default" for e in chunks), reply.text


def test_streamed_tool_call_deltas_are_forwarded_intact(fake, start_router):
    calls = [("call_pods", "pods_list", '{"namespace": "default", "label": "app=web \\"x\\""}'),
             ("call_events", "events_list", '{"ns": "kube-system", "limit": 5, "q": "caf\u00e9"'),
             ("call_top", "nodes_top", "")]
    fake.script_for("test/free", tool_calls(*calls, interleave=True, chunk_size=3))
    r = start_router(router_config(fake))
    reply = r.chat("free", stream=True, tools=[{"type": "function", "function": {
        "name": n, "parameters": {"type": "object"}}} for _, n, _ in calls])
    assert reply.status == 200, reply.text
    assert reply.done() and reply.error_events() == [], reply.text
    got = {}
    finish = []
    for e in reply.events():
        for choice in e.get("choices") or []:
            if choice.get("finish_reason"):
                finish.append(choice["finish_reason"])
            for d in (choice.get("delta") or {}).get("tool_calls") or []:
                slot = got.setdefault(d["index"], {"id": None, "name": None, "arguments": ""})
                if d.get("id"):
                    slot["id"] = d["id"]
                fn = d.get("function") or {}
                if fn.get("name"):
                    slot["name"] = fn["name"]
                slot["arguments"] += fn.get("arguments") or ""
    assert finish == ["tool_calls"]
    assert got == {i: {"id": c, "name": n, "arguments": a} for i, (c, n, a) in enumerate(calls)}


# -- failures before the first chunk: retried or fallen back like a JSON call -----------

def test_stream_cut_before_the_first_chunk_is_retried(fake, start_router):
    fake.script_for("test/free", text("lost", cut_after=0), text("second attempt"))
    r = start_router(router_config(fake, router_settings={"num_retries": 1}))
    assert_clean_stream(r.chat("free", stream=True), "second attempt")
    assert count_calls(fake, "test/free") == 2


def test_stream_error_before_the_first_chunk_falls_back(fake, start_router):
    fake.script_for("test/free", error(503, {"error": {"code": 503, "message": "busy"}}))
    fake.script_for("test/cheap", text("from cheap"))
    r = start_router(router_config(fake, litellm_settings={"fallbacks": [{"free": ["cheap"]}]}))
    reply = r.chat("free", stream=True)
    assert_clean_stream(reply, "from cheap")
    assert reply.headers.get("x-litellm-model-group") == "cheap"
    assert upstream_models(fake) == ["test/free", "test/cheap"]


def test_stream_timeout_before_the_first_chunk_is_retried(fake, start_router):
    fake.script_for("test/free", text("too late", first_chunk_delay=4), text("in time"))
    r = start_router(router_config(fake, groups(fake, "free", timeout=10, stream_timeout=1),
                                   router_settings={"num_retries": 1}))
    reply = r.chat("free", stream=True, timeout=30)
    assert_clean_stream(reply, "in time")
    assert count_calls(fake, "test/free") == 2
    assert 0.9 <= reply.elapsed < 3.5, reply.elapsed


def test_stream_timeout_is_not_reset_by_keepalive_comments(fake, start_router):
    fake.script_for("test/free", text("too late", first_chunk_delay=4, keepalive=8),
                    text("in time"))
    r = start_router(router_config(fake, groups(fake, "free", timeout=10, stream_timeout=1),
                                   router_settings={"num_retries": 1}))
    reply = r.chat("free", stream=True, timeout=30)
    assert_clean_stream(reply, "in time")
    assert count_calls(fake, "test/free") == 2
    assert reply.elapsed < 3.5, reply.elapsed


def test_stream_timeout_falls_back(fake, start_router):
    fake.script_for("test/free", hang())
    fake.script_for("test/cheap", text("from cheap"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap", timeout=10,
                                                stream_timeout=1),
                                   litellm_settings={"fallbacks": [{"free": ["cheap"]}]}))
    reply = r.chat("free", stream=True, timeout=30)
    assert_clean_stream(reply, "from cheap")
    assert upstream_models(fake) == ["test/free", "test/cheap"]


def test_slow_first_chunk_within_stream_timeout_succeeds(fake, start_router):
    fake.script_for("test/free", text("slow start", first_chunk_delay=0.8, keepalive=2))
    r = start_router(router_config(fake, groups(fake, "free", timeout=10, stream_timeout=2),
                                   router_settings={"num_retries": 2}))
    assert_clean_stream(r.chat("free", stream=True), "slow start")
    assert count_calls(fake, "test/free") == 1


# -- failures after the first chunk: an SSE error event, never a retry ----------------

UPSTREAM_TEXT = "0123456789abcdefghijklmnopqrstuvwxyz"


def assert_ends_with_error_event(reply):
    assert reply.status == 200, reply.text
    events = reply.events()
    errors = [i for i, e in enumerate(events) if "error" in e]
    assert errors, f"no SSE error event (silent cut?):\n{reply.text}"
    assert errors[-1] == len(events) - 1, f"data after the error event:\n{reply.text}"
    assert isinstance(events[-1]["error"], dict) and events[-1]["error"].get("message")
    content = reply.stream_content()
    assert content and UPSTREAM_TEXT.startswith(content), reply.text
    assert not reply.truncated, "the HTTP response was cut instead of ended"
    return events[-1]["error"]


def test_stream_cut_after_the_first_chunk_ends_with_an_sse_error_event(fake, start_router):
    fake.script_for("test/free", text(UPSTREAM_TEXT, chunk_size=3, cut_after=5, chunk_delay=0.1),
                    text("must not be reached"))
    fake.script_for("test/cheap", text("must not be reached"))
    r = start_router(router_config(fake, router_settings={"num_retries": 2},
                                   litellm_settings={"fallbacks": [{"free": ["cheap"]}]}))
    reply = r.chat("free", stream=True)
    assert_ends_with_error_event(reply)
    assert "must not be reached" not in reply.text
    assert upstream_models(fake) == ["test/free"]


def test_midstream_upstream_error_event_is_forwarded(fake, start_router):
    fake.script_for("test/free", text(UPSTREAM_TEXT, chunk_size=3, error_after=4, chunk_delay=0.05,
                                      error={"code": 502, "message": "e2e provider died"}),
                    text("must not be reached"))
    r = start_router(router_config(fake, router_settings={"num_retries": 2}))
    reply = r.chat("free", stream=True)
    err = assert_ends_with_error_event(reply)
    assert "e2e provider died" in err["message"], err
    assert count_calls(fake, "test/free") == 1


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.mark.smoke
@pytest.mark.needs("static", "native")
def test_open_streams_do_not_hold_their_long_prompts(fake, start_router):
    """A streamed answer lasts long after its request went out: while 8 streams with a 1 MiB
    prompt each are open, the router holds no copy of the prompts (it held three: libevent's
    input buffer, the router's copy for a fallback, curl's body). Resident memory is only
    meaningful with the release allocator, which gives large blocks back at once; ASan's
    quarantine keeps freed memory resident, and qemu adds its own translation cache."""
    import threading
    import time
    n, prompt = 8, "x" * (1 << 20)
    slow = text("a slow answer in eight pieces", chunk_size=4, chunk_delay=0.4)
    fake.script_for("test/free", text("warm"), *[slow] * n)
    r = start_router(router_config(fake))
    assert r.chat("free", content=prompt, stream=True).done()  # one-time growth goes first
    time.sleep(0.3)
    idle = _rss_kib(r.proc.pid)
    replies = [None] * n

    def one(i):
        replies[i] = r.chat("free", content=prompt, stream=True, timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    fake.wait_requests(1 + n, timeout=20)
    time.sleep(0.8)  # every request is out, every stream is open (they last 3 s)
    samples = []
    for _ in range(5):
        samples.append(_rss_kib(r.proc.pid))
        time.sleep(0.05)
    for t in threads:
        t.join(30)
    for reply in replies:
        assert_clean_stream(reply, "a slow answer in eight pieces")
    assert len(fake.chat_requests[-1]["body"]["messages"][0]["content"]) == 1 << 20
    grew = min(samples) - idle
    # One copy of every prompt would be 8 MiB; the three copies held before were 24 MiB.
    assert grew < 4 * 1024, f"resident memory grew by {grew} KiB with {n} open streams"
