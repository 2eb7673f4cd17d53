"""The MCP revision 2026-07-28 against a real server of the TypeScript SDK v2
(@modelcontextprotocol/server, tests/peers/sdk-v2/input_server.cjs, installed by
tests/peers/sdk-v2/install.sh): hermetic negotiates the revision (server/discover, no
initialize, no session), carries _meta and the Mcp-* headers on every request, and answers a
tool's input_required result through the elicitation question flow (`mcp call --elicit`),
retrying with inputResponses and requestState; in the gateway, a sampling input request
reaches the configured model through the router. The server logs each POST it gets, so the
tests see exactly what reached it."""
import contextlib
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from agent_harness import agent_config, fake, messages, tool_results  # noqa: F401
from conftest import ROOT, SLOW, Gateway, argv, clean_env, to_yaml
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import FakeTelegram, callback_data_of
from mcp_harness import NODE, assert_clean_exit, http_entry, mcp_gateway, write_config  # noqa: F401
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

SDK_V2 = ROOT / "tests" / "peers" / "sdk-v2"


@pytest.fixture(scope="module")
def sdk_v2():
    p = subprocess.run(["bash", str(SDK_V2 / "install.sh")], capture_output=True, text=True,
                       timeout=600)
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        pytest.fail(f"tests/peers/sdk-v2/install.sh failed ({p.returncode}):\n{p.stderr}",
                    pytrace=False)
    return lines[-1]


