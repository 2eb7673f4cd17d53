"""Signing in to a real OAuth-protected MCP server (issue 48, item 3's "Done means"): the
TypeScript SDK's own example server (`@modelcontextprotocol/sdk`, pinned in tests/peers) run
with `--oauth`, which puts its demo OAuth provider (demoInMemoryOAuthProvider: mcpAuthRouter,
dynamic registration, PKCE, introspection) in front of the MCP endpoint with requireBearerAuth.
No fake stands between hermetic and it.

- `hermetic mcp login` with $BROWSER a script that follows the authorization redirects (the
  user's consenting browser: the demo provider approves at once), then `hermetic mcp call`.
- The gateway with the Telegram fake: the owner gets one "Sign in to demo" button; the turn
  that needed the server is told it is not signed in and that a sign-in went to the owner; the
  address the browser ended on, pasted into the chat, completes it (a wrong state is refused
  first); the next turn's tool call reaches the server with the token. With ui.public_url the
  browser comes back to the cockpit's /ui/oauth/callback, and the cockpit lists the sign-in.
"""
import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request

import pytest

from agent_harness import fake, tool_results  # noqa: F401
from conftest import ROOT, SLOW, clean_env, free_port
from fakes.fake_openai import text, tool_calls
from mcp_harness import (LOOPBACK, NODE, ServerProcess, hermetic, http_entry, mcp_call,  # noqa: F401
                         peers, port_open, write_config)
from tg_harness import (ALLOWED, assert_clean, button_url, cockpit_get, cockpit_hash,  # noqa: F401
                        cockpit_login, follow_until, offered, sign_in_messages,
                        telegram_gateway, tg, wait_for)

BROWSER = f"/usr/bin/python3 {ROOT / 'tests' / 'conformance' / 'browser.py'}"
EXAMPLE = "node_modules/@modelcontextprotocol/sdk/dist/cjs/examples/server/simpleStreamableHttp.js"


@pytest.fixture
def demo(peers, tmp_path):
    """The SDK's example server with its demo OAuth provider: MCP on one port, the
    authorization server on another (both on 127.0.0.1; the example names them localhost)."""
    mcp_port, auth_port = free_port(), free_port()
    env = clean_env(MCP_PORT=str(mcp_port), MCP_AUTH_PORT=str(auth_port), HOME=str(tmp_path))
    cmd = [NODE, "--require", str(LOOPBACK), str(peers.prefix / EXAMPLE), "--oauth"]
    s = ServerProcess("sdk-oauth-demo", cmd, mcp_port, env, tmp_path / "demo.log",
                      ready=lambda: port_open(mcp_port) and port_open(auth_port))
    s.url_ = f"http://localhost:{mcp_port}/mcp"
    s.start()
    yield s
    s.kill()


def stored_tokens(home):
    db = sqlite3.connect(home / "state.db")
    try:
        return db.execute("SELECT server, access_token FROM mcp_oauth").fetchall()
    finally:
        db.close()


def test_mcp_login_signs_in_to_the_sdk_demo_provider_and_a_tool_is_called(tmp_path, demo):
    cfg = write_config(tmp_path, {"demo": http_entry(demo.url_, auth="oauth")})
    r = mcp_call(cfg, "demo", "greet", {"name": "Ada"})
    assert r.returncode != 0 and "not signed in" in r.stdout + r.stderr, r
    r = hermetic("mcp", "login", "--config", str(cfg), "demo",
                 env=clean_env(BROWSER=BROWSER))
    assert r.returncode == 0, r
    assert "Signed in to demo" in r.stdout, r
    r = mcp_call(cfg, "demo", "greet", {"name": "Ada"})
    assert r.returncode == 0, r
    assert "Hello, Ada!" in r.stdout, r
    # the demo server logs the caller it authenticated: the token reached it
    assert "Authenticated user" in demo.log(tail=0)


# ---- the gateway: the sign-in sent to the owner in Telegram ----

def gateway(tmp_path, fake, tg, demo, **extra):  # noqa: F811
    entry = {"url": demo.url_, "auth": "oauth", "timeout": 10 * SLOW,
             "connect_timeout": 10 * SLOW}
    # the demo's tools say nothing of read-only: no approval question in the way
    g = telegram_gateway(tmp_path, fake, tg, {"demo": entry}, approvals={"mcp": "none"},
                         **extra)
    wait_for(lambda: sign_in_messages(tg, "demo"), 30 * SLOW, "the sign-in message")
    return g


def last_tool_result(fake):  # noqa: F811
    return tool_results(fake.chat_requests[-1])[-1]


