"""`hermetic router` picking deployments as LiteLLM's routing strategies do, and the limits and
policies that decide which deployment may take a call.

Each test puts several deployments of one group on the scripted fake (one upstream model id per
deployment, so the fake's recorded requests say which deployment received each call) and
asserts where the calls went: simple-shuffle's LiteLLM weighting, least-busy,
latency-based-routing (and its ttl), usage-based-routing (-v2), cost-based-routing;
max_parallel_requests, rpm_limit, retry_policy's exception names, allowed_fails_policy,
environment_variables and default_litellm_params end to end."""
import threading
import time

from conftest import run
from fakes.fake_openai import error, text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    UPSTREAM_ENV, UPSTREAM_KEY, count_calls, deployment, fake, router_config, start_router,
    upstream_models,
)


def strategy(name, **args):
    rs = {"routing_strategy": name}
    if args:
        rs["routing_strategy_args"] = args
    return {"router_settings": rs}


def calls(r, model, n, **body):
    replies = [r.chat(model, **body) for _ in range(n)]
    assert all(x.status == 200 for x in replies), [x.text for x in replies]
    return replies


def in_background(r, model):
    """Starts one call on a thread; returns (thread, holder of its reply)."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("reply", r.chat(model, timeout=30)))
    t.start()
    return t, out


# -- simple-shuffle ------------------------------------------------------------------

def test_shuffle_weighs_by_weight_and_a_deployment_without_one_gets_none(fake, start_router):
    # LiteLLM: when any deployment of the group has a weight, the others get weight 0.
    fake.script_for("test/a", *[text("a")] * 8)
    fake.script_for("test/b", text("must not be reached"))
    models = [deployment("g", "test/a", fake, weight=3), deployment("g", "test/b", fake)]
    r = start_router(router_config(fake, models))
    calls(r, "g", 8)
    assert count_calls(fake, "test/a") == 8 and count_calls(fake, "test/b") == 0


def test_shuffle_weighs_by_rpm_when_no_weight_is_set(fake, start_router):
    fake.script_for("test/a", *[text("a")] * 6)
    fake.script_for("test/b", text("must not be reached"))
    models = [deployment("g", "test/a", fake, rpm=100), deployment("g", "test/b", fake)]
    r = start_router(router_config(fake, models))
    calls(r, "g", 6)
    assert count_calls(fake, "test/a") == 6 and count_calls(fake, "test/b") == 0


def test_shuffle_spreads_equal_weights(fake, start_router):
    fake.script_for("test/a", *[text("a")] * 24)
    fake.script_for("test/b", *[text("b")] * 24)
    models = [deployment("g", "test/a", fake, weight=1), deployment("g", "test/b", fake,
                                                                   weight=1)]
    r = start_router(router_config(fake, models, **strategy("simple-shuffle")))
    calls(r, "g", 24)
    # Both get some: all 24 on one side happens once in 8 million runs.
    assert count_calls(fake, "test/a") >= 1 and count_calls(fake, "test/b") >= 1


# -- least-busy ----------------------------------------------------------------------

def test_least_busy_sends_calls_past_the_deployment_with_one_in_flight(fake, start_router):
    fake.script_for("test/a", text("slow a", first_byte_delay=2.0), *[text("a")] * 3)
    fake.script_for("test/b", *[text("b")] * 3)
    models = [deployment("g", "test/a", fake), deployment("g", "test/b", fake)]
    r = start_router(router_config(fake, models, **strategy("least-busy")))
    # Both idle: the first deployment takes the call and holds it for 2 s.
    t, out = in_background(r, "g")
    fake.wait_requests(1, 10)
    assert upstream_models(fake) == ["test/a"]
    calls(r, "g", 3)
    assert count_calls(fake, "test/b") == 3
    t.join()
    assert out["reply"].status == 200 and out["reply"].content() == "slow a"
    assert count_calls(fake, "test/a") == 1


# -- latency-based-routing -----------------------------------------------------------

def test_latency_based_routing_measures_each_then_keeps_to_the_fastest(fake, start_router):
    slow = text("x" * 40, first_byte_delay=0.3)
    fake.script_for("test/slow", *[slow] * 4)
    fake.script_for("test/fast", *[text("x" * 40)] * 12)
    models = [deployment("g", "test/slow", fake), deployment("g", "test/fast", fake)]
    r = start_router(router_config(fake, models, **strategy("latency-based-routing", ttl=2)))
    # An unmeasured deployment is tried first, so each is measured once; then the fastest.
    calls(r, "g", 8)
    assert count_calls(fake, "test/slow") == 1
    assert count_calls(fake, "test/fast") == 7
    # Past the ttl the measurements no longer count: the slow one is measured again.
    time.sleep(2.3)
    calls(r, "g", 2)
    assert count_calls(fake, "test/slow") == 2
    assert count_calls(fake, "test/fast") == 8


# -- usage-based-routing -------------------------------------------------------------

def test_usage_based_routing_sends_each_call_to_the_least_used(fake, start_router):
    per_call = {"prompt_tokens": 40, "completion_tokens": 10}
    fake.script_for("test/a", *[text("a", usage=per_call)] * 6)
    fake.script_for("test/b", *[text("b", usage=per_call)] * 6)
    models = [deployment("g", "test/a", fake), deployment("g", "test/b", fake)]
    r = start_router(router_config(fake, models, **strategy("usage-based-routing")))
    calls(r, "g", 6)
    # The least used this minute takes the next call (usage counts without a tpm limit too):
    # the two never differ by more than one.
    assert count_calls(fake, "test/a") == 3 and count_calls(fake, "test/b") == 3


def test_usage_based_routing_v2_refuses_a_call_that_fits_no_tpm(fake, start_router):
    per_call = {"prompt_tokens": 40, "completion_tokens": 10}
    fake.script_for("test/solo", *[text("s", usage=per_call)] * 2, text("must not be reached"))
    models = [deployment("g", "test/solo", fake, tpm=100)]
    # the tpm is also a rate pool of one (docs/pools.md): no reserve and no wait keep LiteLLM's
    # immediate refusal, which this test is about
    r = start_router(router_config(fake, models, **strategy("usage-based-routing-v2"),
                                   priorities={"interactive_reserve_pct": 0,
                                               "max_wait_s": {"api": 0}}))
    # max_tokens bounds each call's reservation (its prompt + 10), as the provider counts it
    calls(r, "g", 2, max_tokens=10)  # 50 + 50 tokens: the minute's tpm is used up
    reply = r.chat("g", max_tokens=10)
    assert reply.status == 429, reply.text
    assert "tpm" in reply.error()["message"]
    assert int(reply.headers["retry-after"]) >= 1
    assert count_calls(fake, "test/solo") == 2


def test_usage_based_routing_v2_sends_past_a_full_small_deployment_to_the_large_one(
        fake, start_router):
    # LiteLLM's lowest_tpm_rpm_v2 leaves out a deployment whose minute usage plus this call
    # would pass its tpm and answers from another: the small one is never sent past its
    # 3000 tokens, and no call waits for it while the large one can take it (default
    # priorities: a 30 % reserve, api calls may wait 30 s).
    answer = text("x" * 200, first_byte_delay=0.2)  # 50 completion tokens
    fake.script_for("test/small", *[answer] * 20)
    fake.script_for("test/large", *[answer] * 20)
    models = [deployment("g", "test/small", fake, tpm=3000),
              deployment("g", "test/large", fake, tpm=1000000)]
    r = start_router(router_config(fake, models, **strategy("usage-based-routing-v2")))
    prompt = "p" * 1000  # about 300 tokens as sent, with max_tokens 100 reserved
    replies, lock = [], threading.Lock()

    def worker():
        for _ in range(5):
            reply = r.chat("g", content=prompt, max_tokens=100)
            with lock:
                replies.append(reply)

    started = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.monotonic() - started
    assert [x.status for x in replies] == [200] * 20, [x.text for x in replies if x.status != 200]
    small = fake.usage_totals.get("test/small", {})
    received = small.get("prompt_tokens", 0) + small.get("completion_tokens", 0)
    assert 0 < received <= 3000, small
    assert count_calls(fake, "test/small") + count_calls(fake, "test/large") == 20
    assert count_calls(fake, "test/large") >= 10
    # nobody waited for the small one's minute to slide: 5 rounds of 0.2 s answers
    assert elapsed < 8, elapsed


# -- cost-based-routing --------------------------------------------------------------

def test_cost_based_routing_takes_the_cheapest_with_room(fake, start_router):
    fake.script_for("test/dear", *[text("dear")] * 2)
    fake.script_for("test/cheap", *[text("cheap")] * 2, text("must not be reached"))
    fake.script_for("test/unpriced", text("must not be reached"))
    price = lambda usd: {"input_cost_per_token": usd, "output_cost_per_token": usd}  # noqa
    models = [deployment("g", "test/dear", fake, model_info=price(3e-6)),
              deployment("g", "test/cheap", fake, model_info=price(1e-6), rpm=2),
              deployment("g", "test/unpriced", fake)]
    r = start_router(router_config(fake, models, **strategy("cost-based-routing")))
    calls(r, "g", 4)
    # The cheapest until its rpm is used, then the next cheapest; no price = tried last.
    assert upstream_models(fake) == ["test/cheap", "test/cheap", "test/dear", "test/dear"]


# -- limits: max_parallel_requests, rpm_limit ------------------------------------------

def test_max_parallel_requests_caps_calls_in_flight(fake, start_router):
    fake.script_for("test/solo", text("slow", first_byte_delay=1.5), text("again"),
                    text("must not be reached"))
    models = [deployment("g", "test/solo", fake, max_parallel_requests=1)]
    r = start_router(router_config(fake, models))
    t, out = in_background(r, "g")
    fake.wait_requests(1, 10)
    reply = r.chat("g")
    assert reply.status == 429, reply.text
    assert "max_parallel_requests" in reply.error()["message"]
    t.join()
    assert out["reply"].status == 200
    # The cap is on calls in flight: once the first is done the next goes.
    assert r.chat("g").content() == "again"
    assert count_calls(fake, "test/solo") == 2


def test_full_deployment_falls_back_to_the_next_group(fake, start_router):
    fake.script_for("test/free", text("f1"), text("must not be reached"))
    fake.script_for("test/cheap", text("from cheap"))
    models = [deployment("free", "test/free", fake, rpm_limit=1),
              deployment("cheap", "test/cheap", fake)]
    r = start_router(router_config(fake, models,
                                   litellm_settings={"fallbacks": [{"free": ["cheap"]}]}))
    assert r.chat("free").content() == "f1"
    # rpm_limit is rpm: the deployment is full for this minute, the fallback answers.
    assert r.chat("free").content() == "from cheap"
    assert upstream_models(fake) == ["test/free", "test/cheap"]


def test_full_minute_says_when_it_has_room_again(fake, start_router):
    fake.script_for("test/g", text("1"), text("must not be reached"))
    # rpm is also a rate pool of one: without a wait it refuses at once, as LiteLLM does
    r = start_router(router_config(fake, [deployment("g", "test/g", fake, rpm=1)],
                                   priorities={"interactive_reserve_pct": 0,
                                               "max_wait_s": {"api": 0}}))
    assert r.chat("g").status == 200
    reply = r.chat("g")
    assert reply.status == 429, reply.text
    # The one request of this minute leaves the window within 60 s, not in 1.
    assert 50 <= int(reply.headers["retry-after"]) <= 60, reply.headers


# -- retry_policy and allowed_fails_policy ---------------------------------------------

def rate_limited():
    return error(429, {"error": {"code": 429, "message": "e2e rate limit"}})


def test_retry_policy_takes_the_bare_exception_name(fake, start_router):
    fake.script_for("test/g", *[rate_limited()] * 5)
    models = [deployment("g", "test/g", fake)]
    r = start_router(router_config(fake, models, router_settings={
        "retry_policy": {"RateLimitError": 2, "Timeout": 0}}))
    assert r.chat("g").status == 429
    assert count_calls(fake, "test/g") == 3  # the first try and 2 retries


def test_retry_after_is_the_least_wait_before_a_retry(fake, start_router):
    fake.script_for("test/g", error(500, {"error": {"code": 500, "message": "e2e"}}),
                    text("second try"))
    models = [deployment("g", "test/g", fake)]
    r = start_router(router_config(fake, models, router_settings={
        "num_retries": 1, "retry_after": 1}))
    reply = r.chat("g")
    assert reply.status == 200 and reply.content() == "second try", reply.text
    # The backoff alone would be about 100 ms. The router's 1 s timer and this client's clock
    # are read a few microseconds apart (a run measured 0.99997 s): a margin of 50 ms.
    assert reply.elapsed >= 0.95, reply.elapsed


def test_disable_cooldowns_keeps_a_failing_deployment_in_use(fake, start_router):
    fake.script_for("test/a", *[error(500, {"error": {"code": 500, "message": "e2e"}})] * 3,
                    text("a again"))
    fake.script_for("test/b", text("must not be reached"))
    models = [deployment("g", "test/a", fake), deployment("g", "test/b", fake)]
    r = start_router(router_config(fake, models, router_settings={
        "routing_strategy": "least-busy", "allowed_fails": 0, "cooldown_time": 30,
        "disable_cooldowns": True}))
    assert [r.chat("g").status for _ in range(3)] == [500, 500, 500]
    assert r.chat("g").content() == "a again"
    assert count_calls(fake, "test/b") == 0


def test_allowed_fails_policy_cools_a_deployment_after_its_class_limit(fake, start_router):
    fake.script_for("test/a", rate_limited(), *[text("a")] * 3)
    fake.script_for("test/b", *[text("b")] * 3)
    models = [deployment("g", "test/a", fake), deployment("g", "test/b", fake)]
    r = start_router(router_config(fake, models, router_settings={
        "routing_strategy": "least-busy", "cooldown_time": 30,
        "allowed_fails_policy": {"RateLimitErrorAllowedFails": 0}}))
    # Least-busy ties go to the first deployment: it answers 429 and cools at once.
    assert r.chat("g").status == 429
    calls(r, "g", 3)
    assert upstream_models(fake) == ["test/a", "test/b", "test/b", "test/b"]


def test_without_allowed_fails_policy_the_same_429_does_not_cool(fake, start_router):
    fake.script_for("test/a", rate_limited(), *[text("a")] * 3)
    fake.script_for("test/b", text("must not be reached"))
    models = [deployment("g", "test/a", fake), deployment("g", "test/b", fake)]
    r = start_router(router_config(fake, models, router_settings={
        "routing_strategy": "least-busy", "cooldown_time": 30}))
    assert r.chat("g").status == 429
    calls(r, "g", 3)
    assert count_calls(fake, "test/a") == 4


# -- environment_variables and default_litellm_params ----------------------------------

def test_environment_variables_supply_the_key_and_are_redacted(fake, start_router):
    fake.script_for("test/g", text("with the section's key"))
    models = [deployment("g", "test/g", fake, api_key="os.environ/E2E_KEY_FROM_SECTION")]
    r = start_router(router_config(fake, models,
                                   environment_variables={"E2E_KEY_FROM_SECTION": UPSTREAM_KEY}),
                     env={UPSTREAM_ENV: "not-the-key"})
    reply = r.chat("g")
    assert reply.status == 200 and reply.content() == "with the section's key", reply.text
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    shown = run("config", "check", "--config", str(r.config_path), env=r.env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for out in (r.stderr(), r.logfile(), shown.stdout, shown.stderr):
        assert UPSTREAM_KEY not in out


def test_default_litellm_params_apply_under_the_entrys_own(fake, start_router):
    fake.script_for("test/g", text("1"), text("2"), text("must not be reached"))
    entry = {"model_name": "g",
             "litellm_params": {"model": "openrouter/test/g", "api_base": fake.url, "rpm": 2},
             "default_litellm_params": {"api_key": f"os.environ/{UPSTREAM_ENV}", "rpm": 1}}
    r = start_router(router_config(fake, [entry]))
    # The key comes from the defaults; rpm 2 from litellm_params wins over the default 1.
    assert [r.chat("g").content() for _ in range(2)] == ["1", "2"]
    assert r.chat("g").status == 429
    assert count_calls(fake, "test/g") == 2
