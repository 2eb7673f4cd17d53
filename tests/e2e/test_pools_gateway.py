"""Rate pools inside `hermetic gateway`: a Telegram turn (class interactive) that waits for
room says so in its progress line, one that finds none within its max_wait_s gets a short
"busy" answer instead of an error, and `hermetic pools` asks the gateway (GET /v1/pools with
api.key) when no router runs on router.listen."""
import time

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, free_port, run, to_yaml
from fakes.fake_openai import text
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

TOKEN = "123456:TEST-e2e-SECRET-token"
CHAT = 1001


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        yield t


def test_a_telegram_turn_without_room_answers_busy_and_pools_shows_it(tmp_path, fake, tg):
    fake.script_for("test/free", text("first answer"), text("must not be reached"))
    cfg = agent_config(
        fake, "HOME", api={"listen": "127.0.0.1:PORT"},
        router={"listen": f"127.0.0.1:{free_port()}"},
        telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "stream": "off",
                  "progress": "tools", "edit_every_ms": 1000, "allowed_users": [CHAT],
                  "api_base": tg.url, "poll_timeout_s": 1},
        rate_pools={"acct": {"rpm": 1, "models": ["free"]}},
        priorities={"max_wait_s": {"interactive": 3}})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
    g.start()
    try:
        tg.push_text("hi", chat_id=CHAT)
        assert tg.wait_sent(CHAT, 1, timeout=20 * SLOW) == ["first answer"]
        tg.push_text("and again", chat_id=CHAT)
        # the progress message is edited into the answer
        deadline = time.monotonic() + 20 * SLOW
        while not tg.sent(CHAT)[-1].startswith("Busy") and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = tg.sent(CHAT)
        assert len(sent) == 2 and sent[1].startswith("Busy: the model's rate limit is in use"), \
            sent
        assert "try again in about" in sent[1]
        # while it waited, the progress line said so
        posted = [r["params"].get("text", "") for r in tg.requests
                  if r["method"] in ("sendMessage", "editMessageText")]
        assert any(t.startswith("⏳ waiting for model capacity") for t in posted), posted
        assert len(fake.chat_requests) == 1  # the second turn never reached the provider
        out = run("pools", "--config", str(g.config), env=g.env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"gateway on 127.0.0.1:{g.port}\n"), out.stdout
        line = next(x for x in out.stdout.splitlines() if x.startswith("acct "))
        assert line.split()[1:3] == ["-", "1"], line
        assert "interactive 2 (" in out.stdout and "deferred 1)" in out.stdout, out.stdout
    finally:
        g.kill()
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


API_KEY = "e2e-gateway-api-key"


def cli_gateway(tmp_path, fake, **sections):
    cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT",
                                          "key": "os.environ/API_SERVER_KEY"},
                       router={"listen": f"127.0.0.1:{free_port()}"}, **sections)
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    return Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})


def test_chat_goes_through_the_gateway_as_interactive_in_its_pool(tmp_path, fake):
    """`hermetic chat -q` with a gateway running posts the turn to it: the gateway's pool
    counts the call (a second one finds no room and waits as class interactive), and the
    CLI's own router never calls the model."""
    fake.script_for("test/free", text("through the gateway"), text("from the CLI's own router"))
    g = cli_gateway(tmp_path, fake, rate_pools={"acct": {"rpm": 1, "models": ["free"]}},
                    priorities={"max_wait_s": {"interactive": 1, "api": 0}})
    g.start()
    try:
        out = run("chat", "-q", "hi", "--config", str(g.config), env=g.env)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "through the gateway\n"
        assert f"[gateway on 127.0.0.1:{g.port}, model free:" in out.stderr, out.stderr
        assert len(fake.chat_requests) == 1
        # the gateway's pool (rpm 1) is used up: the second turn waits there, as interactive
        out = run("chat", "-q", "again", "--config", str(g.config), env=g.env)
        assert out.returncode == 1 and out.stdout == "", out.stdout
        assert f"the gateway on 127.0.0.1:{g.port} answered HTTP 429: Busy: the model's rate " \
            "limit is in use" in out.stderr, out.stderr
        assert len(fake.chat_requests) == 1
        pools = run("pools", "--config", str(g.config), env=g.env)
        assert pools.returncode == 0, pools.stderr
        # both calls were the gateway's, as interactive (the first was let through at once)
        assert "waits: interactive 2 (" in pools.stdout and "deferred 1);\n" in pools.stdout, \
            pools.stdout
        assert " api 1 (" not in pools.stdout and " api 2 (" not in pools.stdout
        # --local keeps the in-process router, with its own (empty) pool
        out = run("chat", "--local", "-q", "hi", "--config", str(g.config), env=g.env)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "from the CLI's own router\n" and "[gateway on" not in out.stderr
        assert len(fake.chat_requests) == 2
    finally:
        g.kill()
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def test_chat_keeps_its_repl_session_on_the_gateway(tmp_path, fake):
    """The REPL through the gateway continues one session ("cli:<user>"): the second turn's
    request carries the first exchange; /model switches the model group the gateway uses."""
    fake.script_for("test/free", text("first answer"), text("second answer"))
    fake.script_for("test/cheap", text("cheap answer"))
    g = cli_gateway(tmp_path, fake)
    g.start()
    try:
        out = run_input(["chat", "--config", str(g.config)], "one\ntwo\n/model cheap\nthree\n",
                        g.env)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "first answer\nsecond answer\nmodel: cheap\ncheap answer\n", \
            out.stdout
        assert out.stderr.count(f"[gateway on 127.0.0.1:{g.port}") == 3, out.stderr
        contents = [m.get("content") for m in fake.chat_requests[1]["body"]["messages"]]
        assert "one" in str(contents) and "first answer" in str(contents), contents
        assert fake.chat_requests[2]["body"]["model"] == "test/cheap"
        contents = [m.get("content") for m in fake.chat_requests[2]["body"]["messages"]]
        assert "second answer" in str(contents), contents
    finally:
        g.kill()


