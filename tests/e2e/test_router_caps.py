"""Router caps on what upstream sends back: a streamed answer longer than
router.max_response_bytes is cut with an SSE error event (never buffered without bound), and
a non-streamed one over the cap is refused as a bad upstream answer."""
from fakes.fake_openai import text
from router_harness import fake, router_config, start_router  # noqa: F401

LONG = "x" * 20000


def test_stream_over_response_cap_ends_with_error_event(fake, start_router):
    fake.script_for("test/free", text(LONG, chunk_size=100))
    r = start_router(router_config(fake, router={"max_response_bytes": 4096}))
    reply = r.chat("free", stream=True)
    assert reply.status == 200
    assert reply.error_events(), reply.text
    assert "max_response_bytes" in reply.error_events()[0]["error"]["message"]
    assert len(reply.stream_content()) < len(LONG)
    assert not reply.done()


def test_non_stream_over_response_cap_is_a_502(fake, start_router):
    fake.script_for("test/free", text(LONG))
    r = start_router(router_config(fake, router={"max_response_bytes": 4096}))
    reply = r.chat("free")
    assert reply.status == 502, reply.text
    assert len(fake.chat_requests) == 1
