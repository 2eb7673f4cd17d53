"""Every attempt that reached the provider is in the ledger, because the provider bills it: a
stream the client cuts after its first chunk, an answer over router.max_response_bytes, a timeout after the provider started answering, each retry, and
a Telegram /stop. Without usage from the provider the row holds an estimate (prompt bytes / 4 at
the prompt price plus the completion characters seen / 4 at the completion price; for a
non-streamed answer cut short, the bound reserved for it) and says so (estimated = 1). HTTP error
answers are refusals the provider does not bill: no row. The breaker counts the estimates too."""
import json
import socket
import sqlite3
import time

from agent_harness import agent_config  # noqa: F401
from conftest import SLOW, Gateway, to_yaml
from fakes.fake_openai import openrouter_error, text
from fakes.fake_telegram import FakeTelegram
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    UPSTREAM_ENV, UPSTREAM_KEY, approx, chat_body, deployment, fake, router_config, start_router,
)

IN_PRICE = 1e-06
OUT_PRICE = 1e-03
PRICES = {"input_cost_per_token": IN_PRICE, "output_cost_per_token": OUT_PRICE}
LONG = "".join(f"word{i} " for i in range(200))  # about 1,400 characters


def priced(fake, **sections):
    return router_config(fake, [deployment("free", "test/free", fake, model_info=PRICES)],
                         **sections)


def open_chat(r, body):
    """Sends a chat request on a raw socket and returns the socket (the answer unread)."""
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", r.port), timeout=10 * SLOW)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Length: " + str(len(data)).encode() +
              b"\r\n\r\n" + data)
    return s


def read_until(s, marker):
    got = b""
    while marker not in got:
        chunk = s.recv(4096)
        assert chunk, f"connection closed before {marker!r}: {got!r}"
        got += chunk
    return got


def hang_up(s):
    s.shutdown(socket.SHUT_RDWR)
    s.close()


def one_row(r, timeout=5):
    rows = r.wait_spend_rows(1, timeout=timeout)
    assert len(rows) == 1, rows
    return rows[0]


def assert_estimate(row, prompt_bytes, min_out_tokens=0):
    assert row["estimated"] == 1 and row["cost_source"] == "estimate", row
    assert row["input_tokens"] == prompt_bytes // 4, (row, prompt_bytes)
    assert row["output_tokens"] >= min_out_tokens, row
    want = row["input_tokens"] * IN_PRICE + row["output_tokens"] * OUT_PRICE
    assert approx(row["cost_usd"], want, 1e-12), (row, want)


def sent_bytes(fake, i=0):
    return len(fake.chat_requests[i]["raw"].encode())


def test_stream_cut_by_the_client_after_the_first_chunk_is_recorded(fake, start_router):
    # 175 chunks 0.1 s apart: the whole stream would take 17 s.
    fake.script_for("test/free", text(LONG, cost=0.5, chunk_delay=0.1))
    r = start_router(priced(fake))
    s = open_chat(r, chat_body("free", stream=True))
    read_until(s, b"word0")
    hang_up(s)
    t0 = time.monotonic()
    row = one_row(r)
    assert time.monotonic() - t0 < 5 * SLOW
    assert_estimate(row, sent_bytes(fake), min_out_tokens=1)
    assert row["output_tokens"] < len(LONG) // 8, row  # what was seen, not the whole answer
    assert row["cost_usd"] > 0


