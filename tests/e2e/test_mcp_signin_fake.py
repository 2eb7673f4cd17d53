"""The gateway's sign-ins sent to the owner for what the SDK's demo provider cannot show (it
issues no refresh tokens and asks for no scope): a refresh token the authorization server
refuses (revoked) and a 403 insufficient_scope (step-up) ask the owner; a 401 while a refresh
token holds is answered by a refresh, asking nobody; a pasted address naming another issuer
(RFC 9207) ends the sign-in with nothing exchanged. The server is tests/fakes/fake_oauth.py;
tests/e2e/test_mcp_signin_sdk.py has the real peer.
"""
import sqlite3
import sys
import urllib.parse

import pytest

from agent_harness import fake, tool_results  # noqa: F401
from conftest import ROOT, SLOW, clean_env
from fakes.fake_openai import text, tool_calls
from mcp_harness import hermetic, http_entry, write_config
from test_mcp_signin_sdk import BROWSER, button_url, follow_until, sign_in_messages
from tg_harness import ALLOWED, assert_clean, offered, telegram_gateway, tg, wait_for  # noqa: F401

sys.path.insert(0, str(ROOT / "tests"))
from fakes.fake_oauth import FakeOAuth  # noqa: E402


def login(tmp_path, server):
    entry = http_entry(server.url, auth="oauth")
    cfg = write_config(tmp_path, {"fake": entry})
    r = hermetic("mcp", "login", "--config", str(cfg), "fake", env=clean_env(BROWSER=BROWSER))
    assert r.returncode == 0, r
    return entry


def signed_in(tg):
    return any(t.startswith("Signed in to fake") for t in tg.sent(ALLOWED))


def access_token(home):
    db = sqlite3.connect(home / "state.db")
    try:
        return db.execute("SELECT access_token FROM mcp_oauth WHERE server = 'fake'").fetchone()[0]
    finally:
        db.close()


def test_a_refused_refresh_token_sends_the_owner_a_sign_in(tmp_path, fake, tg):  # noqa: F811
    fake.script_for("test/free", tool_calls(("c1", "mcp_fake_whoami", "{}")), text("Done."))
    # the token expires in 62 s: the gateway refreshes it a minute before, at once
    with FakeOAuth(expires_in=62) as server:
        entry = login(tmp_path, server)
        old = access_token(tmp_path / "home")
        server.refresh.clear()  # revoked at the authorization server
        g = telegram_gateway(tmp_path, fake, tg, {"fake": entry},
                             approvals={"mcp": "none"})
        try:
            wait_for(lambda: sign_in_messages(tg, "fake"), 30 * SLOW, "the sign-in message")
            assert any(r["form"].get("grant_type") == "refresh_token"
                       for r in server.of("/token"))
            ended = follow_until(button_url(sign_in_messages(tg, "fake")[0], "fake"),
                                 "http://127.0.0.1/callback")
            tg.push_text(ended, chat_id=ALLOWED)
            wait_for(lambda: signed_in(tg), 30 * SLOW, "the sign-in to end")
            assert access_token(g.home) != old
            wait_for(lambda: "mcp_fake_whoami" in offered(g), 30 * SLOW, "the tools")
            tg.push_text("who am I?", chat_id=ALLOWED)
            wait_for(lambda: "Done." in tg.sent(ALLOWED), 60 * SLOW, "the answer")
            assert "signed in as the owner" in tool_results(fake.chat_requests[-1])[-1]
            assert len(sign_in_messages(tg, "fake")) == 1
        finally:
            g.kill()
        assert_clean(g)


def test_a_403_insufficient_scope_asks_the_owner_for_the_larger_scope(tmp_path, fake, tg):  # noqa: F811
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_fake_whoami", "{}")), text("Not yet."),
                    tool_calls(("c2", "mcp_fake_whoami", "{}")), text("Done."))
    with FakeOAuth(call_scope="mcp:write") as server:
        entry = login(tmp_path, server)
        g = telegram_gateway(tmp_path, fake, tg, {"fake": entry},
                             approvals={"mcp": "none"})
        try:
            wait_for(lambda: "mcp_fake_whoami" in offered(g), 30 * SLOW, "the tools")
            assert not sign_in_messages(tg, "fake")  # signed in: nothing to ask yet
            tg.push_text("who am I?", chat_id=ALLOWED)
            wait_for(lambda: "Not yet." in tg.sent(ALLOWED), 60 * SLOW, "the first answer")
            told = tool_results(fake.chat_requests[-1])[-1]
            assert "the sign-in lacks a scope" in told and "a sign-in was sent" in told, told
            wait_for(lambda: sign_in_messages(tg, "fake"), 30 * SLOW, "the sign-in message")
            (msg,) = sign_in_messages(tg, "fake")
            url = button_url(msg, "fake")
            scope = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["scope"][0]
            assert {"mcp:read", "mcp:write"} <= set(scope.split())
            tg.push_text(follow_until(url, "http://127.0.0.1/callback"), chat_id=ALLOWED)
            wait_for(lambda: signed_in(tg), 30 * SLOW, "the sign-in to end")
            tg.push_text("and now?", chat_id=ALLOWED)
            wait_for(lambda: "Done." in tg.sent(ALLOWED), 60 * SLOW, "the second answer")
            assert "signed in as the owner" in tool_results(fake.chat_requests[-1])[-1]
        finally:
            g.kill()
        assert_clean(g)


