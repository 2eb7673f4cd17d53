"""MCP servers that sign in (auth: oauth; issue 48 item 3): `hermetic mcp login` against a fake
MCP server with its own authorization server (tests/fakes/fake_oauth.py), then the stored
token used, refreshed before it expires, never shown, and forgotten by `mcp logout`. The
official conformance suite's auth scenarios (tests/conformance) prove the discovery variants.
"""
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, argv, clean_env
from mcp_harness import (hermetic, http_entry, mcp_call, mcp_gateway, mcp_list,  # noqa: F401
                         wait_until, write_config)

sys.path.insert(0, str(ROOT / "tests"))
from fakes.fake_oauth import FakeOAuth  # noqa: E402

BROWSER = f"/usr/bin/python3 {ROOT / 'tests' / 'conformance' / 'browser.py'}"


def env_with_browser():
    env = clean_env()
    env["BROWSER"] = BROWSER
    return env


def config(tmp_path, fake, **oauth):
    entry = http_entry(fake.url, auth="oauth")
    if oauth:
        entry["oauth"] = oauth
    return write_config(tmp_path, {"fake": entry})


def login(cfg):
    return hermetic("mcp", "login", "--config", str(cfg), "fake", env=env_with_browser())


def tokens(tmp_path):
    db = sqlite3.connect(tmp_path / "home" / "state.db")
    try:
        return db.execute("SELECT access_token, refresh_token FROM mcp_oauth").fetchall()
    finally:
        db.close()


def test_login_signs_in_with_pkce_and_the_resource_and_tools_are_called(tmp_path):
    with FakeOAuth() as fake:
        cfg = config(tmp_path, fake)
        r = login(cfg)
        assert r.returncode == 0, r
        # the authorization URL on a line of its own
        url = [line for line in r.stdout.splitlines() if line.startswith(fake.base + "/authorize?")]
        assert len(url) == 1, r
        auth = fake.of("/authorize")[0]["query"]
        assert auth["code_challenge_method"] == "S256"
        assert auth["resource"] == fake.url
        assert auth["redirect_uri"].startswith("http://127.0.0.1:")
        assert "offline_access" in auth["scope"].split()  # the server lists it
        assert fake.of("/register"), "no dynamic registration"
        (at, rt), = tokens(tmp_path)
        listed = mcp_list(cfg)
        assert listed.returncode == 0, listed
        assert listed.server("fake")["sign_in"] == "signed in"
        assert listed.server_tools("fake") == ["whoami"]
        called = mcp_call(cfg, "fake", "whoami", {})
        assert called.returncode == 0 and "signed in as the owner" in called.stdout, called
        assert fake.of("/mcp")[-1]["headers"]["authorization"] == f"Bearer {at}"
        for out in (r, listed, called):
            assert at not in out.stdout + out.stderr
            assert rt not in out.stdout + out.stderr


def test_a_server_not_signed_in_says_to_run_mcp_login(tmp_path):
    with FakeOAuth() as fake:
        r = mcp_list(config(tmp_path, fake))
        assert r.returncode == 1
        s = r.server("fake")
        assert s["sign_in"] == "not signed in"
        assert "not signed in: run hermetic mcp login fake" in s["error"], r


def test_a_redirect_with_another_issuer_is_refused(tmp_path):
    """RFC 9207: the server says it sends iss; a redirect naming another issuer is a mix-up."""
    with FakeOAuth(iss="wrong") as fake:
        r = login(config(tmp_path, fake))
        assert r.returncode == 1
        assert "RFC 9207" in r.stderr, r
        assert fake.of("/token") == [], "the code was exchanged after a wrong iss"


def test_metadata_for_another_resource_is_refused(tmp_path):
    with FakeOAuth(resource="http://127.0.0.1:1/other") as fake:
        r = login(config(tmp_path, fake))
        assert r.returncode == 1
        assert "refusing to sign in" in r.stderr, r
        assert fake.of("/authorize") == []


