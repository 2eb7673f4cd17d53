"""kill -9 chaos: messages across 4 chats while the gateway is SIGKILLed every 0.3-2 s.

The fake Bot API redelivers every update not confirmed by a getUpdates offset, as Telegram
does, and the fake model answers "re: <the last user message>". At the end every message has
its answer (0 lost), answers come in order per chat, an answer shows twice only inside the
documented window (the gateway logged that a part it was sending when it died "may arrive
twice"), and no request to the model and no stored session holds a message twice.

HERMETIC_CHAOS_MESSAGES sets the number of messages (default 200; 60 for an emulated build,
whose messages come 12 times slower: the same at-least-once logic, a bounded stage time); the
pace of messages and kills scales with conftest's SLOW (sanitizer and emulated builds), the
kills at half that scale under emulation so that 60 messages still see 10 and more kills. At
least 5 kills must land while messages are still being sent; the kills go on past the last
answer until there were 10 (on a slow machine each restart takes seconds)."""
import collections
import os
import random
import re
import signal
import sqlite3
import threading
import time

import pytest

from agent_harness import agent_config
from conftest import SLOW, WRAPPER, Gateway, run, to_yaml
from fakes.fake_openai import FakeOpenAI
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TEST-chaos-SECRET-token"
CHATS = (1001, 1002, 1003, 1004)
MESSAGES = int(os.environ.get("HERMETIC_CHAOS_MESSAGES", "60" if WRAPPER else "200"))
PACE_S = 0.2 * SLOW  # between two messages (all chats together)
KILL_SCALE = SLOW / 2 if WRAPPER else SLOW
KILL_EVERY_S = (0.3 * KILL_SCALE, 2.0 * KILL_SCALE)
MIN_KILLS = 10
MODEL_LATENCY_S = 0.05
# The gateway's word for a part that may show twice: resent after a restart, retried after a
# cut, or sent and not deleted.
MAY_REPEAT = re.compile(r"telegram: chat (-?\d+): [^\n]*may arrive twice")


class ReplyModel(FakeOpenAI):
    """Answers every chat request with "re: " + the last user message of the request."""

    def _next_step(self, record):
        with self._lock:
            record["step"] = "reply"
        users = [m.get("content") for m in (record["body"] or {}).get("messages", [])
                 if m.get("role") == "user"]
        return {"kind": "text", "content": "re: " + (users[-1] if users else "?")}


@pytest.fixture
def model():
    with ReplyModel(api_key=UPSTREAM_KEY, latency=MODEL_LATENCY_S) as m:
        yield m


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        yield t


def start_gateway(tmp_path, model, tg):
    tele = {"token": "os.environ/TELEGRAM_BOT_TOKEN",
                "stream": "off", "progress": "off", "allowed_users": list(CHATS),
            "api_base": tg.url, "poll_timeout_s": 1}
    cfg = agent_config(model, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele)
    text = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text = text.replace('"HOME"', "{home}").replace("PORT", "{port}")
    return Gateway(tmp_path, text, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})


@pytest.mark.smoke
def test_sigkill_every_few_hundred_ms_loses_nothing_and_repeats_nothing(tmp_path, model, tg):
    rng = random.Random(int(os.environ.get("HERMETIC_CHAOS_SEED", "14")))
    expected = {c: [] for c in CHATS}
    pushed = threading.Event()

    def writer():
        for i in range(MESSAGES):
            chat = CHATS[i % len(CHATS)]
            msg = f"chat {chat} message {i:04d}"
            expected[chat].append(msg)
            tg.push_text(msg, chat_id=chat)
            time.sleep(PACE_S)
        pushed.set()

    def all_answered():
        return all(set("re: " + m for m in expected[c]) <= set(tg.sent(c)) for c in CHATS)

    g = start_gateway(tmp_path, model, tg)
    logs, kills, kills_in_flow = [], 0, 0
    g.start()
    threading.Thread(target=writer, daemon=True).start()
    deadline = time.monotonic() + (MESSAGES * PACE_S + 60 * SLOW)
    # Kills go on until every message is answered, and past that up to MIN_KILLS: on a slow
    # machine each restart takes seconds, and fewer kills land while the messages flow.
    while time.monotonic() < deadline and not (pushed.is_set() and all_answered()
                                               and kills >= MIN_KILLS):
        time.sleep(rng.uniform(*KILL_EVERY_S))
        if pushed.is_set() and all_answered() and kills >= MIN_KILLS:
            break
        g.proc.send_signal(signal.SIGKILL)
        g.proc.wait()
        g._err.close()
        kills += 1
        kills_in_flow += not pushed.is_set()
        logs.append(g.stderr())
        g.start()
    while time.monotonic() < deadline and not all_answered():
        time.sleep(0.2)
    time.sleep(1.5)  # anything still queued would show now
    logs.append(g.stderr())
    g.stop()
    log = "".join(logs)
    for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert marker not in log
    assert kills >= MIN_KILLS, f"only {kills} kills before the deadline"
    assert kills_in_flow >= MIN_KILLS // 2, \
        f"only {kills_in_flow} kills while messages were sent: the chaos did not happen"

    poisoned = [t for c in CHATS for t in tg.sent(c) if "could not be processed" in t]
    assert not poisoned, "a message was killed twice mid-turn: is the machine too slow for " \
                         "the kill pace (SLOW)?"
    may_repeat = collections.Counter(int(c) for c in MAY_REPEAT.findall(log))
    for chat in CHATS:
        want = ["re: " + m for m in expected[chat]]
        got = tg.sent(chat)
        lost = [w for w in want if w not in got]
        assert not lost, f"chat {chat}: {len(lost)} lost, e.g. {lost[:3]}"
        first_seen = list(dict.fromkeys(got))
        assert first_seen == want, f"chat {chat}: answers out of order"
        extra = len(got) - len(first_seen)
        assert extra <= may_repeat[chat], (
            f"chat {chat}: {extra} duplicates but only {may_repeat[chat]} parts were in flight "
            f"at a kill")

    requests = model.chat_requests
    assert len(requests) >= MESSAGES
    for r in requests:
        users = [m["content"] for m in r["body"]["messages"] if m["role"] == "user"]
        twice = [u for u, n in collections.Counter(users).items() if n > 1]
        assert not twice, f"the model saw {twice[:3]} twice in one request"

    db = sqlite3.connect(g.home / "state.db")
    for chat in CHATS:
        (sid,) = db.execute("SELECT id FROM sessions WHERE source = ? AND ended = 0",
                            (f"telegram:{chat}",)).fetchone()
        r = run("sessions", "show", str(sid), "--config", str(g.config), env=g.env)
        assert r.returncode == 0, r.stderr
        lines = collections.Counter(r.stdout.splitlines())
        for m in expected[chat]:
            assert lines[f"user: {m}"] == 1, f"`sessions show` lists {m!r} {lines[f'user: {m}']} times"
    assert db.execute("SELECT count(*) FROM tg_inbox WHERE done = 0").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM tg_outbox").fetchone()[0] == 0
    print(f"{MESSAGES} messages, {kills} kills, {log.count('continuing the interrupted turn')} "
          f"turns continued, {sum(may_repeat.values())} parts in the window, "
          f"{sum(len(tg.sent(c)) for c in CHATS) - MESSAGES} duplicates")
