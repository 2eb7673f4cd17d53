"""`guardrails.max_tokens` holds whatever the client sends (issue 14, item 7): both
`max_tokens` and `max_completion_tokens` are clamped, `null` is treated as absent (so the clamp
applies), and a value of the wrong type is refused with OpenAI's 400 naming the field, before
anything reaches the upstream."""
import pytest

from fakes.fake_openai import text
from router_harness import fake, router_config, start_router  # noqa: F401 (fixtures)

CLAMP = 64


def clamped_router(fake, start_router):
    fake.script_for("test/free", *[text("ok") for _ in range(8)])
    return start_router(router_config(fake, guardrails={"max_tokens": CLAMP}))


def sent_body(fake):
    return fake.chat_requests[-1]["body"]


@pytest.mark.parametrize("fields", [
    {"max_tokens": None},
    {"max_completion_tokens": None},
    {"max_tokens": 100000},
    {"max_completion_tokens": 100000},
    {"max_tokens": 10, "max_completion_tokens": 100000},
    {"max_tokens": 100000, "max_completion_tokens": None},
    {},
])
def test_what_reaches_upstream_never_exceeds_the_clamp(fake, start_router, fields):
    r = clamped_router(fake, start_router)
    reply = r.chat("free", **fields)
    assert reply.status == 200, reply.text
    sent = sent_body(fake)
    values = [sent[k] for k in ("max_tokens", "max_completion_tokens") if k in sent]
    assert values, f"no token cap sent: {sent}"
    assert all(isinstance(v, int) and 1 <= v <= CLAMP for v in values), sent
    if fields.get("max_tokens") == 10:
        assert sent["max_tokens"] == 10


@pytest.mark.parametrize("field,value,kind", [
    ("max_tokens", "100000", "a string"),
    ("max_tokens", True, "a boolean"),
    ("max_tokens", [100000], "an array"),
    ("max_completion_tokens", {"n": 1}, "an object"),
    ("max_completion_tokens", 12.5, "a decimal number"),
])
def test_a_token_cap_of_the_wrong_type_is_refused_in_openai_shape(fake, start_router, field,
                                                                   value, kind):
    r = clamped_router(fake, start_router)
    reply = r.chat("free", **{field: value})
    assert reply.status == 400, reply.text
    assert reply.json() == {"error": {
        "message": f"Invalid type for '{field}': expected an integer, but got {kind} instead.",
        "type": "invalid_request_error", "param": field, "code": "invalid_type"}}
    assert fake.chat_requests == []


def test_a_token_cap_below_one_is_refused(fake, start_router):
    r = clamped_router(fake, start_router)
    reply = r.chat("free", max_tokens=0)
    assert reply.status == 400, reply.text
    err = reply.json()["error"]
    assert err["param"] == "max_tokens" and err["code"] == "integer_below_min_value", err
    assert fake.chat_requests == []
