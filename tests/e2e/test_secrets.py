"""Secret hygiene, end to end: every kind of secret the config can hold (the upstream api_key
from the environment, general_settings.master_key, a declared `keys:` key, api.key, the
Telegram bot token, a hook token, an MCP server's env value and header) gets a distinct,
recognisable value; the gateway and the router then do a full set of work, including the
failures that produce error logs (upstream 401 and 500 whose bodies quote the Authorization
header, Telegram errors whose description quotes the request path, an unreachable Telegram,
wrong keys, MCP servers that echo their environment and headers back as tool results, on
stderr or in a 401, read_file on a pasted .env); `config check`, `doctor`, `mcp list` and
`mcp call` run too. Then every log line (file and
stderr), every /metrics text, every HTTP answer, every request hermetic sent to the model,
every Telegram message it sent, and every byte of state.db is searched for every secret.

A leak fails with the list of (secret kind, where) pairs."""
import http.server
import json
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import SLOW, argv, clean_env, free_port, http_get, to_yaml
from fakes.fake_mcp import FakeMcp, text_result, tool
from fakes.fake_openai import FakeOpenAI, openai_error, text, tool_calls
from fakes.fake_openai import error as http_error
from fakes.fake_telegram import FakeTelegram
from mcp_harness import mcp_list, module_servers, peers  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
FAKE_MCP = ROOT / "tests" / "fakes" / "fake_mcp.py"
PY = "/usr/bin/python3"
CHAT = 1001

SECRETS = {
    "deployment api_key": "sk-or-v1-SECRETS-upstream-4f1c9a2b",
    "master_key": "sk-SECRETS-master-8d3e0c",
    "keys: key": "sk-SECRETS-virtual-key-77a1",
    "api.key": "SECRETS-api-key-5c2e91",
    "telegram.token": "987654321:SECRETS-telegram_token-AAbbCC",
    "hook token": "SECRETS-hook-token-3a9f10",
    "mcp env": "SECRETS-mcp-env-value-b81d",
    "mcp header": "SECRETS-mcp-header-e44c07",
}
ENV = {
    "UPSTREAM_KEY": SECRETS["deployment api_key"],
    "LITELLM_MASTER_KEY": SECRETS["master_key"],
    "VIRTUAL_KEY": SECRETS["keys: key"],
    "API_SERVER_KEY": SECRETS["api.key"],
    "TELEGRAM_BOT_TOKEN": SECRETS["telegram.token"],
    "HOOK_TOKEN": SECRETS["hook token"],
    "MCP_ENV_SECRET": SECRETS["mcp env"],
    "MCP_HEADER": "Bearer " + SECRETS["mcp header"],
}
# The bot token's secret half alone (after "<id>:") must not show either.
TOKEN_TAIL = SECRETS["telegram.token"].split(":", 1)[1]


class Evidence:
    """Everything hermetic said or stored, by where it was found."""

    def __init__(self):
        self.places = []  # (where, text)

    def add(self, where, data):
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        self.places.append((where, data))

    def leaks(self):
        found = []
        for where, data in self.places:
            for kind, value in SECRETS.items():
                if value in data:
                    found.append((kind, where))
            if TOKEN_TAIL in data and SECRETS["telegram.token"] not in data:
                found.append(("telegram.token (secret half)", where))
        return found


