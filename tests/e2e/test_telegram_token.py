"""A wrong bot token, as a new user makes it: Telegram answers 401 Unauthorized (the fake does
exactly as Telegram does). The gateway says in one line that the token is wrong and what to do
(@BotFather, telegram.token / TELEGRAM_BOT_TOKEN, the K3s Secret's key), /readyz answers 503
with that line at once, the poller asks again only after a minute (not a flood of lines), and
`hermetic doctor` calls getMe and exits 1 with the same words; with the right token doctor names
the bot's @username and exits 0."""
import time

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, clean_env, http_get, run, to_yaml
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TOKEN-e2e-right"
WRONG = "123456:TOKEN-e2e-wrong"
WORDS = ("telegram: the bot token is wrong (Telegram answered 401 Unauthorized): put the token "
         "@BotFather gave you")
WHERE = ("in telegram.token, normally os.environ/TELEGRAM_BOT_TOKEN (on K3s the key "
         "TELEGRAM_BOT_TOKEN of the Secret ai/hermetic-secrets, docs/deploy-k3s.md section 3)")


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        yield t


def config_text(fake, tg):  # noqa: F811
    cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"},
                       telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "api_base": tg.url,
                                 "allowed_users": [1001], "poll_timeout_s": 1})
    text = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    return text.replace('"HOME"', "{home}").replace("PORT", "{port}")


def doctor(tmp_path, fake, tg, token):  # noqa: F811
    g = Gateway(tmp_path, config_text(fake, tg))  # writes config.yaml with home and port
    g.home.mkdir(exist_ok=True)
    return run("doctor", "--config", str(g.config),
               env=clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": token}))


def test_a_wrong_token_is_said_once_with_what_to_do_and_readyz_names_it(tmp_path, fake, tg):  # noqa: F811
    g = Gateway(tmp_path, config_text(fake, tg),
                {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": WRONG}).start()
    try:
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline and WORDS not in g.stderr():
            time.sleep(0.05)
        err = g.stderr()
        assert WORDS in err and WHERE in err, err
        line = next(ln for ln in err.splitlines() if WORDS in ln)
        assert line.endswith("then restart; asking Telegram again in 1 min"), line
        assert WRONG.split(":")[1] not in err
        # /readyz is not ready at once (no 10 s wait), and its body is the same line.
        status, _, body = http_get(g.url + "/readyz")
        assert status == 503 and WORDS in body and WHERE in body, (status, body)
        # Slow backoff: the bad token is not tried again within seconds.
        time.sleep(3 * SLOW)
        assert sum(1 for r in tg.requests if r["status"] == 401) == 1, tg.requests
        assert g.stderr().count("asking Telegram again") == 1
        assert "retrying with backoff until it works" not in g.stderr()
    finally:
        g.kill()


def test_doctor_exits_1_with_the_same_words_for_a_wrong_token(tmp_path, fake, tg):  # noqa: F811
    r = doctor(tmp_path, fake, tg, WRONG)
    assert r.returncode == 1, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("telegram:"))
    assert line.startswith("telegram: FAILED: the bot token is wrong (Telegram answered 401 "
                           "Unauthorized): put the token @BotFather gave you"), line
    assert WHERE in line
    assert [q["method"] for q in tg.requests] == ["getMe"]
    assert WRONG.split(":")[1] not in r.stdout + r.stderr


def test_doctor_names_the_bot_for_the_right_token(tmp_path, fake, tg):  # noqa: F811
    r = doctor(tmp_path, fake, tg, TOKEN)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"telegram: ok, the bot is @{tg.bot_username}\n" in r.stdout, r.stdout


def test_doctor_fails_when_telegram_cannot_be_reached(tmp_path, fake, tg):  # noqa: F811
    tg.close()
    r = doctor(tmp_path, fake, tg, TOKEN)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "telegram: FAILED: getMe failed:" in r.stdout, r.stdout
