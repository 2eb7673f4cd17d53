"""The Telegram bot of `hermetic gateway` against the fake Bot API (tests/fakes/fake_telegram.py)
and the scripted fake model: default deny, durable offsets across SIGKILL, queueing and /stop,
long replies split within 4096 UTF-16 units, the plain-text fallback, 409 storms and /readyz."""
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, http_get, run
from fakes.fake_openai import openai_error, text
from router_harness import deployment
from test_ui import get_json, login, password_hash  # noqa: F401 (a fixture)
from tg_harness import gateways, telegram_section, tg  # noqa: F401 (fixtures)

ALLOWED = 1001


@pytest.fixture
def bot(fake, tg, gateways):
    def make(**sections):
        tele = telegram_section(tg, ALLOWED, **sections.pop("telegram", {}))
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele,
                           **sections)
        return gateways.start(cfg)

    return make


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


def test_allowed_user_gets_an_answer_and_strangers_never_reach_the_model(bot, tg, fake):
    fake.script_for("test/free", text("Hello **Ada**!"))
    g = bot()
    tg.push_text("hi", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["Hello Ada!"]
    assert [e["type"] for e in tg.messages(ALLOWED)[0]["entities"]] == ["bold"]
    assert "typing" in tg.chat_actions(ALLOWED)
    tg.push_text("let me in", chat_id=2002)
    tg.push_text("please", chat_id=2002)
    tg.push_text("still me", chat_id=ALLOWED)
    fake.script_for("test/free", text("second"))
    assert tg.wait_sent(ALLOWED, 2, timeout=20 * SLOW)[1] == "second"
    assert tg.sent(2002) == ["This is a private assistant. Sorry."]  # once per day
    assert len(fake.chat_requests) == 2  # the stranger cost nothing
    assert "user 2002" in g.stderr()
    # Commands are registered at start.
    assert {c["command"] for c in tg.commands} >= {"new", "stop", "usage", "model", "status"}


def test_a_stranger_refused_before_a_restart_is_not_refused_again_the_same_day(bot, tg, fake):
    fake.script_for("test/free", text("first"), text("second"))
    g = bot()
    tg.push_text("let me in", chat_id=2002)
    assert tg.wait_sent(2002, 1, timeout=20 * SLOW) == ["This is a private assistant. Sorry."]
    assert g.stop() == 0
    g.start()
    tg.push_text("let me in, please", chat_id=2002)
    tg.push_text("hi", chat_id=ALLOWED)
    # The owner's answer goes after any refusal queued before it (the outbox is in id order).
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["first"]
    time.sleep(1.5)
    assert tg.sent(2002) == ["This is a private assistant. Sorry."]  # once per day, restarts too
    db = sqlite3.connect(g.home / "state.db")
    assert db.execute("SELECT user_id, chat_id FROM tg_strangers").fetchall() == [(2002, 2002)]
    assert "user 2002" not in g.stderr()  # known from before the restart: not logged again


def test_long_reply_is_split_within_4096_utf16_units_with_fences_balanced(bot, tg, fake):
    lines = [f"line {i} 😀 done" for i in range(400)]
    answer = "Here:\n\n```python\n" + "\n".join(lines) + "\n```\nEnd."
    fake.script_for("test/free", text(answer))
    bot()
    tg.push_text("long please", chat_id=ALLOWED)
    deadline = time.monotonic() + 30 * SLOW
    while time.monotonic() < deadline and not any("End." in m for m in tg.sent(ALLOWED)):
        time.sleep(0.1)
    parts = tg.messages(ALLOWED)
    assert len(parts) >= 2
    for p in parts:
        assert utf16_len(p["text"]) <= 4096
    joined = "\n".join(p["text"] for p in parts)
    for line in lines:
        assert line in joined
    # Every part that holds code carries a pre entity (the fence was reopened).
    code_parts = [p for p in parts if "line 1" in p["text"] or "line 399" in p["text"]]
    for p in code_parts:
        assert any(e["type"] == "pre" for e in p.get("entities", [])), p


def test_cant_parse_entities_falls_back_to_plain_text(bot, tg, fake):
    fake.script_for("test/free", text("A **bold** answer"))
    tg.bad_entities(1)
    bot()
    tg.push_text("hi", chat_id=ALLOWED)
    sent = tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)
    assert sent == ["A bold answer"]
    assert not tg.messages(ALLOWED)[0].get("entities")
    assert tg.calls("sendMessage")[-1]["params"].get("parse_mode") is None


