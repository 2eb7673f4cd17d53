"""Reminders through the real gateway: in a Telegram chat the scripted model calls
`schedule` {when: "in 1 minute"}; the job is a row of state.db and the model reads its id and
time. While the gateway is down the job comes due (next_ms set in the past, as test_jobs does
for cron); at the next start it runs as a fresh "reminder:<id>" turn with the reminder's
system text, its answer arrives in the chat, and the job is done: a further restart neither
runs nor sends it again."""
import json
import sqlite3
import time

import pytest

from agent_harness import agent_config, fake, messages, tool_results  # noqa: F401
from conftest import SLOW
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import FakeTelegram, callback_data_of
from tg_harness import TOKEN, gateways  # noqa: F401 (a fixture)

CHAT = 1001


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        t.add_chat(CHAT)
        yield t


@pytest.fixture
def gateway(fake, tg, gateways):
    def make():
        cfg = agent_config(
            fake, "HOME", api={"listen": "127.0.0.1:PORT"},
            telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [CHAT],
                      "api_base": tg.url, "poll_timeout_s": 1},
            reminders={"max_cost_usd": 0.02})
        return gateways.start(cfg)

    return make


def rows(g):
    db = sqlite3.connect(g.home / "state.db")
    db.row_factory = sqlite3.Row
    out = [dict(r) for r in db.execute("SELECT * FROM reminders ORDER BY id")]
    db.close()
    return out


def test_schedule_in_chat_fires_after_restart_into_the_chat(gateway, tg, fake):
    # "in 3 minutes": the delay counts from the tool call, so a shorter one could come due
    # during the slow (ASan) waits below and be done before the row is read here.
    args = {"when": "in 3 minutes", "prompt": "Remind me to call mum", "title": "Call mum"}
    fake.script_for("test/free",
                    tool_calls(("c1", "schedule", json.dumps(args))),
                    text("I'll remind you in a minute."))
    g = gateway()
    tg.push_text("remind me in a minute to call mum", chat_id=CHAT)
    # The job is shown with buttons first and exists only after Approve.
    for _ in range(int(300 * SLOW)):
        ask = [m for m in tg.messages(CHAT) if m.get("reply_markup")]
        if ask:
            break
        time.sleep(0.1)
    [ask] = ask
    assert "schedule" in ask["text"] and "when: in 3 minutes" in ask["text"]
    assert "prompt: Remind me to call mum" in ask["text"]
    time.sleep(0.5 * SLOW)
    assert rows(g) == []
    tg.press(CHAT, ask["message_id"], callback_data_of(ask["reply_markup"])[0], user_id=CHAT)
    for _ in range(int(300 * SLOW)):
        if "I'll remind you in a minute." in tg.sent(CHAT):
            break
        time.sleep(0.1)
    assert "I'll remind you in a minute." in tg.sent(CHAT)
    assert next(m for m in tg.messages(CHAT)
                if m["message_id"] == ask["message_id"])["text"].endswith("→ Approved")
    answer = tool_results(fake.chat_requests[1])[0]
    assert answer.startswith('Scheduled job 1 "Call mum": once, at '), answer
    assert "Each run may spend at most $0.0200" in answer
    [row] = rows(g)
    assert row["source"] == f"telegram:{CHAT}" and row["chat_id"] == CHAT
    assert row["kind"] == "once" and row["status"] == "active"
    assert row["prompt"] == "Remind me to call mum"
    # The tool rounds the due time up to a whole second (tool_schedule.c, parse_in), so it
    # can be up to a second past 3 minutes after the read of the clock here.
    assert 60_000 < row["next_ms"] - time.time() * 1000 <= 181_000

    # Down while it comes due: it fires at the next start, a fresh turn of its own.
    g.stop()
    db = sqlite3.connect(g.home / "state.db")
    past = int(time.time() * 1000) - 1000
    db.execute("UPDATE reminders SET next_ms = ?, at_ms = ? WHERE id = 1", (past, past))
    db.commit()
    db.close()
    fake.script_for("test/free", text("Time to call mum!"))
    g.start()
    sent = tg.wait_sent(CHAT, 3, timeout=30 * SLOW)
    assert sent[2] == "Time to call mum!"
    req = fake.chat_requests[2]
    system = messages(req)[0]["content"]
    assert 'A scheduled job of this chat is firing now (job 1, "Call mum")' in system
    assert [m["role"] for m in messages(req)] == ["system", "user"]
    assert messages(req)[-1]["content"] == "Remind me to call mum"
    for _ in range(50):
        if rows(g)[0]["status"] == "done":
            break
        time.sleep(0.1)
    [row] = rows(g)
    assert row["status"] == "done" and row["pending"] is None
    assert row["last_result"] == "Time to call mum!"

    # Done is done: another restart runs and sends nothing.
    g.stop()
    g.start()
    time.sleep(1.5 * SLOW)
    assert len(fake.chat_requests) == 3
    assert len(tg.wait_sent(CHAT, 3, timeout=1)) == 3


