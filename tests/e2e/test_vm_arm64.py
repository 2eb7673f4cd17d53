"""The static aarch64 binary on a real arm64 kernel: Debian bookworm's kernel (6.1, Landlock
ABI 2) and the newest kernel of bookworm-backports (6.12, ABI 6) under qemu-system-aarch64
(-M virt -cpu cortex-a72, TCG), where seccomp filters and Landlock load, which qemu-user cannot
do (tests/e2e/arm64_vm.py boots them).

One boot per kernel runs every phase as uid 10001. The host serves the scripted model, a fake
Telegram and an HTTP MCP server on 127.0.0.1 (the guest's 10.0.2.2) and drives the guest through
a command channel (Guest: the guest fetches shell scripts from the host and posts back their
output; requests to the gateway are made inside the guest, with busybox nc).
  - `doctor`: Landlock available, at the ABI the kernel's version has;
  - `gateway` with `guardrails.seccomp.action: kill` and Landlock, then the same in errno mode,
    each with its own home:
      - a cron job fires on its schedule (the guest's clock is set a few seconds before the
        minute the job names) and its answer reaches its Telegram chat;
      - an API turn calling a built-in tool, web_fetch over HTTPS with DNS (when the host
        reaches the npm registry), an HTTP MCP server on the host and a stdio MCP server in the
        guest (started through the launcher); a hook; a Telegram reply;
      - a context compression: a Telegram conversation of long messages outgrows the small
        agent.context_tokens, the auxiliary compression model gets the old turns and the next
        request carries its summary;
      - log rotation: upstream errors with long messages fill home/logs/hermetic.log past
        log.max_bytes (the rename and the new file under Landlock); hermetic.log.1 appears
        with them and hermetic.log goes on, owned by uid 10001;
      - the bleed breaker: a runaway turn at $0.40 a call trips guardrails.bleed.max_cost_usd
        after exactly three calls; the API client gets the refusal, /metrics shows it open, the
        admin chat and the webhook alert channel get the alert; cooldown_s closes it (metrics,
        and the channel gets the resolution);
      - the daily budget: one more paid call reaches budget.daily_usd; the next API call is
        refused without reaching the upstream, /metrics shows the day's spend, the webhook alert
        channel (on the host) gets the alert;
    then SIGTERM, exit 0, Landlock active at the kernel's ABI, no "seccomp: denied" (errno);
  - `chat -q` with a tool call; `router` answering a streamed request;
  - `sandbox-selftest` in errno mode (every probe denied with EPERM); the kernel's audit log
    has no seccomp kill (type=1326) from anything above; then `sandbox-selftest` in kill mode,
    where the first denied syscall kills the process and the kernel logs it: the proof that the
    "no kill" check can see one.
Runs in `make test`'s aarch64 stage (HERMETIC_VM_BIN names the binary), about 40 s per kernel
on a 2-core machine (docs/numbers.md); skipped elsewhere. HERMETIC_VM_KERNELS=bookworm (a
comma-separated list) narrows it to some kernels.
"""
import json
import os
import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_harness import agent_config, fake, messages  # noqa: F401 (fixture)
from arm64_vm import KERNELS, ArmVM, available
from conftest import MACHINE, to_yaml
from fakes.fake_mcp import FakeMcp, text_result, tool
from fakes.fake_openai import openai_error, text, tool_calls
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, deployment, msum, parse_metrics

pytestmark = pytest.mark.vm

VM_BIN = os.environ.get("HERMETIC_VM_BIN")
TOKEN = "123456:VM-e2e-SECRET-token"
API_KEY = "vm-api-key-5d1c0e"
MASTER = "sk-vm-master-7f2a"
HOOK_TOKEN = "vm-hook-token-0b9e"
ALERT_TOKEN = "vm-alert-token-3c1a"
USER = 1001
CRON_CHAT = 2002
ADMIN = 4242
CRON_PROMPT = "Say what the cron job found."
# Seconds from the gateway's start to the minute its cron job names (the guest sets its clock):
# the gateway must be up and have armed the job by then, under TCG on a possibly slow host.
CRON_LEAD = 10 * MACHINE
# The bleed breaker stays open this long: past the guest's next request for /metrics, which
# under TCG on a slow host took over 2 s.
BREAKER_COOLDOWN_S = 5 * MACHINE
CONTEXT_TOKENS = 4000
# Each filler error is one log line of about 6 KB; log.max_bytes is the smallest allowed.
FILLER = "vm-log-filler "
FILLER_CALLS = 14
LOG_MAX_BYTES = 65536
# Landlock's ABI by the kernel release that brought it (Documentation/userspace-api/landlock.rst)
LANDLOCK_ABI = [((6, 15), 7), ((6, 12), 6), ((6, 10), 5), ((6, 7), 4), ((6, 2), 3),
                ((5, 19), 2), ((5, 13), 1)]

