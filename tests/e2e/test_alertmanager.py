"""Alert-driven investigations: an Alertmanager-shaped sender (webhook payload version 4)
against the gateway's POST /v1/alerts/alertmanager, with a fake Kubernetes MCP server, a fake
Prometheus, the fake Telegram Bot API and a fake Alertmanager API v2. A firing group starts one
read-only investigation (only prometheus_query and the MCP server's read-only tools, the
runbook in its system prompt) delivered with Silence 1h / Silence 4h / Ack / Dig deeper; a
repeat within reinvestigate_after starts nothing, also after a restart; resolved adds a reply
under the investigation (exactly one); Silence sends the exact API v2 request; a stranger's
press is refused, and so is a press from another allowed chat; a wrong token is 401; Dig deeper counts against investigate.max_per_hour; a
new group's id is past every stored one, also rows not loaded."""
import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, http_get, to_yaml, wait_for
from fakes.fake_alertmanager import FakeAlertmanager
from fakes.fake_mcp import FakeMcp, text_result, tool
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import FakeTelegram, callback_data_of
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TEST-e2e-SECRET-token"
AM_TOKEN = "am-e2e-SECRET-token-7c1f"
OWNER = 1001
STRANGER = 666
GROUP_KEY = '{}:{alertname="KubePodCrashLooping"}'

K8S_TOOLS = [
    tool("pods_log", "fixed", description="Logs of a pod",
         result=text_result("panic: missing env DATABASE_URL"),
         annotations={"readOnlyHint": True}),
    tool("pods_delete", "echo", description="Delete a pod",
         annotations={"destructiveHint": True}),
]

RUNBOOK = """---
name: kubepodcrashlooping
description: What to check when a pod crash-loops.
---
Check the pod's last logs first, then its restarts in Prometheus (RUNBOOK-MARKER-42).
"""


class _Prom(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        self.server.queries.append(self.path)
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"pod": "web-7f9c"}, "value": [time.time(), "14"]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


@pytest.fixture
def prom():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Prom)
    srv.queries = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        t.add_chat(OWNER)  # the owner has started the bot
        yield t


@pytest.fixture
def mcp():
    with FakeMcp(tools=K8S_TOOLS) as m:
        yield m


@pytest.fixture
def am():
    with FakeAlertmanager() as a:
        yield a


@pytest.fixture
def bot(tmp_path, fake, tg, mcp, prom, am):
    started = []

    def make(investigate=None, env=None, allowed_users=(OWNER,)):
        tele = {"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": list(allowed_users),
                "api_base": tg.url, "poll_timeout_s": 1, "stream": "off", "progress": "off"}
        alerts = {"alertmanager_token": "os.environ/AM_TOKEN", "alertmanager_url": am.url,
                  "reinvestigate_after": "4h",
                  "investigate": {"mcp_servers": ["k8s"], "max_cost_usd": 0.5}
                  | (investigate or {})}
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele,
                           alerts=alerts,
                           prometheus={"url": f"http://127.0.0.1:{prom.server_address[1]}"},
                           mcp_servers={"k8s": {"url": mcp.url, "timeout": 10 * SLOW}})
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN,
                                      "AM_TOKEN": AM_TOKEN} | (env or {}))
        book = g.home / "skills" / "runbooks" / "kubepodcrashlooping"
        book.mkdir(parents=True)
        (book / "SKILL.md").write_text(RUNBOOK)
        started.append(g)
        g.start()
        wait_for(lambda: "mcp_k8s_pods_log" in tools_of(g), 30, "the MCP tools")
        return g

    yield make
    for g in started:
        g.kill()
        assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()
        assert AM_TOKEN not in g.stderr()


def tools_of(g):
    try:
        with urllib.request.urlopen(g.url + "/v1/tools", timeout=5 * SLOW) as r:
            return r.read().decode()
    except OSError:
        return ""