def test_telegram_sign_in_by_pasting_the_address_then_the_next_turn_calls_the_tool(
        tmp_path, fake, tg, demo):  # noqa: F811
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_demo_greet", '{"name": "Ada"}')), text("Not yet."),
                    tool_calls(("c2", "mcp_demo_greet", '{"name": "Ada"}')), text("Greeted."))
    g = gateway(tmp_path, fake, tg, demo)
    try:
        (msg,) = sign_in_messages(tg, "demo")
        assert "Sign in to demo" in msg["text"] and "paste it here" in msg["text"]
        url = button_url(msg, "demo")
        assert urllib.parse.urlsplit(url).path == "/authorize"
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert q["redirect_uri"] == ["http://127.0.0.1/callback"]
        assert q["code_challenge_method"] == ["S256"]

        # the turn that needs the server is told why it cannot have it, and waits for nothing
        tg.push_text("greet Ada", chat_id=ALLOWED)
        wait_for(lambda: "Not yet." in tg.sent(ALLOWED), 60 * SLOW, "the first turn's answer")
        told = last_tool_result(fake)
        assert "not signed in" in told and "a sign-in was sent to the owner" in told, told
        assert len(sign_in_messages(tg, "demo")) == 1  # one message while it waits, not one per try

        ended = follow_until(url, "http://127.0.0.1/callback")
        # an address from another sign-in (its state differs) is refused, and this one waits on
        forged = ended.replace("state=", "state=x")
        tg.push_text(forged, chat_id=ALLOWED)
        wait_for(lambda: any("Not taken" in t for t in tg.sent(ALLOWED)), 30 * SLOW,
                 "the refusal")
        refusal = next(t for t in tg.sent(ALLOWED) if "Not taken" in t)
        assert "state does not match" in refusal, refusal

        tg.push_text(ended, chat_id=ALLOWED)
        wait_for(lambda: any(t.startswith("Signed in to demo") for t in tg.sent(ALLOWED)),
                 30 * SLOW, "the sign-in to end")
        assert [s for s, _ in stored_tokens(g.home)] == ["demo"]
        wait_for(lambda: "mcp_demo_greet" in offered(g), 30 * SLOW, "the server's tools")

        tg.push_text("greet Ada again", chat_id=ALLOWED)
        wait_for(lambda: "Greeted." in tg.sent(ALLOWED), 60 * SLOW, "the second turn's answer")
        assert "Hello, Ada!" in last_tool_result(fake)
        assert "Authenticated user" in demo.log(tail=0)
        # the pasted address is not a message for the model
        assert not any(ended in json.dumps(r) for r in fake.chat_requests)
    finally:
        g.kill()
    assert_clean(g)


def test_with_public_url_the_browser_comes_back_to_the_cockpit(tmp_path, fake, tg, demo):  # noqa: F811
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_demo_greet", '{"name": "Bo"}')), text("Greeted."))
    g = gateway(tmp_path, fake, tg, demo,
                ui={"password_hash": cockpit_hash(), "public_url": "http://127.0.0.1:PORT"})
    try:
        (msg,) = sign_in_messages(tg, "demo")
        assert "paste" not in msg["text"]
        url = button_url(msg, "demo")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert q["redirect_uri"] == [g.url + "/ui/oauth/callback"]
        # the cockpit shows the same sign-in with its button
        cookie, _ = cockpit_login(g)
        assert cockpit_get(g, cookie, "/v1/ui/signins")["signins"] == [
            {"server": "demo", "url": url, "expires_ms": pytest.approx(0, abs=1e13)}]
        # a callback with a wrong state is refused and the sign-in goes on waiting
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(g.url + "/ui/oauth/callback?code=x&state=nope",
                                   timeout=10 * SLOW)
        assert e.value.code == 400 and b"state does not match" in e.value.read()
        # the browser follows every redirect and lands on the cockpit's callback
        with urllib.request.urlopen(url, timeout=20 * SLOW) as r:
            assert r.status == 200 and b"Completing the sign-in to demo" in r.read()
        wait_for(lambda: any(t.startswith("Signed in to demo") for t in tg.sent(ALLOWED)),
                 30 * SLOW, "the sign-in to end")
        assert cockpit_get(g, cookie, "/v1/ui/signins")["signins"] == []
        wait_for(lambda: "mcp_demo_greet" in offered(g), 30 * SLOW, "the server's tools")
        tg.push_text("greet Bo", chat_id=ALLOWED)
        wait_for(lambda: "Greeted." in tg.sent(ALLOWED), 60 * SLOW, "the turn's answer")
        assert "Hello, Bo!" in last_tool_result(fake)
    finally:
        g.kill()
    assert_clean(g)


def test_a_gateway_stopped_while_a_sign_in_waits_exits_clean(tmp_path, fake, tg, demo):  # noqa: F811
    """SIGTERM with a sign-in pending: exit 0, and under the sanitizer lane no leak or error
    report (the pending sign-in, its flow and its timers are freed)."""
    g = gateway(tmp_path, fake, tg, demo)
    rc = g.stop()
    assert rc == 0, g.stderr()[-3000:]
    assert "Sanitizer" not in g.stderr() and "runtime error:" not in g.stderr()
