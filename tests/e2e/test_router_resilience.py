"""`hermetic router` when upstreams misbehave: retries, Retry-After, fallbacks of every kind,
timeouts, malformed bodies, refused connections, cooldowns and rpm limits.

Each test counts the upstream calls per model from the fake's recorded requests. The defaults
of router_config() are num_retries 0 and allowed_fails 100 so that only what a test sets
changes the counts."""
import time

import pytest

from fakes.fake_openai import (
    content_policy, context_length_exceeded, error, hang, openrouter_error, text,
)
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    NO_DEPLOYMENTS, closed_port_url, count_calls, deployment, fake, msum, router_config,
    start_router, upstream_models,
)


def err(status, message=None):
    return error(status, {"error": {"code": status, "message": message or f"e2e error {status}"}})


def groups(fake, *names, **free_params):
    """Deployments: group `name` -> upstream model `test/<name>`; free_params go on `free`."""
    return [deployment(n, f"test/{n}", fake, **(free_params if n == "free" else {}))
            for n in names]


def fallbacks(**chains):
    return {"fallbacks": [{k: v} for k, v in chains.items()]}


# -- retries ---------------------------------------------------------------------

def test_429_storm_is_retried_then_falls_back(fake, start_router):
    fake.script_for("test/free", *[openrouter_error(429)] * 3, text("must not be reached"))
    fake.script_for("test/cheap", text("from cheap"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap"),
                                   router_settings={"num_retries": 2},
                                   litellm_settings=fallbacks(free=["cheap"])))
    reply = r.chat("free")
    assert reply.status == 200, reply.text
    assert reply.content() == "from cheap"
    assert reply.headers.get("x-litellm-model-group") == "cheap"
    assert reply.headers.get("x-litellm-attempted-fallbacks") == "1"
    assert upstream_models(fake) == ["test/free"] * 3 + ["test/cheap"]


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_retryable_status_is_retried_in_the_group(fake, start_router, status):
    fake.script_for("test/free", err(status), text("second try"))
    r = start_router(router_config(fake, groups(fake, "free"), router_settings={"num_retries": 1}))
    reply = r.chat("free")
    assert reply.status == 200, reply.text
    assert reply.content() == "second try"
    assert reply.headers.get("x-litellm-attempted-retries") == "1"
    assert count_calls(fake, "test/free") == 2


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
def test_non_retryable_status_is_not_retried(fake, start_router, status):
    fake.script_for("test/free", err(status, f"e2e non-retryable {status}"),
                    text("must not be reached"))
    r = start_router(router_config(fake, groups(fake, "free"), router_settings={"num_retries": 3}))
    reply = r.chat("free")
    assert 400 <= reply.status < 500, (reply.status, reply.text)
    if status == 400:
        assert reply.status == 400
    assert count_calls(fake, "test/free") == 1


