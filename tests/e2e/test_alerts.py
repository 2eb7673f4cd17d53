"""Alerts that do not depend on Telegram (alerts: in the config), against the real binary.

Peers on loopback: an SMTP sink (tests/fakes/fake_smtp.py), and one HTTP server standing in for
ntfy, a webhook receiver, a dead man's switch (heartbeat_url) and the providers' balance
endpoints (OpenRouter GET /api/v1/key, DeepSeek GET /user/balance, with their documented JSON
and error answers). `hermetic alerts test` reports each channel; the gateway sends the Telegram
poller-down alert through ntfy while the fake Telegram fails, trips the bleed breaker into the
webhook once (deduplicated), holds back what goes over the rate limit, watches the balances
into /metrics and alerts when one is low, and keeps home/heartbeat.json fresh. No secret (the
SMTP password, the ntfy token, the heartbeat URL's id, the provider key) appears in a message
or a log.

Reliability: a cron job (a health check) failing twice in a row, across a restart, alerts
through ntfy and SMTP while the fake Telegram is down; a restart within alerts.dedupe stays
quiet, and a condition that cleared while the gateway was down is announced resolved, not
fired again; a channel that fails once gets the alert exactly once by a retry, the others are
not sent it again, and a channel that never takes it is given up on and counted.
"""
import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import (SLOW, Gateway, clean_env, free_port, http_get, run, to_yaml,
                      wait_for)
from fakes.fake_openai import text, tool_calls
from fakes.fake_smtp import FakeSMTP
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, msum, parse_metrics

TOKEN = "123456:TEST-e2e-alerts-token"
ALLOWED = 1001
ADMIN = 4242
SMTP_USER = "alerts@example.test"
SMTP_PASSWORD = "smtp-pw-e2e-7c1f0a"
NTFY_TOKEN = "tk_e2e_ntfy_5b9e2d41"
HOOK_TOKEN = "hook-e2e-bearer-0d3a"
BEAT_ID = "beat-uuid-e2e-4f6a9c"
DEEPSEEK_KEY = "sk-deepseek-e2e-11aa22bb"
SECRETS = (SMTP_PASSWORD, NTFY_TOKEN, HOOK_TOKEN, BEAT_ID, DEEPSEEK_KEY, UPSTREAM_KEY)
ENV = {"SMTP_USER": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD, "NTFY_TOKEN": NTFY_TOKEN,
       "HOOK_TOKEN": HOOK_TOKEN, "BEAT_URL_ID": BEAT_ID, "DEEPSEEK_API_KEY": DEEPSEEK_KEY,
       UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN}


