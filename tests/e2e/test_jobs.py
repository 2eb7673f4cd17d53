"""Cron and hooks inside `hermetic gateway`, end to end: a hook authenticated by its own token,
rendered into its prompt, deduplicated by its idempotency field and delivered to Telegram; a
cron job missed while the gateway was down runs once at start with a fresh session and its
result reaches a chat that is busy with a turn of its own (queued, not dropped); a keyed hook
run cut short by SIGKILL or SIGTERM runs again, once, at the next start."""
import json
import signal
import sqlite3
import threading
import time
import urllib.request

import pytest

from agent_harness import agent_config, fake, messages  # noqa: F401
from conftest import SLOW, Gateway, to_yaml
from fakes.fake_openai import text
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TEST-e2e-SECRET-token"
HOOK_TOKEN = "hook-e2e-SECRET-5b7d"
CHAT = 1001


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        t.add_chat(CHAT)  # the user started the bot earlier
        yield t


@pytest.fixture
def jobs_gateway(tmp_path, fake, tg):
    started = []

    def make(start=True, **sections):
        cfg = agent_config(
            fake, "HOME", api={"listen": "127.0.0.1:PORT"},
            telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN",
                "stream": "off", "progress": "off", "allowed_users": [CHAT],
                      "api_base": tg.url, "poll_timeout_s": 1},
            hooks=[{"name": "workout", "token": "os.environ/HOOK_TOKEN",
                    "prompt": "A workout was logged: {{payload.kind}} {{payload.km}} km.",
                    "deliver": f"telegram:{CHAT}", "idempotency_field": "id"}],
            **sections)
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


def hook(g, body, token=HOOK_TOKEN):
    req = urllib.request.Request(g.url + "/v1/hooks/workout", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_hook_auth_template_idempotency_and_delivery(jobs_gateway, tg, fake):
    fake.script_for("test/free", text("Great **5 km** run!"))
    g = jobs_gateway()
    status, _ = hook(g, {"id": "w1", "kind": "run", "km": 5}, token="wrong")
    assert status == 401
    status, first = hook(g, {"id": "w1", "kind": "run", "km": 5})
    assert status == 200 and first["status"] == "ok", first
    assert first["result"] == "Great **5 km** run!"
    prompt = messages(fake.chat_requests[0])[-1]["content"]
    assert prompt == "A workout was logged: run 5 km."
    assert tg.wait_sent(CHAT, 1, timeout=20 * SLOW) == ["Great 5 km run!"]
    # The same id again: the first result, and nothing runs.
    status, again = hook(g, {"id": "w1", "kind": "run", "km": 5})
    assert status == 200 and again["run_id"] == first["run_id"]
    assert again["result"] == first["result"]
    assert len(fake.chat_requests) == 1
    # Each run is a fresh session: the hook's earlier run is not in the next prompt.
    fake.script_for("test/free", text("Nice ride."))
    status, _ = hook(g, {"id": "w2", "kind": "ride", "km": 20})
    assert status == 200
    roles = [m["role"] for m in messages(fake.chat_requests[1])]
    assert roles == ["system", "user"]


def test_missed_cron_run_fires_at_start_and_delivers_to_a_busy_chat(jobs_gateway, tg, fake):
    # Hourly at the minute three minutes ago: that run was missed (within misfire_grace_s)
    # and the next one is an hour away, so no second run lands inside the test. An every-
    # minute schedule fired again when a minute boundary fell inside the slow turn.
    minute = time.localtime(time.time() - 180).tm_min
    cron = [{"name": "briefing", "schedule": f"{minute} * * * *", "prompt": "Morning briefing.",
             "deliver": f"telegram:{CHAT}", "model": "cheap"}]
    g = jobs_gateway(cron=cron)
    g.stop()
    # While it was down: the job last ran two days ago (its next run was missed), and the
    # chat has a message waiting whose turn will be slow.
    db = sqlite3.connect(g.home / "state.db")
    two_days_ago = int(time.time() * 1000) - 2 * 86400 * 1000
    db.execute("INSERT OR REPLACE INTO kv (key, value, updated_ms) VALUES (?, ?, ?)",
               ("cron.briefing.last_run",
                json.dumps({"time_ms": two_days_ago, "status": "ok", "cost_usd": 0}),
                two_days_ago))
    offset = int(db.execute("SELECT coalesce((SELECT value FROM kv WHERE key = "
                            "'telegram.offset'), '0')").fetchone()[0])
    db.execute("INSERT INTO tg_inbox (update_id, chat_id, user_id, text, kind, created_ms) "
               "VALUES (?, ?, ?, 'slow question', 'text', 0)", (offset + 1000, CHAT, CHAT))
    db.commit()
    db.close()
    fake.script_for("test/free", text("slow answer", first_byte_delay=6))
    fake.script_for("test/cheap", text("Good morning: all nodes up."))
    g.start()
    sent = tg.wait_sent(CHAT, 2, timeout=40 * SLOW)
    # The briefing arrived while the chat's turn was still running, then the answer.
    assert sent == ["Good morning: all nodes up.", "slow answer"]
    cheap = [r for r in fake.chat_requests if r["model"] == "test/cheap"]
    assert len(cheap) == 1
    assert [m["role"] for m in messages(cheap[0])] == ["system", "user"]
    assert messages(cheap[0])[-1]["content"] == "Morning briefing."


def test_undeliverable_result_is_redacted_before_the_log_cuts_it(tmp_path, fake):
    # A result that cannot be delivered (no Telegram configured) is logged, cut to 300
    # characters. A secret straddling the cut must be redacted first: half a secret is no longer
    # recognised by the logger's last-line redaction.
    # The secret is the hook's token, written literally in the config (still a secret), so
    # the answer stored in state.db is not counted by conftest's sweep of env-handed secrets.
    secret = "hook-literal-SECRET-token-5150"
    fake.script_for("test/free", text("x" * 290 + secret + " and more"))
    cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"},
                       hooks=[{"name": "workout", "token": secret,
                               "prompt": "A workout was logged.",
                               "deliver": f"telegram:{CHAT}"}])
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY})
    g.start()
    try:
        status, body = hook(g, {"id": "w1"}, token=secret)
        assert status == 200, body
        deadline = time.monotonic() + 20 * SLOW
        while "the result was: " not in g.stderr():
            assert time.monotonic() < deadline, g.stderr()
            time.sleep(0.05)
        line = next(ln for ln in g.stderr().splitlines() if "the result was: " in ln)
        assert "x" * 290 + "[REDACTED]" in line, line
        assert secret[:10] not in g.stderr()
    finally:
        g.kill()