def request(url, method="GET", body=None, key=None, ev=None, what=None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
            status, hdrs, text_ = r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        status, hdrs, text_ = e.code, dict(e.headers), e.read().decode()
    if ev is not None:
        ev.add(f"HTTP answer to {what or method + ' ' + url}",
               f"{status}\n{json.dumps(hdrs)}\n{text_}")
    return status, text_


class EchoServer(http.server.ThreadingHTTPServer):
    """Answers every POST with answer(path, headers) -> (status, content type, body): a peer
    that quotes what it was sent, as misconfigured proxies and servers do."""

    def __init__(self, answer):
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                status, ctype, body = answer(self.path, self.headers)
                body = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.server.hits += 1

            def do_GET(self):
                self.do_POST()

            def log_message(self, *args):
                pass

        self.hits = 0
        super().__init__(("127.0.0.1", 0), H)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


def echo_telegram():
    """A Bot API failing every call with a description quoting the path (and so the token)."""
    return EchoServer(lambda path, headers: (404, "application/json", json.dumps(
        {"ok": False, "error_code": 404, "description": f"Not Found: {path}"})))


def strict_mcp():
    """An MCP server refusing every request, quoting the Authorization header it got."""
    return EchoServer(lambda path, headers: (
        401, "text/plain", f"unauthorized: you sent Authorization: {headers.get('Authorization')}"))


def config(tmp_path, model_url, tg_url, web_url, port, router_port, strict_url):
    lp = {"api_key": "os.environ/UPSTREAM_KEY", "api_base": model_url}
    stdio = {"command": "/bin/sh",
             "args": ["-c", f'echo "starting with secret=$MCP_ENV_SECRET" >&2; '
                            f'exec {PY} {FAKE_MCP} --stdio'],
             "env": {"MCP_ENV_SECRET": "os.environ/MCP_ENV_SECRET", "PATH": "/usr/bin:/bin"},
             "timeout": 10 * SLOW}
    cfg = {
        "home": str(tmp_path / "home"),
        "timezone": "UTC",
        "model": "free",
        "log": {"level": "debug", "file": True},
        "model_list": [
            {"model_name": "free", "litellm_params": {"model": "openrouter/test/free", **lp}},
            {"model_name": "cheap", "litellm_params": {"model": "openrouter/test/cheap", **lp}},
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 100, "timeout": 20},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
        "keys": [{"key": "os.environ/VIRTUAL_KEY", "alias": "ci"}],
        "router": {"listen": f"127.0.0.1:{router_port}"},
        "api": {"listen": f"127.0.0.1:{port}", "key": "os.environ/API_SERVER_KEY"},
        "telegram": {"token": "os.environ/TELEGRAM_BOT_TOKEN",
                "stream": "off", "progress": "off", "allowed_users": [CHAT],
                     "api_base": tg_url, "poll_timeout_s": 1},
        "hooks": [{"name": "workout", "token": "os.environ/HOOK_TOKEN",
                   "prompt": "Workout: {{payload.kind}}", "deliver": f"telegram:{CHAT}"}],
        "mcp_servers": {
            "files": stdio,
            "web": {"url": web_url, "headers": {"Authorization": "os.environ/MCP_HEADER"},
                    "timeout": 10 * SLOW, "connect_timeout": 5 * SLOW},
            "strict": {"url": strict_url + "/mcp",
                       "headers": {"Authorization": "os.environ/MCP_HEADER"},
                       "timeout": 10 * SLOW, "connect_timeout": 5 * SLOW},
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    return path


class Proc:
    def __init__(self, tmp_path, name, *args):
        self.err_path = tmp_path / f"{name}.stderr"
        self.out_path = tmp_path / f"{name}.stdout"
        self._err = open(self.err_path, "w")
        self._out = open(self.out_path, "w")
        self.proc = subprocess.Popen(argv(*args), env=clean_env(**ENV), stdout=self._out,
                                     stderr=self._err)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=30 * SLOW)
        finally:
            self._err.close()
            self._out.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def collect(self, ev, name):
        ev.add(f"{name} stderr", self.err_path.read_bytes())
        ev.add(f"{name} stdout", self.out_path.read_bytes())
        err = self.err_path.read_text(errors="replace")
        assert "AddressSanitizer" not in err and "runtime error:" not in err, err


def wait_for(pred, what, timeout=20):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def healthy(url, path="/healthz"):
    try:
        return http_get(url + path, timeout=1)[0] == 200
    except OSError:
        return False


def log_text(home):
    return "".join(p.read_text(errors="replace") for p in sorted((home / "logs").glob("*")))


def tool_names(url, ev):
    status, body = request(url + "/v1/tools", key=SECRETS["api.key"], ev=ev)
    return [t["name"] for t in json.loads(body)["tools"]] if status == 200 else []


def run_cli(ev, name, *args):
    r = subprocess.run(argv(*args), env=clean_env(**ENV), capture_output=True, text=True,
                       timeout=60 * SLOW)
    ev.add(f"`hermetic {' '.join(args[:2])}` output", r.stdout + r.stderr)
    assert "AddressSanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
    return r


@pytest.fixture
def fakes():
    web = FakeMcp(tools=[tool("whoami", "fixed", result=text_result(
        f"you sent Authorization: Bearer {SECRETS['mcp header']}"))]).start()
    strict = strict_mcp()
    with FakeOpenAI(api_key=SECRETS["deployment api_key"]) as model, \
            FakeTelegram(token=SECRETS["telegram.token"]) as tg:
        tg.add_chat(CHAT)
        yield model, tg, web, strict
    web.close()
    strict.shutdown()
    strict.server_close()


def test_no_secret_leaks_anywhere(tmp_path, fakes):
    model, tg, web, strict = fakes
    ev = Evidence()
    home = tmp_path / "home"
    port, router_port = free_port(), free_port()
    cfg = config(tmp_path, model.url, tg.url, web.url, port, router_port, strict.url)
    url = f"http://127.0.0.1:{port}"
    key = SECRETS["api.key"]
    procs = []
    try:
        # ---- phase 1: the gateway at work, with failures ----------------------------------
        # A file in home that quotes secrets (say, a pasted .env): read_file must not carry
        # them to the model.
        home.mkdir(mode=0o700)
        (home / "pasted.env").write_text(f"API_SERVER_KEY={SECRETS['api.key']}\n"
                                         f"HOOK_TOKEN={SECRETS['hook token']}\n")
        g = Proc(tmp_path, "gateway", "gateway", "--config", str(cfg))
        procs.append(g)
        wait_for(lambda: healthy(url), "the gateway")
        wait_for(lambda: {"mcp_files_env", "mcp_web_whoami"} <= set(tool_names(url, ev)),
                 "both MCP servers' tools")

        # A turn over the API whose tools echo the MCP env secret, the header and the file.
        model.script_for("test/free",
                         tool_calls(("c1", "mcp_files_env", "{}"), ("c2", "mcp_web_whoami", "{}"),
                                    ("c3", "read_file", '{"path": "pasted.env"}')),
                         text("Tools ran."))
        status, body = request(url + "/v1/chat/completions", "POST",
                               {"model": "hermetic-agent", "user": "ada",
                                "messages": [{"role": "user", "content": "run the tools"}]},
                               key=key, ev=ev, what="API chat with tools")
        assert status == 200 and "Tools ran." in body, body
        results = [m["content"] for m in model.chat_requests[-1]["body"]["messages"]
                   if m["role"] == "tool"]
        # Each tool did quote a secret, and it was cut: the search below means something.
        assert len(results) == 3 and all("[REDACTED]" in r for r in results), results

        # The same tools called directly.
        for name in ("mcp_files_env", "mcp_web_whoami"):
            status, _ = request(url + "/v1/tools/call", "POST", {"name": name}, key=key, ev=ev,
                                what=f"/v1/tools/call {name}")
            assert status == 200

        # Upstream failures whose bodies quote the key.
        auth = f"Authorization: Bearer {SECRETS['deployment api_key']}"
        model.script_for("test/free", openai_error(401, f"Invalid key. You sent {auth}",
                                                   type="authentication_error"))
        request(url + "/v1/chat/completions", "POST",
                {"messages": [{"role": "user", "content": "hi"}]}, key=key, ev=ev,
                what="API chat, upstream 401")
        model.script_for("test/free", http_error(500, f"internal error while handling {auth}"))
        request(url + "/v1/chat/completions", "POST",
                {"messages": [{"role": "user", "content": "hi"}]}, key=key, ev=ev,
                what="API chat, upstream 500")
        n_before = len(model.chat_requests)

        # Wrong keys, and a secret offered as the wrong kind of key.
        for wrong in ("wrong-key", SECRETS["hook token"], None):
            status, _ = request(url + "/v1/chat/completions", "POST",
                                {"messages": [{"role": "user", "content": "hi"}]}, key=wrong,
                                ev=ev, what="API chat with a wrong key")
            assert status == 401
        status, _ = request(url + "/v1/hooks/workout", "POST", {"kind": "run"},
                            key=SECRETS["api.key"], ev=ev, what="hook with a wrong token")
        assert status == 401
        assert len(model.chat_requests) == n_before

        # A hook run delivered to Telegram, and a Telegram chat turn.
        model.script_for("test/free", text("Nice run."), text("Hello Ada."))
        status, _ = request(url + "/v1/hooks/workout", "POST", {"kind": "run"},
                            key=SECRETS["hook token"], ev=ev, what="hook")
        assert status == 200
        assert tg.wait_sent(CHAT, 1, timeout=20 * SLOW) == ["Nice run."]
        tg.push_text("hello", chat_id=CHAT)
        assert tg.wait_sent(CHAT, 2, timeout=20 * SLOW)[1] == "Hello Ada."
        # /status lists the MCP servers, the refusing one with its error.
        wait_for(lambda: strict.hits >= 1, "the strict MCP server to be asked")
        tg.push_text("/status", chat_id=CHAT)
        status_text = tg.wait_sent(CHAT, 3, timeout=20 * SLOW)[2]
        assert "strict" in status_text, status_text

        # Telegram failing: 5xx on polling and on sending.
        tg.server_error(2, method="getUpdates")
        tg.server_error(1, method="sendMessage", html=True)
        model.script_for("test/free", text("Again."))
        tg.push_text("again", chat_id=CHAT)
        assert tg.wait_sent(CHAT, 4, timeout=60 * SLOW)[3] == "Again."

        for path in ("/metrics", "/readyz", "/healthz", "/v1/tools"):
            request(url + path, key=key, ev=ev)
        assert g.stop() == 0
        g.collect(ev, "gateway")
        for chat, msgs in tg.all_sent().items():
            ev.add(f"Telegram messages to chat {chat}", json.dumps(msgs))

        # ---- phase 2: a Bot API that quotes the path (token) in its errors ---------------
        echo = echo_telegram()
        cfg2 = config(tmp_path, model.url, echo.url, web.url, port, router_port, strict.url)
        g = Proc(tmp_path, "gateway-echo", "gateway", "--config", str(cfg2))
        procs.append(g)
        wait_for(lambda: healthy(url), "the gateway")
        wait_for(lambda: echo.hits >= 2, "the gateway to poll the echoing Bot API")
        for path in ("/metrics", "/readyz"):
            request(url + path, key=key, ev=ev, what=f"{path} (echoing Bot API)")
        assert g.stop() == 0
        echo.shutdown()
        echo.server_close()
        g.collect(ev, "gateway (echoing Bot API)")

        # ---- phase 3: Telegram unreachable (curl errors) --------------------------------
        dead = f"http://127.0.0.1:{free_port()}"
        cfg3 = config(tmp_path, model.url, dead, web.url, port, router_port, strict.url)
        before = log_text(home).count("failed (network: ")
        g = Proc(tmp_path, "gateway-dead", "gateway", "--config", str(cfg3))
        procs.append(g)
        wait_for(lambda: healthy(url), "the gateway")
        wait_for(lambda: log_text(home).count("failed (network: ") > before,
                 "a network failure reaching Telegram in the log")
        for path in ("/metrics", "/readyz"):
            request(url + path, key=key, ev=ev, what=f"{path} (unreachable Bot API)")
        assert g.stop() == 0
        g.collect(ev, "gateway (unreachable Bot API)")

        # ---- phase 4: the router with master and declared keys ---------------------------
        rurl = f"http://127.0.0.1:{router_port}"
        r = Proc(tmp_path, "router", "router", "--config", str(cfg))
        procs.append(r)
        wait_for(lambda: healthy(rurl, "/health/liveliness"), "the router")
        body = {"model": "free", "messages": [{"role": "user", "content": "hi"}]}
        model.script_for("test/free", text("via master"), text("via key"),
                         openai_error(401, f"Invalid key. You sent {auth}",
                                      type="authentication_error"),
                         text("streamed", error_after=1,
                              error={"code": 502, "message": f"upstream broke: {auth}"}))
        assert request(rurl + "/v1/chat/completions", "POST", body, SECRETS["master_key"], ev,
                       "router chat (master key)")[0] == 200
        assert request(rurl + "/v1/chat/completions", "POST", body, SECRETS["keys: key"], ev,
                       "router chat (declared key)")[0] == 200
        request(rurl + "/v1/chat/completions", "POST", body, SECRETS["master_key"], ev,
                "router chat, upstream 401")
        request(rurl + "/v1/chat/completions", "POST", {**body, "stream": True},
                SECRETS["master_key"], ev, "router stream, upstream error mid-stream")
        for wrong in ("sk-wrong", SECRETS["api.key"], None):
            assert request(rurl + "/v1/chat/completions", "POST", body, wrong, ev,
                           "router chat with a wrong key")[0] == 401
        for path in ("/metrics", "/v1/models", "/model/info"):
            request(rurl + path, key=SECRETS["master_key"], ev=ev)
        assert r.stop() == 0
        r.collect(ev, "router")

        # ---- phase 5: the command line ---------------------------------------------------
        run_cli(ev, "config check", "config", "check", "--config", str(cfg))
        run_cli(ev, "doctor", "doctor", "--config", str(cfg))
        run_cli(ev, "mcp call", "mcp", "call", "--config", str(cfg), "files", "env")
        run_cli(ev, "mcp list", "mcp", "list", "--config", str(cfg))
        run_cli(ev, "sessions list", "sessions", "list", "--config", str(cfg))
        run_cli(ev, "spend", "spend", "--config", str(cfg))
    finally:
        for p in procs:
            p.kill()

    # ---- what hermetic sent out, and what it keeps ---------------------------------------
    for i, req in enumerate(model.requests):
        ev.add(f"request {i} hermetic sent to the model (body)", req.get("raw") or "")
    for req in tg.requests:
        ev.add(f"Telegram {req.get('api_method')} call (params)", json.dumps(req.get("params")))
    ev.add("log files", log_text(home))
    db = sqlite3.connect(home / "state.db")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert "messages" in tables and "sessions" in tables
    n_msgs = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert n_msgs >= 6  # the tool results are stored, so the search below covers them
    for t in tables:
        rows = db.execute(f'SELECT * FROM "{t}"').fetchall()
        ev.add(f"state.db table {t}", "\n".join(repr(r) for r in rows))
    db.close()
    for f in sorted(home.glob("state.db*")):
        ev.add(f"{f.name} (raw bytes)", f.read_bytes())

    leaks = ev.leaks()
    assert not leaks, "secrets leaked:\n" + "\n".join(f"  {k} in {w}" for k, w in leaks)
    # The search looked at real material, not empty strings.
    joined = "".join(d for _, d in ev.places)
    for marker in ("Tools ran.", "Hello Ada.", "getUpdates", "[REDACTED]", "/bot<redacted>/",
                   "failed (network: ", "The model call failed (HTTP 401)",
                   "unauthorized: you sent Authorization: [REDACTED]"):
        assert marker in joined, marker


def shipped_config(rel):
    """The config.yaml embedded in a shipped ConfigMap."""
    lines = (ROOT / rel).read_text().splitlines()
    start = lines.index("  config.yaml: |") + 1
    cfg = []
    for line in lines[start:]:
        if line.strip() and not line.startswith("    "):
            break
        cfg.append(line[4:])
    return "\n".join(cfg) + "\n"


def test_shipped_config_never_offers_configuration_view(module_servers, tmp_path):
    """kubernetes-mcp-server's configuration_view prints the kubeconfig, token included: the
    shipped ConfigMap excludes it, proven against the real server (which does offer it)."""
    k8s = module_servers.kubernetes()
    text = shipped_config("k8s/configmap.yaml")
    assert 'url: "http://127.0.0.1:8080/mcp"' in text
    text = (text.replace("home: /opt/data", f"home: {tmp_path / 'home'}")
            .replace("persona_file: /etc/hermetic/SOUL.md", "")
            .replace('url: "http://127.0.0.1:8080/mcp"', f'url: "{k8s.url}"'))
    env = clean_env(OPENROUTER_API_KEY="x" * 8, TELEGRAM_BOT_TOKEN="1:xxxxxxxx",
                    API_SERVER_KEY="k" * 8)
    shipped = tmp_path / "shipped.yaml"
    shipped.write_text(text)
    bare = tmp_path / "bare.yaml"
    bare.write_text(text.replace("exclude: [configuration_view]", "exclude: []"))
    assert bare.read_text() != text
    r = mcp_list(shipped, env=env)
    assert r.server("kubernetes")["state"] == "connected", r.stdout + r.stderr
    tools = r.server_tools("kubernetes")
    assert "pods_list" in tools and "configuration_view" not in tools, tools
    r = mcp_list(bare, env=env)
    assert "configuration_view" in r.server_tools("kubernetes")


def test_config_check_errors_never_quote_a_secret(tmp_path):
    """A config that fails (so nothing is registered for redaction yet) explains each error
    by the secret's reference or position, never by its value."""
    literal = "sk-or-v1-SECRETS-literal-in-file-91aa"
    cfg = {
        "home": str(tmp_path / "home"),
        "model_list": [{"model_name": "free", "litellm_params": {
            "model": "openrouter/test/free", "api_key": literal + "\n",
            "extra_headers": {"X-Team": "os.environ/UPSTREAM_KEY"}}}],
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
        "keys": [{"key": "os.environ/VIRTUAL_KEY"}, {"key": "os.environ/VIRTUAL_KEY"}],
        "api": {"key": "os.environ/API_SERVER_KEY", "listen": "127.0.0.1:1"},
        "telegram": {"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": ["ada"]},
        "hooks": [{"name": "w", "token": "os.environ/HOOK_TOKEN", "prompt": "x",
                   "deliver": "telegram:nobody"}],
        "mcp_servers": {"web": {"url": "http://127.0.0.1:1/mcp",
                                "headers": {"Authorization": "os.environ/MCP_HEADER"}}},
    }
    path = tmp_path / "bad.yaml"
    path.write_text(to_yaml(cfg))
    env = dict(ENV, MCP_HEADER="Bearer " + SECRETS["mcp header"] + "\nX-Injected: 1",
               UPSTREAM_KEY=SECRETS["deployment api_key"] + "\r")
    r = subprocess.run(argv("config", "check", "--config", str(path)), env=clean_env(**env),
                       capture_output=True, text=True, timeout=60 * SLOW)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    # The errors are there, each pointing at its place.
    assert "must be a single line" in out and "the same key value as keys[0]" in out, out
    assert f"{path}:" in out
    ev = Evidence()
    ev.add("`config check` of a broken config", out)
    leaks = ev.leaks() + ([("literal api_key", "`config check` output")]
                          if "SECRETS-literal" in out else [])
    assert not leaks, "secrets leaked:\n" + "\n".join(f"  {k} in {w}" for k, w in leaks)