class Peer:
    """ntfy, the webhook receiver, the heartbeat receiver and the two balance endpoints."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.fail = {}  # path prefix -> how many requests to answer 503 first
        self.openrouter = (200, {"data": {"label": "sk-or-v1-e2e...c", "limit": 10.0,
                                          "limit_remaining": 2.5, "limit_reset": "monthly",
                                          "usage": 7.5, "usage_daily": 0.5, "usage_weekly": 1.0,
                                          "usage_monthly": 7.5, "byok_usage": 0,
                                          "is_free_tier": False, "is_management_key": False,
                                          "expires_at": None}})
        self.deepseek = (200, {"is_available": True, "balance_infos": [
            {"currency": "USD", "total_balance": "110.00", "granted_balance": "10.00",
             "topped_up_balance": "100.00"}]})
        peer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                rec = {"method": self.command, "path": self.path, "body": body,
                       "headers": {k.lower(): v for k, v in self.headers.items()}}
                with peer.lock:
                    peer.requests.append(rec)
                    failing = [p for p, n in peer.fail.items()
                               if n > 0 and self.path.startswith(p)]
                    for p in failing:
                        peer.fail[p] -= 1
                status, out = 200, {"id": "x"}
                if failing:
                    status, out = 503, {"error": "try again later"}
                elif self.path.endswith("/api/v1/key"):
                    status, out = peer.openrouter
                elif self.path.endswith("/user/balance"):
                    status, out = peer.deepseek
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def at(self, prefix):
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def wait(self, prefix, n, timeout=20, pred=None):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            got = [r for r in self.at(prefix) if pred is None or pred(r)]
            if len(got) >= n:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{prefix}: {len(self.at(prefix))} request(s), wanted {n}: "
                             f"{self.at(prefix)}")


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


@pytest.fixture
def smtp():
    with FakeSMTP(user=SMTP_USER, password=SMTP_PASSWORD) as s:
        yield s


def channels(peer, smtp, **extra):
    return [
        {"type": "email", "name": "mail", "url": smtp.url, "plain_loopback": True,
         "from": "hermetic@example.test", "to": ["ops@example.test", "me@example.test"],
         "username": "os.environ/SMTP_USER", "password": "os.environ/SMTP_PASSWORD"},
        {"type": "ntfy", "name": "phone", "url": peer.url + "/ntfy/hermetic-alerts",
         "token": "os.environ/NTFY_TOKEN", "priority": 5},
        {"type": "webhook", "name": "hook", "url": peer.url + "/hook",
         "token": "os.environ/HOOK_TOKEN"},
    ]


def no_secrets(*texts):
    for t in texts:
        for s in SECRETS:
            assert s not in t, f"secret {s[:6]}... leaked in: {t[:300]}"


def all_bodies(peer, smtp):
    """What the alerts said: bodies and titles (the auth headers carry tokens by design)."""
    return [r["body"] + r["headers"].get("title", "") for r in peer.requests] + \
        [m["data"] for m in smtp.messages]


# ---- hermetic alerts test ----------------------------------------------------------------


def alerts_test(tmp_path, cfg):
    (tmp_path / "home").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    r = run("alerts", "test", "--config", str(path), env=clean_env(**ENV))
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
    no_secrets(r.stdout, r.stderr)
    return r


def test_alerts_test_sends_through_each_channel(tmp_path, fake, peer, smtp):
    cfg = agent_config(fake, tmp_path / "home", alerts={"channels": channels(peer, smtp)})
    r = alerts_test(tmp_path, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == ["mail (email): ok", "phone (ntfy): ok", "hook (webhook): ok"]

    mail = smtp.wait(1)[0]
    assert mail["from"] == "<hermetic@example.test>"
    assert mail["rcpt"] == ["<ops@example.test>", "<me@example.test>"]
    assert mail["auth"] == SMTP_USER  # AUTH with the password from the environment
    assert "Subject: [hermetic] Test alert from hermetic" in mail["data"]
    assert "this channel works" in mail["data"]
    assert "STARTTLS" not in "".join(sum(smtp.sessions, []))

    ntfy = peer.wait("/ntfy/hermetic-alerts", 1)[0]
    assert ntfy["method"] == "POST"
    assert ntfy["headers"]["authorization"] == f"Bearer {NTFY_TOKEN}"
    assert ntfy["headers"]["title"] == "Test alert from hermetic"
    assert ntfy["headers"]["priority"] == "5"
    assert "this channel works" in ntfy["body"]

    hook = peer.wait("/hook", 1)[0]
    assert hook["headers"]["authorization"] == f"Bearer {HOOK_TOKEN}"
    assert hook["headers"]["content-type"] == "application/json"
    body = json.loads(hook["body"])
    assert body["source"] == "hermetic" and body["status"] == "firing"
    assert body["key"] == "test" and body["title"] == "Test alert from hermetic"


def test_alerts_test_reports_each_failure_and_exits_1(tmp_path, fake, peer, smtp):
    closed = f"http://127.0.0.1:{free_port()}/hook"
    chans = channels(peer, smtp)
    # STARTTLS is required on smtp:// unless plain_loopback: the sink offers none.
    chans[0]["plain_loopback"] = False
    chans[1]["url"] = peer.url + "/ntfy/x"
    chans.append({"type": "webhook", "name": "gone", "url": closed})
    peer.openrouter = (401, {"error": {"code": 401, "message": "No auth credentials found"}})
    cfg = agent_config(fake, tmp_path / "home", alerts={"channels": chans})
    r = alerts_test(tmp_path, cfg)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("mail (email): FAILED: "), lines
    assert lines[1:3] == ["phone (ntfy): ok", "hook (webhook): ok"]
    assert lines[3].startswith("gone (webhook): FAILED: "), lines
    assert smtp.messages == []

    # Wrong SMTP password: the server's refusal, and not the password.
    chans = channels(peer, smtp)[:1]
    env_pw = dict(ENV, SMTP_PASSWORD="wrong-" + SMTP_PASSWORD)
    (tmp_path / "config.yaml").write_text(to_yaml(agent_config(
        fake, tmp_path / "home", alerts={"channels": chans})))
    r = run("alerts", "test", "--config", str(tmp_path / "config.yaml"), env=clean_env(**env_pw))
    assert r.returncode == 1 and r.stdout.startswith("mail (email): FAILED: "), r.stdout
    assert "wrong-" not in r.stdout + r.stderr


def test_alerts_config_is_checked(tmp_path, fake, peer, smtp):
    chans = channels(peer, smtp)
    chans[0]["url"] = "smtp://mail.example.test:25"  # plain_loopback, but not loopback
    chans[2]["url"] = "ftp://x"
    cfg = agent_config(fake, tmp_path / "home", alerts={"channels": chans})
    r = alerts_test(tmp_path, cfg)
    assert r.returncode == 1
    assert "alerts.channels[0].plain_loopback: mail without STARTTLS is allowed only to a " \
           "loopback host" in r.stderr
    assert "alerts.channels[2].url: expected an http:// or https:// URL" in r.stderr


# ---- the gateway -------------------------------------------------------------------------


@pytest.fixture
def start(tmp_path, fake):
    started = []

    def make(tg=None, start_now=True, **sections):
        if tg is not None:
            sections["telegram"] = {"token": "os.environ/TELEGRAM_BOT_TOKEN", "api_base": tg.url,
                                    "stream": "off", "progress": "off",
                                    "allowed_users": [ALLOWED], "admin_chat": ADMIN,
                                    "poll_timeout_s": 1}
        sections.setdefault("agent", {"max_iterations": 50})
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, **sections)
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, ENV)
        started.append(g)
        return g.start() if start_now else g

    yield make
    for g in started:
        if g.proc and g.proc.poll() is None:
            assert g.stop() == 0, g.stderr()
        err = g.stderr()
        assert "Sanitizer" not in err and "runtime error:" not in err, err
        no_secrets(err, *(p.read_text(errors="replace")
                          for p in (tmp_path / "home" / "logs").glob("*")))


def metrics(g):
    status, _, body = http_get(g.url + "/metrics")
    assert status == 200
    return parse_metrics(body)


def api_turn(g):
    """One API turn; its answer does not matter (an alert is what the test waits for)."""
    req = urllib.request.Request(
        g.url + "/v1/chat/completions",
        data=json.dumps({"messages": [{"role": "user", "content": "go"}]}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(req, timeout=60 * SLOW).read()
    except urllib.error.HTTPError:
        pass


def test_poller_down_goes_through_ntfy_and_resolves(start, peer, smtp):
    with FakeTelegram(token=TOKEN) as tg:
        tg.add_chat(ADMIN)
        g = start(tg=tg, alerts={"channels": channels(peer, smtp)[1:2],
                                 "poller_down_after": "5s"})
        time.sleep(2)
        assert peer.at("/ntfy") == []  # polling works: nothing to say
        tg.server_error(n=100000, method="getUpdates")
        got = peer.wait("/ntfy/hermetic-alerts", 1, timeout=30,
                        pred=lambda r: r["headers"].get("title") == "Telegram poller down")
        assert "no successful getUpdates" in got[0]["body"]
        assert got[0]["headers"]["priority"] == "5"
        # Only through the channel: Telegram cannot carry it, and was not asked to.
        assert not any("poller" in t for t in tg.sent(ADMIN))
        time.sleep(3)
        assert len(peer.at("/ntfy")) == 1, "deduplicated while it stays down"
        tg._faults.clear()
        resolved = peer.wait("/ntfy/hermetic-alerts", 1, timeout=30, pred=lambda r: r[
            "headers"].get("title", "").startswith("RESOLVED: "))
        assert resolved[0]["headers"]["priority"] == "3"
        no_secrets(*all_bodies(peer, smtp), g.stderr())


def test_breaker_trip_alert_deduplicated_and_rate_limited(start, fake, peer, smtp):
    fake.script_for("test/free", *[tool_calls((f"c{i}", "time", "{}")) for i in range(40)])
    down = f"http://127.0.0.1:{free_port()}/mcp"
    g = start(alerts={"channels": channels(peer, smtp), "max_per_hour": 1,
                      "mcp_down_after": "8s"},
              mcp_servers={"kube": {"url": down}},
              guardrails={"bleed": {"max_calls": 3, "window_s": 3600, "cooldown_s": 3600}})
    api_turn(g)
    hook = peer.wait("/hook", 1, timeout=20)
    body = json.loads(hook[0]["body"])
    assert body["key"] == "breaker" and body["status"] == "firing"
    assert "more than 3 model calls" in body["text"] and "/resume" in body["text"]
    mail = smtp.wait(1)[0]
    assert "Subject: [hermetic] Bleed breaker open" in mail["data"]
    # The MCP server is down for long too, but max_per_hour is 1: held back, counted, logged.
    wait_for(lambda: msum(metrics(g), "hermetic_alerts_suppressed_total",
                          reason="rate_limited") >= 1, 20, "a rate-limited alert")
    time.sleep(3)
    assert len(peer.at("/hook")) == 1 and len(smtp.messages) == 1, "one alert, once"
    m = metrics(g)
    assert msum(m, "hermetic_alerts_sent_total", channel="hook", result="ok") == 1
    assert "alerts: mcp:kube not sent: over alerts.max_per_hour" in g.stderr()
    no_secrets(*all_bodies(peer, smtp))


def test_daily_budget_alert(start, fake, peer, smtp):
    fake.script_for("test/free", *[tool_calls((f"c{i}", "time", "{}"), cost=0.01)
                                   for i in range(5)])
    g = start(alerts={"channels": channels(peer, smtp)[2:]}, budget={"daily_usd": 0.02})
    api_turn(g)
    hook = peer.wait("/hook", 1, timeout=20)
    body = json.loads(hook[0]["body"])
    assert body["key"] == "budget:daily", body
    assert "daily budget is spent" in body["text"]


def test_a_slow_mail_relay_does_not_hold_the_loop(start, fake, peer, smtp):
    """libcurl waits for the answer to QUIT when it closes an SMTP connection. On the loop, a
    relay that takes its time to say goodbye would freeze the gateway for that long; the mail
    runs on a worker thread, so the gateway answers meanwhile."""
    smtp.quit_delay = 6.0
    fake.script_for("test/free", *[tool_calls((f"c{i}", "time", "{}"), cost=0.01)
                                   for i in range(5)])
    g = start(alerts={"channels": channels(peer, smtp)[:1]}, budget={"daily_usd": 0.02})
    api_turn(g)
    assert smtp.quit_seen.wait(20 * SLOW), "the alert mail never reached QUIT"
    t0 = time.monotonic()
    m = metrics(g)
    took = time.monotonic() - t0
    assert took < 2.0, f"/metrics took {took:.1f} s while the relay sat on QUIT"
    assert msum(m, "hermetic_alerts_sent_total", channel="mail", result="ok") == 0, \
        "not counted before the relay said goodbye"
    assert "daily budget is spent" in smtp.messages[0]["data"]
    wait_for(lambda: msum(metrics(g), "hermetic_alerts_sent_total", channel="mail",
                          result="ok") == 1, 20, "the mail counted as sent")


def test_a_stop_during_a_slow_mail_waits_for_its_thread_and_exits_cleanly(start, fake, peer,
                                                                          smtp):
    """SIGTERM while the mail thread sits in the relay's QUIT: the gateway waits for that thread
    (bounded by the relay's answer or the channel's timeout) before curl is cleaned up, and
    exits 0 with no sanitizer report (the start fixture checks both)."""
    smtp.quit_delay = 3.0
    fake.script_for("test/free", *[tool_calls((f"c{i}", "time", "{}"), cost=0.01)
                                   for i in range(5)])
    g = start(alerts={"channels": channels(peer, smtp)[:1]}, budget={"daily_usd": 0.02})
    api_turn(g)
    assert smtp.quit_seen.wait(20 * SLOW), "the alert mail never reached QUIT"
    t0 = time.monotonic()
    assert g.stop() == 0, g.stderr()
    assert time.monotonic() - t0 < 15 * SLOW
    assert "stopped cleanly" in g.stderr()


def test_balance_watch_gauges_and_low_balance_alert(start, fake, peer, smtp):
    models = [{"model_name": "or", "litellm_params": {
                  "model": "openrouter/qwen/qwen3", "api_base": peer.url + "/api/v1",
                  "api_key": f"os.environ/{UPSTREAM_ENV}"}},
              {"model_name": "ds", "litellm_params": {
                  "model": "deepseek/deepseek-chat", "api_base": peer.url + "/v1",
                  "api_key": "os.environ/DEEPSEEK_API_KEY"}}]
    g = start(model="or", auxiliary={"compression": "or"}, model_list=models,
              alerts={"channels": channels(peer, smtp)[2:], "balance_interval": "5s",
                      "balance_min_usd": 5})
    key = peer.wait("/api/v1/key", 1, timeout=20)[0]
    assert key["method"] == "GET" and key["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    bal = peer.wait("/user/balance", 1, timeout=20)[0]
    assert bal["headers"]["authorization"] == f"Bearer {DEEPSEEK_KEY}"
    wait_for(lambda: msum(metrics(g), "hermetic_provider_balance_usd", provider="deepseek") == 110,
             20, "the DeepSeek gauge")
    m = metrics(g)
    assert msum(m, "hermetic_provider_balance_usd", provider="openrouter", account="or") == 2.5
    assert msum(m, "hermetic_provider_limit_usd", provider="openrouter") == 10
    assert msum(m, "hermetic_provider_usage_usd", provider="openrouter") == 7.5
    assert msum(m, "hermetic_provider_balance_up", provider="openrouter") == 1
    low = peer.wait("/hook", 1, timeout=20)
    body = json.loads(low[0]["body"])
    assert body["key"] == "balance:openrouter:or" and "$2.5000 is left" in body["text"]
    assert not any("deepseek" in r["body"] for r in peer.at("/hook"))

    # DeepSeek's error answer: the gauge says down, nothing else breaks, no key in the log.
    peer.deepseek = (401, {"error": {"message": "Authentication Fails, Your api key: "
                                                "****bb is invalid", "type":
                                     "authentication_error", "param": None,
                                     "code": "invalid_request_error"}})
    peer.openrouter = (200, {"data": {"limit": 10.0, "limit_remaining": 9.0, "usage": 1.0}})
    wait_for(lambda: msum(metrics(g), "hermetic_provider_balance_up", provider="deepseek") == 0,
             20, "the DeepSeek read to fail")
    resolved = peer.wait("/hook", 2, timeout=20)
    assert json.loads(resolved[1]["body"])["status"] == "resolved"
    assert "HTTP 401: Authentication Fails" in g.stderr()
    no_secrets(*all_bodies(peer, smtp), g.stderr())


def test_heartbeat_file_and_push(start, peer, smtp, tmp_path):
    g = start(alerts={"heartbeat_url": peer.url + "/beat/" + BEAT_ID, "heartbeat_interval": "1s"})
    beats = peer.wait("/beat/", 2, timeout=20)
    assert beats[0]["method"] == "GET" and beats[0]["path"] == f"/beat/{BEAT_ID}"
    hb = tmp_path / "home" / "heartbeat.json"
    first = json.loads(hb.read_text())
    time.sleep(2.5)
    second = json.loads(hb.read_text())
    assert second["ts_ms"] > first["ts_ms"] and second["store"] == "ok"
    assert msum(metrics(g), "hermetic_heartbeat_timestamp_seconds") > 0
    assert BEAT_ID not in g.stderr()


def test_a_slow_disk_does_not_hold_the_loop(start, peer, smtp, tmp_path):
    """heartbeat.json is replaced with fsync every second. On a disk whose fsync takes 1.5 s
    (HERMETIC_TEST_SLOW_FSYNC_MS, the test-only hook of core/fileio) the write runs on a
    worker: /healthz still answers at once while the writes go on, and the file keeps
    being refreshed. Written on the loop, most of these requests waited up to 1.5 s."""
    g = start(start_now=False, alerts={"heartbeat_interval": "1s"})
    g.env["HERMETIC_TEST_SLOW_FSYNC_MS"] = "1500"
    g.start()
    hb = tmp_path / "home" / "heartbeat.json"
    wait_for(hb.exists, 20, "the first heartbeat.json")
    first = json.loads(hb.read_text())["ts_ms"]
    worst = 0.0
    for _ in range(16):
        t0 = time.monotonic()
        status, _, _ = http_get(g.url + "/healthz")
        worst = max(worst, time.monotonic() - t0)
        assert status == 200
        time.sleep(0.25)
    assert worst < 0.5 * SLOW, f"/healthz took {worst:.2f} s while heartbeat.json was written"
    wait_for(lambda: json.loads(hb.read_text())["ts_ms"] > first, 20, "a newer heartbeat")


# ---- reliability -------------------------------------------------------------------------


def make_due(g, job):
    """The job last ran two days ago: its run three minutes ago runs at the next start."""
    if not (g.home / "state.db").exists():
        g.home.mkdir(parents=True, exist_ok=True)
        r = run("sessions", "list", "--config", str(g.config), env=g.env)
        assert r.returncode == 0, r.stderr
    db = sqlite3.connect(g.home / "state.db")
    t = int(time.time() * 1000) - 2 * 86400 * 1000
    db.execute("INSERT OR REPLACE INTO kv (key, value, updated_ms) VALUES (?, ?, ?)",
               (f"cron.{job}.last_run", json.dumps({"time_ms": t, "status": "ok",
                                                    "cost_usd": 0}), t))
    db.commit()
    db.close()


def n_verdicts(g, job):
    db = sqlite3.connect(g.home / "state.db")
    try:
        return db.execute("SELECT count(*) FROM cron_verdicts WHERE job = ?",
                          (job,)).fetchone()[0]
    finally:
        db.close()


def test_cron_failing_twice_alerts_while_telegram_is_down(start, fake, peer, smtp):
    fake.script_for("test/free",
                    tool_calls(("c1", "report", json.dumps(
                        {"status": "fail", "summary": "backup failed: disk full"}))),
                    text("The backup failed."),
                    text("I could not tell whether the backup ran."))
    minute = time.localtime(time.time() - 180).tm_min
    with FakeTelegram(token=TOKEN) as tg:
        tg.add_chat(ADMIN)
        tg.server_error(n=100000)  # Telegram is down the whole time
        g = start(tg=tg, start_now=False, alerts={"channels": channels(peer, smtp)[:2]},
                  cron=[{"name": "backup", "schedule": f"{minute} * * * *",
                         "prompt": "Check the backup.", "report": "on_failure",
                         "deliver": f"telegram:{ADMIN}"}])
        make_due(g, "backup")
        g.start()
        wait_for(lambda: n_verdicts(g, "backup") == 1, 30, "the first verdict")
        time.sleep(1)
        assert not any("backup" in r["headers"].get("title", "") for r in peer.at("/ntfy"))
        assert g.stop() == 0
        # The second failure (no verdict at all) comes after a restart: still twice in a row.
        make_due(g, "backup")
        g.start()
        ntfy = peer.wait("/ntfy/hermetic-alerts", 1, timeout=30, pred=lambda r: r[
            "headers"].get("title") == "cron job backup failed 2 times in a row")
        assert "no verdict: the run ended without calling report" in ntfy[0]["body"]
        mail = smtp.wait(1)[0]
        assert "Subject: [hermetic] cron job backup failed 2 times in a row" in mail["data"]
        assert tg.sent(ADMIN) == []  # nothing went through Telegram
        no_secrets(*all_bodies(peer, smtp), g.stderr())


def test_restart_within_the_dedupe_window_stays_quiet(start, peer, smtp):
    def titles():
        return [r["headers"].get("title") for r in peer.at("/ntfy")]

    with FakeTelegram(token=TOKEN) as tg:
        tg.add_chat(ADMIN)
        tg.server_error(n=100000, method="getUpdates")
        g = start(tg=tg, alerts={"channels": channels(peer, smtp)[1:2],
                                 "poller_down_after": "5s"})
        peer.wait("/ntfy/hermetic-alerts", 1, timeout=30)
        assert titles() == ["Telegram poller down"]
        assert g.stop() == 0
        state = json.loads((g.home / "alerts-state.json").read_text())
        assert [k["key"] for k in state["firing"]] == ["telegram_poller"]

        # Still down after the restart: the same alert within the hour is a duplicate.
        g.start()
        wait_for(lambda: msum(metrics(g), "hermetic_alerts_suppressed_total",
                              reason="duplicate") >= 1, 30, "the duplicate")
        time.sleep(1)
        assert titles() == ["Telegram poller down"]
        assert g.stop() == 0

        # It came back while the gateway was down: one RESOLVED, no new firing.
        tg._faults.clear()
        g.start()
        peer.wait("/ntfy/hermetic-alerts", 2, timeout=30)
        time.sleep(4)
        assert titles() == ["Telegram poller down",
                            "RESOLVED: Telegram poller is polling again: the bot is reachable"]
        state = json.loads((g.home / "alerts-state.json").read_text())
        assert state["firing"] == []


def test_failed_send_is_retried_and_each_channel_gets_it_once(start, fake, peer, smtp):
    fake.script_for("test/free", *[tool_calls((f"c{i}", "time", "{}"), cost=0.01)
                                   for i in range(5)])
    gone = f"http://127.0.0.1:{free_port()}/gone"
    chans = channels(peer, smtp)[1:] + [{"type": "webhook", "name": "gone", "url": gone}]
    peer.fail["/hook"] = 1  # the webhook receiver fails the first request, then recovers
    g = start(alerts={"channels": chans, "retry_after": "1s", "send_attempts": 3},
              budget={"daily_usd": 0.02})
    api_turn(g)
    hooks = peer.wait("/hook", 2, timeout=30)
    assert json.loads(hooks[0]["body"]) == json.loads(hooks[1]["body"])  # the same alert
    assert json.loads(hooks[1]["body"])["key"] == "budget:daily"
    # The channel that never takes it: three tries (1 s, then 2 s apart), then given up.
    wait_for(lambda: msum(metrics(g), "hermetic_alerts_given_up_total", channel="gone") == 1,
             30, "the give-up")
    time.sleep(2)
    assert len(peer.at("/hook")) == 2, "sent again after it was taken"
    assert len(peer.at("/ntfy")) == 1, "a channel that took it is not sent it again"
    m = metrics(g)
    assert msum(m, "hermetic_alerts_sent_total", channel="hook", result="failed") == 1
    assert msum(m, "hermetic_alerts_sent_total", channel="hook", result="ok") == 1
    assert msum(m, "hermetic_alerts_sent_total", channel="gone", result="failed") == 3
    assert msum(m, "hermetic_alerts_given_up_total", channel="hook") == 0
    err = g.stderr()
    assert "alerts: budget:daily could not be sent through hook: HTTP 503" in err
    assert "alerts: budget:daily was not sent through gone (3 attempt(s))" in err