def test_a_token_about_to_expire_is_refreshed_before_use(tmp_path):
    with FakeOAuth(expires_in=30) as fake:  # inside the minute of margin
        cfg = config(tmp_path, fake)
        assert login(cfg).returncode == 0
        (old_at, _), = tokens(tmp_path)
        r = mcp_list(cfg)
        assert r.returncode == 0, r
        grants = [t["form"]["grant_type"] for t in fake.of("/token")]
        assert grants == ["authorization_code", "refresh_token"]
        (new_at, _), = tokens(tmp_path)
        assert new_at != old_at
        assert fake.of("/mcp")[-1]["headers"]["authorization"] == f"Bearer {new_at}"


def test_an_expiring_client_credentials_token_is_replaced_before_use(tmp_path):
    """No refresh token to refresh it with (RFC 6749 4.4.3): the CLI signs in again."""
    with FakeOAuth(expires_in=30, cc_refresh=False) as fake:  # inside the minute of margin
        cfg = config(tmp_path, fake, client_id="cc-client", client_secret="cc-secret",
                     grant="client_credentials")
        assert mcp_list(cfg).returncode == 0
        (old_at, rt), = tokens(tmp_path)
        assert rt is None
        r = mcp_list(cfg)
        assert r.returncode == 0, r
        assert r.server("fake")["sign_in"] == "signed in"
        assert [t["form"]["grant_type"] for t in fake.of("/token")] == \
            ["client_credentials"] * 2
        (new_at, _), = tokens(tmp_path)
        assert new_at != old_at
        assert fake.of("/mcp")[-1]["headers"]["authorization"] == f"Bearer {new_at}"

def test_logout_forgets_the_tokens(tmp_path):
    with FakeOAuth() as fake:
        cfg = config(tmp_path, fake)
        assert login(cfg).returncode == 0
        r = hermetic("mcp", "logout", "--config", str(cfg), "fake")
        assert r.returncode == 0, r
        assert tokens(tmp_path) == []
        assert mcp_list(cfg).server("fake")["sign_in"] == "not signed in"


def test_login_refuses_a_server_without_auth_oauth(tmp_path):
    with FakeOAuth() as fake:
        cfg = write_config(tmp_path, {"fake": http_entry(fake.url)})
        r = hermetic("mcp", "login", "--config", str(cfg), "fake")
        assert r.returncode == 1
        assert "set 'auth: oauth'" in r.stderr, r


def test_the_gateway_uses_what_mcp_login_stored(tmp_path, mcp_gateway):
    with FakeOAuth() as fake:
        entry = http_entry(fake.url, auth="oauth")
        cfg = write_config(tmp_path, {"fake": entry})
        assert login(cfg).returncode == 0
        (at, rt), = tokens(tmp_path)
        g = mcp_gateway({"fake": entry})
        g.wait_tools("fake")
        r = g.call("mcp_fake_whoami", {})
        assert "signed in as the owner" in json.dumps(r.json()), r
        assert at not in g.stderr() and rt not in g.stderr()


def test_the_gateway_says_to_log_in_when_not_signed_in(tmp_path, mcp_gateway):
    with FakeOAuth() as fake:
        g = mcp_gateway({"fake": http_entry(fake.url, auth="oauth")})
        wait = time.monotonic() + 10
        while time.monotonic() < wait and "run hermetic mcp login fake" not in g.stderr():
            time.sleep(0.1)
        assert "not signed in: run hermetic mcp login fake" in g.stderr()


