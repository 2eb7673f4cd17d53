"""Telegram, live: the answer streams into one message edited in place, tools show progress,
one per-chat budget for sends, edits, typing and reactions (429s hold it), the final text is
an edit that a restart repeats ("not modified" = done) instead of a second final; topics are
sessions of their own, replies bring the quoted text, reactions mark the message."""
import sqlite3
import time

import pytest

from agent_harness import agent_config, fake, messages  # noqa: F401
from conftest import SLOW
from fakes.fake_openai import text, tool_calls
from tg_harness import gateways, tg, wait_for  # noqa: F401 (fixtures)

ALLOWED = 1001


@pytest.fixture
def bot(fake, tg, gateways):
    def make(**telegram):
        tele = {"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [ALLOWED],
                "api_base": tg.url, "poll_timeout_s": 1, "edit_every_ms": 1000, **telegram}
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele)
        return gateways.start(cfg)

    return make


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
    # One message reached the chat (a send refused with 429 and sent again is still one).
    assert len([r for r in tg.requests if r["method"] == "sendMessage"
                and str(r["params"].get("chat_id")) == str(ALLOWED)
                and r.get("status") == 200]) == 1


LONG = " ".join(f"word{i}" for i in range(300)) + " **end**."


def test_a_long_streamed_answer_grows_by_edits_under_the_limit_and_ends_rendered(
        bot, tg, fake):
    # 300 words in chunks of 40 bytes, 0.05 s apart: about 15 s of streaming.
    tg.flood_limits(per_chat_per_s=1, burst=1)
    fake.script_for("test/free", text(LONG, chunk_size=40, chunk_delay=0.05))
    bot()
    tg.push_text("tell me a lot", chat_id=ALLOWED)
    wait_for(lambda: tg.sent(ALLOWED) and tg.sent(ALLOWED)[0].endswith("end."), 60 * SLOW,
             "the final text")
    assert fake.chat_requests[0]["body"]["stream"] is True
    posted = bot_calls(tg, ALLOWED, "sendMessage")
    assert len(posted) == 1  # one message, grown by edits
    mid = tg.messages(ALLOWED)[0]["message_id"]
    versions = [v["text"] for v in tg.versions(ALLOWED, mid)]
    assert len(versions) >= 3, versions  # it grew while the model wrote
    assert all(len(a) <= len(b) for a, b in zip(versions[:-2], versions[1:-1]))
    final = tg.edits(ALLOWED, mid)[-1]
    assert final["parse_mode"] == "HTML" and final["text"].endswith(" end.")
    assert [e["type"] for e in final["entities"]] == ["bold"]  # rendered only at the end
    assert all(v["entities"] == [] for v in tg.versions(ALLOWED, mid)[:-1])
    assert tg.violations == 0, tg.flood_stats()
    times = [v["monotonic"] for v in tg.versions(ALLOWED, mid)]
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:])), times


def test_draft_mode_previews_then_sends_the_final_once(bot, tg, fake):
    fake.script_for("test/free", text(LONG, chunk_size=60, chunk_delay=0.15))  # about 5 s
    bot(stream="draft")
    tg.push_text("tell me a lot", chat_id=ALLOWED)
    assert tg.wait_sent(ALLOWED, 1, timeout=60 * SLOW)[0].endswith("end.")
    drafts = tg.drafts(ALLOWED)
    assert len(drafts) >= 2 and all(d["draft_id"] == drafts[0]["draft_id"] for d in drafts)
    assert tg.calls("editMessageText") == []
    time.sleep(1)
    assert len(tg.sent(ALLOWED)) == 1


def test_without_drafts_on_the_server_the_answer_streams_by_edits(bot, tg, fake):
    tg.disable_method("sendMessageDraft")
    fake.script_for("test/free", text(LONG, chunk_size=60, chunk_delay=0.1))
    g = bot(stream="draft")
    tg.push_text("tell me a lot", chat_id=ALLOWED)
    wait_for(lambda: tg.sent(ALLOWED) and tg.sent(ALLOWED)[0].endswith("end."), 60 * SLOW,
             "the final text")
    assert tg.edits(ALLOWED) and len(bot_calls(tg, ALLOWED, "sendMessage")) == 1
    assert "sendMessageDraft is not available" in g.stderr()


