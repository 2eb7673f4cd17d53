"""Rate pools (docs/pools.md) in `hermetic router`, against the fake upstream that enforces an
account's sliding rate limit as OpenAI does (tests/fakes/ratelimit.py): a burst never draws a
429 from the provider nor puts more than the ceiling into its window, interactive work goes
first, a waiter past its max_wait_s falls back or gets LiteLLM's 429 with retry-after, and what
the provider's rate headers say shrinks the pool. What the fake recorded is the evidence;
wall-clock bounds are loose (the machine is shared).

Classes come from the keys (`keys[].priority`) and from LiteLLM's request `priority`."""
import json
import threading
import time

import pytest

from fakes.fake_openai import FakeOpenAI, error, text
from conftest import clean_env, free_port, to_yaml
from test_router_endpoints import media, media_models, transcribe, wav_file  # noqa: F401
from router_harness import (  # noqa: F401 (start_router is a fixture)
    MASTER_ENV, MASTER_KEY, UPSTREAM_KEY, deep_merge, deployment, msum, router_config, run,
    start_router,
)

KEYS = {"interactive": "sk-e2e-pool-interactive-1", "api": "sk-e2e-pool-api-2",
        "background": "sk-e2e-pool-background-3"}
ENV = {MASTER_ENV: MASTER_KEY, **{f"E2E_POOL_{c.upper()}": k for c, k in KEYS.items()}}
MAX_TOKENS = 300  # each call reserves about 300 + 25 prompt tokens


@pytest.fixture
def limit():
    return None  # the fake's (tpm, rpm); a test parametrizes it


@pytest.fixture
def fake(limit):
    with FakeOpenAI(api_key=UPSTREAM_KEY, rate_limit=limit) as f:
        yield f


def config(fake, tpm, waits, reserve=30, groups=("free",), models=None, **sections):
    models = models or [deployment(g, f"test/{g}", fake) for g in groups]
    return router_config(
        fake, models,
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": f"os.environ/E2E_POOL_{c.upper()}", "alias": c, "priority": c}
              for c in KEYS],
        rate_pools={"acct": {"tpm": tpm, "models": list(groups)}},
        priorities={"interactive_reserve_pct": reserve, "max_wait_s": waits}, **sections)


def call(r, cls, tag, model="free", **extra):
    return r.chat(model, key=KEYS[cls], content=tag, max_tokens=MAX_TOKENS, timeout=30,
                  **extra)


def in_threads(r, calls, gap=0.0):
    """Runs call(r, cls, tag) for each (cls, tag) at once (gap s apart); {tag: reply}."""
    out, threads = {}, []

    def one(cls, tag):
        out[tag] = call(r, cls, tag)

    for cls, tag in calls:
        t = threading.Thread(target=one, args=(cls, tag))
        t.start()
        threads.append(t)
        if gap:
            time.sleep(gap)
    for t in threads:
        t.join(60)
    return out