def test_backoff_between_retries_starts_near_100ms_and_grows(fake, start_router):
    fake.script_for("test/free", err(503), err(503), err(503), text("fourth"))
    r = start_router(router_config(fake, groups(fake, "free"), router_settings={"num_retries": 3}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "fourth", reply.text
    t = [q["monotonic"] for q in fake.chat_requests]
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert len(gaps) == 3 and all(g >= 0.05 for g in gaps), gaps  # never a hot loop
    assert gaps[0] < 1.0 and gaps[2] > gaps[0], gaps  # exponential, not fixed


def test_retry_policy_sets_retries_per_error_class(fake, start_router):
    fake.script_for("test/free", openrouter_error(429), openrouter_error(429), text("third"),
                    err(503), text("must not be reached"))
    r = start_router(router_config(fake, groups(fake, "free"), router_settings={
        "num_retries": 0,
        "retry_policy": {"RateLimitErrorRetries": 2, "InternalServerErrorRetries": 0}}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "third", reply.text
    reply = r.chat("free")
    assert reply.status >= 500, reply.text
    assert count_calls(fake, "test/free") == 4


def test_retry_after_is_honoured_before_the_next_attempt(fake, start_router):
    fake.script_for("test/free", openrouter_error(429, retry_after=1), text("after the wait"))
    r = start_router(router_config(fake, groups(fake, "free"), router_settings={"num_retries": 1}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "after the wait", reply.text
    first, second = fake.chat_requests
    gap = second["monotonic"] - first["monotonic"]
    assert gap >= 0.95, f"second attempt {gap:.3f}s after the first, Retry-After was 1"


def test_retry_after_beyond_the_timeout_moves_to_fallbacks(fake, start_router):
    fake.script_for("test/free", openrouter_error(429, retry_after=30), text("must not be reached"))
    fake.script_for("test/cheap", text("from cheap"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap", timeout=3),
                                   router_settings={"num_retries": 2, "timeout": 3},
                                   litellm_settings=fallbacks(free=["cheap"])))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from cheap", reply.text
    assert reply.elapsed < 3, f"waited {reply.elapsed:.1f}s on a Retry-After it could not honour"
    assert upstream_models(fake) == ["test/free", "test/cheap"]


# -- fallbacks -------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 402, 404])
def test_auth_credit_and_not_found_errors_fall_back_without_retry(fake, start_router, status):
    fake.script_for("test/free", err(status), text("must not be reached"))
    fake.script_for("test/cheap", text("from cheap"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap"),
                                   router_settings={"num_retries": 2},
                                   litellm_settings=fallbacks(free=["cheap"])))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from cheap", reply.text
    assert reply.headers.get("x-litellm-model-group") == "cheap"
    assert upstream_models(fake) == ["test/free", "test/cheap"]


def test_plain_400_is_returned_as_is_without_fallback(fake, start_router):
    fake.script_for("test/free", err(400, "e2e plain bad request"))
    fake.script_for("test/cheap", text("must not be reached"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap"),
                                   router_settings={"num_retries": 2},
                                   litellm_settings={**fallbacks(free=["cheap"]),
                                                     "default_fallbacks": ["cheap"]}))
    reply = r.chat("free")
    assert reply.status == 400, reply.text
    assert "e2e plain bad request" in reply.text
    assert upstream_models(fake) == ["test/free"]


@pytest.mark.parametrize("style", ["openai", "openrouter"])
def test_context_window_error_uses_context_window_fallbacks(fake, start_router, style):
    fake.script_for("test/free", context_length_exceeded(style=style), text("must not be reached"))
    fake.script_for("test/cheap", text("must not be reached"))
    fake.script_for("test/strong", text("from strong"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap", "strong"),
                                   router_settings={"num_retries": 2},
                                   litellm_settings={**fallbacks(free=["cheap"]),
                                                     "context_window_fallbacks": [
                                                         {"free": ["strong"]}]}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from strong", reply.text
    assert reply.headers.get("x-litellm-model-group") == "strong"
    assert upstream_models(fake) == ["test/free", "test/strong"]


@pytest.mark.parametrize("style", ["openrouter", "openai"])
def test_content_policy_error_uses_content_policy_fallbacks(fake, start_router, style):
    fake.script_for("test/free", content_policy(style=style), text("must not be reached"))
    fake.script_for("test/cheap", text("must not be reached"))
    fake.script_for("test/safe", text("from safe"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap", "safe"),
                                   router_settings={"num_retries": 2},
                                   litellm_settings={**fallbacks(free=["cheap"]),
                                                     "content_policy_fallbacks": [
                                                         {"free": ["safe"]}]}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from safe", reply.text
    assert reply.headers.get("x-litellm-model-group") == "safe"
    assert upstream_models(fake) == ["test/free", "test/safe"]


def test_fallback_chain_is_tried_in_order(fake, start_router):
    fake.script_for("test/free", err(503))
    fake.script_for("test/free2", err(502))
    fake.script_for("test/cheap", text("from cheap"))
    r = start_router(router_config(fake, groups(fake, "free", "free2", "cheap"),
                                   litellm_settings=fallbacks(free=["free2", "cheap"])))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from cheap", reply.text
    assert reply.headers.get("x-litellm-model-group") == "cheap"
    assert reply.headers.get("x-litellm-attempted-fallbacks") == "2"
    assert upstream_models(fake) == ["test/free", "test/free2", "test/cheap"]


def test_default_fallbacks_apply_after_the_groups_own(fake, start_router):
    fake.script_for("test/free", err(503))
    fake.script_for("test/free2", err(503))
    fake.script_for("test/cheap", text("from default"))
    r = start_router(router_config(fake, groups(fake, "free", "free2", "cheap"),
                                   litellm_settings={**fallbacks(free=["free2"]),
                                                     "default_fallbacks": ["cheap"]}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from default", reply.text
    assert upstream_models(fake) == ["test/free", "test/free2", "test/cheap"]


def test_default_fallbacks_apply_when_the_group_has_none(fake, start_router):
    fake.script_for("test/free", err(503))
    fake.script_for("test/cheap", text("from default"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap"),
                                   litellm_settings={"default_fallbacks": ["cheap"]}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from default", reply.text
    assert reply.headers.get("x-litellm-model-group") == "cheap"
    assert upstream_models(fake) == ["test/free", "test/cheap"]


def test_max_fallbacks_caps_the_chain(fake, start_router):
    for name in ("free", "f2", "f3"):
        fake.script_for(f"test/{name}", err(503))
    fake.script_for("test/f4", text("must not be reached"))
    r = start_router(router_config(fake, groups(fake, "free", "f2", "f3", "f4"),
                                   litellm_settings={**fallbacks(free=["f2", "f3", "f4"]),
                                                     "max_fallbacks": 2}))
    reply = r.chat("free")
    assert reply.status >= 500, reply.text
    assert upstream_models(fake) == ["test/free", "test/f2", "test/f3"]


def test_request_fallbacks_override_the_config(fake, start_router):
    fake.script_for("test/free", err(503))
    fake.script_for("test/cheap", text("must not be reached"))
    fake.script_for("test/strong", text("from strong"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap", "strong"),
                                   litellm_settings=fallbacks(free=["cheap"])))
    reply = r.chat("free", fallbacks=["strong"])
    assert reply.status == 200 and reply.content() == "from strong", reply.text
    assert reply.headers.get("x-litellm-model-group") == "strong"
    assert upstream_models(fake) == ["test/free", "test/strong"]


def test_disable_fallbacks_returns_the_error(fake, start_router):
    fake.script_for("test/free", openrouter_error(429))
    fake.script_for("test/cheap", text("must not be reached"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap"),
                                   litellm_settings=fallbacks(free=["cheap"])))
    reply = r.chat("free", disable_fallbacks=True)
    assert reply.status == 429, reply.text
    assert upstream_models(fake) == ["test/free"]


def test_litellm_request_fields_never_reach_the_provider(fake, start_router):
    """fallbacks, disable_fallbacks, priority and metadata are the router's: the upstream's
    request has none of them, whichever of them the client sent, and the rest of the body
    (here temperature and user) goes on as sent."""
    fake.script_for("test/free", *[text("ok")] * 4)
    r = start_router(router_config(fake, groups(fake, "free", "cheap"),
                                   litellm_settings=fallbacks(free=["cheap"])))
    sent = [dict(fallbacks=["cheap"]), dict(disable_fallbacks=False),
            dict(fallbacks=["cheap"], disable_fallbacks=True, priority=1,
                 metadata={"tags": ["x"]}),
            dict()]
    for extra in sent:
        reply = r.chat("free", temperature=0.5, user="u-1", **extra)
        assert reply.status == 200, reply.text
    assert len(fake.chat_requests) == len(sent)
    for body in (r["body"] for r in fake.chat_requests):
        for field in ("fallbacks", "disable_fallbacks", "priority", "metadata"):
            assert field not in body, body
        assert body["temperature"] == 0.5 and body["user"] == "u-1", body


# -- timeouts, broken bodies, refused connections ------------------------------------

def test_hanging_upstream_times_out_with_408_after_retries(fake, start_router):
    fake.script_for("test/free", hang(), hang(), text("must not be reached"))
    r = start_router(router_config(fake, groups(fake, "free", timeout=1),
                                   router_settings={"num_retries": 1}))
    reply = r.chat("free", timeout=30)
    assert reply.status == 408, reply.text
    reply.error()
    assert count_calls(fake, "test/free") == 2
    assert reply.elapsed >= 1.8


def test_timeout_falls_back(fake, start_router):
    fake.script_for("test/free", hang(), text("must not be reached"))
    fake.script_for("test/cheap", text("from cheap"))
    r = start_router(router_config(fake, groups(fake, "free", "cheap", timeout=1),
                                   litellm_settings=fallbacks(free=["cheap"])))
    reply = r.chat("free", timeout=30)
    assert reply.status == 200 and reply.content() == "from cheap", reply.text
    assert upstream_models(fake) == ["test/free", "test/cheap"]
    assert reply.elapsed >= 0.9


def test_slow_first_byte_within_the_timeout_succeeds(fake, start_router):
    fake.script_for("test/free", text("slow but in time", first_byte_delay=1.2))
    r = start_router(router_config(fake, groups(fake, "free", timeout=3),
                                   router_settings={"num_retries": 2}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "slow but in time", reply.text
    assert count_calls(fake, "test/free") == 1


def test_malformed_upstream_json_is_retried_then_502(fake, start_router):
    fake.script_for("test/free", *[text("broken body", malformed_after=0)] * 3,
                    text("must not be reached"))
    r = start_router(router_config(fake, groups(fake, "free"), router_settings={"num_retries": 2}))
    reply = r.chat("free")
    assert reply.status == 502, reply.text
    reply.error()
    assert count_calls(fake, "test/free") == 3


def test_malformed_upstream_json_then_good_answer_succeeds(fake, start_router):
    fake.script_for("test/free", text("broken body", malformed_after=0), text("fine now"))
    r = start_router(router_config(fake, groups(fake, "free"), router_settings={"num_retries": 1}))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "fine now", reply.text


def test_connection_refused_is_502_after_retries(fake, start_router):
    r = start_router(router_config(fake, [deployment("free", "test/free", closed_port_url())],
                                   router_settings={"num_retries": 1}))
    reply = r.chat("free")
    assert reply.status == 502, reply.text
    reply.error()


def test_connection_refused_falls_back(fake, start_router):
    fake.script_for("test/cheap", text("from cheap"))
    models = [deployment("free", "test/free", closed_port_url()),
              deployment("cheap", "test/cheap", fake)]
    r = start_router(router_config(fake, models, router_settings={"num_retries": 1},
                                   litellm_settings=fallbacks(free=["cheap"])))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from cheap", reply.text
    assert reply.headers.get("x-litellm-model-group") == "cheap"


# -- cooldowns -------------------------------------------------------------------

def deployment_state(r, model_id):
    values = [v for _, _, v in
              [s for s in r.metrics() if s[0] == "litellm_deployment_state"
               and s[1].get("model_id") == model_id]]
    assert len(values) == 1, f"litellm_deployment_state for {model_id}: {values}"
    return values[0]


def test_cooldown_after_more_than_allowed_fails_skips_the_deployment(fake, start_router):
    fake.script_for("test/free", openrouter_error(429), openrouter_error(429))
    fake.script_for("test/cheap", text("c1"), text("c2"), text("c3"))
    r = start_router(router_config(
        fake, [deployment("free", "test/free", fake, id="free-1"),
               deployment("cheap", "test/cheap", fake, id="cheap-1")],
        router_settings={"allowed_fails": 1, "cooldown_time": 30},
        litellm_settings=fallbacks(free=["cheap"])))
    for want in ("c1", "c2"):  # failure 1 (allowed), failure 2 (> allowed_fails: cooldown)
        reply = r.chat("free")
        assert reply.status == 200 and reply.content() == want, reply.text
    assert count_calls(fake, "test/free") == 2
    parsed = r.metrics()
    assert msum(parsed, "litellm_deployment_cooled_down_total", model_id="free-1") == 1
    assert msum(parsed, "litellm_deployment_cooled_down_total", model_id="free-1",
                exception_status="429", api_base=fake.url, api_provider="openrouter") == 1
    [cooled] = [l for n, l, _ in parsed if n == "litellm_deployment_cooled_down_total"]
    assert "litellm_model_name" in cooled, cooled
    states = {l.get("model_id"): l for n, l, _ in parsed if n == "litellm_deployment_state"}
    assert states["free-1"].get("api_base") == fake.url, states
    assert states["free-1"].get("api_provider") == "openrouter", states
    assert "litellm_model_name" in states["free-1"], states
    assert deployment_state(r, "free-1") == 2
    assert deployment_state(r, "cheap-1") == 0
    reply = r.chat("free")  # cooling: straight to the fallback
    assert reply.status == 200 and reply.content() == "c3", reply.text
    assert count_calls(fake, "test/free") == 2


COUNTED = {401: err(401), 404: err(404), 408: err(408), 429: openrouter_error(429),
           500: err(500), 503: err(503)}


@pytest.mark.parametrize("status", sorted(COUNTED))
def test_counted_failures_put_the_deployment_in_cooldown(fake, start_router, status):
    fake.script_for("test/free", COUNTED[status], text("must not be reached"))
    r = start_router(router_config(fake, [deployment("free", "test/free", fake, id="free-1")],
                                   router_settings={"allowed_fails": 0, "cooldown_time": 30}))
    assert r.chat("free").status != 200
    reply = r.chat("free")
    assert reply.status == 429 and NO_DEPLOYMENTS.match(reply.error()["message"]), reply.text
    assert count_calls(fake, "test/free") == 1
    assert deployment_state(r, "free-1") == 2


@pytest.mark.parametrize("status", [400, 402])
def test_other_client_errors_do_not_count_towards_cooldown(fake, start_router, status):
    fake.script_for("test/free", err(status), text("still served"))
    r = start_router(router_config(fake, [deployment("free", "test/free", fake, id="free-1")],
                                   router_settings={"allowed_fails": 0, "cooldown_time": 30}))
    assert 400 <= r.chat("free").status < 500
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "still served", reply.text
    assert deployment_state(r, "free-1") == 0


def test_all_deployments_cooling_is_429_with_retry_after_then_recovers(fake, start_router):
    fake.script_for("test/a", err(503), text("a is back"))
    fake.script_for("test/b", err(503), text("b is back"))
    models = [deployment("free", "test/a", fake, id="free-a"),
              deployment("free", "test/b", fake, id="free-b")]
    r = start_router(router_config(fake, models, router_settings={
        "allowed_fails": 0, "cooldown_time": 2, "num_retries": 3}))
    first = r.chat("free")
    t_cool = time.monotonic()
    assert first.status != 200, first.text
    # Each failure cooled its deployment at once, so the retry went to the other one.
    assert sorted(upstream_models(fake)) == ["test/a", "test/b"]
    reply = r.chat("free")
    assert reply.status == 429, reply.text
    m = NO_DEPLOYMENTS.match(reply.error()["message"])
    assert m, reply.error()
    assert 0 < float(m.group(1)) <= 2
    assert 1 <= int(reply.headers["retry-after"]) <= 2
    assert len(fake.chat_requests) == 2  # no upstream call while everything cools
    assert deployment_state(r, "free-a") == 2 and deployment_state(r, "free-b") == 2
    time.sleep(max(0.0, t_cool + 2.6 - time.monotonic()))
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() in ("a is back", "b is back"), reply.text
    served = reply.headers.get("x-litellm-model-id")
    assert served in ("free-a", "free-b")
    assert deployment_state(r, served) == 0


# -- rpm / tpm -------------------------------------------------------------------

def test_rpm_limit_sends_the_extra_call_to_the_fallback(fake, start_router):
    fake.script_for("test/free", text("f1"), text("f2"), text("must not be reached"))
    fake.script_for("test/cheap", text("from cheap"))
    # max_wait_s 0: the deployment's rpm (a rate pool of one) refuses at once, as LiteLLM's
    r = start_router(router_config(fake, groups(fake, "free", "cheap", rpm=2),
                                   litellm_settings=fallbacks(free=["cheap"]),
                                   priorities={"max_wait_s": {"api": 0}}))
    assert [r.chat("free").content() for _ in range(2)] == ["f1", "f2"]
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "from cheap", reply.text
    assert upstream_models(fake) == ["test/free", "test/free", "test/cheap"]


def test_rpm_limit_without_alternative_is_429_without_upstream_call(fake, start_router):
    fake.script_for("test/free", text("f1"), text("f2"), text("must not be reached"))
    r = start_router(router_config(fake, groups(fake, "free", rpm=2),
                                   priorities={"max_wait_s": {"api": 0}}))
    assert [r.chat("free").status for _ in range(2)] == [200, 200]
    reply = r.chat("free")
    assert reply.status == 429, reply.text
    reply.error()
    assert count_calls(fake, "test/free") == 2


def test_rpm_limit_moves_traffic_to_the_other_deployment(fake, start_router):
    fake.script_for("test/a", text("a"), text("must not be reached"))
    fake.script_for("test/b", *[text("b")] * 4)
    models = [deployment("free", "test/a", fake, id="free-a", rpm=1),
              deployment("free", "test/b", fake, id="free-b")]
    r = start_router(router_config(fake, models))
    replies = [r.chat("free") for _ in range(4)]
    assert all(x.status == 200 for x in replies), [x.text for x in replies]
    assert count_calls(fake, "test/a") <= 1
    assert count_calls(fake, "test/b") == 4 - count_calls(fake, "test/a")


def test_tpm_limit_sends_later_calls_to_the_fallback(fake, start_router):
    per_call = {"prompt_tokens": 30, "completion_tokens": 10}  # 40 tokens a call, tpm 50
    fake.script_for("test/free", *[text("from free", usage=per_call)] * 4)
    fake.script_for("test/cheap", *[text("from cheap")] * 4)
    # the tpm is a rate pool of one; with no reserve and no wait it refuses at once, as LiteLLM
    r = start_router(router_config(fake, groups(fake, "free", "cheap", tpm=50),
                                   litellm_settings=fallbacks(free=["cheap"]),
                                   priorities={"interactive_reserve_pct": 0,
                                               "max_wait_s": {"api": 0}}))
    replies = [r.chat("free") for _ in range(4)]
    assert all(x.status == 200 for x in replies), [x.text for x in replies]
    assert replies[0].content() == "from free"
    # 40 tokens used: a second call may or may not fit; after 80 nothing does.
    assert 1 <= count_calls(fake, "test/free") <= 2
    assert [x.content() for x in replies[2:]] == ["from cheap", "from cheap"]
