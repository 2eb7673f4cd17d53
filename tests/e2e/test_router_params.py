"""A deployment's request parameters reach its upstream with every call, as LiteLLM's
Router._acompletion sends them (issue 49): `{**litellm_params, ..., **request}`, so the
request's own value wins key by key, with no deep merge; extra_body's keys go to the top level
of the body. Each test asserts what the fake upstream received."""
from fakes.fake_openai import error, text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    deployment, fake, router_config, start_router,
)

PARAMS = {
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 123,
    "stop": ["</answer>", "END"],
    "seed": 7,
    "reasoning_effort": "low",
    "extra_body": {"chat_template_kwargs": {"enable_thinking": False}, "top_k": 20},
    "extra_headers": {"X-Tenant": "blue"},
}


def sent(fake, model):
    bodies = [r["body"] for r in fake.chat_requests if r["model"] == model]
    assert bodies, f"nothing reached {model}"
    return bodies[-1]


def one_deployment(fake, start_router, **params):
    fake.script_for("test/d", *[text("ok")] * 4)
    return start_router(router_config(fake, [deployment("g", "test/d", fake, **params)]))


def test_the_deployments_parameters_reach_the_upstream(fake, start_router):
    r = one_deployment(fake, start_router, **PARAMS)
    reply = r.chat("g")
    assert reply.status == 200, reply.text
    body = sent(fake, "test/d")
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert body["max_tokens"] == 123  # not the guardrails' default 4096
    assert body["stop"] == ["</answer>", "END"] and body["seed"] == 7
    assert body["reasoning_effort"] == "low"
    # extra_body's keys at the top level, extra_body itself not sent
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["top_k"] == 20
    assert "extra_body" not in body
    headers = [r["headers"] for r in fake.chat_requests][-1]
    assert {k.lower(): v for k, v in headers.items()}.get("x-tenant") == "blue"


def test_the_requests_own_values_win_key_by_key(fake, start_router):
    r = one_deployment(fake, start_router, **PARAMS)
    reply = r.chat("g", temperature=0.9, max_tokens=50, stop="STOP")
    assert reply.status == 200, reply.text
    body = sent(fake, "test/d")
    assert body["temperature"] == 0.9 and body["max_tokens"] == 50 and body["stop"] == "STOP"
    assert body["top_p"] == 0.9 and body["seed"] == 7  # the rest still the deployment's


def test_a_requests_extra_body_replaces_the_deployments_whole(fake, start_router):
    # LiteLLM's merge is shallow: the request's extra_body is the one sent
    r = one_deployment(fake, start_router, **PARAMS)
    reply = r.chat("g", extra_body={"repetition_penalty": 1.1})
    assert reply.status == 200, reply.text
    body = sent(fake, "test/d")
    assert body["repetition_penalty"] == 1.1
    assert "chat_template_kwargs" not in body and "top_k" not in body
    assert "extra_body" not in body


def test_groups_that_differ_only_in_parameters_send_different_calls(fake, start_router):
    fake.script_for("test/m", *[text("ok")] * 3)
    models = [deployment(name, "test/m", fake, thinking={"type": "enabled",
                                                         "budget_tokens": budget})
              for name, budget in (("think-low", 1024), ("think-mid", 4096),
                                   ("think-high", 16384))]
    r = start_router(router_config(fake, models))
    for name in ("think-low", "think-mid", "think-high"):
        assert r.chat(name).status == 200
    budgets = [b["body"]["thinking"]["budget_tokens"] for b in fake.chat_requests]
    assert budgets == [1024, 4096, 16384]


def test_a_retry_on_another_deployment_sends_only_that_ones_parameters(fake, start_router):
    fake.script_for("test/a", error(500, "down"))
    fake.script_for("test/b", text("from b"))
    models = [deployment("g", "test/a", fake, temperature=0.1, order=1),
              deployment("g", "test/b", fake, top_p=0.5, order=2)]
    r = start_router(router_config(fake, models))
    reply = r.chat("g")
    assert reply.status == 200, reply.text
    a, b = sent(fake, "test/a"), sent(fake, "test/b")
    assert a["temperature"] == 0.1 and "top_p" not in a
    assert b["top_p"] == 0.5 and "temperature" not in b


def test_default_litellm_params_parameters_are_sent_too(fake, start_router):
    fake.script_for("test/d", text("ok"))
    entry = deployment("g", "test/d", fake)
    entry["default_litellm_params"] = {"temperature": 0.3, "max_tokens": 77}
    r = start_router(router_config(fake, [entry]))
    assert r.chat("g").status == 200
    body = sent(fake, "test/d")
    assert body["temperature"] == 0.3 and body["max_tokens"] == 77


def test_router_default_litellm_params_win_over_the_deployments_not_the_requests(
        fake, start_router):
    # LiteLLM's Router puts default_litellm_params into the request when it lacks them
    # (_update_kwargs_with_default_litellm_params), before the deployment's are merged under
    fake.script_for("test/d", *[text("ok")] * 2)
    r = start_router(router_config(
        fake, [deployment("g", "test/d", fake, temperature=0.1, top_p=0.3)],
        router_settings={"default_litellm_params": {"temperature": 0.5, "max_tokens": 99}}))
    assert r.chat("g").status == 200
    body = sent(fake, "test/d")
    assert body["temperature"] == 0.5 and body["max_tokens"] == 99 and body["top_p"] == 0.3
    assert r.chat("g", temperature=0.9).status == 200
    assert sent(fake, "test/d")["temperature"] == 0.9


def test_reasoning_effort_becomes_anthropics_thinking_budget(fake, start_router):
    # translated per dialect: LiteLLM's DEFAULT_REASONING_EFFORT_*_THINKING_BUDGET
    from fakes.fake_anthropic import FakeAnthropic, text as claude_text
    from router_harness import UPSTREAM_ENV, UPSTREAM_KEY
    with FakeAnthropic(api_key=UPSTREAM_KEY) as claude:
        claude.script(claude_text("a"), claude_text("b"))
        entry = {"model_name": "claude", "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5", "api_base": claude.url,
            "api_key": f"os.environ/{UPSTREAM_ENV}", "reasoning_effort": "medium",
            "max_tokens": 3000}}
        r = start_router(router_config(fake, [entry]))
        assert r.chat("claude").status == 200
        assert claude.message_requests[0]["body"]["thinking"] == {
            "type": "enabled", "budget_tokens": 2048}
        assert claude.message_requests[0]["body"]["max_tokens"] == 3000
        # a request's own thinking wins over the deployment's reasoning_effort
        own = {"type": "enabled", "budget_tokens": 1500}
        assert r.chat("claude", thinking=own).status == 200
        assert claude.message_requests[1]["body"]["thinking"] == own
