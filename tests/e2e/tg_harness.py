"""A `hermetic gateway` with the Telegram fake, for the tests of what reaches the owner in
Telegram (approvals, questions from MCP servers, sampling, reviews, lanes, MCP sign-ins):

- the `tg` fixture (the fake, TOKEN; the owner ALLOWED has talked to the bot before);
- the `gateways` fixture: starts gateways from a config dict, kills each at the end and checks
  its stderr for sanitizer reports; `telegram_section` is the bot's config section;
- `telegram_gateway(tmp_path, fake, tg, mcp_servers, ...)`: one started gateway whose Telegram
  is tg (the caller kills it; `assert_clean` checks its stderr);
- the waits they share, the cockpit's login (PASSWORD; cockpit_hash() is its
  ui.password_hash), and the browser that follows an MCP sign-in.

A test module imports what it uses (`from tg_harness import gateways, tg  # noqa: F401`), as
agent_harness's `fake` is imported. The owner is ALLOWED (the only allowed user; a private
chat's id is the user's).
"""

import http.client
import json
import time
import urllib.error
import urllib.request

import pytest

from agent_harness import agent_config
from conftest import SLOW, Gateway, to_yaml
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TEST-e2e-SECRET-token"
ALLOWED = 1001
PASSWORD = "a long cockpit passphrase"


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        t.add_chat(ALLOWED)  # the owner has talked to the bot before: it may write first
        yield t


def telegram_section(tg, allowed, **over):
    """The config's telegram section: the bot of TOKEN on tg, answering the user allowed,
    polling each second, no streaming and no progress messages unless over says so."""
    return {"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [allowed],
            "api_base": tg.url, "poll_timeout_s": 1, "stream": "off", "progress": "off",
            **over}


def telegram_gateway(tmp_path, fake, tg, mcp_servers, approvals=None, **extra):
    """A started gateway whose Telegram is tg, with mcp_servers; approvals: keys over
    timeout_s 300; extra: more config sections (the literal "PORT" in a string becomes the
    gateway's port). The caller kills it."""
    tele = telegram_section(tg, ALLOWED)
    cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele,
                       approvals={"timeout_s": 300, **(approvals or {})},
                       mcp_servers=mcp_servers, **extra)
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
    g.start()
    return g


def assert_clean(g):
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def offered(g):
    """The gateway's /v1/tools, as text ("" while it does not answer)."""
    try:
        with urllib.request.urlopen(g.url + "/v1/tools", timeout=5 * SLOW) as r:
            return r.read().decode()
    except OSError:
        return ""


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)

class Gateways:
    """The gateways a test starts, all in its tmp_path."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.started = []

    def start(self, cfg, env=None, wait_tool=None):
        """Starts a gateway of cfg (agent_config's dict, with "HOME" and 127.0.0.1:PORT for
        the gateway to fill in), TELEGRAM_BOT_TOKEN and the upstream key in its environment
        with env; waits until wait_tool (a tool's name) is offered when given."""
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(self.tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY,
                                           "TELEGRAM_BOT_TOKEN": TOKEN, **(env or {})})
        self.started.append(g)
        g.start()
        if wait_tool:
            wait_for(lambda: wait_tool in offered(g), 30 * SLOW, "the MCP tools")
        return g

    def close(self):
        for g in self.started:
            g.kill()
            assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


@pytest.fixture
def gateways(tmp_path):
    gs = Gateways(tmp_path)
    yield gs
    gs.close()


def cockpit_hash():
    """ui.password_hash for PASSWORD, at the fewest iterations (test_ui.quick_hash)."""
    from test_ui import quick_hash
    return quick_hash(PASSWORD)


def cockpit_login(g):
    """Logs in to the cockpit: (the session cookie, the CSRF token)."""
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30 * SLOW)
    try:
        c.request("POST", "/v1/ui/login", json.dumps({"password": PASSWORD}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200
        return r.getheader("Set-Cookie").split(";")[0], json.loads(r.read())["csrf"]
    finally:
        c.close()


def cockpit_get(g, cookie, path):
    req = urllib.request.Request(g.url + path, headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
        return json.loads(r.read())


# ---- MCP sign-ins sent to the owner (gateway/tg_signin.c) ----

class _Stop(urllib.request.HTTPRedirectHandler):
    """Follows redirects until one points at prefix: that address is where the browser ends."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.ended = None

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if newurl.startswith(self.prefix):
            self.ended = newurl
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def follow_until(url, prefix):
    """The consenting browser: the address it ends on (prefix..., which nothing answers)."""
    stop = _Stop(prefix)
    try:
        urllib.request.build_opener(stop).open(url, timeout=20 * SLOW).read()
    except urllib.error.HTTPError:
        pass  # the redirect that was not followed
    assert stop.ended, f"the authorization at {url} never redirected to {prefix}"
    return stop.ended


def sign_in_messages(tg, server):
    """The owner's "Sign in to SERVER" messages (with their URL button)."""
    return [m for m in tg.messages(ALLOWED) if m.get("reply_markup") and
            f"Sign in to {server}" in json.dumps(m["reply_markup"])]


def button_url(m, server):
    (row,) = m["reply_markup"]["inline_keyboard"]
    (b,) = row
    assert b["text"] == f"Sign in to {server}"
    return b["url"]