@pytest.fixture
def v2_server(sdk_v2, tmp_path):
    """(config path, the POST log as a list of dicts, the server's URL, its process) for a
    running input_server.cjs."""
    log = tmp_path / "posts.jsonl"
    proc = subprocess.Popen([NODE, str(SDK_V2 / "input_server.cjs"), sdk_v2, str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = json.loads(proc.stdout.readline())["port"]
        url = f"http://127.0.0.1:{port}/mcp"
        config = write_config(tmp_path, {"v2": http_entry(
            url, timeout=20 * SLOW, connect_timeout=20 * SLOW)})

        def posts():
            return [json.loads(line) for line in log.read_text().splitlines()]
        yield config, posts, url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(config, *args, stdin=""):
    p = subprocess.run(argv("mcp", *args[:1], "--config", str(config), *args[1:]),
                       input=stdin, env=clean_env(), capture_output=True, text=True,
                       timeout=60 * SLOW)
    assert_clean_exit(p)
    return p


def test_list_negotiates_the_revision_without_initialize_or_session(v2_server):
    config, posts, _, _ = v2_server
    p = run(config, "list", "--json")
    assert p.returncode == 0, p.stderr
    server = json.loads(p.stdout)["servers"][0]
    assert server["state"] == "connected"
    assert server["protocol_version"] == "2026-07-28"
    assert {t["tool"] for t in server["tools"]} == {
        "book_table", "ask_model", "pay", "forever", "echo"}
    sent = posts()
    assert [m["method"] for m in sent] == ["server/discover", "tools/list"]
    for m in sent:
        assert m["headers"]["mcp-protocol-version"] == "2026-07-28"
        assert m["headers"]["mcp-method"] == m["method"]
        assert "mcp-session-id" not in m["headers"]
        meta = m["params"]["_meta"]
        assert meta["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
        assert meta["io.modelcontextprotocol/clientInfo"]["name"] == "hermetic"
        assert isinstance(meta["io.modelcontextprotocol/clientCapabilities"], dict)


def test_input_required_is_asked_and_the_answer_reaches_the_tool(v2_server):
    config, posts, _, _ = v2_server
    p = run(config, "call", "--elicit", "ask", "v2", "book_table", '{"guests": 4}',
            stdin="Ada\ny\n")
    assert p.returncode == 0, p.stderr
    assert "A table for 4: in whose name?" in p.stderr
    # the tool's result carries what the retried request brought it
    assert json.loads(p.stdout) == {"inputResponses": {"who": {
        "action": "accept", "content": {"name": "Ada", "outside": True}}},
        "requestState": "booking-4"}
    calls = [m for m in posts() if m["method"] == "tools/call"]
    assert len(calls) == 2
    first, retry = calls
    assert "inputResponses" not in first["params"] and "requestState" not in first["params"]
    assert retry["params"]["requestState"] == "booking-4"  # echoed exactly
    assert retry["id"] != first["id"]
    assert retry["params"]["arguments"] == {"guests": 4}
    assert retry["headers"]["mcp-name"] == "book_table"
    assert "elicitation" in retry["params"]["_meta"][
        "io.modelcontextprotocol/clientCapabilities"]


def test_a_declined_question_is_sent_back_as_declined(v2_server):
    config, posts, _, _ = v2_server
    p = run(config, "call", "--elicit", "decline", "v2", "book_table", '{"guests": 2}')
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"inputResponses": {"who": {"action": "decline"}},
                                    "requestState": "booking-2"}


def test_a_link_without_elicitation_id_is_asked(v2_server):
    """The revision's url-mode input request names no elicitationId; it is a question all
    the same (declined here), not a refused form."""
    config, posts, _, _ = v2_server
    p = run(config, "call", "--elicit", "decline", "v2", "pay")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"kind": "elicit", "action": "decline"}


def test_each_request_declares_what_may_be_asked(v2_server):
    """mcp call offers questions but no sampling, and every request's _meta says so: the SDK
    then refuses to ask ask_model's sampling input, and its error reaches the user."""
    config, posts, _, _ = v2_server
    p = run(config, "call", "v2", "ask_model", '{"prompt": "hi"}')
    assert p.returncode == 1
    assert "-32021" in p.stdout and "do not declare the required capability" in p.stdout
    [call] = [m for m in posts() if m["method"] == "tools/call"]
    caps = call["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]
    assert "elicitation" in caps and "sampling" not in caps


def test_a_server_that_keeps_asking_is_stopped_after_eight_rounds(v2_server):
    config, posts, _, _ = v2_server
    p = run(config, "call", "v2", "forever")
    assert p.returncode == 1
    assert "round 9 of at most 8" in p.stdout + p.stderr
    calls = [m for m in posts() if m["method"] == "tools/call"]
    assert len(calls) == 9
    # each retry carries the state of the answer before it, exactly
    assert [c["params"].get("requestState") for c in calls] == [None] + [
        str(i) for i in range(1, 9)]


def test_a_call_without_questions_is_answered_at_once(v2_server):
    config, posts, _, _ = v2_server
    p = run(config, "call", "v2", "echo", '{"text": "hi"}')
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"text": "hi"}
    assert [m["method"] for m in posts()].count("tools/call") == 1


TOKEN = "123456:TEST-e2e-SECRET-token"
ALLOWED = 1001


@contextlib.contextmanager
def gateway(tmp_path, fake, url, tool, **server_extra):
    """A gateway with the v2 server and a fake Telegram; yields the Telegram fake once the
    tool is offered."""
    with FakeTelegram(token=TOKEN) as tg:
        tele = {"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [ALLOWED],
                "api_base": tg.url, "poll_timeout_s": 1, "stream": "off", "progress": "off"}
        server = {**http_entry(url, timeout=20 * SLOW, connect_timeout=20 * SLOW),
                  **server_extra}
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele,
                           approvals={"mcp": "none"}, mcp_servers={"v2": server})
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
        g.start()
        try:
            wait_for(lambda: tool in _offered(g), 30 * SLOW, "the MCP tools")
            yield tg
        finally:
            g.kill()
        assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _offered(g):
    try:
        with urllib.request.urlopen(g.url + "/v1/tools", timeout=5 * SLOW) as r:
            return r.read().decode()
    except OSError:
        return ""


