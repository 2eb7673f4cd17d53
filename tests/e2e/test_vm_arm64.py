"""The static aarch64 binary on a real arm64 kernel: Debian bookworm's kernel under
qemu-system-aarch64 (-M virt -cpu cortex-a72, TCG), where seccomp filters and Landlock load,
which qemu-user cannot do (tests/e2e/arm64_vm.py boots it).

One boot runs every phase as uid 10001, driven from the host, where the scripted model, a fake
Telegram and an HTTP MCP server listen on 127.0.0.1 (the guest's 10.0.2.2):
  - `doctor`: Landlock available;
  - `gateway` with `guardrails.seccomp.action: kill` and Landlock: an API turn calling a
    built-in tool, web_fetch over HTTPS with DNS (when the host reaches the npm registry), an
    HTTP MCP server on the host and a stdio MCP server in the guest (started through the
    launcher), a hook, a Telegram reply; SIGTERM, exit 0, no seccomp kill in the kernel's
    audit log;
  - the same gateway in errno mode: no syscall denied;
  - `chat -q` with a tool call; `router` answering a streamed request;
  - `sandbox-selftest` in errno mode (every probe denied with EPERM), then in kill mode, where
    the first denied syscall kills the process and the kernel logs it (audit type=1326): the
    proof that the "no kill" check above can see one.
Runs in `make test`'s aarch64 stage (HERMETIC_VM_BIN names the binary); skipped elsewhere.
"""
import json
import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_harness import agent_config, fake  # noqa: F401 (fixture)
from arm64_vm import ArmVM, available
from conftest import to_yaml
from fakes.fake_mcp import FakeMcp, text_result, tool
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

pytestmark = pytest.mark.vm

VM_BIN = os.environ.get("HERMETIC_VM_BIN")
TOKEN = "123456:VM-e2e-SECRET-token"
API_KEY = "vm-api-key-5d1c0e"
MASTER = "sk-vm-master-7f2a"
HOOK_TOKEN = "vm-hook-token-0b9e"
USER = 1001