def test_a_call_that_needs_more_scope_signs_in_again_for_it(tmp_path):
    """Step-up: 403 insufficient_scope naming mcp:write -> a second authorization asking for
    what was had plus mcp:write, then the call again; a scope never granted is not retried
    forever."""
    with FakeOAuth(call_scope="mcp:write") as fake:
        cfg = config(tmp_path, fake)
        assert login(cfg).returncode == 0
        r = hermetic("mcp", "call", "--config", str(cfg), "fake", "whoami", "{}",
                     env=env_with_browser())
        assert r.returncode == 0 and "signed in as the owner" in r.stdout, r
        scopes = [a["query"].get("scope", "").split() for a in fake.of("/authorize")]
        assert len(scopes) == 2
        assert "mcp:write" not in scopes[0] and {"mcp:read", "mcp:write"} <= set(scopes[1])
        assert "asks for scope mcp:write: signing in again" in r.stderr


def test_step_up_is_bounded(tmp_path):
    with FakeOAuth(call_scope="mcp:write") as fake:
        cfg = config(tmp_path, fake)
        assert login(cfg).returncode == 0
        fake.call_scope = "mcp:admin"  # asked for, but the grant never carries it
        real = fake._issue
        fake._issue = lambda h, scope: real(h, "mcp:read")
        r = hermetic("mcp", "call", "--config", str(cfg), "fake", "whoami", "{}",
                     env=env_with_browser())
        assert r.returncode == 1
        assert len(fake.of("/authorize")) <= 3, "more than two step-ups"