def test_a_reminder_run_cannot_schedule_more_jobs(gateway, tg, fake):
    g = gateway()
    g.stop()
    db = sqlite3.connect(g.home / "state.db")
    now = int(time.time() * 1000)
    db.execute("INSERT INTO reminders (source, chat_id, kind, at_ms, prompt, title, max_cost_usd,"
               " status, created_ms, next_ms) VALUES (?, ?, 'once', ?, 'spawn', 'Spawn', 0.02,"
               " 'active', ?, ?)", (f"telegram:{CHAT}", CHAT, now - 1000, now, now - 1000))
    db.commit()
    db.close()
    args = {"when": "in 1 minute", "prompt": "again"}
    fake.script_for("test/free",
                    tool_calls(("c1", "schedule", json.dumps(args))),
                    text("Could not schedule."))
    g.start()
    assert tg.wait_sent(CHAT, 1, timeout=30 * SLOW) == ["Could not schedule."]
    assert "reminders cannot schedule jobs" in tool_results(fake.chat_requests[1])[0]
    assert len(rows(g)) == 1


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_jobs_lists_the_chats_jobs_and_its_buttons_pause_resume_and_delete(gateway, tg, fake):
    args = {"cron": "0 7 * * 1-5", "prompt": "Weather for the commute", "title": "Commute"}
    fake.script_for("test/free", tool_calls(("c1", "schedule", json.dumps(args))),
                    text("Every weekday at 7."))
    g = gateway()
    tg.push_text("every weekday at 7 tell me the weather", chat_id=CHAT)
    wait_until(lambda: [m for m in tg.messages(CHAT) if m.get("reply_markup")], 30 * SLOW,
               "the confirmation")
    [ask] = [m for m in tg.messages(CHAT) if m.get("reply_markup")]
    tg.press(CHAT, ask["message_id"], callback_data_of(ask["reply_markup"])[0], user_id=CHAT)
    wait_until(lambda: "Every weekday at 7." in tg.sent(CHAT), 30 * SLOW, "the answer")
    assert [r["status"] for r in rows(g)] == ["active"]

    tg.push_text("/jobs", chat_id=CHAT)
    wait_until(lambda: any(m["text"].startswith("1. ") for m in tg.messages(CHAT)),
               30 * SLOW, "the /jobs list")
    [jobs] = [m for m in tg.messages(CHAT) if m["text"].startswith("1. ")]
    assert '"Commute"' in jobs["text"] and "0 7 * * 1-5" in jobs["text"]
    assert callback_data_of(jobs["reply_markup"]) == ["j:p:1", "j:d:1"]
    answered = len(tg.calls("answerCallbackQuery"))

    def after_press(data, what):
        n = len(tg.calls("answerCallbackQuery"))
        tg.press(CHAT, jobs["message_id"], data, user_id=CHAT)
        wait_until(lambda: len(tg.calls("answerCallbackQuery")) > n, 10 * SLOW, what)
        return tg.calls("answerCallbackQuery")[-1]["params"].get("text", "")

    assert "paused" in after_press("j:p:1", "the pause").lower()
    assert [r["status"] for r in rows(g)] == ["paused"]
    wait_until(lambda: callback_data_of(
        next(m for m in tg.messages(CHAT) if m["message_id"] == jobs["message_id"])
        .get("reply_markup")) == ["j:r:1", "j:d:1"], 10 * SLOW, "the list shown again")
    after_press("j:r:1", "the resume")
    assert [r["status"] for r in rows(g)] == ["active"]
    wait_until(lambda: callback_data_of(
        next(m for m in tg.messages(CHAT) if m["message_id"] == jobs["message_id"])
        .get("reply_markup")) == ["j:p:1", "j:d:1"], 10 * SLOW, "the list shown again")
    after_press("j:d:1", "the delete")
    assert rows(g) == []
    wait_until(lambda: next(m for m in tg.messages(CHAT) if m["message_id"] == jobs["message_id"])
               ["text"].startswith("No reminders"), 10 * SLOW, "the empty list")
    assert not next(m for m in tg.messages(CHAT)
                    if m["message_id"] == jobs["message_id"]).get("reply_markup")
    assert len(tg.calls("answerCallbackQuery")) == answered + 3
    assert tg.unanswered_callbacks() == []
