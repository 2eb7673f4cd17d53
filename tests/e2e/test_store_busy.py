"""The gateway beside another process that holds the write lock of state.db for seconds (a
backup, `sqlite3` by hand): the loop keeps serving, a reply whose turn is done waits in memory
and is stored and sent once the lock is gone, no turn is paid for twice, and the log names the
locked database with SQLite's own error (not "cannot rollback"); a message Telegram took while
the lock is held is not sent again because its outbox row could not be deleted yet. Nothing
else is lost or refused for the lock either: a spend ledger row waits and lands (counted once),
a cron run's last-run record waits and lands, and a turn that needs a new session waits (a
Telegram row stays queued, a cron run retries) or is refused as retryable (the API and hooks
answer 503 with Retry-After)."""
import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, http_get, to_yaml
from fakes.fake_openai import text
from fakes.fake_telegram import FakeTelegram
from router_harness import (  # noqa: F401 (start_router is a fixture)
    BUDGET_EXCEEDED, UPSTREAM_ENV, UPSTREAM_KEY, approx, count_calls, router_config,
    start_router,
)

TOKEN = "123456:TEST-e2e-SECRET-token"
HOOK_TOKEN = "hook-e2e-SECRET-77c1"
CHAT = 1001
LOCK_S = 8

# Holds the write lock the way `sqlite3 state.db` with BEGIN IMMEDIATE/EXCLUSIVE does.
LOCKER = r"""
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
if len(sys.argv) > 4:  # committed just before the lock is taken
    db.execute("BEGIN IMMEDIATE")
    db.execute(sys.argv[4])
    db.execute("COMMIT")
db.execute("BEGIN " + sys.argv[2])
db.execute("INSERT INTO kv (key, value, updated_ms) VALUES ('locker', 'x', 0)")
print("locked", flush=True)
if sys.argv[3] == "stdin":  # until told
    sys.stdin.readline()
else:
    time.sleep(float(sys.argv[3]))
db.execute("ROLLBACK")
print("released", flush=True)
"""


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        yield t


