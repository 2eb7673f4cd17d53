"""`hermetic router` spend: the cost of each call (usage.cost, else model_info prices), the
SQLite ledger in home/state.db that survives SIGKILL, budgets checked before the upstream is
called (daily, proxy-wide max_budget, per key), and `hermetic spend`."""
import datetime
import json
import re
import sqlite3
import threading
import time
import zoneinfo

import pytest

from fakes.fake_openai import raw, text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    BUDGET_EXCEEDED, approx, count_calls, deployment, fake, router_config,
    start_router, today_utc,
)

ALICE_KEY = "sk-e2e-alice-SECRET-0a1b2c"
BOB_KEY = "sk-e2e-bob-SECRET-3d4e5f"
LEDGER_COLUMNS = {"ts_ms", "day", "model_group", "deployment", "key_hash", "input_tokens",
                  "output_tokens", "cost_usd", "cost_source"}


def assert_budget_exceeded(reply, current, maximum):
    assert reply.status == 400, reply.text
    err = reply.error()
    assert err.get("type") == "budget_exceeded", err
    assert err.get("param", "missing") is None and err.get("code") == "400", err
    m = BUDGET_EXCEEDED.match(err.get("message", ""))
    assert m, err
    assert approx(m.group(1), current, 1e-6), (m.group(1), current)
    assert approx(m.group(2), maximum, 1e-9), (m.group(2), maximum)


def paid(n, cost, prefix="paid"):
    return [text(f"{prefix} {i}", cost=cost) for i in range(n)]


def test_daily_budget_refuses_calls_before_the_upstream_once_spent(fake, start_router):
    fake.script_for("test/free", *paid(3, 0.02), text("must not be reached"))
    r = start_router(router_config(fake, budget={"daily_usd": 0.05}))
    for i in range(3):  # 0.00, 0.02, 0.04 spent before each: all under the cap
        reply = r.chat("free")
        assert reply.status == 200 and reply.content() == f"paid {i}", reply.text
    assert_budget_exceeded(r.chat("free"), 0.06, 0.05)
    assert_budget_exceeded(r.chat("free", stream=True), 0.06, 0.05)
    assert count_calls(fake, "test/free") == 3


def test_budget_survives_sigkill_and_restart(fake, start_router):
    fake.script_for("test/free", *paid(2, 0.03), text("must not be reached"))
    r = start_router(router_config(fake, budget={"daily_usd": 0.05}))
    assert [r.chat("free").status for _ in range(2)] == [200, 200]
    r.wait_spend_rows(2)
    r.kill()  # SIGKILL between calls
    rows = r.spend_rows()
    assert len(rows) == 2 and approx(sum(x["cost_usd"] for x in rows), 0.06, 1e-9), rows
    r.start()
    assert_budget_exceeded(r.chat("free"), 0.06, 0.05)
    assert count_calls(fake, "test/free") == 2


def test_proxy_max_budget_is_enforced(fake, start_router):
    fake.script_for("test/free", *paid(1, 0.02), text("must not be reached"))
    r = start_router(router_config(fake, litellm_settings={"max_budget": 0.01,
                                                           "budget_duration": "1d"}))
    assert r.chat("free").status == 200
    assert_budget_exceeded(r.chat("free"), 0.02, 0.01)
    assert count_calls(fake, "test/free") == 1


def test_per_key_budget_is_isolated(fake, start_router):
    fake.script_for("test/free", *paid(2, 0.04), text("must not be reached"))
    r = start_router(router_config(fake, keys=[
        {"key": "os.environ/E2E_ALICE_KEY", "alias": "alice", "max_budget": 0.03},
        {"key": "os.environ/E2E_BOB_KEY", "alias": "bob", "max_budget": 1.0}]),
        env={"E2E_ALICE_KEY": ALICE_KEY, "E2E_BOB_KEY": BOB_KEY})
    assert r.chat("free", key=ALICE_KEY).status == 200
    assert_budget_exceeded(r.chat("free", key=ALICE_KEY), 0.04, 0.03)
    reply = r.chat("free", key=BOB_KEY)
    assert reply.status == 200 and reply.content() == "paid 1", reply.text
    assert count_calls(fake, "test/free") == 2
    rows = r.wait_spend_rows(2)
    assert len(rows) == 2, rows
    assert rows[0]["key_hash"] != rows[1]["key_hash"]
    dump = json.dumps(rows)
    assert ALICE_KEY not in dump and BOB_KEY not in dump


def completion_without_cost(prompt_tokens, completion_tokens):
    body = {"id": "gen-e2e", "object": "chat.completion", "created": 0, "model": "test/free",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "priced locally"}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
    return raw(200, json.dumps(body), {"Content-Type": "application/json"})