def test_answer_over_max_response_bytes_is_recorded(fake, start_router):
    fake.script_for("test/free", text(LONG * 4, cost=0.5))
    r = start_router(priced(fake, router={"max_response_bytes": 2048}))
    reply = r.chat("free", max_tokens=3000)
    assert reply.status == 502, reply.text
    row = one_row(r)
    assert row["estimated"] == 1, row
    # At least the 2 KiB seen; at most the 3000 tokens reserved.
    assert row["output_tokens"] >= 2048 // 4, row
    assert row["cost_usd"] >= 2048 // 4 * OUT_PRICE, row
    assert approx(row["cost_usd"], (sent_bytes(fake) // 4) * IN_PRICE + 3000 * OUT_PRICE,
                  1e-12), row


def test_timeout_after_the_provider_started_answering_is_recorded(fake, start_router):
    # Headers at once, the body after 3 s: the router gives up after 1 s.
    fake.script_for("test/free", text("too late", cost=0.5, first_chunk_delay=3))
    r = start_router(priced(fake, router_settings={"timeout": 1}))
    reply = r.chat("free", max_tokens=20)
    assert reply.status == 408, reply.text
    row = one_row(r)
    assert row["estimated"] == 1, row
    assert approx(row["cost_usd"], (sent_bytes(fake) // 4) * IN_PRICE + 20 * OUT_PRICE,
                  1e-12), row


def test_a_stream_timeout_and_its_retry_are_each_a_row(fake, start_router):
    fake.script_for("test/free", text("stalled", cost=0.5, first_chunk_delay=3),
                    text("second attempt", cost=0.25))
    models = [deployment("free", "test/free", fake, model_info=PRICES, stream_timeout=1)]
    r = start_router(router_config(fake, models, router_settings={"num_retries": 1}))
    reply = r.chat("free", stream=True)
    assert reply.status == 200 and reply.stream_content() == "second attempt", reply.text
    rows = r.wait_spend_rows(2)
    assert len(rows) == 2, rows
    stalled, answered = rows
    assert_estimate(stalled, sent_bytes(fake, 0))  # nothing seen: the prompt only
    assert answered["estimated"] == 0 and answered["cost_source"] == "upstream", answered
    assert approx(answered["cost_usd"], 0.25, 1e-12), answered


def test_http_error_answers_are_not_billed(fake, start_router):
    fake.script_for("test/free", openrouter_error(429), text("fine", cost=0.125))
    r = start_router(priced(fake, router_settings={"num_retries": 1}))
    reply = r.chat("free")
    assert reply.status == 200, reply.text
    rows = r.wait_spend_rows(1)
    time.sleep(0.2)
    rows = r.spend_rows()
    assert len(rows) == 1 and rows[0]["estimated"] == 0, rows
    assert approx(rows[0]["cost_usd"], 0.125, 1e-12), rows


def test_spend_command_counts_estimated_calls(fake, start_router):
    fake.script_for("test/free", text(LONG, cost=0.5, chunk_delay=0.1), text("whole", cost=0.5))
    r = start_router(priced(fake))
    s = open_chat(r, chat_body("free", stream=True))
    read_until(s, b"word0")
    hang_up(s)
    one_row(r)
    assert r.chat("free").status == 200
    r.wait_spend_rows(2)
    out = r.spend_cli("--days", "1")
    assert out.returncode == 0, out.stderr
    header, line = out.stdout.splitlines()[:2]
    assert header.split()[-1] == "ESTIMATED", out.stdout
    assert line.split()[1] == "free" and line.split()[2] == "2" and line.split()[-1] == "1", \
        out.stdout


# -- the gateway: Telegram /stop cancels the model call; the breaker sees its estimated cost --

TOKEN = "123456:TEST-e2e-spend-token"
ALLOWED = 1001


def spend_rows(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        return [dict(x) for x in con.execute("SELECT * FROM spend")]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def test_telegram_stop_is_recorded_and_counted_by_the_breaker(tmp_path, fake):
    fake.script_for("test/free", text("never delivered", cost=0.5, first_byte_delay=30),
                    text("must not be reached"))
    with FakeTelegram(token=TOKEN) as tg:
        cfg = agent_config(
            fake, "HOME", api={"listen": "127.0.0.1:PORT"},
            model_list=[deployment("free", "test/free", fake, model_info=PRICES),
                        deployment("cheap", "test/cheap", fake)],
            telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN",
                "stream": "off", "progress": "off", "allowed_users": [ALLOWED],
                      "api_base": tg.url, "poll_timeout_s": 1},
            guardrails={"max_tokens": 1000,
                        "bleed": {"max_calls": 100, "window_s": 3600, "max_cost_usd": 0.5}})
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
        g.start()
        try:
            tg.push_text("take your time", chat_id=ALLOWED)
            fake.wait_requests(1, timeout=20 * SLOW)
            tg.push_text("/stop", chat_id=ALLOWED)
            assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["Stopped."]
            deadline = time.monotonic() + 5 * SLOW
            rows = []
            while not rows and time.monotonic() < deadline:
                time.sleep(0.05)
                rows = spend_rows(g.home / "state.db")
            # The clamp (1000 tokens) at 0.001 USD: about 1.0 USD, over max_cost_usd.
            assert len(rows) == 1 and rows[0]["estimated"] == 1, rows
            assert rows[0]["cost_usd"] >= 1000 * OUT_PRICE, rows
            tg.push_text("again", chat_id=ALLOWED)
            answer = tg.wait_sent(ALLOWED, 2, timeout=20 * SLOW)[1]
            assert "bleed breaker is open" in answer, answer
            assert len(fake.chat_requests) == 1
        finally:
            g.kill()
        assert "Sanitizer" not in g.stderr() and "runtime error:" not in g.stderr()