GUEST = r"""
set -u
. /vm/env.sh
. /vm/lib.sh
mkdir -p /home/hermetic/kill /home/hermetic/errno /home/hermetic/chat /home/hermetic/router
chown -R 10001:10001 /home/hermetic
N=0
# Runs the host's commands (Guest in the test) until one says #end: GET /cmd/N is the Nth
# script (404 until the host has it), POST /done/N its output and exit status.
serve() {
  while :; do
    wget -q -O /tmp/cmd.sh "http://10.0.2.2:$CTRL/cmd/$N" 2>/dev/null || { sleep 0.2; continue; }
    N=$((N + 1))
    [ "$(head -c 4 /tmp/cmd.sh)" = "#end" ] && return 0
    sh /tmp/cmd.sh >/tmp/cmd.out 2>&1
    echo "HERMETIC-RC $?" >>/tmp/cmd.out
    until wget -q -O /dev/null --post-file /tmp/cmd.out \
      "http://10.0.2.2:$CTRL/done/$((N - 1))" 2>/dev/null; do sleep 0.3; done
  done
}
phase() { echo "HERMETIC-BEGIN $1"; cat "$2"; echo; echo "HERMETIC-END $1 rc=$3"; }
up() { until wget -q -O /dev/null "$1" 2>/dev/null; do kill -0 "$2" || return 1; sleep 0.3; done; }

# kill.yaml with a cron schedule in place of the one the loop below writes in
sed 's/CRON_AT/@daily/' /etc/hermetic/kill.yaml >/etc/hermetic/doctor.yaml
as_user 'hermetic doctor --config /etc/hermetic/doctor.yaml' >/tmp/doctor.out 2>&1
phase doctor /tmp/doctor.out $?

for mode in kill errno; do
  # The job's schedule names the next full minute, and the clock is set CRON_LEAD s before
  # it: a cron run on the real clock without waiting up to a minute.
  at=$(( ($(date +%s) / 60 + 1) * 60 ))
  date -s "@$((at - CRON_LEAD))" >/dev/null
  sed -i "s/CRON_AT/$(date -u -d "@$at" '+%M %H') * * */" /etc/hermetic/$mode.yaml
  su -s /bin/sh hermetic -c "exec hermetic gateway --config /etc/hermetic/$mode.yaml" \
    >/tmp/gw-$mode.out 2>&1 &
  pid=$!
  up http://127.0.0.1:8080/readyz $pid
  echo "HERMETIC-CRON $mode at=$at ready=$(date +%s)"
  serve
  kill -TERM $pid
  wait $pid
  rc=$?
  # the filler lines counted, not copied to the console
  grep -v "$FILLER" /tmp/gw-$mode.out >/tmp/gw.out
  echo "filler lines: $(grep -c "$FILLER" /tmp/gw-$mode.out)" >>/tmp/gw.out
  phase gateway-$mode /tmp/gw.out $rc
done

serve  # chat

su -s /bin/sh hermetic -c "exec hermetic router --config /etc/hermetic/router.yaml" \
  >/tmp/router.out 2>&1 &
pid=$!
up http://127.0.0.1:8081/health/liveliness $pid
serve  # a streamed request
kill -TERM $pid
wait $pid
phase router /tmp/router.out $?

as_user 'hermetic sandbox-selftest --config /etc/hermetic/errno.yaml' >/tmp/st.out 2>&1
phase selftest-errno /tmp/st.out $?
dmesg | grep 'type=1326' >/tmp/dmesg.out
phase dmesg-before-kill /tmp/dmesg.out 0
as_user 'hermetic sandbox-selftest --config /etc/hermetic/kill.yaml' >/tmp/st.out 2>&1
phase selftest-kill /tmp/st.out $?
"""