def test_a_sampling_input_request_reaches_the_model_in_the_gateway(v2_server, fake, tmp_path):
    """A Telegram turn calls ask_model; its input_required asks for a model's answer, which
    the gateway gets from the sampling model through the router and sends back as the
    inputResponse."""
    _, posts, url, _ = v2_server
    fake.script_for("test/cheap", text("Paris, of course."))
    tool = "mcp_v2_ask_model"
    fake.script_for("test/free", tool_calls(("c1", tool, json.dumps({"prompt": "capital?"}))),
                    text("It said Paris."))
    with gateway(tmp_path, fake, url, tool,
                 sampling={"enabled": True, "model": "cheap", "max_tokens_cap": 50}) as tg:
        tg.push_text("ask the server", chat_id=ALLOWED)
        wait_for(lambda: "It said Paris." in tg.sent(ALLOWED), 60 * SLOW, "the turn's answer")
        out = tool_results(fake.chat_requests[-1])[-1]
    assert '"kind":"sampling"' in out.replace(" ", "") and "Paris, of course." in out
    [req] = [r for r in fake.chat_requests if r["body"].get("model") == "test/cheap"]
    assert req["body"]["max_tokens"] == 50  # sampling.max_tokens_cap
    ms = messages(req)
    assert ms[0] == {"role": "system", "content": "You are a helpful test server."}
    assert "capital?" in json.dumps(ms[1])
    calls = [m for m in posts() if m["method"] == "tools/call"]
    assert len(calls) == 2
    assert calls[1]["params"]["inputResponses"]["answer"]["role"] == "assistant"
    assert "requestState" not in calls[1]["params"]  # none came, none is sent
    assert "sampling" in calls[0]["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]


def test_an_input_required_question_is_asked_in_telegram(v2_server, fake, tmp_path):
    """The gateway asks the owner the input_required form in the chat like any server's
    question; the answers reach the tool with the retried call."""
    _, posts, url, _ = v2_server
    tool = "mcp_v2_book_table"
    fake.script_for("test/free", tool_calls(("c1", tool, json.dumps({"guests": 3}))),
                    text("Booked."))
    with gateway(tmp_path, fake, url, tool) as tg:
        tg.push_text("book a table for three", chat_id=ALLOWED)
        q = _question(tg, 1)  # name: typed
        assert "A table for 3: in whose name?" in q["text"] and "Name" in q["text"]
        tg.push_text("Ada", chat_id=ALLOWED)
        q = _question(tg, 2)  # outside: a boolean, as buttons
        labels = [b["text"] for row in q["reply_markup"]["inline_keyboard"] for b in row]
        assert "Yes" in labels
        data = callback_data_of(q["reply_markup"])
        tg.press(ALLOWED, q["message_id"], data[labels.index("Yes")], user_id=ALLOWED)
        wait_for(lambda: "Booked." in tg.sent(ALLOWED), 60 * SLOW, "the turn's answer")
        out = json.loads(tool_results(fake.chat_requests[-1])[-1])
    assert out == {"inputResponses": {"who": {
        "action": "accept", "content": {"name": "Ada", "outside": True}}},
        "requestState": "booking-3"}
    calls = [m for m in posts() if m["method"] == "tools/call"]
    assert calls[1]["params"]["requestState"] == "booking-3"


def _question(tg, n):
    """The n-th question message (with buttons, or closed with an arrow)."""
    def found():
        qs = [m for m in tg.messages(ALLOWED) if m.get("reply_markup") or "\u2192" in m["text"]]
        return qs[n - 1] if len(qs) >= n else None
    wait_for(found, 30 * SLOW, f"question {n}")
    return found()


def test_a_hung_server_is_found_by_discover_and_reconnected(v2_server, mcp_gateway):
    """The revision has no ping: server/discover checks a ready server instead, at once after
    a call timed out, so a hung server is marked down, and reconnected once it answers."""
    _, posts, url, proc = v2_server
    g = mcp_gateway({"v2": http_entry(url, timeout=1)})
    g.wait_tools("v2", timeout=20 * SLOW)
    assert g.metric("hermetic_mcp_server_up", server="v2") == 1
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        r = g.call("mcp_v2_echo", {"text": "hung"})
        assert r.status == 200 and r.json()["is_error"] is True, r
        wait_for(lambda: g.metric("hermetic_mcp_server_up", server="v2") == 0, 10 * SLOW,
                 "hermetic_mcp_server_up 0 for the hung server")
        assert g.tool_names("v2") == []
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    g.wait_tools("v2", timeout=30 * SLOW)
    methods = [m["method"] for m in posts()]
    assert "ping" not in methods and "initialize" not in methods
    assert methods.count("server/discover") >= 3  # connect, the check, the reconnect


@pytest.fixture
def scripted(tmp_path):
    """A minimal server of the revision's wire (no SDK), for what the SDK never sends: an
    input request of a method no client answers, and too many inputs in one round. Yields
    (config, the tools/call params it got)."""
    got = []

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            msg = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            p = msg.get("params") or {}
            if msg["method"] == "server/discover":
                result = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
                          "serverInfo": {"name": "scripted", "version": "1"}}
            elif msg["method"] == "tools/list":
                result = {"tools": [{"name": n, "inputSchema": {"type": "object"}}
                                    for n in ("unknown", "many")]}
            elif msg["method"] == "tools/call":
                got.append(p)
                ask = {"method": "elicitation/create", "params": {
                    "message": "?", "requestedSchema": {"type": "object", "properties": {}}}}
                if p["name"] == "unknown":
                    inputs = {"x": {"method": "example/unknown", "params": {}}}
                else:
                    inputs = {f"q{i}": ask for i in range(17)}
                result = {"resultType": "input_required", "inputRequests": inputs}
            else:
                result = {}
            body = json.dumps({"jsonrpc": "2.0", "id": msg.get("id"), "result": result})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/mcp"
        yield write_config(tmp_path, {"s": http_entry(url, timeout=10 * SLOW)}), got
    finally:
        srv.shutdown()


