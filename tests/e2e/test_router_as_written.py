"""A request the router does not change goes to an OpenAI-shaped upstream as the client wrote
it, with only the model's value replaced (docs/router.md, "What goes upstream"); any change the
router makes (a member it drops, adds or rewrites) goes out in the printed tree instead, and
text that cJSON does not read as written (a \\u0000 escape) is never sent as it is. Each test
asserts on the bytes the fake upstream received.
"""
import json

import pytest

from fakes.fake_openai import text
from router_harness import (  # noqa: F401 (fake and start_router are fixtures)
    MASTER_ENV, MASTER_KEY, UPSTREAM_ENV, fake, router_config, start_router,
)

CLINIC_KEY = "sk-e2e-clinic-as-written-SECRET-9e2a"
ENV = {MASTER_ENV: MASTER_KEY, "E2E_CLINIC_KEY": CLINIC_KEY}


def openai_deployment(name, model_id, fake, **params):
    """An OpenAI-compatible deployment (the OpenRouter ones of router_harness add usage.include
    to every chat request, so they always print)."""
    return {"model_name": name, "litellm_params": {
        "model": f"openai/{model_id}", "api_base": fake.url,
        "api_key": f"os.environ/{UPSTREAM_ENV}", **params}}


def last_raw(fake):
    return fake.chat_requests[-1]["raw"]


# Whitespace, member order, escapes and number spellings a client may use: all kept.
WRITTEN = ('{ "messages" : [ {"role":"user", "content":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\/"} ],\n'
           '\t"model" :  "g", "temperature": 0.70, "max_tokens": 20,\r\n'
           ' "seed": 12345678901234567890, "x_vendor": {"a": [1, 2.50, true, null]} }')


def test_an_unchanged_request_goes_out_byte_for_byte_but_its_model(fake, start_router):
    fake.script_for("test/d", text("ok"))
    r = start_router(router_config(fake, [openai_deployment("g", "test/d", fake)]))
    reply = r.post("/v1/chat/completions", raw=WRITTEN.encode())
    assert reply.status == 200, reply.text
    assert last_raw(fake) == WRITTEN.replace('"model" :  "g"', '"model" :  "test/d"')


# One change the router makes to the request each, on a body that needs no other: the change
# reaches the upstream (the body is the printed tree, so the client's spacing is gone).
CHANGES = {
    "metadata is dropped": ({"metadata": {"ticket": "7"}}, {},
                            lambda b: "metadata" not in b),
    "fallbacks are dropped": ({"fallbacks": ["g"]}, {}, lambda b: "fallbacks" not in b),
    "priority is dropped": ({"priority": 1}, {}, lambda b: "priority" not in b),
    "a null max_tokens is dropped and clamped": (
        {"max_tokens": None}, {}, lambda b: b["max_tokens"] == 4096),
    "max_tokens is clamped": ({"max_tokens": 100000}, {}, lambda b: b["max_tokens"] == 4096),
    "a missing max_tokens gets the default": ({"max_tokens": "absent"}, {},
                                              lambda b: b["max_tokens"] == 4096),
    "deployment params are added": ({}, {"temperature": 0.25},
                                    lambda b: b["temperature"] == 0.25),
    "the deployment's max_tokens is added": ({"max_tokens": "absent"}, {"max_tokens": 33},
                                            lambda b: b["max_tokens"] == 33),
    "extra_body is flattened": ({"extra_body": {"top_k": 5}}, {},
                                lambda b: b["top_k"] == 5 and "extra_body" not in b),
    "prompt-cache marks are stripped": (
        {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]}, {},
        lambda b: b["messages"][0]["content"] == "hi"),
    "a stream asks for usage": ({"stream": True}, {},
                                lambda b: b["stream_options"] == {"include_usage": True}),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_each_change_the_router_makes_reaches_the_upstream(fake, start_router, name):
    extra, params, holds = CHANGES[name]
    fake.script_for("test/d", text("ok"))
    r = start_router(router_config(fake, [openai_deployment("g", "test/d", fake, **params)]))
    body = {"model": "g", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20,
            **extra}
    if body["max_tokens"] == "absent":
        del body["max_tokens"]
    written = json.dumps(body, indent=1)
    reply = r.post("/v1/chat/completions", raw=written.encode())
    assert reply.status == 200, reply.text
    raw = last_raw(fake)
    sent = json.loads(raw)
    assert holds(sent), sent
    assert sent["model"] == "test/d"
    assert "\n" not in raw, "a changed request goes out printed, not as written"


def test_a_nul_escape_is_never_sent_as_written_from_a_redacting_lane(fake, start_router):
    """cJSON ends a string at \\u0000: the lane's detectors see "hi", and what follows the
    escape must not reach the upstream in the client's text."""
    fake.script_for("test/d", text("ok"))
    cfg = router_config(
        fake, [openai_deployment("g", "test/d", fake)],
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_CLINIC_KEY", "alias": "clinic"}],
        lanes={"deid": {"models": ["g"], "keys": ["clinic"], "redact": ["email"]}})
    r = start_router(cfg, env=ENV)
    written = ('{"model": "g", "max_tokens": 20, "messages": [{"role": "user", '
               '"content": "hi\\u0000 write to ada@example.com"}]}')
    reply = r.post("/v1/chat/completions", raw=written.encode(), key=CLINIC_KEY)
    assert reply.status == 200, reply.text
    raw = last_raw(fake)
    assert "example.com" not in raw and "\\u0000" not in raw, raw
    assert json.loads(raw)["messages"][0]["content"] == "hi"