def _hook_in_background(g, body):
    """POSTs the hook from a thread; the answer (or the error when the gateway dies) is kept."""
    out = {}

    def go():
        try:
            out["answer"] = hook(g, body)
        except Exception as e:  # noqa: BLE001 (the gateway is killed under the request)
            out["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_hook_run_cut_short_by_a_stop_runs_again_at_start_once(jobs_gateway, tg, fake, sig):
    # The model is slow; the gateway dies (SIGKILL) or is stopped (SIGTERM) mid-run. The
    # idempotency key must not swallow the run: at the next start it runs again, once, is
    # delivered, and a retry after that gets the deduplicated answer.
    fake.script_for("test/free", text("never seen", first_byte_delay=30))
    g = jobs_gateway()
    t, _ = _hook_in_background(g, {"id": "w9", "kind": "swim", "km": 2})
    fake.wait_requests(1, timeout=20 * SLOW)
    if sig == signal.SIGKILL:
        g.kill()
    else:
        assert g.stop(sig) == 0
    t.join(timeout=10 * SLOW)
    fake.script_for("test/free", text("Good swim."))
    g.start()
    assert tg.wait_sent(CHAT, 1, timeout=20 * SLOW) == ["Good swim."]
    prompts = [messages(r)[-1]["content"] for r in fake.chat_requests]
    assert prompts == ["A workout was logged: swim 2 km."] * 2
    status, again = hook(g, {"id": "w9", "kind": "swim", "km": 2})
    assert status == 200 and again["status"] == "ok", again
    assert again["result"] == "Good swim."
    time.sleep(0.5)
    assert len(fake.chat_requests) == 2
    assert tg.sent(CHAT) == ["Good swim."]