def payload(status="firing", fingerprints=("a1b2c3d4e5f60718",)):
    now = datetime.now(timezone.utc)
    alerts = [{"status": status,
               "labels": {"alertname": "KubePodCrashLooping", "namespace": "prod",
                          "pod": f"web-{fp[:4]}", "severity": "warning"},
               "annotations": {"summary": "Pod prod/web is crash looping",
                               "description": "Pod prod/web restarted 14 times in 10m."},
               "startsAt": (now - timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
               "endsAt": ("0001-01-01T00:00:00Z" if status == "firing"
                          else now.isoformat().replace("+00:00", "Z")),
               "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
               "fingerprint": fp} for fp in fingerprints]
    return {"version": "4", "groupKey": GROUP_KEY, "truncatedAlerts": 0, "status": status,
            "receiver": "hermetic", "groupLabels": {"alertname": "KubePodCrashLooping"},
            "commonLabels": {"alertname": "KubePodCrashLooping", "namespace": "prod",
                             "severity": "warning"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093"}\
        | {"alerts": alerts}


def send(g, body, token=AM_TOKEN):
    """POST as Alertmanager's webhook notifier does; (status, JSON answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.28.1"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(g.url + "/v1/alerts/alertmanager", data=data, headers=headers,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def investigation(tg, n=1):
    def found():
        ms = [m for m in tg.messages(OWNER) if m.get("reply_markup")]
        return ms[n - 1] if len(ms) >= n else None
    wait_for(found, 30, f"investigation {n}")
    return found()


def replies_to(tg, message_id):
    return [m for m in tg.messages(OWNER)
            if (m.get("reply_to_message") or {}).get("message_id") == message_id]


def state_row(g, sql):
    """The first row sql finds in the gateway's state.db (None when none)."""
    db = sqlite3.connect(g.home / "state.db")
    try:
        return db.execute(sql).fetchone()
    finally:
        db.close()


def offered_tools(req):
    return sorted(t["function"]["name"] for t in req["body"].get("tools", []))


def investigate_script(fake, answer="The pod web crash-loops: DATABASE_URL is missing."):
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_k8s_pods_log", '{"name": "web-a1b2"}')),
                    tool_calls(("c2", "prometheus_query",
                                '{"query": "kube_pod_container_status_restarts_total"}')),
                    text(answer))


def test_firing_repeat_resolved_and_wrong_token(bot, tg, fake, mcp, prom):
    investigate_script(fake)
    g = bot()
    # Wrong, missing token; malformed JSON: refused, nothing runs.
    assert send(g, payload(), token="nope")[0] == 401
    status, answer = send(g, payload(), token=None)
    assert status == 401 and "alertmanager_token" in answer["error"]["message"]
    status, answer = send(g, b'{"version": "4",\n "status": firing}')
    assert status == 400 and "line 2, column" in answer["error"]["message"]
    status, answer = send(g, payload() | {"alerts": [{"status": "firing", "labels": []}]})
    assert status == 400 and "alerts[0].labels" in answer["error"]["message"]
    assert fake.chat_requests == []

    assert send(g, payload()) == (200, {"status": "ok", "action": "investigating"})
    msg = investigation(tg)
    assert msg["text"].startswith("🚨 KubePodCrashLooping (1 firing)")
    assert "DATABASE_URL is missing." in msg["text"]
    labels = [[b["text"] for b in row] for row in msg["reply_markup"]["inline_keyboard"]]
    assert labels == [["Silence 1h", "Silence 4h"], ["Ack", "Dig deeper"]]
    assert all(len(d) <= 64 for d in callback_data_of(msg["reply_markup"]))
    # Read-only tools only, the runbook in the system prompt, the alert in the prompt.
    first = fake.chat_requests[0]
    assert offered_tools(first) == ["mcp_k8s_pods_log", "prometheus_query"]
    assert "RUNBOOK-MARKER-42" in first["body"]["messages"][0]["content"]
    assert "Pod prod/web restarted 14 times" in first["body"]["messages"][-1]["content"]
    assert any("restarts_total" in q for q in prom.queries)
    assert [c["params"]["name"] for c in (r["body"] for r in mcp.requests
            if isinstance(r.get("body"), dict) and r["body"].get("method") == "tools/call")] \
        == ["pods_log"]
    # The audit trail names the source.
    trail = [json.loads(x) for x in (g.home / "logs" / "audit.jsonl").read_text().splitlines()]
    assert any(x["kind"] == "turn" and x["source"].startswith("alert:") for x in trail)

    # Alertmanager repeats the group (repeat_interval): nothing new.
    n = len(fake.chat_requests)
    assert send(g, payload())[1]["action"] == "already_investigated"
    time.sleep(1 * SLOW)
    assert len(fake.chat_requests) == n
    assert len([m for m in tg.messages(OWNER) if m.get("reply_markup")]) == 1

    # Resolved: a short note replying to the investigation.
    assert send(g, payload("resolved"))[1]["action"] == "resolved_noted"
    wait_for(lambda: replies_to(tg, msg["message_id"]), 20, "the resolved note")
    time.sleep(1 * SLOW)  # time for a second note to arrive, were one sent
    assert [m["text"] for m in replies_to(tg, msg["message_id"])] == \
        ["✅ Resolved: KubePodCrashLooping"]


def test_a_slow_runbook_scan_does_not_hold_the_loop(bot, tg, fake):
    """The runbook is looked for by reading every runbook's SKILL.md. On a disk that takes 2 s
    for it (HERMETIC_TEST_SLOW_RUNBOOK_MS, a test-only hook inside the scan) the scan runs on
    a worker: Alertmanager's POST and /healthz are answered at once meanwhile, and the
    investigation then starts with the runbook. On the loop, both waited the 2 s."""
    investigate_script(fake)
    g = bot(env={"HERMETIC_TEST_SLOW_RUNBOOK_MS": "2000"})
    t0 = time.monotonic()
    assert send(g, payload()) == (200, {"status": "ok", "action": "investigating"})
    worst = time.monotonic() - t0
    for _ in range(5):
        t0 = time.monotonic()
        assert http_get(g.url + "/healthz")[0] == 200
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.1)
    assert worst < 0.5 * SLOW, f"an answer took {worst:.2f} s during the runbook scan"
    # A repeat while the scan runs starts nothing more.
    assert send(g, payload())[1]["action"] == "already_investigated"
    investigation(tg)
    assert "RUNBOOK-MARKER-42" in fake.chat_requests[0]["body"]["messages"][0]["content"]
    assert len([m for m in tg.messages(OWNER) if m.get("reply_markup")]) == 1


def test_silence_ack_dig_deeper_and_a_stranger(bot, tg, fake, am):
    investigate_script(fake)
    g = bot()
    send(g, payload())
    msg = investigation(tg)
    data = callback_data_of(msg["reply_markup"])
    assert [d.split(":")[1] for d in data] == ["s1", "s4", "ack", "dig"]

    # A stranger's press is refused and sends nothing.
    tg.press(OWNER, msg["message_id"], data[0], user_id=STRANGER)
    wait_for(lambda: len(tg.callback_answers) == 1, 10, "the stranger's answer")
    assert tg.callback_answers[0]["text"] == "This is a private assistant."
    assert am.requests == []

    # Silence 1h: the exact API v2 request.
    before = datetime.now(timezone.utc)
    tg.press(OWNER, msg["message_id"], data[0], user_id=OWNER)
    wait_for(lambda: am.requests, 10, "the silence request")
    req = am.requests[0]
    assert req["path"] == "/api/v2/silences"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["body"]
    assert list(body) == ["matchers", "startsAt", "endsAt", "createdBy", "comment"]
    assert body["matchers"] == [{"name": "alertname", "value": "KubePodCrashLooping",
                                 "isRegex": False, "isEqual": True}]
    start = datetime.fromisoformat(body["startsAt"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(body["endsAt"].replace("Z", "+00:00"))
    assert abs((start - before).total_seconds()) < 5 * SLOW
    assert end - start == timedelta(hours=1)
    assert body["createdBy"] == "hermetic" and "@ada" in body["comment"]
    # The fake records the request before it stores the silence: wait for the silence.
    wait_for(lambda: am.silences, 10, "the stored silence")
    sid = next(iter(am.silences))
    wait_for(lambda: any(sid in m["text"] for m in replies_to(tg, msg["message_id"])),
             10, "the silence note")
    assert f"🔕 Silenced for 1h by @ada (silence {sid})" in \
        [m["text"] for m in replies_to(tg, msg["message_id"])]

    # Alertmanager refuses (API v2's 400 is a JSON string): the note says so.
    am.fail_with = (400, "silence invalid: comment missing")
    tg.press(OWNER, msg["message_id"], data[1], user_id=OWNER)
    wait_for(lambda: any("not made" in m["text"] for m in replies_to(tg, msg["message_id"])),
             10, "the failed silence note")
    assert any("silence invalid: comment missing" in m["text"]
               for m in replies_to(tg, msg["message_id"]))
    am.fail_with = None

    # Dig deeper continues the same session.
    fake.script_for("test/free", text("Deeper: the Secret db-credentials was deleted at 09:12."))
    n = len(fake.chat_requests)
    tg.press(OWNER, msg["message_id"], data[3], user_id=OWNER)
    wait_for(lambda: any("Deeper:" in m["text"] for m in replies_to(tg, msg["message_id"])),
             30, "the follow-up")
    follow = fake.chat_requests[n]
    contents = [m.get("content") or "" for m in follow["body"]["messages"]]
    assert any("DATABASE_URL is missing." in c for c in contents)  # the earlier answer
    assert "dig deeper" in contents[-1]
    assert offered_tools(follow) == ["mcp_k8s_pods_log", "prometheus_query"]

    # Ack: recorded, and a repeat with a new alert in the group sends nothing more.
    tg.press(OWNER, msg["message_id"], data[2], user_id=OWNER)
    wait_for(lambda: any("Acked by @ada" in m["text"]
                         for m in replies_to(tg, msg["message_id"])), 10, "the ack")
    count = len(tg.messages(OWNER))
    n = len(fake.chat_requests)
    assert send(g, payload(fingerprints=("a1b2c3d4e5f60718", "ffff000011112222")))[1][
        "action"] == "acked"
    time.sleep(1 * SLOW)
    assert len(tg.messages(OWNER)) == count and len(fake.chat_requests) == n
    assert tg.unanswered_callbacks() == []


def test_a_press_from_another_allowed_chat_is_refused_and_moves_nothing(bot, tg, fake, am):
    """The buttons act only in the chat the report was posted to: another allowed user's
    chat sending the group's callback data (a client can send any) gets an answer saying so,
    and the group's chat, its message and the Alertmanager API stay untouched."""
    other = 1002
    tg.add_chat(other)
    investigate_script(fake)
    g = bot(allowed_users=(OWNER, other))
    send(g, payload())
    msg = investigation(tg)
    data = callback_data_of(msg["reply_markup"])
    row = "SELECT chat_id, message_id, acked_by FROM am_groups"
    wait_for(lambda: state_row(g, row)[1], 10, "the report's message id in the store")
    before = state_row(g, row)
    assert before[:2] == (OWNER, msg["message_id"])
    tg.push_text("/help", chat_id=other, user_id=other)
    wait_for(lambda: tg.messages(other), 10, "the bot's answer in the other chat")
    there = tg.messages(other)[-1]["message_id"]
    n, count = len(fake.chat_requests), len(tg.messages(OWNER))
    for i, d in enumerate(data):
        tg.press(other, there, d, user_id=other, check=False)
        wait_for(lambda: len(tg.callback_answers) == i + 1, 10, "the refused press's answer")
        assert tg.callback_answers[-1]["text"] == \
            "This alert was posted to another chat: press its buttons there.", \
            tg.callback_answers[-1]
    time.sleep(1 * SLOW)
    assert am.requests == [] and len(fake.chat_requests) == n
    assert len(tg.messages(OWNER)) == count and len(tg.messages(other)) == 1
    assert state_row(g, row) == before
    # The same button in the report's chat still works.
    tg.press(OWNER, msg["message_id"], data[2], user_id=OWNER)
    wait_for(lambda: any("Acked by @ada" in m["text"]
                         for m in replies_to(tg, msg["message_id"])), 10, "the ack")
    # the press's answer and the ack's edit travel on two connections: either may land first
    wait_for(lambda: tg.unanswered_callbacks() == [], 10, "every press answered")


def test_dig_deeper_counts_against_max_per_hour(bot, tg, fake):
    investigate_script(fake)
    g = bot(investigate={"max_per_hour": 2})
    send(g, payload())
    msg = investigation(tg)
    dig = callback_data_of(msg["reply_markup"])[3]
    # The investigation was one of the hour's two turns; this press is the second.
    fake.script_for("test/free", text("Deeper: the Secret db-credentials was deleted."))
    tg.press(OWNER, msg["message_id"], dig, user_id=OWNER)
    wait_for(lambda: any("Deeper:" in m["text"] for m in replies_to(tg, msg["message_id"])),
             30, "the follow-up")
    assert tg.callback_answers[-1]["text"] == "Digging deeper…"
    # A third is refused, says why, and calls no model.
    n = len(fake.chat_requests)
    tg.press(OWNER, msg["message_id"], dig, user_id=OWNER)
    wait_for(lambda: len(tg.callback_answers) == 2, 10, "the refused press's answer")
    assert "alerts.investigate.max_per_hour (2)" in tg.callback_answers[-1]["text"]
    time.sleep(1 * SLOW)
    assert len(fake.chat_requests) == n
    assert tg.unanswered_callbacks() == []


def test_a_press_read_before_the_messages_answer_still_replies_under_it(bot, tg, fake):
    """The press and sendMessage's answer arrive on two connections, in either order: with the
    answer held back, the follow-up still learns the message id from the press."""
    investigate_script(fake)
    release, held = threading.Event(), []

    def hold(m):
        if m.get("reply_markup") and not held:
            held.append(m)
            release.wait(60)
    tg.after_send = hold
    try:
        g = bot()
        send(g, payload())
        msg = investigation(tg)
        fake.script_for("test/free", text("Deeper: the Secret db-credentials was deleted."))
        tg.press(OWNER, msg["message_id"], callback_data_of(msg["reply_markup"])[3],
                 user_id=OWNER)
        wait_for(lambda: len(tg.callback_answers) == 1, 20, "the press's answer")
        assert tg.callback_answers[-1]["text"] == "Digging deeper…"

        def queued():
            return state_row(g, "SELECT reply_to FROM tg_outbox WHERE text LIKE '%Deeper:%'")
        # The follow-up is queued while the investigation's answer is still held.
        wait_for(queued, 30, "the follow-up in the outbox")
        assert held and queued()[0] == msg["message_id"]
    finally:
        release.set()
    wait_for(lambda: any("Deeper:" in m["text"] for m in replies_to(tg, msg["message_id"])),
             30, "the follow-up under the investigation")


def test_a_new_group_never_reuses_the_id_of_a_row_not_loaded(bot, tg, fake):
    investigate_script(fake)
    g = bot()
    g.kill()
    # AM_GROUPS_MAX (1024) recent groups are loaded at start; the highest id belongs to an
    # older one that is not, whose message's buttons still carry it.
    now = int(time.time() * 1000)
    db = sqlite3.connect(g.home / "state.db")
    db.executemany("INSERT INTO am_groups (id, group_key, seen_ms) VALUES (?, ?, ?)",
                   [(i, f"recent-{i}", now) for i in range(1, 1025)])
    db.execute("INSERT INTO am_groups (id, group_key, seen_ms) VALUES (1025, 'older', ?)",
               (now - 24 * 3600 * 1000,))
    db.commit()
    db.close()
    g.start()
    send(g, payload())
    msg = investigation(tg)
    assert {d.rsplit(":", 1)[1] for d in callback_data_of(msg["reply_markup"])} == {"1026"}


def test_a_restart_does_not_investigate_again(bot, tg, fake):
    investigate_script(fake)
    g = bot()
    send(g, payload())
    msg = investigation(tg)
    n = len(fake.chat_requests)

    def message_id_stored():
        row = state_row(g, "SELECT message_id FROM am_groups")
        return row is not None and row[0] == msg["message_id"]
    # The id is stored once Telegram's answer is read: a kill -9 before that (the fake has
    # the message already) loses it, and the resolved note could not reply under it.
    wait_for(message_id_stored, 20, "the investigation's message id in state.db")
    g.kill()
    g.start()
    assert send(g, payload())[1]["action"] == "already_investigated"
    time.sleep(1 * SLOW)
    assert len(fake.chat_requests) == n
    # The message id survived the restart too: resolved still replies under it.
    send(g, payload("resolved"))
    wait_for(lambda: replies_to(tg, msg["message_id"]), 20, "the resolved note")
    assert replies_to(tg, msg["message_id"])[-1]["text"] == "✅ Resolved: KubePodCrashLooping"