def test_chat_with_a_wrong_api_key_warns_once_and_runs_in_process(tmp_path, fake):
    fake.script_for("test/free", text("answered in-process"))
    g = cli_gateway(tmp_path, fake)
    g.start()
    try:
        env = dict(g.env, API_SERVER_KEY="not-the-key", HERMETIC_HOME=str(tmp_path / "cli"))
        out = run("chat", "-q", "hi", "--config", str(g.config), env=env)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "answered in-process\n"
        warnings = [x for x in out.stderr.splitlines() if "warning" in x]
        assert warnings == [f"hermetic: warning: the gateway on 127.0.0.1:{g.port} answered "
                            "HTTP 401 (wrong api.key?); chatting in-process (its rate pools "
                            "are not shared)"], out.stderr
        assert "[gateway on" not in out.stderr
    finally:
        g.kill()


def run_input(args, stdin, env):
    import subprocess

    from conftest import argv
    return subprocess.run(argv(*args), input=stdin, env=env, capture_output=True, text=True,
                          timeout=60 * SLOW)


HOOK_TOKEN = "e2e-pool-hook-token"


def test_a_hook_deferred_by_the_pool_runs_again_and_is_never_dropped(tmp_path, fake, tg):
    """The provider says the account has no tokens left for 4 s (another client used them).
    The next hook run's model call finds no room within the hook class's 1 s: the run is
    deferred, not failed. It starts again after the pool's retry-after (at least 5 s), its
    sync request gets the answer, the chat gets it once (no failure message), and nothing
    reached the provider while it waited."""
    import json
    import urllib.request
    from fakes.fake_openai import raw
    from router_harness import msum, parse_metrics

    first = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test/free",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "first digest"},
                          "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53}}
    fake.script_for("test/free",
                    raw(200, json.dumps(first), {"Content-Type": "application/json",
                                                 "x-ratelimit-limit-tokens": "100000",
                                                 "x-ratelimit-remaining-tokens": "0",
                                                 "x-ratelimit-reset-tokens": "4s"}),
                    text("second digest"))
    cfg = agent_config(
        fake, "HOME", api={"listen": "127.0.0.1:PORT"},
        router={"listen": f"127.0.0.1:{free_port()}"},
        telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "stream": "off",
                  "progress": "off", "allowed_users": [CHAT], "api_base": tg.url,
                  "poll_timeout_s": 1},
        hooks=[{"name": "digest", "token": "os.environ/HOOK_TOKEN",
                "prompt": "Summarise: {{payload.text}}", "deliver": f"telegram:{CHAT}"}],
        rate_pools={"acct": {"tpm": 100000, "models": ["free"]}},
        priorities={"max_wait_s": {"hook": 1}})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    tg.add_chat(CHAT)  # the owner started the bot earlier
    g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN,
                                  "HOOK_TOKEN": HOOK_TOKEN})
    g.start()

    def hook(what):
        req = urllib.request.Request(
            g.url + "/v1/hooks/digest", data=json.dumps({"text": what}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {HOOK_TOKEN}"}, method="POST")
        with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
            return r.status, json.loads(r.read())
    try:
        status, body = hook("the night's logs")
        assert status == 200 and body["result"] == "first digest", body
        t0 = time.monotonic()
        status, body = hook("the morning's logs")
        assert status == 200 and body["status"] == "ok", body
        assert body["result"] == "second digest", body
        assert time.monotonic() - t0 >= 4.0  # deferred, then started again (after >= 5 s)
        assert len(fake.chat_requests) == 2  # nothing went out while it waited
        assert tg.wait_sent(CHAT, 2, timeout=20 * SLOW) == ["first digest", "second digest"]
        time.sleep(0.5)
        assert len(tg.sent(CHAT)) == 2  # once each, no failure message
        m = parse_metrics(urllib.request.urlopen(g.url + "/metrics", timeout=10).read().decode())
        assert msum(m, "hermetic_hook_runs_total", hook="digest", status="deferred") == 1
        assert msum(m, "hermetic_hook_runs_total", hook="digest", status="ok") == 2
        assert msum(m, "hermetic_hook_runs_total", hook="digest", status="failed") == 0
        assert msum(m, "hermetic_pool_deferred_total", pool="acct", **{"class": "hook"}) == 1
        assert "deferred (1 in a row)" in g.stderr()
    finally:
        g.kill()
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def test_hermetic_pools_reads_the_gateway_with_its_api_key_and_nobody_else_does(tmp_path, fake):
    import urllib.error
    import urllib.request
    g = cli_gateway(tmp_path, fake, rate_pools={"acct": {"tpm": 7000, "models": ["free"]}})
    g.start()
    try:
        out = run("pools", "--config", str(g.config), env=g.env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"gateway on 127.0.0.1:{g.port}\n"), out.stdout
        assert any(x.split()[:2] == ["acct", "7000"] for x in out.stdout.splitlines())
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{g.port}/v1/pools", timeout=10)
        assert e.value.code == 401
    finally:
        g.stop()


def test_a_hook_bigger_than_its_share_of_the_pool_fails_at_once_saying_why(tmp_path, fake, tg):
    """rate_pools {acct: {tpm: 12000}} with the default 30 % reserve leaves the hook class
    8,400 tokens a minute: a hook whose payload makes a call of about 9k tokens can never fit.
    It is not deferred (and retried every minute for ever): the run fails at once, the sync
    caller gets the failure promptly with the pool, the share and the estimate, and nothing
    reaches the provider."""
    import json
    import urllib.request
    from router_harness import msum, parse_metrics

    fake.script_for("test/free", text("must not be reached"))
    cfg = agent_config(
        fake, "HOME", api={"listen": "127.0.0.1:PORT"},
        router={"listen": f"127.0.0.1:{free_port()}"},
        telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "stream": "off",
                  "progress": "off", "allowed_users": [CHAT], "api_base": tg.url,
                  "poll_timeout_s": 1},
        hooks=[{"name": "digest", "token": "os.environ/HOOK_TOKEN",
                "prompt": "Summarise: {{payload.text}}", "deliver": f"telegram:{CHAT}"}],
        rate_pools={"acct": {"tpm": 12000, "models": ["free"]}})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    tg.add_chat(CHAT)
    g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN,
                                  "HOOK_TOKEN": HOOK_TOKEN})
    g.start()
    try:
        payload = " ".join(f"line {i}: the night's log said nothing unusual." for i in range(700))
        req = urllib.request.Request(
            g.url + "/v1/hooks/digest", data=json.dumps({"text": payload}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {HOOK_TOKEN}"}, method="POST")
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
            status, body = r.status, json.loads(r.read())
        assert time.monotonic() - t0 < 10 * SLOW  # at once, not after a deferral (>= 5 s)
        assert status == 200 and body["status"] == "failed", body
        result = body["result"]
        assert "rate pool acct can never take this hook call to free" in result, result
        assert "the hook class's share of the pool is 8400 tokens a minute (tpm 12000 less " \
            "the interactive reserve)" in result, result
        estimate = int(result.split("it is about ", 1)[1].split()[0])
        assert 8400 < estimate < 12000, result
        assert "rate_pools.acct.tpm" in result and "interactive_reserve_pct" in result
        assert fake.chat_requests == []
        sent = tg.wait_sent(CHAT, 1, timeout=20 * SLOW)
        assert sent[0].startswith("hook digest failed: ") and "can never take" in sent[0], sent
        m = parse_metrics(urllib.request.urlopen(g.url + "/metrics", timeout=10).read().decode())
        assert msum(m, "hermetic_hook_runs_total", hook="digest", status="deferred") == 0
        assert msum(m, "hermetic_hook_runs_total", hook="digest", status="failed") == 1
        assert "deferred (" not in g.stderr()
    finally:
        g.kill()
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()
