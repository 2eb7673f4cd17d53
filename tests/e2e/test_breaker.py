"""Spend layers 4 and 3 in the real gateway: the bleed breaker (guardrails.bleed) and the daily
budget across SIGKILL.

A runaway scripted model (it always asks for another tool call) trips the breaker after exactly
max_calls upstream calls; the agent's answer says the breaker is open, why and how to close it;
exactly one alert reaches telegram.admin_chat; later turns are refused without reaching the
upstream; /status shows it; /resume from an allowed user closes it; the cooldown closes it too;
/metrics counts trips and refusals (and promtool accepts it). The daily budget, counted in the
ledger, still refuses calls after the gateway is killed and restarted.
"""
import datetime
import json
import os
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path
import urllib.request

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, http_get, to_yaml
from fakes.fake_openai import openai_error, text, tool_calls
from fakes.fake_telegram import FakeTelegram
from router_harness import (UPSTREAM_ENV, UPSTREAM_KEY, msum, parse_metrics, promtool_check,
                            router_config, start_router)  # noqa: F401

TOKEN = "123456:TEST-e2e-breaker-token"
ALLOWED = 1001
ADMIN = 4242
API_KEY = "sk-e2e-breaker-api-9d2f"


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        t.add_chat(ADMIN)
        yield t


@pytest.fixture
def start(tmp_path, fake):
    started = []

    def make(telegram=None, env=None, **sections):
        sections.setdefault("agent", {"max_iterations": 50})
        if telegram is not None:
            sections["telegram"] = {"token": "os.environ/TELEGRAM_BOT_TOKEN",
                "stream": "off", "progress": "off",  # whole answers (live: test_telegram_live)
                                    "allowed_users": [ALLOWED], "admin_chat": ADMIN,
                                    "poll_timeout_s": 1, **telegram}
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT",
                                              "key": "os.environ/API_SERVER_KEY"}, **sections)
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN,
                                      "API_SERVER_KEY": API_KEY, **(env or {})})
        started.append(g)
        return g.start()

    yield make
    for g in started:
        if g.proc.poll() is None:
            assert g.stop() == 0, g.stderr()  # a clean stop: LeakSanitizer reports at exit
        err = g.stderr()
        assert "Sanitizer" not in err and "runtime error:" not in err, err


def runaway(n):
    """The model that never stops: every answer asks for one more tool call."""
    return [tool_calls((f"c{i}", "time", "{}")) for i in range(n)]