@pytest.fixture
def bot(tmp_path, fake, tg):
    started = []

    def make(start=True, **sections):
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"},
                           telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN",
                "stream": "off", "progress": "off",  # whole answers (live: test_telegram_live)
                                     "allowed_users": [CHAT], "api_base": tg.url,
                                     "poll_timeout_s": 1}, **sections)
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN,
                                      "HOOK_TOKEN": HOOK_TOKEN})
        started.append(g)
        return g.start() if start else g

    yield make
    for g in started:
        g.kill()
        assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def lock(db_path, mode, seconds, first_sql=None):
    """Locks for seconds, or (seconds "stdin") until a line is written to the locker's stdin;
    first_sql is committed right before."""
    p = subprocess.Popen([sys.executable, "-c", LOCKER, str(db_path), mode, str(seconds)] +
                         ([first_sql] if first_sql else []),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    return p


def timed_get(url):
    t0 = time.monotonic()
    status = http_get(url, timeout=10)[0]
    return status, time.monotonic() - t0


@pytest.mark.parametrize("mode", ["IMMEDIATE", "EXCLUSIVE"])
def test_locked_database_keeps_the_reply_and_never_stalls_the_loop(bot, tg, fake, mode):
    fake.script_for("test/free", text("first answer", first_byte_delay=1.5 * SLOW),
                    text("second answer"))
    g = bot()
    tg.push_text("first question", chat_id=CHAT)
    fake.wait_requests(1, timeout=20 * SLOW)
    # The turn is at its model call (its user message stored) when the lock is taken: the
    # answer comes back while the database is locked.
    locker = lock(g.home / "state.db", mode, LOCK_S * SLOW)
    deadline = time.monotonic() + (LOCK_S - 1) * SLOW
    pushed = False
    slowest = 0.0
    try:
        while time.monotonic() < deadline:
            if not pushed and time.monotonic() > deadline - (LOCK_S - 3) * SLOW:
                tg.push_text("second question", chat_id=CHAT)  # arrives during the lock
                pushed = True
            for path in ("/healthz", "/readyz"):
                status, took = timed_get(g.url + path)
                assert status == 200, path
                slowest = max(slowest, took)
            time.sleep(0.1)
        # The loop answered all along, and nothing was sent before the reply was stored.
        assert slowest < 1.0 * SLOW, f"the loop stalled {slowest:.2f} s on the lock"
        assert tg.sent(CHAT) == []
    finally:
        assert locker.stdout.readline().strip() == "released"
        locker.wait(timeout=10)
    assert tg.wait_sent(CHAT, 2, timeout=20 * SLOW) == ["first answer", "second answer"]
    time.sleep(0.5)
    # One model call per message: the answer kept in memory was not paid for again.
    assert [r["model"] for r in fake.chat_requests] == ["test/free", "test/free"]
    err = g.stderr()
    assert f"{g.home / 'state.db'} is locked by another process" in err, err
    assert "cannot rollback" not in err
    # Every message of the conversation is stored, once.
    db = sqlite3.connect(g.home / "state.db")
    rows = db.execute("SELECT role, content FROM messages ORDER BY id").fetchall()
    db.close()
    assert rows == [("user", "first question"), ("assistant", "first answer"),
                    ("user", "second question"), ("assistant", "second answer")]
    assert g.stop(signal.SIGTERM) == 0


def test_message_sent_while_locked_is_not_sent_again(bot, tg, fake):
    # Telegram takes the reply just as another process locks the database, so the delete of its
    # outbox row cannot be written: the row must not be sent again meanwhile (nor after the
    # lock). The lock starts inside the fake's sendMessage, before its answer goes back.
    fake.script_for("test/free", text("only once"))
    lockers = []

    def lock_on_accept(_message):
        if not lockers:  # longer than two 5 s busy waits (an empty poll's, then the delete's)
            lockers.append(lock(g.home / "state.db", "IMMEDIATE", 12 * SLOW))

    tg.after_send = lock_on_accept
    g = bot()
    tg.push_text("question", chat_id=CHAT)
    assert tg.wait_sent(CHAT, 1, timeout=20 * SLOW) == ["only once"]
    try:
        time.sleep(3 * SLOW)  # inside the lock: the sender must not try the row again
        assert len(tg.calls("sendMessage")) == 1
    finally:
        assert lockers and lockers[0].stdout.readline().strip() == "released"
        lockers[0].wait(timeout=10)
    deadline = time.monotonic() + 10 * SLOW
    while True:
        db = sqlite3.connect(g.home / "state.db")
        left = db.execute("SELECT count(*) FROM tg_outbox").fetchone()[0]
        db.close()
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == 0
    time.sleep(1.5)
    assert tg.sent(CHAT) == ["only once"]
    assert len(tg.calls("sendMessage")) == 1


def released(locker):
    if locker.poll() is None:
        locker.stdin.write("\n")
        locker.stdin.flush()
    assert locker.stdout.readline().strip() == "released"
    locker.wait(timeout=10)


def test_spend_row_waits_for_the_lock_and_counts_once(fake, start_router):
    # The router's ledger row of a call answered while another process locks state.db waits
    # in memory and is written when the lock goes: the day's spend after a restart is what was
    # paid, and the budget counts the call once before and once after the row lands.
    fake.script_for("test/free", *[text(f"paid {i}", cost=0.02) for i in range(3)],
                    text("must not be reached"))
    r = start_router(router_config(fake, budget={"daily_usd": 0.05}))
    assert r.chat("free").status == 200
    assert len(r.wait_spend_rows(1)) == 1
    locker = lock(r.home / "state.db", "IMMEDIATE", 5 * SLOW)
    try:
        # 0.02, then 0.04 spent before each: both go, and the third finds 0.06 counted.
        for i in (1, 2):
            reply = r.chat("free")
            assert reply.status == 200 and reply.content() == f"paid {i}", reply.text
        refused = r.chat("free")
        assert refused.status == 400
        assert approx(BUDGET_EXCEEDED.match(refused.error()["message"]).group(1), 0.06, 1e-9)
        assert len(r.spend_rows()) == 1  # still locked: the rows wait
    finally:
        released(locker)
    rows = r.wait_spend_rows(3, timeout=10)
    assert len(rows) == 3 and approx(sum(x["cost_usd"] for x in rows), 0.06, 1e-9), rows
    # Landing did not add them a second time.
    refused = r.chat("free")
    assert refused.status == 400
    assert approx(BUDGET_EXCEEDED.match(refused.error()["message"]).group(1), 0.06, 1e-9)
    r.kill()
    r.start()
    refused = r.chat("free")
    assert refused.status == 400, refused.text
    assert approx(BUDGET_EXCEEDED.match(refused.error()["message"]).group(1), 0.06, 1e-9)
    assert count_calls(fake, "test/free") == 3


def briefing():
    """An hourly job whose last scheduled time was a minute or two ago (not again for an hour,
    so only the missed run runs during a test)."""
    minute = (time.gmtime().tm_min - 1) % 60
    return [{"name": "briefing", "schedule": f"{minute} * * * *", "misfire_grace_s": 600,
             "prompt": "Morning briefing.", "deliver": f"telegram:{CHAT}", "model": "cheap"}]


def missed_run_and_queued_message(g, tg):
    """While g is down: the briefing missed a run, and CHAT's first message is queued."""
    tg.add_chat(CHAT)  # the user started the bot earlier
    db = sqlite3.connect(g.home / "state.db")
    two_days_ago = int(time.time() * 1000) - 2 * 86400 * 1000
    db.execute("INSERT OR REPLACE INTO kv (key, value, updated_ms) VALUES (?, ?, ?)",
               ("cron.briefing.last_run",
                json.dumps({"time_ms": two_days_ago, "status": "ok", "cost_usd": 0}),
                two_days_ago))
    db.execute("INSERT INTO tg_inbox (update_id, chat_id, user_id, text, kind, created_ms) "
               "VALUES (900, ?, ?, 'queued question', 'text', 0)", (CHAT, CHAT))
    db.commit()
    db.close()


def cron_record(g):
    db = sqlite3.connect(g.home / "state.db")
    row = db.execute("SELECT value FROM kv WHERE key = 'cron.briefing.last_run'").fetchone()
    db.close()
    return json.loads(row[0])


def test_cron_last_run_written_after_the_lock(bot, tg, fake):
    # The missed run starts at once; it ends while another process locks state.db, so its
    # last-run record ("ok", its cost) waits and is written when the lock goes.
    g = bot(start=False, cron=briefing())
    g.start()
    g.stop()
    missed_run_and_queued_message(g, tg)
    fake.script_for("test/cheap", text("Good morning.", first_byte_delay=2 * SLOW, cost=0.01))
    fake.script_for("test/free", text("queued answer"))
    g.start()
    fake.wait_requests(2, timeout=20 * SLOW)
    assert cron_record(g)["status"] == "running"
    locker = lock(g.home / "state.db", "IMMEDIATE", 4 * SLOW)
    try:
        time.sleep(3 * SLOW)  # the run ends inside the lock
        assert cron_record(g)["status"] == "running"
    finally:
        released(locker)
    deadline = time.monotonic() + 10 * SLOW
    while cron_record(g)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    record = cron_record(g)
    assert record["status"] == "ok" and approx(record["cost_usd"], 0.01, 1e-6), record
    assert sorted(tg.wait_sent(CHAT, 2, timeout=20 * SLOW)) == ["Good morning.", "queued answer"]
    assert g.stop(signal.SIGTERM) == 0


def inbox_row(g, update_id):
    db = sqlite3.connect(g.home / "state.db")
    row = db.execute("SELECT done, attempts FROM tg_inbox WHERE update_id = ?",
                     (update_id,)).fetchone()
    db.close()
    return row


def test_first_message_waits_for_the_lock_instead_of_being_refused(bot, tg, fake):
    # A chat's first message is taken while another process locks state.db, so its session
    # cannot be created yet: the row stays queued (no refusal, no attempt counted) and runs,
    # once, when the lock is gone. The locker queues the row and locks at once, so the
    # gateway takes it (at its next poll) inside the lock.
    tg.add_chat(CHAT)
    fake.script_for("test/free", text("queued answer"))
    g = bot()
    queue = ("INSERT INTO tg_inbox (update_id, chat_id, user_id, text, kind, created_ms)"
             f" VALUES (900, {CHAT}, {CHAT}, 'queued question', 'text', 0)")
    locker = lock(g.home / "state.db", "IMMEDIATE", "stdin", first_sql=queue)
    try:
        deadline = time.monotonic() + 5 * SLOW
        while "update 900 waits" not in g.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5 * SLOW)  # a retry or two later
        assert fake.chat_requests == [] and tg.sent(CHAT) == []
        assert inbox_row(g, 900) == (0, 0)
    finally:
        released(locker)
    assert tg.wait_sent(CHAT, 1, timeout=20 * SLOW) == ["queued answer"]
    assert inbox_row(g, 900) == (1, 1)
    time.sleep(0.5)
    assert len(fake.chat_requests) == 1 and tg.sent(CHAT) == ["queued answer"]
    assert g.stop(signal.SIGTERM) == 0


def post(g, path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(g.url + path, data=json.dumps(body).encode(), headers=headers,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"{}")


def test_api_and_hooks_answer_503_while_a_new_session_cannot_be_created(bot, fake):
    hooks = [{"name": "ping", "token": "os.environ/HOOK_TOKEN", "prompt": "Ping."}]
    g = bot(hooks=hooks)
    fake.script_for("test/free", text("after the lock"))
    chat = {"model": "free", "messages": [{"role": "user", "content": "hi"}]}
    locker = lock(g.home / "state.db", "IMMEDIATE", 4 * SLOW)
    try:
        status, headers, body = post(g, "/v1/chat/completions", chat)
        assert status == 503, body
        assert headers.get("Retry-After") == "2"
        err = body["error"]
        assert err["type"] == "service_unavailable" and err["code"] == "503", body
        assert "locked by another process" in err["message"], body
        status, headers, body = post(g, "/v1/hooks/ping", {"id": 1}, token=HOOK_TOKEN)
        assert status == 503 and headers.get("Retry-After") == "2", body
        assert "locked by another process" in body["error"]["message"], body
        assert fake.chat_requests == []
    finally:
        released(locker)
    status, _, body = post(g, "/v1/chat/completions", chat)
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "after the lock"