def test_messages_queue_behind_a_turn_and_stop_cancels_it(bot, tg, fake):
    fake.script_for("test/free", text("slow answer", first_byte_delay=30), text("quick one"))
    bot()
    tg.push_text("take your time", chat_id=ALLOWED)
    fake.wait_requests(1, timeout=20 * SLOW)
    tg.push_text("and this", chat_id=ALLOWED)
    time.sleep(1.5)
    assert len(fake.chat_requests) == 1, "a second turn must not start in parallel"
    tg.push_text("/stop", chat_id=ALLOWED)
    sent = tg.wait_sent(ALLOWED, 2, timeout=20 * SLOW)
    assert sent == ["Stopped.", "quick one"]


def test_sigkill_mid_turn_then_restart_answers_every_update_once(bot, tg, fake, tmp_path):
    fake.script_for("test/free", text("never delivered", first_byte_delay=30))
    g = bot()
    tg.push_text("first", chat_id=ALLOWED)
    fake.wait_requests(1, timeout=20 * SLOW)
    tg.push_text("second", chat_id=ALLOWED)
    tg.wait_requests(3, method="getUpdates", timeout=20 * SLOW)
    time.sleep(0.5)
    g.proc.send_signal(signal.SIGKILL)
    g.proc.wait()
    g._err.close()
    fake.reset()
    fake.script_for("test/free", text("answer one"), text("answer two"))
    g.start()
    sent = tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)
    time.sleep(2)
    assert tg.sent(ALLOWED) == ["answer one", "answer two"]
    prompts = [r["body"]["messages"][-1]["content"] for r in fake.chat_requests]
    assert prompts == ["first", "second"]
    db = sqlite3.connect(g.home / "state.db")
    assert db.execute("SELECT count(*) FROM tg_inbox WHERE done = 0").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM tg_outbox").fetchone()[0] == 0


def test_409_storm_then_recovery_shows_in_readyz_and_metrics(bot, tg, fake):
    g = bot()
    assert http_get(g.url + "/readyz")[0] == 200
    tg.conflict(200)
    deadline = time.monotonic() + 30 * SLOW
    status = 200
    while time.monotonic() < deadline:
        status, _, body = http_get(g.url + "/readyz")
        if status == 503:
            break
        time.sleep(0.2)
    assert status == 503 and "telegram" in body
    tg.reset()
    fake.script_for("test/free", text("back"))
    tg.push_text("are you there?", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=90 * SLOW) == ["back"]
    assert http_get(g.url + "/readyz")[0] == 200
    _, _, metrics = http_get(g.url + "/metrics")
    assert 'hermetic_telegram_poll_errors_total{kind="conflict"}' in metrics
    assert "conflict" in g.stderr()


HELP = ("I am your hermetic assistant. Write to me in plain words.\n"
        "/new - start a new conversation\n"
        "/stop - stop what I am doing\n"
        "/usage - tokens and cost today and this month\n"
        "/model - show or switch the model\n"
        "/status - uptime, model, tool servers, breaker\n"
        "/context - what the next request holds, and the prompt cache\n"
        "/resume - close the bleed breaker so model calls flow again\n"
        "/jobs - reminders and scheduled jobs, to pause or delete\n"
        "/bg - run what follows as a background task; the chat stays free\n"
        "/tasks - background tasks, to stop or steer\n"
        "/approve ID, /reject ID - decide a held memory change")