def post_chat(g, content):
    req = urllib.request.Request(
        g.url + "/v1/chat/completions",
        data=json.dumps({"messages": [{"role": "user", "content": content}]}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics(g):
    status, _, body = http_get(g.url + "/metrics")
    assert status == 200
    return body


def breaker_values(g):
    parsed = parse_metrics(metrics(g))
    return (msum(parsed, "hermetic_breaker_open"), msum(parsed, "hermetic_breaker_trips_total"),
            msum(parsed, "hermetic_breaker_refused_total"))


def assert_date_near_today(text_):
    """The breaker runs on the monotonic clock; the deadline it shows is still a date: the
    cooldown (an hour) from now, so within a day of today, not decades off."""
    m = re.search(r"until (\d{4}-\d{2}-\d{2}) ", text_)
    assert m, text_
    shown = datetime.date.fromisoformat(m.group(1))
    assert abs((shown - datetime.date.today()).days) <= 1, text_


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_runaway_model_trips_the_breaker_once_and_resume_closes_it(start, fake, tg):
    fake.script_for("test/free", *runaway(40))
    g = start(telegram={"api_base": tg.url},
              guardrails={"bleed": {"max_calls": 5, "window_s": 3600, "cooldown_s": 3600}})
    assert breaker_values(g) == (0, 0, 0)

    tg.push_text("keep going forever", chat_id=ALLOWED)
    answer = tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW)[0]
    assert "bleed breaker is open" in answer, answer
    assert "more than 5 model calls within 3600 s" in answer
    assert "/resume" in answer and "refused until 20" in answer
    assert_date_near_today(answer)
    assert len(fake.chat_requests) == 5, "exactly max_calls reached the upstream"

    alerts = tg.wait_sent(ADMIN, 1, timeout=20 * SLOW)
    assert "Bleed breaker open" in alerts[0] and "more than 5 model calls" in alerts[0]
    assert g.stderr().count("bleed breaker open:") == 1
    assert breaker_values(g) == (1, 1, 1)

    # Refused before the upstream: a new turn from Telegram and one from the loopback API.
    tg.push_text("and again", chat_id=ALLOWED)
    assert "bleed breaker is open" in tg.wait_sent(ALLOWED, 2, timeout=20 * SLOW)[1]
    status, body = post_chat(g, "hello?")
    assert status == 502 and "bleed breaker is open" in body, body
    assert len(fake.chat_requests) == 5
    tg.push_text("/status", chat_id=ALLOWED)
    status_text = tg.wait_sent(ALLOWED, 3, timeout=20 * SLOW)[2]
    assert "Bleed breaker: OPEN (more than 5 model calls" in status_text
    assert_date_near_today(status_text)
    assert breaker_values(g) == (1, 1, 3)
    text_ = metrics(g)
    rc, out = promtool_check(text_)
    assert rc == 0, out

    # /resume from an allowed user closes it and calls flow again.
    tg.push_text("/resume", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 4, timeout=20 * SLOW)[3] == \
        "Bleed breaker closed: model calls flow again."
    assert breaker_values(g)[0] == 0
    fake.reset()
    fake.script_for("test/free", text("back to normal"))
    tg.push_text("hi", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 5, timeout=20 * SLOW)[4] == "back to normal"
    assert len(fake.chat_requests) == 1
    tg.push_text("/status", chat_id=ALLOWED)
    assert "Bleed breaker: closed, 1 calls in the window, tripped 1 times." in tg.wait_sent(
        ALLOWED, 6, timeout=20 * SLOW)[5]
    # Still exactly one alert, and the commands are registered for the menu.
    assert len(tg.sent(ADMIN)) == 1
    assert {"resume", "status"} <= {c["command"] for c in tg.commands}


def test_cooldown_closes_the_breaker(start, fake):
    fake.script_for("test/free", *runaway(6), text("after the cooldown"))
    g = start(guardrails={"bleed": {"max_calls": 3, "window_s": 3600, "cooldown_s": 2}})
    status, body = post_chat(g, "loop")
    assert status == 502 and "bleed breaker is open" in body, body
    assert len(fake.chat_requests) == 3
    # No admin chat configured: the log is the alert.
    assert g.stderr().count("bleed breaker open:") == 1
    wait_for(lambda: breaker_values(g)[0] == 0, 30, "the breaker to close after cooldown_s")
    assert breaker_values(g) == (0, 1, 1)
    fake.reset()
    fake.script_for("test/free", text("after the cooldown"))
    status, body = post_chat(g, "hello")
    assert status == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"] == "after the cooldown"


def test_window_cost_limit_trips_the_breaker(start, fake):
    fake.script_for("test/free", *[tool_calls((f"c{i}", "time", "{}"), cost=0.4)
                                   for i in range(10)])
    g = start(agent={"max_iterations": 50, "max_turn_cost_usd": 100},
              guardrails={"bleed": {"max_calls": 100, "window_s": 3600, "max_cost_usd": 1.0}})
    status, body = post_chat(g, "spend")
    assert status == 502 and "spent within 3600 s (limit $1.0000)" in body, body
    # 0.4 + 0.4 + 0.4 crosses $1 after the third call; the fourth is never sent.
    assert len(fake.chat_requests) == 3
    assert breaker_values(g) == (1, 1, 1)


def test_a_refused_call_does_not_walk_the_fallback_chain(start, fake):
    """The breaker is the whole process's: every fallback group would be refused too, so a
    refused request counts as one refusal and records no fallback."""
    fake.script_for("test/free", *runaway(3))
    g = start(litellm_settings={"fallbacks": [{"free": ["cheap"]}]},
              guardrails={"bleed": {"max_calls": 2, "window_s": 3600, "cooldown_s": 3600}})
    status, body = post_chat(g, "loop")
    assert status == 502 and "bleed breaker is open" in body, body
    assert len(fake.chat_requests) == 2
    assert breaker_values(g) == (1, 1, 1)
    assert msum(parse_metrics(metrics(g)), "litellm_deployment_failed_fallbacks_total") == 0


@pytest.fixture
def clockshift(tmp_path):
    """(env, step): the gateway started with env has a wall clock that step(seconds) moves
    while it runs (tests/fakes/clockshift.c, preloaded); its monotonic clock is untouched."""
    if not shutil.which("cc"):
        pytest.skip("no C compiler for tests/fakes/clockshift.c")
    so = tmp_path / "clockshift.so"
    src = Path(__file__).resolve().parent.parent / "fakes" / "clockshift.c"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src), "-ldl"], check=True)
    shift = tmp_path / "clockshift"
    shift.write_bytes(struct.pack("=q", 0))

    def step(seconds):
        with open(shift, "r+b") as f:
            f.write(struct.pack("=q", seconds))

    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"LD_PRELOAD": str(so), "CLOCKSHIFT_FILE": str(shift),
           "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
    return env, step


