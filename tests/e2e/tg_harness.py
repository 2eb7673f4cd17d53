"""A gateway with a Telegram bot on a fake Bot API, as the approval, elicitation, sampling,
review and lane tests start it: the `tg` fixture (the fake, TOKEN), the `gateways` fixture
(starts a gateway from a config dict, kills each at the end and checks its stderr for
sanitizer reports), the bot's telegram section, and the waits they share.

A test module imports the fixtures it uses (`from tg_harness import gateways, tg  # noqa:
F401`), as agent_harness's `fake` is imported."""
import time
import urllib.request

import pytest

from conftest import SLOW, Gateway, to_yaml
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TEST-e2e-SECRET-token"


def telegram_section(tg, allowed, **over):
    """The config's telegram section: the bot of TOKEN on tg, answering the user allowed,
    polling each second, no streaming and no progress messages unless over says so."""
    return {"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [allowed],
            "api_base": tg.url, "poll_timeout_s": 1, "stream": "off", "progress": "off",
            **over}


def offered(g):
    """The gateway's /v1/tools answer as text ("" while it does not answer)."""
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
def tg():
    with FakeTelegram(token=TOKEN) as t:
        yield t


@pytest.fixture
def gateways(tmp_path):
    gs = Gateways(tmp_path)
    yield gs
    gs.close()
