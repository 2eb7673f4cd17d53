"""TLS to the model: curl + mbedTLS verify the upstream against the trust anchors, which the
environment may name (CURL_CA_BUNDLE / SSL_CERT_FILE, as the curl tool reads them), and the
sealed gateway (Landlock + seccomp in kill mode) still completes a turn over HTTPS.

The upstream is tests/fakes/fake_openai.py serving TLS with a certificate made here by the
openssl command line tool for `localhost` (so curl's resolver thread runs too)."""
import shutil
import subprocess

import pytest

from fakes.fake_openai import FakeOpenAI, text
from mcp_harness import mcp_gateway, peers, servers  # noqa: F401
from router_harness import (UPSTREAM_ENV, UPSTREAM_KEY, deployment, fake,  # noqa: F401
                            router_config, start_router)
from test_guardrails_fs import replace_by_rename
from test_sandbox import API_KEY, SEALS, landlock_abi, post_chat, sealable, status_field  # noqa: F401

@pytest.fixture
def cert(tmp_path):
    """A self-signed certificate for localhost and 127.0.0.1: (certfile, keyfile)."""
    crt, key = tmp_path / "upstream.crt", tmp_path / "upstream.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=30)
    return str(crt), str(key)


@pytest.fixture
def tls_fake(cert):
    with FakeOpenAI(api_key=UPSTREAM_KEY, tls=cert) as f:
        yield f


def tls_model(tls_fake):
    model = deployment("free", "test/free", tls_fake)
    base = model["litellm_params"]["api_base"]
    assert base.startswith("https://127.0.0.1:"), base
    model["litellm_params"]["api_base"] = base.replace("127.0.0.1", "localhost")
    return model


@pytest.mark.smoke
def test_upstream_certificate_is_verified_against_the_named_ca(tls_fake, cert, start_router):
    cfg = router_config(None, models=[tls_model(tls_fake)])
    # Without our CA the self-signed upstream is refused: nothing reaches it.
    r = start_router(cfg, name="untrusted")
    resp = r.chat("free", messages=[{"role": "user", "content": "hi"}])
    assert resp.status >= 500, resp.text
    assert "certificate" in resp.text.lower() or "ssl" in resp.text.lower(), resp.text
    assert tls_fake.chat_count == 0
    # With SSL_CERT_FILE naming it, the same call goes through over TLS.
    tls_fake.script_for("test/free", text("over tls"))
    r = start_router(cfg, env={"SSL_CERT_FILE": cert[0]}, name="trusted")
    resp = r.chat("free", messages=[{"role": "user", "content": "hi"}])
    assert resp.status == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "over tls"
    assert tls_fake.chat_count == 1


@pytest.mark.smoke
@SEALS
def test_sealed_gateway_turn_over_tls_in_kill_mode(sealable, tls_fake, cert, mcp_gateway):
    tls_fake.script_for("test/free", text("sealed and encrypted"))
    g = mcp_gateway({}, api_key=API_KEY, env={UPSTREAM_ENV: UPSTREAM_KEY,
                                              "SSL_CERT_FILE": cert[0]},
                    guardrails={"seccomp": {"action": "kill"}}, timezone="UTC", model="free",
                    model_list=[tls_model(tls_fake)],
                    router_settings={"num_retries": 0, "timeout": 20})
    assert status_field(g.proc.pid, "Seccomp") == "2"
    if landlock_abi() > 0:
        assert "Landlock: active (ABI" in g.stderr(), g.stderr()
    status, answer = post_chat(g, "hi", "tls")
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "sealed and encrypted"
    assert tls_fake.chat_count == 1
    assert g.proc.poll() is None, g.stderr()
    assert "denied syscall" not in g.stderr()
    assert g.stop() == 0, g.stderr()


def test_a_ca_bundle_replaced_by_rename_still_verifies(tls_fake, cert, mcp_gateway, tmp_path):
    """Landlock is granted the bundle's directory, not the bundle's inode: after the bundle is
    replaced by rename (a new inode, same bytes) the next HTTPS connection still verifies.
    This is a guard of the whole HTTPS path, not the proof of the Landlock rule: libcurl keeps
    the parsed bundle between connections (it passed on 3096e83 with the dynamic OpenSSL build
    and with the static mbedTLS build alike), so the bundle is not read again here.
    test_guardrails_fs.py's probe, which reads the renamed bundle itself, is the check that
    fails without the rule."""
    if landlock_abi() <= 0:
        pytest.skip("Landlock is not offered here")
    ca = tmp_path / "ca"
    ca.mkdir()
    bundle = ca / "bundle.pem"
    shutil.copyfile(cert[0], bundle)
    # "before" closes its connection: the second turn needs a new TLS handshake.
    tls_fake.script_for("test/free", text("before", framing="close"), text("after"))
    g = mcp_gateway({}, api_key=API_KEY, env={UPSTREAM_ENV: UPSTREAM_KEY,
                                              "SSL_CERT_FILE": str(bundle)},
                    timezone="UTC", model="free", model_list=[tls_model(tls_fake)],
                    router_settings={"num_retries": 0, "timeout": 20})
    assert "Landlock: active (ABI" in g.stderr(), g.stderr()
    status, answer = post_chat(g, "hi", "ca1")
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "before"
    inode = bundle.stat().st_ino
    replace_by_rename(bundle)
    assert bundle.stat().st_ino != inode
    status, answer = post_chat(g, "again", "ca2")
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "after"
    assert tls_fake.chat_count == 2
    assert g.stop() == 0, g.stderr()
