"""Rate pools inside `hermetic gateway`: a Telegram turn (class interactive) that waits for
room says so in its progress line, one that finds none within its max_wait_s gets a short
"busy" answer instead of an error, and `hermetic pools` asks the gateway (GET /v1/pools with
api.key) when no router runs on router.listen."""
import time

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, free_port, run, to_yaml
from fakes.fake_openai import text
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TEST-e2e-SECRET-token"
CHAT = 1001


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        yield t


def test_a_telegram_turn_without_room_answers_busy_and_pools_shows_it(tmp_path, fake, tg):
    fake.script_for("test/free", text("first answer"), text("must not be reached"))
    cfg = agent_config(
        fake, "HOME", api={"listen": "127.0.0.1:PORT"},
        router={"listen": f"127.0.0.1:{free_port()}"},
        telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "stream": "off",
                  "progress": "tools", "edit_every_ms": 1000, "allowed_users": [CHAT],
                  "api_base": tg.url, "poll_timeout_s": 1},
        rate_pools={"acct": {"rpm": 1, "models": ["free"]}},
        priorities={"max_wait_s": {"interactive": 3}})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
    g.start()
    try:
        tg.push_text("hi", chat_id=CHAT)
        assert tg.wait_sent(CHAT, 1, timeout=20 * SLOW) == ["first answer"]
        tg.push_text("and again", chat_id=CHAT)
        # the progress message is edited into the answer
        deadline = time.monotonic() + 20 * SLOW
        while not tg.sent(CHAT)[-1].startswith("Busy") and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = tg.sent(CHAT)
        assert len(sent) == 2 and sent[1].startswith("Busy: the model's rate limit is in use"), \
            sent
        assert "try again in about" in sent[1]
        # while it waited, the progress line said so
        posted = [r["params"].get("text", "") for r in tg.requests
                  if r["method"] in ("sendMessage", "editMessageText")]
        assert any(t.startswith("⏳ waiting for model capacity") for t in posted), posted
        assert len(fake.chat_requests) == 1  # the second turn never reached the provider
        out = run("pools", "--config", str(g.config), env=g.env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"gateway on 127.0.0.1:{g.port}\n"), out.stdout
        line = next(x for x in out.stdout.splitlines() if x.startswith("acct "))
        assert line.split()[1:3] == ["-", "1"], line
        assert "interactive 2 (" in out.stdout and "deferred 1)" in out.stdout, out.stdout
    finally:
        g.kill()
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()