def audit_lines(r, kind, until=lambda lines: lines, timeout=5):
    """The audit lines of `kind`, once until(them) holds (or after timeout s)."""
    path = r.home / "logs" / "audit.jsonl"
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        found = [x for x in lines if x["kind"] == kind]
        if until(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def tags_sent(fake):
    return [req["body"]["messages"][0]["content"] for req in fake.chat_requests]


def assert_pool_429(reply):
    assert reply.status == 429, reply.text
    err = reply.error()
    assert err["type"] == "rate_limit_error" and err["code"] == "429", reply.text
    assert "rate pool acct" in err["message"], err
    assert 1 <= int(reply.headers["retry-after"]) <= 60, reply.headers


@pytest.mark.parametrize("limit", [(2100, None)])
def test_a_burst_never_draws_a_429_and_the_reserve_serves_interactive(fake, start_router):
    """Eight non-interactive calls at once, then two interactive ones: the pool lets through
    what the account can take (the fake's window never over 2100, no 429 from it); the
    interactive calls get the reserve that the others may not use, and the rest wait, then
    get the pool's 429."""
    fake.script_for("test/free", *[text("ok")] * 12)
    r = start_router(config(fake, 2100, {"interactive": 5, "api": 2, "background": 2}),
                     env=ENV)
    burst = [("background", f"bg{i}") for i in range(5)] + [("api", f"api{i}") for i in range(3)]
    replies = {}
    t = threading.Thread(target=lambda: replies.update(in_threads(r, burst)))
    t.start()
    time.sleep(0.5)
    replies.update(in_threads(r, [("interactive", "int0"), ("interactive", "int1")]))
    t.join(60)
    assert fake.limit.refused == 0, tags_sent(fake)
    assert fake.limit.peak_tokens <= 2100
    assert replies["int0"].status == 200 and replies["int1"].status == 200
    served = [tag for tag, x in replies.items() if x.status == 200]
    refused = [x for x in replies.values() if x.status != 200]
    assert len(served) + len(refused) == 10 and refused, served
    for x in refused:
        assert_pool_429(x)
    # the non-interactive ones never ate into the reserve: at most 1470 of 2100
    assert sum(1 for tag in served if not tag.startswith("int")) <= 1470 // (MAX_TOKENS + 20)
    assert sorted(tags_sent(fake)) == sorted(served)


def test_waiters_are_served_interactive_first_then_in_class_order(fake, start_router):
    """Two slow calls fill the pool (700 tokens, about 330 a call); a background, an api and
    an interactive call arrive in that order and wait; room for one frees at a time, and they
    go out interactive first."""
    fake.script_for("test/free", *[text("slow", first_chunk_delay=1.5)] * 2,
                    *[text("ok")] * 3)
    r = start_router(config(fake, 700, {"interactive": 20, "api": 20, "background": 20},
                            reserve=0), env=ENV)
    holders = threading.Thread(target=in_threads, args=(r, [("api", f"hold{i}")
                                                           for i in range(2)]))
    holders.start()
    fake.wait_requests(2, timeout=10)
    waiters = in_threads(r, [("background", "bg"), ("api", "api"),
                             ("interactive", "int")], gap=0.2)
    holders.join(60)
    assert all(x.status == 200 for x in waiters.values()), {k: x.text for k, x in
                                                            waiters.items()}
    assert tags_sent(fake)[2:] == ["int", "api", "bg"]
    m = r.metrics()
    assert msum(m, "hermetic_pool_wait_seconds_count", pool="acct", **{"class": "background"}) == 1
    assert msum(m, "hermetic_pool_wait_seconds_sum", pool="acct", **{"class": "background"}) > 0.5
    # the audit trail has the background call's wait (over a second)
    waits = audit_lines(r, "pool_wait",
                        lambda ls: any(x["class"] == "background" for x in ls))
    bg = [x for x in waits if x["class"] == "background"]
    assert len(bg) == 1 and bg[0]["outcome"] == "granted", waits
    assert bg[0]["pools"] == "acct" and bg[0]["waited_ms"] > 1000 and bg[0]["source"] == "api"
    assert all(x["waited_ms"] > 1000 for x in waits)


def test_a_waiter_past_max_wait_falls_back_or_gets_the_429_with_retry_after(fake, start_router):
    """A full pool (two slow calls of about 330 in the 700 that api may use): a call of group free waits its max_wait_s (1 s) and then goes to cheap
    (no pool); a call of solo (same pool, no fallback) gets the 429 with retry-after."""
    fake.script_for("test/free", *[text("slow", first_chunk_delay=3)] * 2)
    fake.script_for("test/cheap", text("from cheap"))
    models = [deployment(g, f"test/{g}", fake) for g in ("free", "solo", "cheap")]
    r = start_router(config(fake, 1000, {"api": 1}, groups=("free", "solo"), models=models,
                            litellm_settings={"fallbacks": [{"free": ["cheap"]}]}), env=ENV)
    holders = threading.Thread(target=in_threads, args=(r, [("api", f"hold{i}")
                                                           for i in range(2)]))
    holders.start()
    fake.wait_requests(2, timeout=10)
    fell = call(r, "api", "falls")
    assert fell.status == 200 and fell.content() == "from cheap", fell.text
    assert fell.elapsed >= 0.9
    solo = call(r, "api", "solo", model="solo")
    assert_pool_429(solo)
    holders.join(60)
    m = r.metrics()
    assert msum(m, "hermetic_pool_deferred_total", pool="acct", **{"class": "api"}) == 2
    assert "solo" not in tags_sent(fake)


@pytest.mark.parametrize("limit", [(1000, None)])
def test_the_providers_rate_headers_shrink_the_pool(fake, start_router):
    """hermetic believes the account has 100000 tokens a minute; the provider has 1000 and
    says so in x-ratelimit-remaining-tokens. After each answer the pool holds calls back
    itself: three calls of about 330 fit, the fourth gets hermetic's 429, and the provider
    never answers 429."""
    fake.script_for("test/free", *[text("ok")] * 4)
    r = start_router(config(fake, 100000, {"api": 1}, reserve=0), env=ENV)
    first = call(r, "api", "t0")
    assert first.status == 200, first.text
    pools = r.get("/pools", key=MASTER_KEY).json()["pools"]
    acct = next(p for p in pools if p["name"] == "acct")
    assert 0 <= acct["learned_tokens_left"] < 1000 - MAX_TOKENS, acct
    replies = [call(r, "api", f"t{i}") for i in range(1, 4)]
    assert [x.status for x in replies[:2]] == [200, 200], [x.text for x in replies]
    assert_pool_429(replies[2])
    assert fake.limit.refused == 0 and tags_sent(fake) == ["t0", "t1", "t2"]


def test_a_providers_429_blocks_the_pool_until_its_retry_after(fake, start_router):
    """Another client of the account used it up: the provider answers 429 with retry-after 2.
    The next call waits in the pool for the block to end instead of drawing a second 429."""
    fake.script_for("test/free", error(429, {"error": {"message": "slow down", "code": 429}},
                                       retry_after=2), text("after the block"))
    r = start_router(config(fake, 100000, {"api": 10}), env=ENV)
    refused = call(r, "api", "first")
    assert refused.status == 429 and "slow down" in refused.text, refused.text
    t0 = time.monotonic()
    after = call(r, "api", "second")
    assert after.status == 200 and after.content() == "after the block", after.text
    assert time.monotonic() - t0 >= 1.0  # held back by the block (2 s, whole seconds)
    assert tags_sent(fake) == ["first", "second"]


def test_a_requests_litellm_priority_lowers_its_class_never_raises_it(fake, start_router):
    """The interactive reserve (90 %) is kept from a call that says priority 255 even with
    the interactive key; an api key's priority 0 does not reach it either."""
    fake.script_for("test/free", *[text("ok")] * 3)
    r = start_router(config(fake, 3500, {"interactive": 0, "api": 0, "background": 0},
                            reserve=90), env=ENV)
    # 10 % of 3500 = 350: one call of ~325 fits the non-interactive share, not two
    assert call(r, "interactive", "bg-by-priority", priority=255).status == 200
    assert_pool_429(call(r, "api", "api-asks-0", priority=0))
    assert call(r, "interactive", "int").status == 200
    assert "priority" not in fake.chat_requests[0]["body"]
    assert tags_sent(fake) == ["bg-by-priority", "int"]


def test_hermetic_pools_shows_the_windows_of_the_running_router(fake, start_router):
    fake.script_for("test/free", text("ok"), text("ok"))
    # a 5 % reserve (250 tokens): smaller than the interactive call's prompt (about 380)
    r = start_router(config(fake, 5000, {"api": 5}, reserve=5), env=ENV)
    assert call(r, "api", "one").status == 200
    assert call(r, "interactive", "two " + "word " * 300).status == 200
    assert r.get("/pools", key=KEYS["api"]).status == 403
    assert r.get("/pools").status == 401
    out = run("pools", "--config", str(r.config_path), env={**r.env, **ENV})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"router on 127.0.0.1:{r.port}\n"), out.stdout
    line = next(x for x in out.stdout.splitlines() if x.startswith("acct "))
    name, tpm, rpm, used, reserved, in_flight, left, blocked = line.split()
    assert (tpm, rpm, reserved, in_flight, left) == ("5000", "-", "0", "0", "-"), line
    assert 0 < int(used) < 5000  # the calls' tokens, settled to their usage
    assert "queue: interactive 0 api 0 hook 0 scheduled 0 background 0" in out.stdout
    assert "waits: interactive 1 (" in out.stdout and " api 1 (" in out.stdout, out.stdout
    # the chat's own use (the interactive call alone) beside the reserve, and the hint that
    # the reserve is below it
    chat = next(x for x in out.stdout.splitlines() if x.startswith("  interactive: "))
    mine = int(chat.split()[1])
    assert 0 < mine < int(used), (chat, used)
    assert chat == (f"  interactive: {mine} tokens in the last 60 s, peak {mine} in the last "
                    "hour; reserve 250"), chat
    assert "note: the chat's peak is above the interactive reserve" in out.stdout
    m = r.metrics()
    assert msum(m, "hermetic_pool_tokens", pool="acct", state="limit") == 5000
    assert msum(m, "hermetic_pool_tokens", pool="acct", state="used") == int(used)
    assert msum(m, "hermetic_pool_queue", pool="acct", **{"class": "interactive"}) == 0