# Sourced by the guest's script and by every command the host sends.
LIB = r"""
as_user() { su -s /bin/sh hermetic -c "$*"; }
# http METHOD PATH KEY BODY-FILE PORT: the raw answer of 127.0.0.1:PORT. KEY and BODY-FILE may
# be "". Through nc -e (REQ_SH): nc alone would half-close the connection when its input ends,
# which the API takes for a client that left (and cancels the turn).
http() { M=$1 P=$2 K=$3 B=$4 nc 127.0.0.1 "$5" -e /vm/req.sh 2>&1; }
"""

# nc -e's program: stdin and stdout are the connection; the answer goes out on stderr.
REQ_SH = r"""#!/bin/sh
printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n' "$M" "$P"
[ -z "$K" ] || printf 'Authorization: Bearer %s\r\n' "$K"
if [ -n "$B" ]; then
  printf 'Content-Type: application/json\r\nContent-Length: %s\r\n\r\n' "$(wc -c <"$B")"
  cat "$B"
else
  printf '\r\n'
fi
cat >&2
"""

# A stdio MCP server in busybox sh (the guest has no node): enough of MCP for one tool whose
# answer can only come from inside the guest (its kernel release).
MCP_SH = r"""#!/bin/sh
while IFS= read -r line; do
  id=$(echo "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
  [ -n "$id" ] || continue
  case "$line" in
    *'"method":"initialize"'*) r='{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"vmsh","version":"1"}}' ;;
    *'"method":"tools/list"'*) r='{"tools":[{"name":"uname","description":"The guest kernel","inputSchema":{"type":"object","properties":{}}}]}' ;;
    *'"method":"tools/call"'*) r='{"content":[{"type":"text","text":"kernel '"$(uname -sr)"'"}]}' ;;
    *) r='{}' ;;
  esac
  echo '{"jsonrpc":"2.0","id":'"$id"',"result":'"$r"'}'
done
"""
WEB_URL = "https://registry.npmjs.org/"


