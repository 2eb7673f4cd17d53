"""The MCP revision 2026-07-28 against a real server of the TypeScript SDK v2
(@modelcontextprotocol/server, tests/peers/sdk-v2/input_server.cjs, installed by
tests/peers/sdk-v2/install.sh): hermetic negotiates the revision (server/discover, no
initialize, no session), carries _meta and the Mcp-* headers on every request, and answers a
tool's input_required result through the elicitation question flow (`mcp call --elicit`),
retrying with inputResponses and requestState. The server logs each POST it gets, so the
tests see exactly what reached it."""
import json
import subprocess

import pytest

from conftest import ROOT, SLOW, argv, clean_env
from mcp_harness import NODE, assert_clean_exit, http_entry, write_config

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
    """(config path, the POST log as a list of dicts) for a running input_server.cjs."""
    log = tmp_path / "posts.jsonl"
    proc = subprocess.Popen([NODE, str(SDK_V2 / "input_server.cjs"), sdk_v2, str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = json.loads(proc.stdout.readline())["port"]
        config = write_config(tmp_path, {"v2": http_entry(
            f"http://127.0.0.1:{port}/mcp", timeout=20 * SLOW, connect_timeout=20 * SLOW)})

        def posts():
            return [json.loads(line) for line in log.read_text().splitlines()]
        yield config, posts
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
    config, posts = v2_server
    p = run(config, "list", "--json")
    assert p.returncode == 0, p.stderr
    server = json.loads(p.stdout)["servers"][0]
    assert server["state"] == "connected"
    assert server["protocol_version"] == "2026-07-28"
    assert {t["tool"] for t in server["tools"]} == {"book_table", "echo"}
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
    config, posts = v2_server
    p = run(config, "call", "--elicit", "ask", "v2", "book_table", '{"guests": 4}',
            stdin="Ada\ny\n")
    assert p.returncode == 0, p.stderr
    assert "A table for 4: in whose name?" in p.stderr
    # the tool's result carries what the retried request brought it
    assert json.loads(p.stdout) == {"inputResponses": {"who": {
        "action": "accept", "content": {"name": "Ada", "outside": True}}}}
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
    config, posts = v2_server
    p = run(config, "call", "--elicit", "decline", "v2", "book_table", '{"guests": 2}')
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"inputResponses": {"who": {"action": "decline"}}}


def test_a_call_without_questions_is_answered_at_once(v2_server):
    config, posts = v2_server
    p = run(config, "call", "v2", "echo", '{"text": "hi"}')
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"text": "hi"}
    assert [m["method"] for m in posts()].count("tools/call") == 1
