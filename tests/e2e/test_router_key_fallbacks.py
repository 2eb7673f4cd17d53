"""A key limited to some models never reaches another through a fallback: the request's own
`fallbacks`, litellm_settings.fallbacks, context_window_fallbacks, content_policy_fallbacks and
default_fallbacks skip every model group the key may not use; when none is left, the original
error stands. Allowed fallbacks still work, and unrestricted keys are unaffected."""
import pytest

from fakes.fake_openai import content_policy, context_length_exceeded, text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    MASTER_ENV, MASTER_KEY, deployment, fake, router_config, start_router, upstream_models,
)

SMALL_KEY = "sk-e2e-small-only-SECRET-5c6d"
SMALL_MEDIUM_KEY = "sk-e2e-small-medium-SECRET-8e9f"
ENV = {MASTER_ENV: MASTER_KEY, "E2E_SMALL_KEY": SMALL_KEY, "E2E_SM_KEY": SMALL_MEDIUM_KEY}


def config(fake, **litellm_settings):
    models = [deployment(n, f"test/{n}", fake) for n in ("small", "medium", "expensive")]
    return router_config(
        fake, models,
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_SMALL_KEY", "alias": "small-only", "models": ["small"]},
              {"key": "os.environ/E2E_SM_KEY", "alias": "small-medium",
               "models": ["small", "medium"]}],
        litellm_settings=litellm_settings)


def script(fake, first_error):
    fake.script_for("test/small", first_error)
    fake.script_for("test/medium", text("from medium"))
    fake.script_for("test/expensive", text("from expensive"))


def assert_context_error_stands(reply, fake):
    assert reply.status == 400, reply.text
    assert reply.error()["type"] == "context_length_exceeded", reply.text
    assert upstream_models(fake) == ["test/small"]


def test_request_fallbacks_skip_models_the_key_may_not_use(fake, start_router):
    script(fake, context_length_exceeded())
    r = start_router(config(fake), env=ENV)
    reply = r.chat("small", key=SMALL_KEY, fallbacks=["expensive"])
    assert_context_error_stands(reply, fake)


@pytest.mark.parametrize("setting", ["fallbacks", "context_window_fallbacks"])
def test_config_fallbacks_skip_models_the_key_may_not_use(fake, start_router, setting):
    script(fake, context_length_exceeded())
    r = start_router(config(fake, **{setting: [{"small": ["expensive"]}],
                                     "default_fallbacks": ["expensive"]}), env=ENV)
    reply = r.chat("small", key=SMALL_KEY)
    assert_context_error_stands(reply, fake)


def test_content_policy_fallbacks_skip_models_the_key_may_not_use(fake, start_router):
    script(fake, content_policy())
    r = start_router(config(fake, content_policy_fallbacks=[{"small": ["expensive"]}]), env=ENV)
    reply = r.chat("small", key=SMALL_KEY)
    assert reply.status == 400 and reply.error()["type"] == "content_policy_violation", \
        reply.text
    assert upstream_models(fake) == ["test/small"]


def test_an_allowed_fallback_after_a_disallowed_one_answers(fake, start_router):
    script(fake, context_length_exceeded())
    r = start_router(config(fake, context_window_fallbacks=[{"small": ["expensive", "medium"]}]),
                     env=ENV)
    reply = r.chat("small", key=SMALL_MEDIUM_KEY)
    assert reply.status == 200 and reply.content() == "from medium", reply.text
    assert reply.headers.get("x-litellm-model-group") == "medium"
    assert upstream_models(fake) == ["test/small", "test/medium"]


def test_unrestricted_callers_still_fall_back(fake, start_router):
    script(fake, context_length_exceeded())
    r = start_router(config(fake), env=ENV)
    reply = r.chat("small", key=MASTER_KEY, fallbacks=["expensive"])
    assert reply.status == 200 and reply.content() == "from expensive", reply.text
    assert upstream_models(fake) == ["test/small", "test/expensive"]