def test_the_gateway_refreshes_a_token_before_it_expires(tmp_path, mcp_gateway):
    with FakeOAuth(expires_in=62) as fake:  # refreshed about 2 s after the start
        entry = http_entry(fake.url, auth="oauth")
        assert login(write_config(tmp_path, {"fake": entry})).returncode == 0
        (old_at, _), = tokens(tmp_path)
        g = mcp_gateway({"fake": entry})
        g.wait_tools("fake")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(fake.of("/token")) < 2:
            time.sleep(0.1)
        assert [t["form"]["grant_type"] for t in fake.of("/token")][:2] == \
            ["authorization_code", "refresh_token"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and tokens(tmp_path)[0][0] == old_at:
            time.sleep(0.1)
        (new_at, _), = tokens(tmp_path)
        assert new_at != old_at
        g.call("mcp_fake_whoami", {})
        assert fake.of("/mcp")[-1]["headers"]["authorization"] == f"Bearer {new_at}"
        assert new_at not in g.stderr() and old_at not in g.stderr()


def test_a_client_credentials_server_signs_in_by_itself(tmp_path, mcp_gateway, monkeypatch):
    with FakeOAuth() as fake:
        oauth = {"client_id": "cc-client", "client_secret": "cc-secret",
                 "grant": "client_credentials"}
        r = mcp_list(config(tmp_path, fake, **oauth))
        assert r.returncode == 0, r
        assert r.server("fake")["sign_in"] == "signed in"
        grants = [t["form"]["grant_type"] for t in fake.of("/token")]
        assert grants == ["client_credentials"]
        assert "cc-secret" not in r.stdout + r.stderr
        # the gateway too, with no stored token
        (tmp_path / "home" / "state.db").unlink()
        g = mcp_gateway({"fake": http_entry(fake.url, auth="oauth", oauth=oauth)})
        g.wait_tools("fake")
        assert [t["form"]["grant_type"] for t in fake.of("/token")] == ["client_credentials"] * 2


def test_a_client_credentials_token_without_refresh_token_is_renewed(tmp_path, mcp_gateway):
    """A machine grant's token comes without a refresh token (RFC 6749 4.4.3): the gateway
    signs in again a minute before it expires, and the calls carry the new token."""
    with FakeOAuth(expires_in=62, cc_refresh=False) as fake:  # renewed about 2 s after start
        oauth = {"client_id": "cc-client", "client_secret": "cc-secret",
                 "grant": "client_credentials"}
        g = mcp_gateway({"fake": http_entry(fake.url, auth="oauth", oauth=oauth)})
        g.wait_tools("fake")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(fake.of("/token")) < 2:
            time.sleep(0.1)
        assert [t["form"]["grant_type"] for t in fake.of("/token")][:2] == \
            ["client_credentials"] * 2
        # The fake records the renewal's request before the gateway has its answer: wait for
        # the gateway to say it signed in again, then call.
        wait_until(lambda: g.log().count("mcp fake: signed in") >= 2, timeout=10,
                   what="the renewal taken")
        g.call("mcp_fake_whoami", {})
        # Another renewal may come between the call and this read on a slow machine: the call
        # carries a renewed token, whichever.
        renewed = [f"Bearer {t}" for t in list(fake.access)[1:]]
        assert fake.of("/mcp")[-1]["headers"]["authorization"] in renewed

def test_replaced_tokens_stop_being_secrets_so_renewals_stay_bounded(tmp_path, mcp_gateway):
    """Every token is a secret of the log while it may be in use; one replaced twice is
    dropped (as the router's minted tokens are), else a daemon renewing its sign-in fills the
    log's table of secrets and aborts. A tool result quoting the tokens shows which are."""
    with FakeOAuth(expires_in=61, cc_refresh=False) as fake:  # renewed about every second
        oauth = {"client_id": "cc-client", "client_secret": "cc-secret",
                 "grant": "client_credentials"}
        g = mcp_gateway({"fake": http_entry(fake.url, auth="oauth", oauth=oauth)})
        g.wait_tools("fake")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(fake.access) < 4:
            time.sleep(0.1)
        issued = list(fake.access)
        assert len(issued) >= 4, issued
        said = json.dumps(g.call("mcp_fake_whoami", {"say": " ".join(issued[:2])}).json())
        assert f"you said {issued[0]} {issued[1]}" in said, said  # replaced twice: dropped
        said = json.dumps(g.call("mcp_fake_whoami", {"say": issued[-1]}).json())
        assert issued[-1] not in said and "[REDACTED]" in said, said  # in use: a secret

def test_an_id_jag_stops_being_a_secret_once_its_sign_in_ended(tmp_path, mcp_gateway):
    """Cross-app access: each sign-in exchanges the id_token for an ID-JAG, a secret while the
    sign-in uses it; one renewal after another must not pile them up in the log's secrets."""
    with FakeOAuth(expires_in=61, cc_refresh=False) as fake:  # renewed about every second
        oauth = {"client_id": "xaa-client", "id_token": "idt-e2e",
                 "grant": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                 "idp_token_endpoint": fake.base + "/idp/token"}
        g = mcp_gateway({"fake": http_entry(fake.url, auth="oauth", oauth=oauth)})
        g.wait_tools("fake")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(fake.jags) < 3:
            time.sleep(0.1)
        assert len(fake.jags) >= 3, fake.jags
        said = json.dumps(g.call("mcp_fake_whoami", {"say": fake.jags[0]}).json())
        assert f"you said {fake.jags[0]}" in said, said

def test_the_sign_in_examples_of_docs_mcp_md_load(tmp_path):
    """The YAML blocks of docs/mcp.md's "Remote servers that sign in" are configs that load."""
    doc = (ROOT / "docs" / "mcp.md").read_text()
    section = doc.split("## Remote servers that sign in", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```yaml\n")[1:]
    assert len(blocks) == 3
    env = clean_env()
    env["IDP_ID_TOKEN"] = "an-id-token-from-the-idp"
    env["TELEGRAM_BOT_TOKEN"] = "123456:a-bot-token"
    env["HERMETIC_UI_HASH"] = subprocess.run(
        argv("ui", "hash-password"), input="a long passphrase\n", capture_output=True, text=True,
        env=clean_env(), timeout=60).stdout.strip()
    for n, block in enumerate(blocks):
        cfg = tmp_path / f"doc{n}.yaml"
        cfg.write_text(f"home: {tmp_path / 'home'}\n" + block.split("```", 1)[0])
        r = hermetic("config", "check", "--config", str(cfg), env=env)
        assert r.returncode == 0, r
