"""MCP servers whose tokens are DPoP-bound (oauth: dpop: true, RFC 9449; issue 48 item 1):
`hermetic mcp login`, `mcp list` and `mcp call`, and the gateway, against the fake MCP server
with its authorization server in DPoP mode (tests/fakes/fake_oauth.py), which verifies every
proof with the jwk it carries (tests/fakes/dpop_check.py) and binds the tokens to that key.
The conformance suite's auth/dpop and auth/dpop-nonce scenarios check the same from outside.
"""
import json
import sqlite3
import sys

from conftest import ROOT, clean_env
from mcp_harness import hermetic, http_entry, mcp_call, mcp_gateway, mcp_list  # noqa: F401
from mcp_harness import write_config

sys.path.insert(0, str(ROOT / "tests"))
from fakes.fake_oauth import FakeOAuth  # noqa: E402

BROWSER = f"/usr/bin/python3 {ROOT / 'tests' / 'conformance' / 'browser.py'}"


def login(cfg):
    env = clean_env()
    env["BROWSER"] = BROWSER
    return hermetic("mcp", "login", "--config", str(cfg), "fake", env=env)


def stored(tmp_path):
    db = sqlite3.connect(tmp_path / "home" / "state.db")
    try:
        return db.execute("SELECT access_token, token_type, dpop_key FROM mcp_oauth").fetchone()
    finally:
        db.close()


def entry(fake):
    return http_entry(fake.url, auth="oauth", oauth={"dpop": True})


def test_a_dpop_sign_in_binds_the_tokens_to_one_key_and_every_request_proves_it(tmp_path):
    # expires_in inside the minute of margin: `mcp list` and `mcp call` each refresh first,
    # with the same key
    with FakeOAuth(dpop=True, dpop_nonce=True, expires_in=30) as fake:
        cfg = write_config(tmp_path, {"fake": entry(fake)})
        r = login(cfg)
        assert r.returncode == 0, r
        at, token_type, key = stored(tmp_path)
        assert token_type == "DPoP" and "PRIVATE KEY" in key
        listed = mcp_list(cfg)
        assert listed.returncode == 0, listed
        assert listed.server_tools("fake") == ["whoami"]
        called = mcp_call(cfg, "fake", "whoami", {})
        assert called.returncode == 0 and "signed in as the owner" in called.stdout, called
        assert fake.dpop_errors == []
        # each process's first token request and first MCP request was asked for a nonce,
        # then went again with it
        grants = [(t["form"]["grant_type"], "dpop" in t["headers"]) for t in fake.of("/token")]
        assert grants == [("authorization_code", True)] * 2 + [("refresh_token", True)] * 4
        mcp = [q for q in fake.of("/mcp") if "authorization" in q["headers"]]
        assert mcp and all(q["headers"]["authorization"].startswith("DPoP ") for q in mcp)
        assert all("dpop" in q["headers"] for q in mcp)
        # one key for the sign-in, the refresh and every request: made once, kept in state.db
        assert len(set(fake.jkts)) == 1 and len(fake.jkts) >= 4, fake.jkts
        new_at, _, same_key = stored(tmp_path)
        assert new_at != at and same_key == key
        key_lines = [ln for ln in key.splitlines() if not ln.startswith("-----")]
        for out in (r, listed, called):
            for secret in [at, new_at] + key_lines:
                assert secret not in out.stdout + out.stderr


def test_the_gateway_sends_a_stored_dpop_token_with_proofs(tmp_path, mcp_gateway):
    with FakeOAuth(dpop=True) as fake:
        e = entry(fake)
        assert login(write_config(tmp_path, {"fake": e})).returncode == 0
        at, _, key = stored(tmp_path)
        g = mcp_gateway({"fake": e})
        g.wait_tools("fake")
        r = g.call("mcp_fake_whoami", {})
        assert "signed in as the owner" in json.dumps(r.json()), r
        assert fake.of("/mcp")[-1]["headers"]["authorization"] == f"DPoP {at}"
        assert fake.dpop_errors == []
        assert len(set(fake.jkts)) == 1
        err = g.stderr()
        assert at not in err
        assert all(ln not in err for ln in key.splitlines() if not ln.startswith("-----"))


def test_an_authorization_server_without_es256_is_refused(tmp_path):
    with FakeOAuth(dpop=True, dpop_algs=("RS256", "PS256")) as fake:
        r = login(write_config(tmp_path, {"fake": entry(fake)}))
        assert r.returncode == 1
        assert "dpop_signing_alg_values_supported (RS256 PS256) does not list ES256" in \
            r.stderr, r
        assert fake.of("/token") == [] and fake.of("/authorize") == []
