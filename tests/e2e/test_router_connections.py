"""`hermetic router` against slowloris and connection floods (issue 14, item 19): open
connections are capped (router.max_connections; past it a new one gets 503 and is closed), a
request head must arrive within router.header_timeout_s of the connect or of its first byte, a
body within router.body_timeout_s of the head, and a kept-alive connection may idle for
router.idle_timeout_s. None of these cuts an answer or a stream the router is writing."""
import json
import socket
import time

from conftest import SLOW
from fakes.fake_openai import text
from router_harness import chat_body, fake, router_config, start_router  # noqa: F401

GET = b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s, timeout=10):
    """Everything the server sends until it closes (or timeout, then raises)."""
    s.settimeout(timeout * SLOW)
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            return out
        if not b:
            return out
        out += b


def closed_within(s, seconds, scale=True):
    """Seconds until the server closed s (EOF or reset), or None if still open after `seconds`
    (scaled by SLOW as a wait; not when it is the least time the connection must stay open)."""
    t0 = time.monotonic()
    s.settimeout(0.05)
    while time.monotonic() - t0 < seconds * (SLOW if scale else 1):
        try:
            if s.recv(65536) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
    return None


def trickle_until_closed(s, piece, every, seconds):
    """Sends `piece` every `every` s; returns the seconds until the server closed the
    connection, or None if it still took bytes after `seconds`."""
    t0 = time.monotonic()
    s.settimeout(every)
    while time.monotonic() - t0 < seconds * SLOW:
        try:
            s.sendall(piece)
            if s.recv(65536) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
    return None


def fast_config(fake, **router):
    return router_config(fake, router={"header_timeout_s": 1, "body_timeout_s": 1,
                                       "idle_timeout_s": 2, **router})


def test_connections_past_the_default_cap_get_503_and_a_freed_slot_is_served(fake, start_router):
    r = start_router(router_config(fake))
    held = [connect(r.port) for _ in range(256)]
    try:
        time.sleep(0.3)
        extra = connect(r.port)
        extra.sendall(GET)
        answer = read_all(extra)
        extra.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b"Retry-After: 1" in head
        assert json.loads(body)["error"]["code"] == "503"
        # A client over the cap that has sent nothing yet gets the same answer.
        silent = connect(r.port)
        answer = read_all(silent)
        silent.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in head, answer[:200]
        assert json.loads(body)["error"]["code"] == "503"
        # One held connection leaves: its slot serves the next client.
        held.pop().close()
        time.sleep(0.3)
        assert request_ok(r.port)
    finally:
        for s in held:
            s.close()
    assert "connections open, the cap: refusing new ones with 503" in r.stderr()


def test_a_client_sending_its_head_slowly_is_dropped(fake, start_router):
    r = start_router(fast_config(fake))
    s = connect(r.port)
    s.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    took = trickle_until_closed(s, b"X-Slow: 1\r\n", 0.2, 6)
    s.close()
    assert took is not None, "a head trickled for 6 s was still being read"
    assert took < 3.5 * SLOW
    assert request_ok(r.port)


def test_a_connection_that_sends_nothing_is_dropped(fake, start_router):
    r = start_router(fast_config(fake))
    s = connect(r.port)
    took = closed_within(s, 6)
    s.close()
    assert took is not None and 0.8 < took < 3.5 * SLOW, took


def test_a_body_sent_slowly_is_dropped(fake, start_router):
    r = start_router(fast_config(fake))
    s = connect(r.port)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
    took = trickle_until_closed(s, b" ", 0.2, 6)
    s.close()
    assert took is not None, "a body trickled for 6 s was still being read"
    assert took < 3.5 * SLOW
    assert fake.chat_requests == []


def test_an_idle_keepalive_connection_is_closed_after_the_idle_timeout(fake, start_router):
    r = start_router(fast_config(fake, idle_timeout_s=3))
    s = connect(r.port)
    s.sendall(GET)
    s.settimeout(5)
    assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
    t0 = time.monotonic()
    # Past the 1 s head deadline the idle connection is still open and serves a request ...
    assert closed_within(s, 1.5, scale=False) is None
    s.sendall(GET)
    assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
    # ... and after 3 s more of nothing it is closed.
    took = closed_within(s, 6)
    s.close()
    assert took is not None and 2.5 < took < 5 * SLOW, (took, time.monotonic() - t0)


def test_a_stream_longer_than_every_timeout_is_not_cut(fake, start_router):
    content = "abcdefghijklmnopqrstuvwx"
    fake.script_for("test/free", text(content, chunk_size=2, first_chunk_delay=0.5,
                                      chunk_delay=0.25))
    r = start_router(fast_config(fake, idle_timeout_s=1))
    t0 = time.monotonic()
    reply = r.chat("free", stream=True, timeout=20)
    assert reply.status == 200, reply.text
    assert time.monotonic() - t0 > 2.5
    assert not reply.truncated
    assert reply.stream_content() == content
    assert reply.done()


def request_ok(port):
    s = connect(port)
    s.sendall(GET)
    s.settimeout(5)
    ok = s.recv(65536).startswith(b"HTTP/1.1 200 ")
    s.close()
    return ok
