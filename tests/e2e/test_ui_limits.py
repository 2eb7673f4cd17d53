"""The cockpit's login limit and cookie behind a proxy (issue 38, item 6; docs/cockpit.md,
"Security"): failed logins are counted per client address, so a stranger's guesses lock out
only the stranger's address and never the owner's, under a ceiling for all addresses together;
the client address is the socket's peer, or, only when the peer is in ui.trusted_proxies, the
address that proxy names in X-Forwarded-For. The session cookie is `__Host-hermetic_ui` with
Secure when the browser came over TLS (a trusted proxy's X-Forwarded-Proto: https, or
ui.secure_cookie: always) and the plain `hermetic_ui` over plain HTTP. Distinct clients are
distinct 127.0.0.x source addresses."""
import http.client
import json
import re

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, run, to_yaml
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY
from test_ui import quick_hash

PASSWORD = "a long cockpit passphrase"


@pytest.fixture
def cockpit(gateway, fake):
    def make(**ui):
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"},
                           ui={"password_hash": quick_hash(PASSWORD), **ui})
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        return gateway(text_, env={UPSTREAM_ENV: UPSTREAM_KEY})
    return make


def request(g, method, path, body=None, headers=None, source="127.0.0.1"):
    """(status, lowercase headers, body bytes) of one request from the source address."""
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30 * SLOW,
                                   source_address=(source, 0))
    h = {"Host": f"127.0.0.1:{g.port}", **(headers or {})}
    try:
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            h["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def login(g, password=PASSWORD, source="127.0.0.1", headers=None):
    """(status, headers) of a login."""
    status, h, _ = request(g, "POST", "/v1/ui/login", {"password": password}, headers, source)
    return status, h


def test_a_strangers_wrong_passwords_do_not_lock_out_the_owner(cockpit):
    g = cockpit(login_failures=3)
    for _ in range(3):
        assert login(g, "guess", source="127.0.0.2")[0] == 401
    status, h = login(g, "guess", source="127.0.0.2")
    assert status == 429 and 1 <= int(h["retry-after"]) <= 60
    # the per-client limit still bites: the stranger's right guess is not even checked
    assert login(g, source="127.0.0.2")[0] == 429
    # the owner, from another address, is not locked out, even after a typo of their own
    assert login(g, "typo", source="127.0.0.3")[0] == 401
    assert login(g, source="127.0.0.3")[0] == 200
    assert login(g)[0] == 200
    assert "a login with a wrong password from 127.0.0.2 (via 127.0.0.2)" in g.stderr()


def test_failures_from_every_address_together_meet_a_ceiling(cockpit):
    g = cockpit(login_failures=1)  # a ceiling of 20 a minute for all addresses together
    for i in range(20):
        assert login(g, "guess", source=f"127.0.1.{i + 1}")[0] == 401, i
    status, h = login(g, source="127.0.2.1")  # a new address, the right password
    assert status == 429 and 1 <= int(h["retry-after"]) <= 60


def test_x_forwarded_for_names_the_client_only_from_a_trusted_proxy(cockpit):
    g = cockpit(login_failures=2, trusted_proxies=["127.0.0.2"])
    stranger = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(2):
        assert login(g, "guess", source="127.0.0.2", headers=stranger)[0] == 401
    assert login(g, "guess", source="127.0.0.2", headers=stranger)[0] == 429
    # the owner behind the same proxy is another client
    owner = {"X-Forwarded-For": "203.0.113.5, 192.0.2.50"}  # the proxy appended 192.0.2.50
    assert login(g, source="127.0.0.2", headers=owner)[0] == 200
    assert "wrong password from 198.51.100.7 (via 127.0.0.2)" in g.stderr()
    # anyone else's X-Forwarded-For is not read: a new value per guess changes nothing
    for i in range(2):
        assert login(g, "guess", source="127.0.0.4",
                     headers={"X-Forwarded-For": f"10.9.9.{i}"})[0] == 401
    assert login(g, "guess", source="127.0.0.4",
                 headers={"X-Forwarded-For": "10.9.9.9"})[0] == 429


def cookie_flags(h):
    return [f.strip() for f in h["set-cookie"].split(";")]


def test_the_cookie_is_plain_over_plain_http(cockpit):
    g = cockpit(trusted_proxies=["127.0.0.2"])
    # direct, and a stranger claiming TLS: plain cookie, no Secure
    for source in ("127.0.0.1", "127.0.0.4"):
        status, h = login(g, source=source, headers={"X-Forwarded-Proto": "https"})
        flags = cookie_flags(h)
        assert status == 200 and re.fullmatch(r"hermetic_ui=[0-9a-f]{64}", flags[0])
        assert "Secure" not in flags
    # the trusted proxy over plain HTTP
    flags = cookie_flags(login(g, source="127.0.0.2", headers={"X-Forwarded-Proto": "http"})[1])
    assert flags[0].startswith("hermetic_ui=") and "Secure" not in flags


def test_the_cookie_is_host_prefixed_and_secure_behind_a_tls_proxy(cockpit):
    g = cockpit(trusted_proxies=["127.0.0.0/30"])
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.50"}
    status, h, body = request(g, "POST", "/v1/ui/login", {"password": PASSWORD}, tls,
                              "127.0.0.2")
    flags = cookie_flags(h)
    assert status == 200 and re.fullmatch(r"__Host-hermetic_ui=[0-9a-f]{64}", flags[0])
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= set(flags[1:])
    assert not [f for f in flags if f.lower().startswith("domain")]
    cookie, csrf = flags[0], json.loads(body)["csrf"]
    me = json.loads(request(g, "GET", "/v1/ui/me", None, {"Cookie": cookie, **tls},
                            "127.0.0.2")[2])
    assert me["logged_in"] is True and me["csrf"] == csrf
    # the same id under the plain name is not the session over TLS, nor is the __Host- one
    # over plain HTTP
    plain = cookie.replace("__Host-", "")
    assert request(g, "GET", "/v1/ui/sessions", None, {"Cookie": plain, **tls},
                   "127.0.0.2")[0] == 401
    assert request(g, "GET", "/v1/ui/sessions", None, {"Cookie": cookie}, "127.0.0.2")[0] == 401
    status, h, _ = request(g, "POST", "/v1/ui/logout", {},
                           {"Cookie": cookie, "X-CSRF-Token": csrf, **tls}, "127.0.0.2")
    assert status == 200 and h["set-cookie"].startswith("__Host-hermetic_ui=;")
    assert "Max-Age=0" in h["set-cookie"] and "Secure" in h["set-cookie"]


@pytest.mark.parametrize("mode,secure", [("always", True), ("never", False)])
def test_secure_cookie_always_and_never_override_the_proxy(cockpit, mode, secure):
    g = cockpit(secure_cookie=mode, trusted_proxies=["127.0.0.2"])
    for source, headers in (("127.0.0.1", {}), ("127.0.0.2", {"X-Forwarded-Proto": "https"})):
        flags = cookie_flags(login(g, source=source, headers=headers)[1])
        assert flags[0].startswith("__Host-hermetic_ui=" if secure else "hermetic_ui=")
        assert ("Secure" in flags) == secure


def test_config_check_refuses_a_trusted_proxy_that_is_not_a_network(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(to_yaml({"home": str(tmp_path / "home"),
                            "ui": {"trusted_proxies": ["10.42.0.0/16", "10.42.0.1/16",
                                                       "traefik"]}}))
    r = run("config", "check", "--config", str(cfg))
    assert r.returncode == 1
    assert re.search(r"config.yaml:\d+:\d+: error: ui.trusted_proxies\[1\]: expected an "
                     r"address or a network", r.stderr), r.stderr
    assert "ui.trusted_proxies[2]" in r.stderr
