"""Health checks (cron jobs with `report: on_failure`) inside `hermetic gateway`, end to end.

Three health checks run at one start (each a missed run within misfire_grace_s, each on its
own model group so the fake's scripts do not interleave): one reports ok (nothing reaches the
fake Telegram), one reports fail (its summary and details are delivered), one never calls
`report` (delivered as "no verdict"). Only their runs are offered the `report` tool. The
verdicts are in state.db, in /metrics (hermetic_cron_health_status), in /jobs and in
`hermetic config check`; only the last 10 per job are kept.
"""
import json
import sqlite3
import time

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, http_get, run, to_yaml
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, deployment, msum, parse_metrics

TOKEN = "123456:TEST-e2e-health-token"
CHAT = 1001
ENV = {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN}


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        t.add_chat(CHAT)
        yield t


def missed_minute():
    """An hourly schedule whose run three minutes ago was missed (within misfire_grace_s)."""
    return f"{time.localtime(time.time() - 180).tm_min} * * * *"


def check(name, model):
    return {"name": name, "schedule": missed_minute(), "model": model, "report": "on_failure",
            "prompt": f"Check {name}.", "deliver": f"telegram:{CHAT}"}


@pytest.fixture
def health(tmp_path, fake, tg):
    started = []

    def make(cron, models=()):
        cfg = agent_config(
            fake, "HOME", api={"listen": "127.0.0.1:PORT"},
            telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "stream": "off",
                      "progress": "off", "allowed_users": [CHAT], "api_base": tg.url,
                      "poll_timeout_s": 1},
            cron=cron)
        cfg["model_list"] += [deployment(m, f"test/{m}", fake) for m in models]
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, ENV)
        started.append(g)
        # The database exists before the first start, so the runs can be made due.
        g.home.mkdir(parents=True, exist_ok=True)
        r = run("sessions", "list", "--config", str(g.config), env=g.env)
        assert r.returncode == 0, r.stderr
        return g

    yield make
    for g in started:
        g.kill()
        err = g.stderr()
        assert "Sanitizer" not in err and "runtime error:" not in err, err


def make_due(g, *jobs):
    """Each job last ran two days ago: its run three minutes ago runs at the next start."""
    db = sqlite3.connect(g.home / "state.db")
    t = int(time.time() * 1000) - 2 * 86400 * 1000
    for job in jobs:
        db.execute("INSERT OR REPLACE INTO kv (key, value, updated_ms) VALUES (?, ?, ?)",
                   (f"cron.{job}.last_run",
                    json.dumps({"time_ms": t, "status": "ok", "cost_usd": 0}), t))
    db.commit()
    db.close()


def verdicts(g, job):
    db = sqlite3.connect(g.home / "state.db")
    try:
        return db.execute("SELECT status, summary, details FROM cron_verdicts WHERE job = ? "
                          "ORDER BY id", (job,)).fetchall()
    finally:
        db.close()


def wait_verdicts(g, job, n, timeout=30):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        got = verdicts(g, job)
        if len(got) >= n:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{job}: {verdicts(g, job)}, wanted {n} verdict(s)\n{g.stderr()}")


def tool_names(req):
    return [t["function"]["name"] for t in req["body"].get("tools") or []]