def test_cost_falls_back_to_model_info_prices(fake, start_router):
    fake.script_for("test/free", completion_without_cost(1000, 500))
    models = [deployment("free", "test/free", fake, model_info={
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06})]
    r = start_router(router_config(fake, models))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "priced locally", reply.text
    assert approx(reply.headers["x-litellm-response-cost"], 0.002, 1e-9)
    [row] = r.wait_spend_rows(1)
    assert approx(row["cost_usd"], 0.002, 1e-9), row
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 500)


def test_cost_is_zero_without_usage_cost_or_prices(fake, start_router):
    fake.script_for("test/free", completion_without_cost(1000, 500))
    r = start_router(router_config(fake))
    reply = r.chat("free")
    assert reply.status == 200, reply.text
    assert approx(reply.headers["x-litellm-response-cost"], 0.0)
    [row] = r.wait_spend_rows(1)
    assert row["cost_usd"] == 0, row


def test_upstream_usage_cost_wins_over_model_info_prices(fake, start_router):
    fake.script_for("test/free", text("credits", cost=0.0123,
                                      usage={"prompt_tokens": 1000, "completion_tokens": 500}))
    models = [deployment("free", "test/free", fake, model_info={
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06})]
    r = start_router(router_config(fake, models))
    reply = r.chat("free")
    assert reply.status == 200, reply.text
    assert approx(reply.headers["x-litellm-response-cost"], 0.0123, 1e-9)
    [row] = r.wait_spend_rows(1)
    assert approx(row["cost_usd"], 0.0123, 1e-9), row


def test_streamed_call_cost_is_recorded_without_a_client_usage_request(fake, start_router):
    fake.script_for("test/free", text("streamed and paid", cost=0.0175), text("must not be reached"))
    r = start_router(router_config(fake, budget={"daily_usd": 0.01}))
    reply = r.chat("free", stream=True)
    assert reply.status == 200 and reply.stream_content() == "streamed and paid", reply.text
    [row] = r.wait_spend_rows(1)
    assert approx(row["cost_usd"], 0.0175, 1e-9), row
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0, row
    assert_budget_exceeded(r.chat("free"), 0.0175, 0.01)


def test_ledger_rows_and_spend_command_show_day_group_and_cost(fake, start_router):
    fake.script_for("test/free", text("f", cost=0.25))
    fake.script_for("test/cheap", text("c1", cost=0.5), text("c2", cost=0.5))
    before = today_utc()
    r = start_router(router_config(fake, [deployment("free", "test/free", fake, id="free-x"),
                                          deployment("cheap", "test/cheap", fake, id="cheap-y")]))
    for group in ("free", "cheap", "cheap"):
        assert r.chat(group).status == 200
    rows = r.wait_spend_rows(3)
    assert r.stop() == 0, r.stderr()
    after = today_utc()
    days = {before, after}
    assert len(rows) == 3 and LEDGER_COLUMNS <= set(rows[0]), rows
    assert sorted((x["model_group"], x["deployment"]) for x in rows) == [
        ("cheap", "cheap-y"), ("cheap", "cheap-y"), ("free", "free-x")]
    assert all(x["day"] in days and x["cost_source"] for x in rows), rows
    assert all(x["input_tokens"] > 0 for x in rows), rows

    out = r.spend_cli("--days", "7")
    assert out.returncode == 0, out.stderr
    assert any(d in out.stdout for d in days), out.stdout
    lines = out.stdout.splitlines()

    def numbers(group):
        hits = [line for line in lines if re.search(rf"(?<![\w/-]){group}(?![\w/-])", line)]
        assert hits, f"no line for {group}:\n{out.stdout}"
        return [float(n) for line in hits
                for n in re.findall(r"\d+(?:\.\d+)?", re.sub(r"\d{4}-\d\d-\d\d", " ", line))]

    assert any(approx(n, 0.25, 0.005) for n in numbers("free")), out.stdout
    cheap = numbers("cheap")
    assert any(approx(n, 1.0, 0.005) for n in cheap), out.stdout
    assert 2 in cheap, out.stdout  # calls


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])  # UTC+14, UTC-11
def test_ledger_day_is_the_local_day_of_timezone(fake, start_router, zone):
    fake.script_for("test/free", text("local day", cost=0.01))
    tz = zoneinfo.ZoneInfo(zone)
    before = datetime.datetime.now(tz).date().isoformat()
    r = start_router(router_config(fake, timezone=zone))
    assert r.chat("free").status == 200
    [row] = r.wait_spend_rows(1)
    after = datetime.datetime.now(tz).date().isoformat()
    assert row["day"] in {before, after}, (row["day"], zone, before)


