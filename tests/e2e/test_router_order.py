"""`litellm_params.order` as LiteLLM's Router uses it (issue 49): only the deployments with the
lowest order that are not cooling down take calls (_get_order_filtered_deployments); when the
call fails there, after its retries, the next order of the same group is tried within the same
request (LiteLLM's order fallback, `_target_order`), even with num_retries: 0, and before the
group's own fallbacks."""
from fakes.fake_openai import error, text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    count_calls, deployment, fake, router_config, start_router,
)


def test_the_lowest_order_takes_every_call(fake, start_router):
    fake.script_for("test/primary", *[text("p")] * 10)
    fake.script_for("test/standby", text("must not be reached"))
    models = [deployment("g", "test/standby", fake, order=2),
              deployment("g", "test/primary", fake, order=1)]
    r = start_router(router_config(fake, models))
    for _ in range(10):
        reply = r.chat("g")
        assert reply.status == 200, reply.text
    assert count_calls(fake, "test/primary") == 10
    assert count_calls(fake, "test/standby") == 0


def test_a_failure_at_one_order_tries_the_next_in_the_same_call(fake, start_router):
    # num_retries is 0 (router_config's default): LiteLLM still tries order 2, then order 3
    fake.script_for("test/first", error(500, "down"))
    fake.script_for("test/second", error(503, "also down"))
    fake.script_for("test/third", text("from order 3"))
    fake.script_for("test/other", text("the fallback group must not be reached"))
    models = [deployment("g", "test/third", fake, order=3),
              deployment("g", "test/first", fake, order=1),
              deployment("g", "test/second", fake, order=2),
              deployment("other", "test/other", fake)]
    r = start_router(router_config(fake, models,
                                   router_settings={"fallbacks": [{"g": ["other"]}]}))
    reply = r.chat("g")
    assert reply.status == 200, reply.text
    assert reply.content() == "from order 3"
    assert [count_calls(fake, m) for m in ("test/first", "test/second", "test/third",
                                           "test/other")] == [1, 1, 1, 0]


def test_every_order_failing_goes_on_to_the_fallbacks(fake, start_router):
    fake.script_for("test/first", error(500, "down"))
    fake.script_for("test/second", error(500, "down"))
    fake.script_for("test/other", text("fallback"))
    models = [deployment("g", "test/first", fake, order=1),
              deployment("g", "test/second", fake, order=2),
              deployment("other", "test/other", fake)]
    r = start_router(router_config(fake, models,
                                   router_settings={"fallbacks": [{"g": ["other"]}]}))
    reply = r.chat("g")
    assert reply.status == 200, reply.text
    assert reply.content() == "fallback"
    assert [count_calls(fake, m) for m in ("test/first", "test/second", "test/other")] == \
        [1, 1, 1]


def test_a_bad_request_does_not_move_to_the_next_order(fake, start_router):
    fake.script_for("test/first", error(400, "bad request"))
    fake.script_for("test/second", text("must not be reached"))
    models = [deployment("g", "test/first", fake, order=1),
              deployment("g", "test/second", fake, order=2)]
    r = start_router(router_config(fake, models))
    reply = r.chat("g")
    assert reply.status == 400, reply.text
    assert count_calls(fake, "test/second") == 0


def test_order_one_cooling_down_sends_to_order_two(fake, start_router):
    fake.script_for("test/first", error(500, "down"))
    fake.script_for("test/second", *[text("2")] * 4)
    models = [deployment("g", "test/first", fake, order=1),
              deployment("g", "test/second", fake, order=2)]
    r = start_router(router_config(fake, models, router_settings={
        "allowed_fails": 0, "cooldown_time": 60}))
    for _ in range(4):
        reply = r.chat("g")
        assert reply.status == 200, reply.text
    assert count_calls(fake, "test/first") == 1
    assert count_calls(fake, "test/second") == 4