def test_hermetic_pools_says_when_nothing_runs(tmp_path, fake):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(to_yaml(deep_merge(config(fake, 5000, {"api": 5}), {
        "home": str(tmp_path / "home"),
        "router": {"listen": f"127.0.0.1:{free_port()}"},
        "api": {"listen": f"127.0.0.1:{free_port()}"}})))
    out = run("pools", "--config", str(cfg), env=clean_env(**ENV))
    assert out.returncode == 1
    assert "neither a router on 127.0.0.1:" in out.stderr, out.stderr


def test_an_audio_form_counts_no_prompt_tokens(fake, media, start_router, tmp_path):
    """A transcription's multipart form is audio, which providers count by the minute, not
    tokens: a WAV of more than 4000 "tokens" at 4 bytes each passes a pool of 1000 TPM."""
    _, audio = wav_file(tmp_path)
    assert len(audio) > 4 * 1000
    r = start_router(router_config(fake, media_models(media),
                                   rate_pools={"acct": {"tpm": 1000, "models": ["whisper"]}}))
    reply = transcribe(r, "whisper", audio)
    assert reply.status == 200, reply.text
    pools = r.get("/pools").json()["pools"]
    assert next(p for p in pools if p["name"] == "acct")["used_requests"] == 1


def test_hermetic_pools_reads_a_router_with_keys_and_no_master_key_as_its_owner(
        fake, start_router):
    """keys: without a master key is a config the docs allow: `hermetic pools` authenticates
    with the config's own first key; a caller without a key still gets 401."""
    cfg = router_config(
        fake, [deployment("free", "test/free", fake)],
        keys=[{"key": f"os.environ/E2E_POOL_{c.upper()}", "alias": c, "priority": c}
              for c in KEYS],
        rate_pools={"acct": {"tpm": 5000, "models": ["free"]}})
    r = start_router(cfg, env=ENV)
    assert r.get("/pools").status == 401
    assert r.get("/pools", key="sk-not-one-of-the-keys").status == 401
    out = run("pools", "--config", str(r.config_path), env={**r.env, **ENV})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"router on 127.0.0.1:{r.port}\n"), out.stdout
    assert any(x.split()[:2] == ["acct", "5000"] for x in out.stdout.splitlines()), out.stdout