def test_spend_command_days_limits_the_report(fake, start_router):
    fake.script_for("test/free", text("today", cost=0.25))
    r = start_router(router_config(fake))
    assert r.chat("free").status == 200
    r.wait_spend_rows(1)
    assert r.stop() == 0, r.stderr()
    old = time.time() - 10 * 86400
    con = sqlite3.connect(r.home / "state.db")
    with con:
        con.execute("INSERT INTO spend (ts_ms, day, model_group, deployment, key_hash, "
                    "input_tokens, output_tokens, cost_usd, cost_source) "
                    "VALUES (?, ?, 'ancient', 'ancient-1', 'None', 10, 10, 0.75, 'upstream')",
                    (int(old * 1000), time.strftime("%Y-%m-%d", time.gmtime(old))))
    con.close()
    week = r.spend_cli("--days", "7")
    assert week.returncode == 0, week.stderr
    assert "free" in week.stdout and "ancient" not in week.stdout, week.stdout
    month = r.spend_cli("--days", "30")
    assert month.returncode == 0, month.stderr
    assert "free" in month.stdout and "ancient" in month.stdout, month.stdout


def test_a_burst_of_concurrent_calls_leaves_one_ledger_row_each(fake, start_router):
    # The answers arrive together, so their rows share group commits (store_batch_*); every
    # one must still land, once, in the order written.
    n = 16
    fake.script_for("test/free", *[text(f"burst {i}", cost=0.001 * (i + 1),
                                        first_byte_delay=0.3) for i in range(n)])
    r = start_router(router_config(fake))
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(r.chat("free")))
               for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(x.status for x in replies) == [200] * n, [x.text for x in replies]
    rows = r.wait_spend_rows(n)
    assert len(rows) == n, rows
    assert approx(sum(x["cost_usd"] for x in rows), 0.001 * n * (n + 1) / 2, 1e-9), rows
    assert sorted(x["cost_usd"] for x in rows) == sorted(0.001 * (i + 1) for i in range(n))
    con = sqlite3.connect(f"file:{r.home / 'state.db'}?mode=ro", uri=True, timeout=5)
    ids = [row[0] for row in con.execute("SELECT ts_ms FROM spend ORDER BY id")]
    con.close()
    assert ids == sorted(ids), ids
    assert r.stop() == 0, r.stderr()
    assert len(r.spend_rows()) == n


def next_midnight(zone):
    now = datetime.datetime.now(zoneinfo.ZoneInfo(zone))
    return (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def test_a_budget_refusal_says_which_budget_when_it_resets_and_what_raises_it(
        fake, start_router):
    """LiteLLM's message stays for API clients; error.budget adds which budget, the config key
    that raises it, when it resets (the day's: the next midnight in the config's timezone) and
    the sentence a person reads. A key's budget without budget_duration never resets."""
    fake.script_for("test/free", *paid(2, 0.04), text("must not be reached"))
    r = start_router(router_config(
        fake, timezone="Asia/Manila", budget={"daily_usd": 0.05},
        keys=[{"key": "os.environ/E2E_ALICE_KEY", "alias": "alice", "max_budget": 0.03},
              {"key": "os.environ/E2E_BOB_KEY", "alias": "bob"}]),
        env={"E2E_ALICE_KEY": ALICE_KEY, "E2E_BOB_KEY": BOB_KEY})
    assert r.chat("free", key=ALICE_KEY).status == 200
    reply = r.chat("free", key=ALICE_KEY)
    assert_budget_exceeded(reply, 0.04, 0.03)
    b = reply.error()["budget"]
    assert b["which"] == "key" and b["key"] == "alice" and b["config_key"] == "max_budget", b
    assert b["resets_at"] is None and b["timezone"] == "Asia/Manila"
    assert b["text"] == ("The budget of key alice is used up: $0.04 spent of the $0.03 that "
                         "max_budget allows. It does not reset by itself (no budget_duration). "
                         "To allow more, raise max_budget of key alice under keys: in the "
                         "config (its period is that key's budget_duration)."), b["text"]
    assert r.chat("free", key=BOB_KEY).status == 200
    reply = r.chat("free", key=BOB_KEY)
    assert_budget_exceeded(reply, 0.08, 0.05)
    b = reply.error()["budget"]
    midnight = next_midnight("Asia/Manila")
    assert b["which"] == "daily" and b["config_key"] == "budget.daily_usd", b
    assert approx(b["spent_usd"], 0.08, 1e-9) and approx(b["max_usd"], 0.05, 1e-9), b
    assert b["resets_at"] == midnight.isoformat(), (b["resets_at"], midnight.isoformat())
    assert b["text"].startswith("Today's budget is used up: $0.08 spent of the $0.05 a day "
                                "that budget.daily_usd allows. It resets at midnight, "
                                f"{midnight:%Y-%m-%d} 00:00 Asia/Manila (in "), b["text"]
    assert b["text"].endswith("). To allow more, raise budget.daily_usd in the config.")
    assert count_calls(fake, "test/free") == 2