def test_context_adds_up_to_what_the_upstream_receives_and_shows_the_cache(bot, tg, fake):
    import json
    import re
    fake.script_for("test/free",
                    text("First answer.", usage={"prompt_tokens": 1200,
                                                 "prompt_tokens_details": {"cached_tokens": 900}}),
                    text("Second answer."))
    bot(stream="off", progress="off")
    tg.push_text("hello there", chat_id=ALLOWED)
    tg.wait_sent(ALLOWED, 1, timeout=30 * SLOW)
    tg.push_text("/context", chat_id=ALLOWED)
    report = tg.wait_sent(ALLOWED, 2, timeout=30 * SLOW)[1]
    assert "history, 2 messages" in report, report
    assert "1200 prompt tokens, 900 of them (75%) from the provider's prompt cache" in report
    parts = {k: int(v) for k, v in re.findall(r"\n([a-zA-Z ,0-9]+?): \d+ tokens \(\d+%, (\d+) "
                                              r"bytes\)", report)}
    total = int(re.search(r"total: (\d+) bytes", report).group(1))
    assert sum(parts.values()) == total, (parts, total)
    tg.push_text("x", chat_id=ALLOWED)
    tg.wait_sent(ALLOWED, 3, timeout=30 * SLOW)
    sent = fake.chat_requests[1]
    user = "," + json.dumps({"role": "user", "content": "x"}, separators=(",", ":"))
    # The router names the provider's model for the group, adds its max_tokens and
    # OpenRouter's usage flag; nothing else differs.
    raw = (sent["raw"].replace('"model":"test/free"', '"model":"free"', 1)
           .replace(',"max_tokens":4096', "").replace(',"usage":{"include":true}', ""))
    assert len(raw.encode()) == total + len(user), (total, raw)


def test_an_answer_over_4096_units_edits_the_live_message_and_continues_in_new_ones(
        bot, tg, fake):
    answer = "\n".join(f"line {i}: " + "x" * 60 for i in range(120))  # ~8 KB
    fake.script_for("test/free", text(answer, chunk_size=500, chunk_delay=0.2))
    bot()
    tg.push_text("a long one", chat_id=ALLOWED)
    whole = answer.replace("\n", "")
    wait_for(lambda: "".join(s.replace("\n", "") for s in tg.sent(ALLOWED)) == whole,
             60 * SLOW, "the whole answer")
    sent = tg.sent(ALLOWED)
    assert len(sent) >= 2
    first = tg.messages(ALLOWED)[0]["message_id"]
    assert tg.edits(ALLOWED, first), "the first part is an edit of the live message"
    assert all(len(s.encode("utf-16-le")) // 2 <= 4096 for s in sent)
    live = [v["text"] for v in tg.versions(ALLOWED, first)[:-1]]
    assert live and all(len(v) <= 3802 for v in live)  # intermediate texts are cut


def test_in_a_group_the_budget_keeps_to_twenty_messages_a_minute(bot, tg, fake):
    group = -5001
    answer = "\n".join(f"line {i}: " + "y" * 60 for i in range(150))  # 3 messages
    fake.script_for("test/free", text(answer))
    bot(stream="off", progress="off", allowed_chats=[group])
    tg.push_text("long one", chat_id=group, user_id=ALLOWED, chat_type="group")
    wait_for(lambda: len(tg.sent(group)) >= 3, 60 * SLOW, "three parts")
    sends = [r["monotonic"] for r in tg.requests
             if r["method"] == "sendMessage" and str(r["params"].get("chat_id")) == str(group)]
    assert all(b - a >= 2.9 for a, b in zip(sends, sends[1:])), sends