def test_only_verdicts_that_are_not_ok_are_delivered(health, fake, tg):
    fake.script_for("test/okm", tool_calls(("c1", "report", json.dumps(
        {"status": "ok", "summary": "all 3 nodes Ready"}))), text("Checked: fine."))
    fake.script_for("test/failm", tool_calls(("c1", "report", json.dumps(
        {"status": "fail", "summary": "node pi-2 NotReady",
         "details": "kubelet stopped posting status 12 min ago"}))), text("pi-2 is down."))
    fake.script_for("test/silentm", text("I looked around and all seems fine."))
    fake.script_for("test/free", text("plain job answer"))
    cron = [check("nodes_ok", "okm"), check("nodes_fail", "failm"),
            check("silent", "silentm"),
            {"name": "plain", "schedule": missed_minute(), "prompt": "Plain.",
             "deliver": f"telegram:{CHAT}"}]
    g = health(cron, models=("okm", "failm", "silentm"))
    make_due(g, "nodes_ok", "nodes_fail", "silent", "plain")
    g.start()

    assert wait_verdicts(g, "nodes_ok", 1) == [("ok", "all 3 nodes Ready", "")]
    assert wait_verdicts(g, "nodes_fail", 1) == [
        ("fail", "node pi-2 NotReady", "kubelet stopped posting status 12 min ago")]
    assert wait_verdicts(g, "silent", 1) == [
        ("fail", "no verdict: the run ended without calling report", "")]
    sent = tg.wait_sent(CHAT, 3, timeout=20 * SLOW)
    time.sleep(1)
    sent = tg.sent(CHAT)
    assert len(sent) == 3, sent
    assert "Health check nodes_fail: FAIL\nnode pi-2 NotReady\n\n" \
           "kubelet stopped posting status 12 min ago" in sent
    assert "Health check silent: FAIL\nno verdict: the run ended without calling report" in sent
    assert "plain job answer" in sent
    assert not any("nodes_ok" in s or "all 3 nodes" in s for s in sent)

    # The report tool is offered to the health checks' runs only, and they are told to use it.
    by_model = {}
    for r in fake.chat_requests:
        by_model.setdefault(r["model"], r)
    assert "report" in tool_names(by_model["test/okm"])
    assert "report" in tool_names(by_model["test/silentm"])
    assert "report" not in tool_names(by_model["test/free"])
    system = by_model["test/okm"]["body"]["messages"][0]["content"]
    assert "call the `report` tool" in system

    status, _, body = http_get(g.url + "/metrics")
    m = parse_metrics(body)
    assert msum(m, "hermetic_cron_health_status", job="nodes_ok") == 0
    assert msum(m, "hermetic_cron_health_status", job="nodes_fail") == 2
    assert msum(m, "hermetic_cron_health_status", job="silent") == 2

    # /jobs shows each health check's last verdict.
    tg.push_text("/jobs", chat_id=CHAT)
    jobs = tg.wait_sent(CHAT, 4, timeout=20 * SLOW)[-1]
    assert "nodes_fail" in jobs and "health: fail at " in jobs and "node pi-2 NotReady" in jobs
    assert "health: ok at " in jobs


def test_last_ten_verdicts_are_kept_and_listed(health, fake, tg):
    g = health([check("disk", "free")])
    db = sqlite3.connect(g.home / "state.db")
    for i in range(10):
        db.execute("INSERT INTO cron_verdicts (job, time_ms, status, summary) "
                   "VALUES ('disk', ?, ?, ?)", (1000 + i, "warn" if i % 2 else "ok", f"old {i}"))
    db.commit()
    db.close()
    fake.script_for("test/free", tool_calls(("c1", "report", json.dumps(
        {"status": "warn", "summary": "/var at 85%"}))), text("Disk is filling."))
    make_due(g, "disk")
    g.start()
    deadline = time.monotonic() + 30 * SLOW
    while time.monotonic() < deadline and verdicts(g, "disk")[-1][1] != "/var at 85%":
        time.sleep(0.1)
    got = verdicts(g, "disk")
    assert len(got) == 10, got
    assert got[0][1] == "old 1" and got[-1] == ("warn", "/var at 85%", "")
    assert tg.wait_sent(CHAT, 1, timeout=20 * SLOW) == ["Health check disk: WARN\n/var at 85%"]
    assert msum(parse_metrics(http_get(g.url + "/metrics")[2]),
                "hermetic_cron_health_status", job="disk") == 1
    g.stop()

    # The CLI that lists the jobs shows the same.
    r = run("config", "check", "--config", str(g.config), env=g.env)
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("cron disk: health:")]
    assert line and "warn at " in line[0] and "/var at 85%" in line[0], r.stdout
    assert "last 10, oldest first: ⚠✓⚠✓⚠✓⚠✓⚠⚠" in line[0], line