def test_commands_and_non_text(bot, tg, fake):
    bot(budget={"daily_usd": 1.0})
    tg.push_text("/help", chat_id=ALLOWED)
    tg.push_update({"message": {**tg._incoming(ALLOWED, None, "Ada", "ada", None),
                                "sticker": {"file_id": "CAACAgIAAxk", "file_unique_id": "AgAD",
                                            "width": 512, "height": 512, "is_animated": False,
                                            "is_video": False, "type": "regular"}}})
    tg.push_text("/model", chat_id=ALLOWED)
    tg.push_text("/usage", chat_id=ALLOWED)
    tg.push_text("/status", chat_id=ALLOWED)
    tg.push_text("/stop", chat_id=ALLOWED)
    sent = tg.wait_sent(ALLOWED, 6, timeout=20 * SLOW)
    assert sent[0] == HELP
    # The menu and /help come from one table: every menu entry is a /help line in its words.
    assert [c["command"] for c in tg.commands] == [
        "new", "stop", "usage", "model", "status", "context", "resume", "jobs", "bg", "tasks",
        "help"]
    for c in tg.commands:
        if c["command"] != "help":
            line = f"/{c['command']} - {c['description'][0].lower()}{c['description'][1:]}"
            assert line in sent[0].split("\n")
    assert sent[1] == ("I can't take sticker messages. Send text, a voice note, a photo or a "
                       "document.")
    assert sent[2].startswith("Model: free.") and "cheap" in sent[2]
    assert "Today: 0 calls" in sent[3] and "$1.0000 left" in sent[3]
    status = sent[4]
    if os.geteuid() == 0:  # the harness sets HERMETIC_ALLOW_ROOT=1: /status says so first
        assert status.startswith("WARNING: running as root (HERMETIC_ALLOW_ROOT=1)")
        status = status.split("\n", 1)[1]
    assert status.startswith("Up ") and "No MCP servers." in status
    assert "Landlock: active (ABI " in status or "Landlock: not active" in status
    assert sent[5] == "Nothing is running."
    assert fake.chat_requests == []


def test_usage_numbers_match_the_ledger(bot, tg, fake):
    fake.script_for("test/free", text("counted", cost=0.0123,
                                      usage={"prompt_tokens": 700, "completion_tokens": 30}))
    g = bot(budget={"daily_usd": 0.5})
    tg.push_text("count this", chat_id=ALLOWED)
    tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW)
    tg.push_text("/usage", chat_id=ALLOWED)
    usage = tg.wait_sent(ALLOWED, 2, timeout=20 * SLOW)[1]
    db = sqlite3.connect(g.home / "state.db")
    calls, tin, tout, cost = db.execute(
        "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM spend"
    ).fetchone()
    assert (calls, tin, tout) == (1, 700, 30)
    assert f"Today: 1 calls, 700 tokens in, 30 out, ${cost:.4f}." in usage
    assert f"${0.5 - cost:.4f} left" in usage