def test_a_call_that_can_never_fit_its_class_share_is_a_400_at_once_not_a_429(
        fake, start_router):
    """tpm 12000 with the 30 % reserve: an api-class call of about 9k tokens can never fit
    (its class may use 8,400). LiteLLM's error JSON, 400, naming the pool, the share and the
    estimate, no retry-after, nothing sent; an interactive call of the same size fits."""
    fake.script_for("test/free", text("ok"))
    r = start_router(config(fake, 12000, {"api": 30}), env=ENV)
    big = "word " * 8800
    t0 = time.monotonic()
    res = r.chat("free", key=KEYS["api"], content=big, max_tokens=10, timeout=30)
    assert time.monotonic() - t0 < 5
    assert res.status == 400, (res.status, res.text)
    err = res.json()["error"]
    assert err["type"] == "invalid_request_error" and err["code"] == "400", err
    assert "rate pool acct can never take this api call to free" in err["message"], err
    assert "the api class's share of the pool is 8400 tokens a minute (tpm 12000 less the " \
        "interactive reserve)" in err["message"]
    estimate = int(err["message"].split("it is about ", 1)[1].split()[0])
    assert 8400 < estimate < 12000, err
    assert "retry-after" not in {k.lower() for k in res.headers}
    assert fake.chat_requests == []
    res = r.chat("free", key=KEYS["interactive"], content=big, max_tokens=10, timeout=30)
    assert res.status == 200, res.text