def host_fetch(url):
    """The body the host gets at url (200 only), else None."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode(errors="replace").strip() if r.status == 200 else None
    except OSError:
        return None


class Guest:
    """The host's end of the guest's `serve` loop: run() queues a shell script (LIB sourced
    first) and returns its output and exit status once the guest posts them; end() ends the
    loop. Numbered, so a request that arrives twice gets the same script and the first result
    counts. Also the gateway's webhook alert channel: POST /alert/MODE, kept in alerts."""

    def __init__(self):
        self.cmds, self.results, self.alerts = [], {}, []
        self.cv = threading.Condition()
        self.alive = lambda: True
        g = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                m = re.fullmatch(r"/cmd/(\d+)", self.path)
                n = int(m.group(1)) if m else -1
                with g.cv:  # a long poll: the guest asks again at once after a 404
                    g.cv.wait_for(lambda: 0 <= n < len(g.cmds), timeout=5)
                    body = g.cmds[n].encode() if 0 <= n < len(g.cmds) else None
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self):
                m = re.fullmatch(r"/done/(\d+)", self.path)
                size = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(min(size, 8 << 20)).decode(errors="replace")
                alert = re.fullmatch(r"/alert/(\w+)", self.path)
                if alert and self.headers.get("Authorization") == f"Bearer {ALERT_TOKEN}":
                    with g.cv:
                        g.alerts.append((alert.group(1), json.loads(data)))
                        g.cv.notify_all()
                    m = alert
                elif m:
                    with g.cv:
                        g.results.setdefault(int(m.group(1)), data)
                        g.cv.notify_all()
                self.send_response(200 if m else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _queue(self, script):
        with self.cv:
            self.cmds.append(script)
            self.cv.notify_all()
            return len(self.cmds) - 1

    def run(self, script, timeout=120):
        n = self._queue(". /vm/lib.sh\n" + script)
        deadline = time.monotonic() + timeout * MACHINE
        with self.cv:
            while n not in self.results:
                if time.monotonic() > deadline or not self.alive():
                    raise AssertionError(f"the guest did not run: {script[:300]}")
                self.cv.wait(1)
            out = self.results[n]
        m = re.search(r"HERMETIC-RC (\d+)\n?$", out)
        assert m, out[-2000:]
        return out[:m.start()], int(m.group(1))

    def end(self):
        self._queue("#end\n")

    def wait_alert(self, mode, status, key, timeout=60):
        with self.cv:
            assert self.cv.wait_for(lambda: any(
                m == mode and a["status"] == status and a["key"] == key
                for m, a in self.alerts), timeout * MACHINE), (mode, status, key, self.alerts)

    def http(self, method, path, body=None, key=API_KEY, port=8080, timeout=120):
        """(status, body) of a request the guest makes to 127.0.0.1:port."""
        script = ""
        if body is not None:
            script = ("cat >/tmp/body.json <<'HERMETIC_BODY'\n" + json.dumps(body) +
                      "\nHERMETIC_BODY\n")
        file = "/tmp/body.json" if body is not None else ""
        script += f"http {method} '{path}' '{key or ''}' '{file}' {port}\n"
        out, rc = self.run(script, timeout)
        head, sep, rest = out.partition("\r\n\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head)
        assert rc == 0 and sep and m, (rc, out[-3000:])
        return int(m.group(1)), rest

    def metrics(self):
        status, body = self.http("GET", "/metrics", key=None)
        assert status == 200, body[:1000]
        return parse_metrics(body)

    def shutdown(self):
        self.server.shutdown()


def abi_of(release):
    """The Landlock ABI a kernel release has (6.12.95+deb12-arm64 -> 6)."""
    version = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", release).groups())
    return next(abi for since, abi in LANDLOCK_ABI if version >= since)


def guest_yaml(cfg):
    """The host's 127.0.0.1 is 10.0.2.2 from inside the guest."""
    return to_yaml(cfg).replace("http://127.0.0.1:", "http://10.0.2.2:")


def phases(console):
    """{name: (output, rc)} from the guest's HERMETIC-BEGIN/END markers."""
    out, cur, buf = {}, None, []
    for line in console.splitlines():
        if line.startswith("HERMETIC-BEGIN "):
            cur, buf = line.split(" ", 1)[1], []
        elif line.startswith("HERMETIC-END ") and cur:
            out[cur] = ("\n".join(buf), int(line.rsplit("rc=", 1)[1]))
            cur = None
        elif cur:
            buf.append(line)
    return out


def answer_of(status, body):
    assert status == 200, (status, body[:2000])
    return json.loads(body)["choices"][0]["message"]["content"]


def configs(vm, fake, tg, mcp, g):
    """The guest's configs: one per seccomp mode (own home), chat's and the router's."""
    models = agent_config(fake, "/x")["model_list"] + [deployment("cron", "test/cron", fake)]
    for mode in ("kill", "errno"):
        cfg = agent_config(fake, f"/home/hermetic/{mode}", model_list=models,
                           agent={"context_tokens": CONTEXT_TOKENS, "max_turn_cost_usd": 0},
                           api={"listen": "127.0.0.1:8080", "key": "os.environ/API_KEY"},
                           telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN",
                                     "api_base": tg.url, "allowed_users": [USER],
                                     "admin_chat": ADMIN, "stream": "off", "progress": "off",
                                     "poll_timeout_s": 1},
                           mcp_servers={"hostmcp": {"url": mcp.url},
                                        "guestsh": {"command": "/bin/sh",
                                                    "args": ["/vm/mcp.sh"]}},
                           # listed: here the registry's name resolves to a proxy in a
                           # reserved range, which only a listed host may be
                           web={"allow_hosts": ["registry.npmjs.org"]},
                           hooks=[{"name": "vm", "token": "os.environ/HOOK_TOKEN",
                                   "prompt": "hook says {{payload.x}}"}],
                           # the guest writes the minute in (CRON_AT)
                           cron=[{"name": "vmcron", "schedule": "CRON_AT", "model": "cron",
                                  "prompt": CRON_PROMPT, "deliver": f"telegram:{CRON_CHAT}"}],
                           budget={"daily_usd": 1.5},
                           log={"max_bytes": LOG_MAX_BYTES, "keep": 2},
                           alerts={"channels": [{
                               "type": "webhook", "token": "os.environ/ALERT_TOKEN",
                               "url": f"http://127.0.0.1:{g.port}/alert/{mode}"}]},
                           guardrails={"seccomp": {"action": mode},
                                       "bleed": {"max_calls": 500, "window_s": 3600,
                                                 "max_cost_usd": 1.0,
                                                 "cooldown_s": BREAKER_COOLDOWN_S}})
        vm.add_file(f"/etc/hermetic/{mode}.yaml", guest_yaml(cfg))
    vm.add_file("/etc/hermetic/chat.yaml", guest_yaml(agent_config(
        fake, "/home/hermetic/chat", guardrails={"seccomp": {"action": "errno"}})))
    rcfg = {"model_list": agent_config(fake, "/x")["model_list"],
            "general_settings": {"master_key": "os.environ/MASTER_KEY"},
            "router": {"listen": "127.0.0.1:8081"},
            "home": "/home/hermetic/router"}
    vm.add_file("/etc/hermetic/router.yaml", guest_yaml(rcfg))


def requests_for(fake, model, since):
    return [r for r in fake.chat_requests[since:] if r["model"] == model]


def gateway_phases(mode, g, fake, tg, web, web_body):
    """Everything one gateway does, driven from the host; see the module docstring."""
    since = len(fake.chat_requests)
    admin0 = len(tg.sent(ADMIN))
    # The cron job fired at its minute (scripted before the boot) and delivered.
    runs = 1 if mode == "kill" else 2
    assert tg.wait_sent(CRON_CHAT, runs, timeout=120 * MACHINE)[runs - 1] == f"cron {mode}"
    cron = requests_for(fake, "test/cron", since)
    assert len(cron) == 1 and messages(cron[0])[-1]["content"] == CRON_PROMPT, cron

    # An API turn with tools. web_fetch first: after an MCP result the turn may fetch only
    # allow_hosts.
    calls = [("c1", "time", "{}")]
    if web:
        calls.append(("c4", "web_fetch", json.dumps({"url": WEB_URL})))
    calls += [("c2", "mcp_hostmcp_lookup", "{}"), ("c3", "mcp_guestsh_uname", "{}")]
    fake.script_for("test/free", *[tool_calls(c) for c in calls], text(f"answer in {mode} mode"))
    chat = {"messages": [{"role": "user", "content": "go"}]}
    assert answer_of(*g.http("POST", "/v1/chat/completions", chat)) == f"answer in {mode} mode"
    results = [m["content"] for m in messages(fake.chat_requests[-1]) if m["role"] == "tool"]
    if web:  # HTTPS to a name resolved by the guest's DNS, after the seal
        fetched = results.pop(1)
        # a 200 with what the host itself got there, not a refusal or error text
        assert fetched.startswith(WEB_URL + " (200,"), fetched[:300]
        assert web_body[:60] in fetched, (web_body[:60], fetched[:300])
    assert "UTC" in results[0] and "found on the host" in results[1], results
    # the stdio server ran in the guest, started through the launcher
    assert "kernel Linux 6." in results[2] and "arm64" in results[2], results

    fake.script_for("test/free", text(f"hook answer {mode}"))
    status, body = g.http("POST", "/v1/hooks/vm", {"x": mode}, key=HOOK_TOKEN)
    assert status == 200 and f"hook answer {mode}" in body, (status, body)
    assert f"hook says {mode}" in json.dumps(fake.chat_requests[-1]["body"])

    def telegram_turn(msg, answer):
        n = len(tg.sent(USER))
        fake.script_for("test/free", text(answer))
        tg.push_text(msg, chat_id=USER)
        assert tg.wait_sent(USER, n + 1, timeout=120 * MACHINE)[n] == answer

    telegram_turn("hello", f"telegram {mode}")

    # Compression: long messages in the chat's session until the request outgrows 85% of
    # agent.context_tokens; then one call to auxiliary.compression (test/cheap) summarises the
    # old turns and the turn's request carries the summary instead.
    fake.script_for("test/cheap", text(f"summary of the long messages ({mode})"))
    for i in range(8):
        telegram_turn(f"long message {i}: " + f"paragraph {i} " * 300, f"noted {i}")
        if requests_for(fake, "test/cheap", since):
            break
    squeeze = requests_for(fake, "test/cheap", since)
    assert len(squeeze) == 1, "no compression after 8 long messages"
    excerpt = messages(squeeze[0])[-1]["content"]
    assert messages(squeeze[0])[0]["content"].startswith("You compress chat history")
    assert "long message 0: paragraph 0" in excerpt, excerpt[:500]
    after = [m["content"] for m in messages(requests_for(fake, "test/free", since)[-1])]
    summary = f"[Summary of the earlier conversation]\nsummary of the long messages ({mode})"
    assert summary in after and not any("long message 0:" in m for m in after), after

    # Log rotation: FILLER_CALLS upstream errors, each logged as one long line.
    for i in range(FILLER_CALLS):
        fake.script_for("test/free", openai_error(400, FILLER + f"{i} " + "x" * 6000))
        status, body = g.http("POST", "/v1/chat/completions", chat)
        assert status == 502 and FILLER in body, (status, body[:300])
    out, rc = g.run(f"ls -ln /home/hermetic/{mode}/logs; "
                    f"grep -c '{FILLER}' /home/hermetic/{mode}/logs/hermetic.log.1")
    assert rc == 0, out
    sizes = {f[-1]: int(f[4]) for f in (l.split() for l in out.splitlines()[:-1]) if len(f) > 8}
    owners = {f[-1]: f[2] for f in (l.split() for l in out.splitlines()[:-1]) if len(f) > 8}
    assert {"hermetic.log", "hermetic.log.1"} <= set(sizes), out
    assert LOG_MAX_BYTES - 8192 < sizes["hermetic.log.1"] <= LOG_MAX_BYTES, out
    assert sizes["hermetic.log"] < LOG_MAX_BYTES and owners["hermetic.log"] == "10001", out
    assert int(out.splitlines()[-1]) >= 2, out

    # The bleed breaker: $0.40 a call trips max_cost_usd $1 at the third call; the fourth is
    # refused before the upstream.
    before = len(fake.chat_requests)
    fake.script_for("test/free", *[tool_calls((f"b{i}", "time", "{}"), cost=0.4)
                                   for i in range(3)])
    status, body = g.http("POST", "/v1/chat/completions", chat)
    assert status == 502 and "bleed breaker is open" in body, (status, body)
    assert "spent within 3600 s (limit $1.0000)" in body, body
    assert len(fake.chat_requests) - before == 3 and fake.remaining == 0
    m = g.metrics()
    assert (msum(m, "hermetic_breaker_open"), msum(m, "hermetic_breaker_trips_total"),
            msum(m, "hermetic_breaker_refused_total")) == (1, 1, 1)
    alerts = tg.wait_sent(ADMIN, admin0 + 1, timeout=60 * MACHINE)[admin0:]
    assert any("Bleed breaker open" in a for a in alerts), alerts
    g.wait_alert(mode, "firing", "breaker")
    deadline = time.monotonic() + 60 * MACHINE
    while msum(g.metrics(), "hermetic_breaker_open") != 0:
        assert time.monotonic() < deadline, "cooldown_s did not close the breaker"
        time.sleep(0.5)
    g.wait_alert(mode, "resolved", "breaker")

    # The daily budget: $1.20 spent; one more $0.40 call passes, and the day's $1.50 is gone.
    before = len(fake.chat_requests)
    fake.script_for("test/free", text("the last paid answer", cost=0.4))
    assert answer_of(*g.http("POST", "/v1/chat/completions", chat)) == "the last paid answer"
    status, body = g.http("POST", "/v1/chat/completions", chat)
    assert status == 502 and "budget" in body.lower(), (status, body)
    assert len(fake.chat_requests) - before == 1
    m = g.metrics()
    assert abs(msum(m, "hermetic_spend_today_usd") - 1.6) < 1e-6, m
    assert msum(m, "hermetic_cron_runs_total", job="vmcron", status="ok") == 1
    g.wait_alert(mode, "firing", "budget:daily")
    if mode == "kill":  # the next gateway's cron run comes right after its start
        fake.script_for("test/cron", text("cron errno"))
    g.end()


def kernels():
    """bookworm's kernel always; bookworm-backports' too unless HERMETIC_VM_KERNELS says."""
    want = os.environ.get("HERMETIC_VM_KERNELS", ",".join(KERNELS)).split(",")
    return [k for k in KERNELS if k in want]


@pytest.mark.needs("vm")  # make test's aarch64 stage: HERMETIC_VM_BIN=dist/hermetic-aarch64
@pytest.mark.parametrize("kernel", kernels())
def test_the_sandbox_holds_on_a_real_arm64_kernel(tmp_path, fake, kernel):  # noqa: F811
    why = available(kernel)
    if why:
        pytest.skip(why)
    g = Guest()
    mcp = FakeMcp(tools=[tool("lookup", "fixed", description="Looks things up",
                              result=text_result("found on the host"))]).start()
    tg = FakeTelegram(token=TOKEN).start()
    for chat in (CRON_CHAT, ADMIN):
        tg.add_chat(chat)  # the humans started the bot earlier
    try:
        vm = ArmVM(VM_BIN, tmp_path, kernel=kernel)
        configs(vm, fake, tg, mcp, g)
        vm.add_file("/vm/mcp.sh", MCP_SH, 0o755)
        vm.add_file("/vm/lib.sh", LIB)
        vm.add_file("/vm/req.sh", REQ_SH, 0o755)
        vm.add_file("/etc/ssl/certs/ca-certificates.crt",
                    open("/etc/ssl/certs/ca-certificates.crt", "rb").read())
        web_body = host_fetch(WEB_URL)
        web = bool(web_body)
        vm.add_file("/vm/env.sh", "".join(f"export {k}='{v}'\n" for k, v in {
            UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN, "API_KEY": API_KEY,
            "MASTER_KEY": MASTER, "HOOK_TOKEN": HOOK_TOKEN, "ALERT_TOKEN": ALERT_TOKEN,
            "CTRL": g.port, "CRON_LEAD": CRON_LEAD, "FILLER": FILLER}.items()))
        fake.script_for("test/cron", text("cron kill"))
        proc = vm.boot(GUEST)
        g.alive = lambda: proc.poll() is None
        console = []
        reader = threading.Thread(target=lambda: console.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            for mode in ("kill", "errno"):
                gateway_phases(mode, g, fake, tg, web, web_body)
            fake.script_for("test/free", tool_calls(("c3", "time", "{}")), text("chat done"))
            out, rc = g.run("as_user 'hermetic chat -q \"what time is it?\" "
                            "--config /etc/hermetic/chat.yaml'")
            assert rc == 0 and "chat done" in out and "seccomp: denied" not in out, out
            g.end()
            fake.script_for("test/free", text("streamed from the router"))
            out, rc = g.run(
                "wget -q -O - --header \"Authorization: Bearer $MASTER_KEY\" "
                "--header 'Content-Type: application/json' --post-data "
                "'{\"model\":\"free\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                "\"content\":\"hi\"}]}' http://127.0.0.1:8081/v1/chat/completions")
            assert rc == 0 and "data: [DONE]" in out and "streamed" in out, out
            g.end()
            proc.wait(timeout=180 * MACHINE)
        except Exception as e:
            for _ in range(4):
                g.end()  # let the guest print what it has
            try:
                proc.wait(timeout=60)
            except Exception:
                proc.kill()
            reader.join(10)
            # the cause last: CI shows a failure's last lines
            raise AssertionError("the guest said:\n" + "".join(console)[-40000:]
                                 + f"\n--- the test failed on: {e!r}"[:4000]) from e
        finally:
            if proc.poll() is None:
                proc.kill()
            reader.join(10)
        text_ = "".join(console)
        assert "HERMETIC-VM-DONE" in text_, text_[-4000:]
        release = re.search(r"HERMETIC-VM-UP (\S+) aarch64", text_).group(1)
        abi = abi_of(release)
        got = phases(text_)
        doctor, rc = got["doctor"]
        assert f"landlock: available (ABI {abi})" in doctor, (release, doctor)
        for mode in ("kill", "errno"):
            out, rc = got[f"gateway-{mode}"]
            assert rc == 0, out
            assert f"Landlock: active (ABI {abi})" in out, (release, out)
            assert "seccomp: active, other syscalls " + (
                "kill the process" if mode == "kill" else "fail with EPERM") in out, out
            assert "seccomp: denied" not in out, out
            assert f"filler lines: {FILLER_CALLS}" in out, out
        out, rc = got["router"]
        assert rc == 0 and "seccomp: denied" not in out, out
        out, rc = got["selftest-errno"]
        assert rc == 0 and "selftest: ok" in out and "denied syscall execve" in out, out
        # No seccomp kill (audit type=1326) in anything above; then a deliberate one is logged.
        assert got["dmesg-before-kill"][0].strip() == "", got["dmesg-before-kill"][0]
        out, rc = got["selftest-kill"]
        assert rc == 128 + 31 and "execve: " in out and "selftest:" not in out, (rc, out)
        dmesg = text_.split("HERMETIC-VM-DMESG-BEGIN", 1)[1].split("HERMETIC-VM-DMESG-END")[0]
        kills = [ln for ln in dmesg.splitlines() if "type=1326" in ln]
        assert len(kills) == 1 and 'comm="hermetic"' in kills[0] and "sig=31" in kills[0], dmesg
    finally:
        tg.close()
        mcp.close()
        g.shutdown()
