"""Telegram, live: the answer streams into one message edited in place, tools show progress,
one per-chat budget for sends, edits, typing and reactions (429s hold it), the final text is
an edit that a restart repeats ("not modified" = done) instead of a second final; topics are
sessions of their own, replies bring the quoted text, reactions mark the message."""
import sqlite3
import time

import pytest

from agent_harness import agent_config, fake, messages  # noqa: F401
from conftest import SLOW, Gateway, to_yaml
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TEST-e2e-SECRET-token"
ALLOWED = 1001


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        yield t


@pytest.fixture
def bot(tmp_path, fake, tg):
    started = []

    def make(**telegram):
        tele = {"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [ALLOWED],
                "api_base": tg.url, "poll_timeout_s": 1, "edit_every_ms": 1000, **telegram}
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele)
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
        started.append(g)
        return g.start()

    yield make
    for g in started:
        g.kill()
        assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def bot_calls(tg, chat, *methods):
    """The bot's calls of methods to chat, in order, as (method, params)."""
    out = []
    for r in tg.requests:
        m = r["method"]
        if m in methods and str(r["params"].get("chat_id")) == str(chat):
            out.append((m, r["params"]))
    return out


def outbox_rows(g):
    db = sqlite3.connect(g.home / "state.db")
    try:
        return db.execute("SELECT chat_id, text, edit_id, sending FROM tg_outbox").fetchall()
    finally:
        db.close()


def test_a_tool_call_shows_progress_and_the_answer_replaces_it_in_the_same_message(
        bot, tg, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "time", "{}"), first_byte_delay=0),
                    text("It is **late**.", first_byte_delay=2.5 * SLOW))
    g = bot(stream="off")
    tg.push_text("what time is it?", chat_id=ALLOWED)
    wait_for(lambda: tg.calls("editMessageText"), 30 * SLOW, "the final edit")
    posted = bot_calls(tg, ALLOWED, "sendMessage")
    # One message: the progress line, then edited into the rendered answer.
    assert len(posted) == 1 and "running time" in posted[0][1]["text"], posted
    final = tg.calls("editMessageText")[-1]["params"]
    assert final["parse_mode"] == "HTML" and final["text"] == "It is <b>late</b>."
    assert tg.sent(ALLOWED) == ["It is late."]
    wait_for(lambda: not outbox_rows(g), 10 * SLOW, "an empty outbox")


def test_progress_off_and_stream_off_send_the_whole_answer_once(bot, tg, fake):
    fake.script_for("test/free", tool_calls(("c1", "time", "{}")), text("Done."))
    bot(stream="off", progress="off")
    tg.push_text("time?", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW) == ["Done."]
    assert tg.calls("editMessageText") == []


def test_a_429_storm_on_edits_loses_nothing_and_posts_no_second_final(bot, tg, fake):
    fake.script_for("test/free", tool_calls(("c1", "time", "{}")),
                    text("All **good**.", first_byte_delay=1.5 * SLOW))
    tg.rate_limit(3, retry_after=1, method="editMessageText")
    bot(stream="off")
    tg.push_text("check", chat_id=ALLOWED)
    wait_for(lambda: tg.sent(ALLOWED) == ["All good."], 40 * SLOW, "the final text")
    time.sleep(1.5)
    assert len(bot_calls(tg, ALLOWED, "sendMessage")) == 1
    assert tg.sent(ALLOWED) == ["All good."]
    # After a 429 the bot waited retry_after before its next call to the chat.
    edits = [r for r in tg.requests if r["method"] == "editMessageText"]
    assert len(edits) >= 4
    for before, after in zip(edits[:3], edits[1:4]):
        assert after["time"] - before["time"] >= 0.9, (before["time"], after["time"])


def test_a_restart_repeats_the_final_edit_and_never_posts_a_second_final(bot, tg, fake):
    fake.script_for("test/free", tool_calls(("c1", "time", "{}")),
                    text("Final *answer*.", first_byte_delay=1.5 * SLOW))
    g = bot(stream="off")
    tg.push_text("go", chat_id=ALLOWED)
    wait_for(lambda: tg.sent(ALLOWED) == ["Final answer."], 40 * SLOW, "the final text")
    wait_for(lambda: not outbox_rows(g), 10 * SLOW, "an empty outbox")
    g.stop()
    # The crash window: Telegram took the final edit, the process died before the row's
    # delete. The row is back, marked in flight.
    final = tg.calls("editMessageText")[-1]["params"]
    db = sqlite3.connect(g.home / "state.db")
    db.execute("INSERT INTO tg_outbox (chat_id, text, html, created_ms, sending, edit_id) "
               "VALUES (?, ?, 1, 0, 1, ?)", (ALLOWED, final["text"], final["message_id"]))
    db.commit()
    db.close()
    g.start()
    wait_for(lambda: not outbox_rows(g), 20 * SLOW, "the repeated edit")
    assert tg.sent(ALLOWED) == ["Final answer."]
    assert len(bot_calls(tg, ALLOWED, "sendMessage")) == 1