def test_an_input_request_hermetic_does_not_answer_fails_the_call(scripted):
    """An inputResponses entry can only be a result: an input request answered with an
    error fails the call with it, and the request is not sent again."""
    config, got = scripted
    p = run(config, "call", "--elicit", "decline", "s", "unknown")
    assert p.returncode == 1
    assert ("the server's input request x could not be answered: Method not found (-32601)"
            in p.stdout)
    assert len(got) == 1


def test_more_than_sixteen_inputs_in_a_round_fail_the_call(scripted):
    config, got = scripted
    p = run(config, "call", "--elicit", "decline", "s", "many")
    assert p.returncode == 1
    assert "at most 16 inputs a round" in p.stdout
    assert len(got) == 1


def test_protocol_2026_offers_the_revision_to_a_stdio_server(sdk_v2, tmp_path):
    """`protocol: 2026-07-28` asks a stdio server server/discover first; the v2 SDK's stdio
    server takes it, and the question round trip works there too (no HTTP headers)."""
    log = tmp_path / "requests.jsonl"
    config = write_config(tmp_path, {"v2": {
        "command": NODE, "args": [str(SDK_V2 / "input_server.cjs"), sdk_v2, str(log), "stdio"],
        "protocol": "2026-07-28", "timeout": 20 * SLOW, "connect_timeout": 20 * SLOW}})
    p = run(config, "list", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["servers"][0]["protocol_version"] == "2026-07-28"
    p = run(config, "call", "--elicit", "decline", "v2", "book_table", '{"guests": 5}')
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"inputResponses": {"who": {"action": "decline"}},
                                    "requestState": "booking-5"}
    methods = [json.loads(line)["method"] for line in log.read_text().splitlines()]
    assert "initialize" not in methods and methods[0] == "server/discover"


def test_auto_keeps_a_stdio_server_to_initialize(sdk_v2, tmp_path):
    log = tmp_path / "requests.jsonl"
    config = write_config(tmp_path, {"v2": {
        "command": NODE, "args": [str(SDK_V2 / "input_server.cjs"), sdk_v2, str(log), "stdio"],
        "timeout": 20 * SLOW, "connect_timeout": 20 * SLOW}})
    p = run(config, "list", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["servers"][0]["protocol_version"] == "2025-11-25"
    methods = [json.loads(line)["method"] for line in log.read_text().splitlines()]
    assert methods[0] == "initialize" and "server/discover" not in methods


def test_protocol_2025_keeps_an_http_server_to_initialize(v2_server, tmp_path):
    """`protocol: 2025-11-25` is the way out for a server that mishandles server/discover: the
    v2 SDK then serves the 2025 wire (its stateless fallback)."""
    _, posts, url, _ = v2_server
    config = write_config(tmp_path, {"v2": http_entry(
        url, timeout=20 * SLOW, connect_timeout=20 * SLOW, protocol="2025-11-25")},
        name="pinned.yaml")
    p = run(config, "list", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["servers"][0]["protocol_version"] == "2025-11-25"
    methods = [m["method"] for m in posts()]
    assert methods[0] == "initialize" and "server/discover" not in methods