def test_a_401_with_a_refresh_token_refreshes_and_asks_nobody(tmp_path, fake, tg):  # noqa: F811
    with FakeOAuth() as server:
        entry = login(tmp_path, server)
        old = access_token(tmp_path / "home")
        server.access.clear()  # the server forgot the access token; the refresh token holds
        g = telegram_gateway(tmp_path, fake, tg, {"fake": entry})
        try:
            wait_for(lambda: "mcp_fake_whoami" in offered(g), 30 * SLOW, "the tools")
            assert any(r["form"].get("grant_type") == "refresh_token"
                       for r in server.of("/token"))
            assert access_token(g.home) != old
            assert not sign_in_messages(tg, "fake")
        finally:
            g.kill()
        assert_clean(g)


def test_a_pasted_address_from_another_issuer_ends_the_sign_in_unsigned(tmp_path, fake, tg):  # noqa: F811
    # RFC 9207: the authorization server says it sends iss, and the address names another
    with FakeOAuth(iss="wrong") as server:
        g = telegram_gateway(tmp_path, fake, tg, {"fake": http_entry(server.url, auth="oauth")})
        try:
            wait_for(lambda: sign_in_messages(tg, "fake"), 30 * SLOW, "the sign-in message")
            (msg,) = sign_in_messages(tg, "fake")
            tg.push_text(follow_until(button_url(msg, "fake"), "http://127.0.0.1/callback"),
                         chat_id=ALLOWED)
            wait_for(lambda: any("ended without signing in" in t for t in tg.sent(ALLOWED)),
                     30 * SLOW, "the sign-in to fail")
            said = next(t for t in tg.sent(ALLOWED) if "ended without signing in" in t)
            assert "iss" in said and "mix-up" in said, said
            assert not server.of("/token")  # no code was exchanged
            assert not signed_in(tg)
        finally:
            g.kill()
        assert_clean(g)


@pytest.mark.parametrize("refresh", [False, True], ids=["no-refresh-token", "refresh-token"])
def test_a_refusal_of_an_attempt_sent_before_the_sign_in_asks_nobody_again(tmp_path, fake, tg,  # noqa: F811
                                                                           refresh):
    # A connection attempt that left without a token while the owner was signing in: its 401
    # comes back after the token was handed over. It says nothing of the new token: no second
    # sign-in goes to the owner (without a refresh token), no refresh is spent (with one), and
    # the server connects again at once with the token it has.
    fake.script_for("test/free", tool_calls(("c1", "mcp_fake_whoami", "{}")), text("Done."))
    with FakeOAuth(code_refresh=refresh) as server:
        g = telegram_gateway(tmp_path, fake, tg,
                             {"fake": http_entry(server.url, auth="oauth", connect_timeout=120)},
                             approvals={"mcp": "none"})
        try:
            wait_for(lambda: sign_in_messages(tg, "fake"), 30 * SLOW, "the sign-in message")
            server.hold_refusals()
            wait_for(lambda: server.held, 60 * SLOW, "a connection attempt waiting for its 401")
            (msg,) = sign_in_messages(tg, "fake")
            tg.push_text(follow_until(button_url(msg, "fake"), "http://127.0.0.1/callback"),
                         chat_id=ALLOWED)
            wait_for(lambda: signed_in(tg), 30 * SLOW, "the sign-in to end")
            server.release_refusals()
            wait_for(lambda: "mcp_fake_whoami" in offered(g), 30 * SLOW, "the tools")
            tg.push_text("who am I?", chat_id=ALLOWED)
            wait_for(lambda: "Done." in tg.sent(ALLOWED), 60 * SLOW, "the answer")
            assert "signed in as the owner" in tool_results(fake.chat_requests[-1])[-1]
            assert len(sign_in_messages(tg, "fake")) == 1, tg.sent(ALLOWED)
            assert not [r for r in server.of("/token")
                        if r["form"].get("grant_type") == "refresh_token"]
            log = (g.home / "logs" / "hermetic.log").read_text()
            assert "before the last sign-in" in log, log[-3000:]
        finally:
            server.release_refusals()
            g.kill()
        assert_clean(g)