def test_a_deleted_live_message_gets_the_final_as_a_new_message(bot, tg, fake):
    g = bot(stream="off")
    g.stop()
    tg.add_chat(ALLOWED)  # the user wrote before: Telegram knows the chat
    db = sqlite3.connect(g.home / "state.db")
    db.execute("INSERT INTO tg_outbox (chat_id, text, html, created_ms, edit_id) "
               "VALUES (?, 'Recovered final.', 0, 0, 987654)", (ALLOWED,))
    db.commit()
    db.close()
    g.start()
    assert tg.wait_sent(ALLOWED, 1, timeout=20 * SLOW) == ["Recovered final."]
    wait_for(lambda: not outbox_rows(g), 10 * SLOW, "an empty outbox")


def test_reactions_mark_the_message_taken_then_answered(bot, tg, fake):
    fake.script_for("test/free", text("Sure.", first_byte_delay=1.5 * SLOW))
    bot(stream="off", progress="off", reactions=True)
    mid = tg.push_text("do it", chat_id=ALLOWED)["message"]["message_id"]
    assert tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW) == ["Sure."]
    wait_for(lambda: tg.reactions(ALLOWED, mid) == ["👍"], 10 * SLOW, "👍")
    history = [[r["emoji"] for r in h["reaction"]] for h in tg.reaction_history(ALLOWED, mid)]
    assert history == [["👀"], ["👍"]], history


def test_topics_are_separate_sessions_and_replies_go_back_into_them(bot, tg, fake):
    fake.script_for("test/free", text("Answer in seven."), text("Answer in nine."))
    bot(stream="off", progress="off")
    tg.push_text("alpha secret plan", chat_id=ALLOWED, thread_id=7)
    tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW)
    tg.push_text("beta question", chat_id=ALLOWED, thread_id=9)
    tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)
    first, second = fake.chat_requests[0], fake.chat_requests[1]
    assert "alpha secret plan" not in str(messages(second))  # another session
    assert messages(second)[-1]["content"] == "beta question"
    threads = [m.get("message_thread_id") for m in tg.messages(ALLOWED)]
    assert threads == [7, 9]


def test_a_reply_brings_the_quoted_text_into_the_turn(bot, tg, fake):
    fake.script_for("test/free", text("The report is due Friday."), text("Yes, Friday."))
    bot(stream="off", progress="off")
    tg.push_text("when is the report due?", chat_id=ALLOWED)
    tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW)
    bot_mid = tg.messages(ALLOWED)[0]["message_id"]
    tg.push_text("are you sure?", chat_id=ALLOWED, reply_to=bot_mid, quote="due Friday")
    tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)
    assert messages(fake.chat_requests[1])[-1]["content"] == (
        '[Replying to: "due Friday"]\nare you sure?')


def test_sends_edits_typing_and_reactions_share_one_budget_under_telegrams_limits(
        bot, tg, fake):
    # Four tools in a row: progress edits, typing, two reactions and the final edit, against
    # a fake that answers 429 beyond one call a second per chat (burst 1) and counts calls
    # made inside a retry_after window as violations.
    tg.flood_limits(per_chat_per_s=1, burst=1)
    steps = [tool_calls((f"c{i}", "time", "{}"), first_byte_delay=0.4) for i in range(4)]
    fake.script_for("test/free", *steps, text("Checked **four** times."))
    bot(stream="off", reactions=True)
    mid = tg.push_text("check four times", chat_id=ALLOWED)["message"]["message_id"]
    wait_for(lambda: tg.sent(ALLOWED) == ["Checked four times."], 60 * SLOW, "the final")
    wait_for(lambda: tg.reactions(ALLOWED, mid) == ["👍"], 10 * SLOW, "👍")
    assert tg.violations == 0, tg.flood_stats()
    assert len(bot_calls(tg, ALLOWED, "sendMessage")) == 1