@pytest.mark.needs("dynamic")  # LD_PRELOAD (clockshift) needs the dynamic build
def test_a_wall_clock_step_back_does_not_keep_the_breaker_open(start, fake, clockshift):
    """The cooldown runs on the monotonic clock: the wall clock going back a day right after
    the trip does not keep the breaker open for a day."""
    env, step = clockshift
    fake.script_for("test/free", *runaway(4))
    g = start(env=env, guardrails={"bleed": {"max_calls": 3, "window_s": 3600, "cooldown_s": 2}})
    status, body = post_chat(g, "loop")
    assert status == 502 and "bleed breaker is open" in body, body
    step(-86400)
    wait_for(lambda: breaker_values(g)[0] == 0, 30, "the breaker to close after cooldown_s")
    fake.reset()
    fake.script_for("test/free", text("after the cooldown"))
    status, body = post_chat(g, "hello")
    assert status == 200, body


@pytest.mark.needs("dynamic")  # LD_PRELOAD (clockshift) needs the dynamic build
def test_a_wall_clock_step_back_does_not_trip_the_breaker(start, fake, clockshift):
    """Calls that left the window (on the monotonic clock) stay out of it when the wall clock
    goes back an hour: they do not look like calls of the last second."""
    env, step = clockshift
    fake.script_for("test/free", *[text(f"ok {i}") for i in range(4)])
    g = start(env=env, guardrails={"bleed": {"max_calls": 3, "window_s": 1, "cooldown_s": 3600}})
    for i in range(3):
        status, body = post_chat(g, "hi")
        assert status == 200, body
    time.sleep(1.5)  # the three calls leave the 1 s window
    step(-3600)
    status, body = post_chat(g, "hi")
    assert status == 200, body
    assert breaker_values(g) == (0, 0, 0)


@pytest.mark.needs("dynamic")  # LD_PRELOAD (clockshift) needs the dynamic build
def test_a_wall_clock_step_back_does_not_keep_a_deployment_cooling(start, fake, clockshift):
    """The router's deployment cooldown runs on the monotonic clock too: a deployment cooled
    for 2 s is back after 2 s although the wall clock went back a day meanwhile."""
    env, step = clockshift
    fake.script_for("test/free", openai_error(500, "upstream broke", type="server_error"),
                    text("back"))
    g = start(env=env, router_settings={"num_retries": 0, "allowed_fails": 0,
                                        "cooldown_time": 2, "timeout": 20})
    status, body = post_chat(g, "hi")
    assert status != 200, body
    step(-86400)
    answers = []

    def answered():
        answers.append(post_chat(g, "hi"))
        return answers[-1][0] == 200

    wait_for(answered, 30, "the deployment's cooldown to end")
    assert json.loads(answers[-1][1])["choices"][0]["message"]["content"] == "back"
    assert len(fake.chat_requests) == 2


def test_daily_budget_holds_after_sigkill_and_restart_of_the_gateway(start, fake):
    fake.script_for("test/free", text("one", cost=0.03), text("two", cost=0.03),
                    text("must not be reached"))
    g = start(budget={"daily_usd": 0.05})
    for want in ("one", "two"):
        status, body = post_chat(g, "hi")
        assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == want
    g.kill()  # SIGKILL between calls: the ledger rows were committed with the answers
    g.start()
    status, body = post_chat(g, "hi")
    assert status == 502 and "budget" in body.lower(), body
    assert len(fake.chat_requests) == 2


def test_standalone_router_does_not_use_the_breaker(fake, start_router):  # noqa: F811
    """`hermetic router` serves other clients at their own rates: guardrails.bleed is the
    gateway's, so more calls than max_calls pass and no breaker series is exported."""
    fake.script_for("test/free", *[text(f"ok {i}") for i in range(4)])
    r = start_router(router_config(fake, guardrails={"bleed": {"max_calls": 2, "window_s": 3600}}))
    assert [r.chat("free").status for _ in range(4)] == [200] * 4
    assert "hermetic_breaker_open" not in r.metrics_text()