def test_usage_and_the_cockpit_name_the_fallback_that_answered(bot, tg, fake, password_hash):
    """Issue 47: after a fallback, /usage and the cockpit say which group answered (free2),
    not only the one asked for (free)."""
    fake.script_for("test/free", openai_error(500, "free is down", "server_error"))
    fake.script_for("test/free2", text("from the fallback"))
    g = bot(model_list=[deployment("free", "test/free", fake),
                        deployment("cheap", "test/cheap", fake),
                        deployment("free2", "test/free2", fake)],
            litellm_settings={"fallbacks": [{"free": ["free2"]}]},
            ui={"password_hash": password_hash})
    tg.push_text("hello", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["from the fallback"]
    assert [r["body"]["model"] for r in fake.chat_requests] == ["test/free", "test/free2"]
    tg.push_text("/usage", chat_id=ALLOWED)
    usage = tg.wait_sent(ALLOWED, 2, timeout=20 * SLOW)[1]
    assert usage.startswith("Last answer: free2 (asked for free).\n"), usage
    _, cookie, _, _ = login(g)
    [s] = get_json(g, "/v1/ui/sessions", cookie)["sessions"]
    view = get_json(g, f"/v1/ui/session?id={s['id']}", cookie)
    assert view["answered_by"] == {"model": "free2", "asked": "free"}
    lines = [json.loads(x) for x in (g.home / "logs" / "audit.jsonl").read_text().splitlines()
             if '"kind":"turn"' in x]
    assert [(x["model_group"], x.get("answered_by")) for x in lines] == [("free", "free2")]


def test_readyz_fails_after_twice_the_poll_timeout_but_not_before_10_s(bot, tg, fake):
    g = bot()  # poll_timeout_s: 1, so the 10 s floor applies
    tg.wait_requests(2, method="getUpdates", timeout=20 * SLOW)
    tg.server_error(100000, status=502, method="getUpdates")
    broke = time.monotonic()
    status = 200
    while status == 200 and time.monotonic() < broke + 30 * SLOW:
        status = http_get(g.url + "/readyz")[0]
        if status == 200:
            time.sleep(0.2)
    waited = time.monotonic() - broke
    assert status == 503
    # The last success was at most one poll (1 s) before the fault.
    assert 8.5 <= waited <= 10.5 + 2 * SLOW, waited
    # The config reference (docs/configuration.md's table) and docs/gateway.md say what the code does.
    ref = run("config", "reference").stdout
    assert "| `poll_timeout_s` |" in ref and "twice this, at least 10 s" in ref
    doc = (Path(__file__).parents[2] / "docs" / "gateway.md").read_text()
    assert "no poll succeeded for twice\n`telegram.poll_timeout_s`, at least 10 s" in doc


def test_an_allowed_user_in_a_group_gets_no_answer_by_default(bot, tg, fake):
    fake.script_for("test/free", text("private answer"), text("public answer"))
    g = bot()
    tg.push_text("what is in my notes?", chat_id=-1001111111111, user_id=ALLOWED,
                 chat_type="supergroup", title="Friends")
    tg.push_text("in private", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["private answer"]
    time.sleep(1.5)
    assert tg.sent(-1001111111111) == []
    assert [r["body"]["messages"][-1]["content"] for r in fake.chat_requests] == ["in private"]
    assert "telegram.allowed_chats" in g.stderr()


def test_groups_are_served_only_when_named_in_allowed_chats(bot, tg, fake):
    group, other = -1001234567890, -1009876543210
    fake.script_for("test/free", text("private answer"), text("group answer"))
    g = bot(telegram={"allowed_chats": [group]})
    tg.push_text("in a group nobody named", chat_id=other, user_id=ALLOWED,
                 chat_type="supergroup", title="Friends")
    tg.push_text("in private", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["private answer"]
    tg.push_text("in the named group", chat_id=group, user_id=ALLOWED, chat_type="group")
    tg.push_text("a stranger in the named group", chat_id=group, user_id=5555,
                 chat_type="group")
    assert tg.wait_sent(group, 1, timeout=20 * SLOW) == ["group answer"]
    time.sleep(1.5)
    assert tg.sent(other) == [] and tg.sent(group) == ["group answer"]
    assert [r["body"]["messages"][-1]["content"] for r in fake.chat_requests] == [
        "in private", "in the named group"]
    assert f"chat {other} ignored" in g.stderr()


def test_strangers_leave_one_bounded_row_each_and_get_few_refusals(bot, tg, fake):
    fake.script_for("test/free", text("for the owner"))
    g = bot()
    strangers = range(7000, 7040)
    for _ in range(2):
        for user in strangers:
            tg.push_text("let me in", chat_id=user)
    tg.push_text("hello", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["for the owner"]
    time.sleep(2)
    db = sqlite3.connect(g.home / "state.db")
    assert db.execute("SELECT count(*) FROM kv WHERE key LIKE 'telegram.refused.%'"
                      ).fetchone()[0] == 0
    refused = sum(len(tg.sent(u)) for u in strangers)
    queued = db.execute("SELECT count(*) FROM tg_outbox WHERE chat_id >= 7000").fetchone()[0]
    assert 1 <= refused + queued <= 10, (refused, queued)  # 10 a minute for all strangers
    assert all(len(tg.sent(u)) <= 1 for u in strangers)
    assert db.execute("SELECT count(*) FROM tg_inbox WHERE user_id >= 7000").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM tg_strangers").fetchone()[0] == len(strangers)
    assert len(fake.chat_requests) == 1
    assert g.stderr().count("user 7000 ") == 1  # logged once, not per message


def test_a_spent_daily_budget_is_told_by_name_with_its_reset_and_its_config_key(bot, tg, fake):
    """Not "The model call failed (HTTP 400): Budget has been exceeded! ...": the person reads
    which budget it is, when it resets (midnight in the config's timezone) and what raises
    it."""
    import datetime
    import zoneinfo
    fake.script_for("test/free", text("first, and paid for", cost=0.02),
                    text("must not be reached"))
    bot(budget={"daily_usd": 0.01}, timezone="Asia/Manila")
    tg.push_text("hello", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["first, and paid for"]
    tg.push_text("and again", chat_id=ALLOWED)
    told = tg.wait_sent(ALLOWED, 2, timeout=20 * SLOW)[1]
    now = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Manila"))
    midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0)
    assert told.startswith(
        "Sorry, that failed: Today's budget is used up: $0.02 spent of the $0.01 a day that "
        f"budget.daily_usd allows. It resets at midnight, {midnight:%Y-%m-%d} 00:00 "
        "Asia/Manila (in "), told
    assert told.endswith("To allow more, raise budget.daily_usd in the config."), told
    assert "Budget has been exceeded" not in told and "HTTP 400" not in told
    assert len(fake.chat_requests) == 1