GUEST = r"""
set -u
. /vm/env.sh
mkdir -p /home/hermetic/data /home/hermetic/router
chown -R 10001:10001 /home/hermetic
# until the host releases $1, or process $2 (if given) has ended
wait_go() {
  until wget -q -O /dev/null "http://10.0.2.2:$CTRL/go/$1" 2>/dev/null; do
    [ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || return 0
    sleep 0.3
  done
}
as_user() { su -s /bin/sh hermetic -c "$*"; }
phase() { echo "HERMETIC-BEGIN $1"; cat "$2"; echo; echo "HERMETIC-END $1 rc=$3"; }

as_user 'hermetic doctor --config /etc/hermetic/kill.yaml' >/tmp/doctor.out 2>&1
phase doctor /tmp/doctor.out $?

# An HTTP POST from inside the guest (busybox wget), its answer as a phase.
post() {
  wget -q -O "/tmp/$1.out" --header "Authorization: Bearer $3" \
    --header "Content-Type: application/json" --post-data "$4" "$2" 2>>"/tmp/$1.out"
  phase "$1" "/tmp/$1.out" $?
}
up() { until wget -q -O /dev/null "$1" 2>/dev/null; do kill -0 "$2" || return 1; sleep 0.3; done; }

for mode in kill errno; do
  su -s /bin/sh hermetic -c "exec hermetic gateway --config /etc/hermetic/$mode.yaml" \
    >/tmp/gw-$mode.out 2>&1 &
  pid=$!
  up http://127.0.0.1:8080/readyz $pid
  wait_go api-$mode $pid
  post api-$mode http://127.0.0.1:8080/v1/chat/completions "$API_KEY" \
    '{"messages":[{"role":"user","content":"go"}]}'
  wait_go hook-$mode $pid
  post hook-$mode http://127.0.0.1:8080/v1/hooks/vm "$HOOK_TOKEN" "{\"x\":\"$mode\"}"
  wait_go gateway-$mode $pid
  kill -TERM $pid
  wait $pid
  phase gateway-$mode /tmp/gw-$mode.out $?
done

wait_go chat
as_user 'hermetic chat -q "what time is it?" --config /etc/hermetic/errno.yaml' >/tmp/chat.out 2>&1
phase chat /tmp/chat.out $?

su -s /bin/sh hermetic -c "exec hermetic router --config /etc/hermetic/router.yaml" \
  >/tmp/router.out 2>&1 &
pid=$!
up http://127.0.0.1:8081/health/liveliness $pid
wait_go router-stream $pid
post router-stream http://127.0.0.1:8081/v1/chat/completions "$MASTER_KEY" \
  '{"model":"free","stream":true,"messages":[{"role":"user","content":"hi"}]}'
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


class Control:
    """What the guest polls: /go/NAME answers 200 once the host released NAME."""

    def __init__(self):
        self.released = set()
        ctl = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path.startswith("/go/") and self.path[4:] in ctl.released
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self, name):
        self.released.add(name)


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


@pytest.mark.skipif(not VM_BIN, reason="the arm64 VM runs in make test's aarch64 stage "
                    "(HERMETIC_VM_BIN=dist/hermetic-aarch64)")
def test_the_sandbox_holds_on_a_real_arm64_kernel(tmp_path, fake):  # noqa: F811
    why = available()
    if why:
        pytest.skip(why)
    ctl = Control()
    mcp = FakeMcp(tools=[tool("lookup", "fixed", description="Looks things up",
                              result=text_result("found on the host"))]).start()
    tg = FakeTelegram(token=TOKEN).start()
    try:
        vm = ArmVM(VM_BIN, tmp_path)
        for mode in ("kill", "errno"):
            cfg = agent_config(fake, "/home/hermetic/data",
                               api={"listen": "127.0.0.1:8080", "key": "os.environ/API_KEY"},
                               telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN",
                                         "api_base": tg.url, "allowed_users": [USER],
                                         "stream": "off", "progress": "off",
                                         "poll_timeout_s": 1},
                               mcp_servers={"hostmcp": {"url": mcp.url},
                                            "guestsh": {"command": "/bin/sh",
                                                        "args": ["/vm/mcp.sh"]}},
                               # listed: here the registry's name resolves to a proxy in a
                               # reserved range, which only a listed host may be
                               web={"allow_hosts": ["registry.npmjs.org"]},
                               hooks=[{"name": "vm", "token": "os.environ/HOOK_TOKEN",
                                       "prompt": "hook says {{payload.x}}"}],
                               guardrails={"seccomp": {"action": mode}})
            vm.add_file(f"/etc/hermetic/{mode}.yaml", guest_yaml(cfg))
        rcfg = {"model_list": agent_config(fake, "/x")["model_list"],
                "general_settings": {"master_key": "os.environ/MASTER_KEY"},
                "router": {"listen": "127.0.0.1:8081"},
                "home": "/home/hermetic/router"}
        vm.add_file("/etc/hermetic/router.yaml", guest_yaml(rcfg))
        vm.add_file("/vm/mcp.sh", MCP_SH, 0o755)
        vm.add_file("/etc/ssl/certs/ca-certificates.crt",
                    open("/etc/ssl/certs/ca-certificates.crt", "rb").read())
        web_body = host_fetch(WEB_URL)
        web = bool(web_body)
        vm.add_file("/vm/env.sh", "".join(f"export {k}='{v}'\n" for k, v in {
            UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN, "API_KEY": API_KEY,
            "MASTER_KEY": MASTER, "HOOK_TOKEN": HOOK_TOKEN,
            "CTRL": ctl.port}.items()))
        proc = vm.boot(GUEST)
        console = []
        reader = threading.Thread(target=lambda: console.extend(proc.stdout), daemon=True)
        reader.start()

        def phase_out(name, timeout=120):
            """Waits for the guest's phase NAME; its output and exit status."""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                got = phases("".join(console))
                if name in got:
                    return got[name]
                if proc.poll() is not None and name not in phases("".join(console)):
                    break
                time.sleep(0.2)
            raise AssertionError(f"the guest never finished {name}")

        try:
            for n, mode in enumerate(("kill", "errno"), 1):
                # web_fetch first: after an MCP result the turn may fetch only allow_hosts
                calls = [("c1", "time", "{}")]
                if web:
                    calls.append(("c4", "web_fetch", json.dumps({"url": WEB_URL})))
                calls += [("c2", "mcp_hostmcp_lookup", "{}"), ("c3", "mcp_guestsh_uname", "{}")]
                fake.script_for("test/free", *[tool_calls(c) for c in calls],
                                text(f"answer in {mode} mode"))
                ctl.release(f"api-{mode}")
                body, rc = phase_out(f"api-{mode}")
                assert rc == 0 and f"answer in {mode} mode" in body, body
                results = [m["content"] for m in fake.chat_requests[-1]["body"]["messages"]
                           if m["role"] == "tool"]
                if web:  # HTTPS to a name resolved by the guest's DNS, after the seal
                    fetched = results.pop(1)
                    # a 200 with what the host itself got there, not a refusal or error text
                    assert fetched.startswith(WEB_URL + " (200,"), fetched[:300]
                    assert web_body[:60] in fetched, (web_body[:60], fetched[:300])
                assert "UTC" in results[0] and "found on the host" in results[1], results
                # the stdio server ran in the guest, started through the launcher
                assert "kernel Linux 6." in results[2] and "arm64" in results[2], results
                fake.script_for("test/free", text(f"hook answer {mode}"))
                ctl.release(f"hook-{mode}")
                body, rc = phase_out(f"hook-{mode}")
                assert rc == 0 and f"hook answer {mode}" in body, body
                assert f"hook says {mode}" in json.dumps(fake.chat_requests[-1]["body"])
                fake.script_for("test/free", text(f"telegram {mode}"))
                tg.push_text("hello", chat_id=USER)
                assert tg.wait_sent(USER, n, timeout=120)[-1] == f"telegram {mode}"
                ctl.release(f"gateway-{mode}")
            fake.script_for("test/free", tool_calls(("c3", "time", "{}")), text("chat done"))
            ctl.release("chat")
            phase_out("chat")
            fake.script_for("test/free", text("streamed from the router"))
            ctl.release("router-stream")
            body, rc = phase_out("router-stream")
            assert rc == 0 and "data: [DONE]" in body and "streamed" in body, body
            proc.wait(timeout=180)
        except Exception as e:
            for name in ("api-kill", "hook-kill", "gateway-kill", "api-errno", "hook-errno",
                         "gateway-errno", "chat", "router-stream"):
                ctl.release(name)  # let the guest print what it has
            try:
                proc.wait(timeout=60)
            except Exception:
                proc.kill()
            reader.join(10)
            raise AssertionError("the guest said:\n" + "".join(console)[-40000:]) from e
        finally:
            if proc.poll() is None:
                proc.kill()
            reader.join(10)
        text_ = "".join(console)
        assert "HERMETIC-VM-DONE" in text_, text_[-4000:]
        got = phases(text_)
        doctor, rc = got["doctor"]
        assert "landlock: available (ABI" in doctor, doctor
        for mode in ("kill", "errno"):
            out, rc = got[f"gateway-{mode}"]
            assert rc == 0, out
            assert "Landlock: active (ABI" in out, out
            assert "seccomp: active, other syscalls " + (
                "kill the process" if mode == "kill" else "fail with EPERM") in out, out
            assert "seccomp: denied" not in out, out
        out, rc = got["chat"]
        assert rc == 0 and "chat done" in out, out
        out, rc = got["router"]
        assert rc == 0, out
        for name in ("chat", "router"):
            assert "seccomp: denied" not in got[name][0], got[name][0]
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
        ctl.server.shutdown()
