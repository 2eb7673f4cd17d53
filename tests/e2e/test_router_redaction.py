"""Redaction of router clients' calls in a redacting lane (docs/security.md, "Lanes").

A key pinned to a lane with `redact: [email]` (or `metadata.lane`) has every text member of its
chat completions request redacted before the upstream sees it, a member the router cannot read
refused with a 400 naming it, and `metadata` never forwarded (in a lane or not). The answer comes
back restored, also when a stream carries many parallel tool calls in several choices. Every
test asserts on what the fake upstream received.
"""
import json

from fakes.fake_openai import FakeOpenAI, raw, text
from router_harness import (  # noqa: F401 (fake and start_router are fixtures)
    MASTER_ENV, MASTER_KEY, UPSTREAM_KEY, deployment, fake, router_config, start_router,
    upstream_models,
)

CLINIC_KEY = "sk-e2e-clinic-redact-SECRET-5c1d"
ENV = {MASTER_ENV: MASTER_KEY, "E2E_CLINIC_KEY": CLINIC_KEY}
ADA = "ada@example.com"


def cfg(fake):
    return router_config(
        fake, [deployment("private", "test/private", fake), deployment("cheap", "test/cheap", fake)],
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_CLINIC_KEY", "alias": "clinic"}],
        lanes={"deid": {"models": ["private"], "keys": ["clinic"], "redact": ["email"]}})


def user(content="Who is it?"):
    return {"role": "user", "content": content}


def test_legacy_function_call_prediction_and_refusal_go_out_redacted(fake, start_router):
    fake.script_for("test/private", text("ok [EMAIL_1]"), text("ok"), text("ok"), text("ok"))
    r = start_router(cfg(fake), env=ENV)
    bodies = [
        {"messages": [user(), {"role": "assistant", "content": None, "function_call": {
            "name": "lookup", "arguments": json.dumps({"who": ADA})}},
            {"role": "function", "name": "lookup", "content": "found"}]},
        {"messages": [user()], "prediction": {"type": "content", "content": f"Dear {ADA},"}},
        {"messages": [user()], "prediction": {"type": "content", "content": [
            {"type": "text", "text": f"Dear {ADA},"}]}},
        {"messages": [user(), {"role": "assistant", "content": None,
                               "refusal": f"I cannot write to {ADA}."}, user("Why?")]},
    ]
    for i, extra in enumerate(bodies):
        reply = r.post("/v1/chat/completions", {"model": "private", **extra}, key=CLINIC_KEY)
        assert reply.status == 200, reply.text
        if i == 0:
            assert reply.content() == f"ok {ADA}", "the answer's placeholder is restored"
    sent = [q["raw"] for q in fake.chat_requests]
    assert len(sent) == 4
    for raw_body in sent:
        assert ADA not in raw_body, raw_body
        assert "[EMAIL_1]" in raw_body, raw_body
    assert json.loads(fake.chat_requests[0]["body"]["messages"][1]["function_call"]["arguments"]) \
        == {"who": "[EMAIL_1]"}
    assert fake.chat_requests[1]["body"]["prediction"]["content"] == "Dear [EMAIL_1],"
    assert fake.chat_requests[3]["body"]["messages"][1]["refusal"] == "I cannot write to [EMAIL_1]."


def test_metadata_never_reaches_the_upstream(fake, start_router):
    fake.script_for("test/private", text("ok"))
    fake.script_for("test/cheap", text("ok"))
    r = start_router(cfg(fake), env=ENV)
    # In the redacting lane (raised by metadata.lane itself): metadata is not sent, not even
    # redacted.
    reply = r.chat("private", key=MASTER_KEY, metadata={"lane": "deid", "note": f"for {ADA}"})
    assert reply.status == 200, reply.text
    # In no lane, metadata is the router's (LiteLLM's) too.
    reply = r.chat("cheap", key=MASTER_KEY, metadata={"tags": ["x"], "note": f"for {ADA}"})
    assert reply.status == 200, reply.text
    assert len(fake.chat_requests) == 2
    for q in fake.chat_requests:
        assert "metadata" not in q["body"] and ADA not in q["raw"], q["raw"]


def test_a_member_the_router_cannot_redact_is_refused_naming_it(fake, start_router):
    r = start_router(cfg(fake), env=ENV)
    cases = [
        ({"messages": [user(), {"role": "assistant", "content": "x",
                                "thinking_blocks": [{"thinking": ADA}]}]},
         "messages[1].thinking_blocks"),
        ({"messages": [user()], "extra_body": {"note": ADA}}, "extra_body"),
        ({"messages": [user(), {"role": "tool", "tool_call_id": ADA, "content": "x"}]},
         "messages[1].tool_call_id"),
    ]
    for extra, param in cases:
        reply = r.post("/v1/chat/completions", {"model": "private", **extra}, key=CLINIC_KEY)
        assert reply.status == 400, reply.text
        err = reply.error()
        assert err["param"] == param, err
        assert "lane 'deid'" in err["message"] and "nothing was sent" in err["message"], err
    assert fake.chat_requests == []


def sse(events):
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def test_forty_parallel_streamed_tool_calls_in_two_choices_are_all_restored(fake, start_router):
    """Each call's arguments are "{"to": "[EMAIL_1]"}" cut in 3-byte pieces (every placeholder
    split across chunks), the two choices' pieces interleaved: more held texts at once than any
    fixed table of 16."""
    n_calls, base = 40, {"id": "gen-40", "object": "chat.completion.chunk", "created": 1,
                         "model": "test/private"}
    args = json.dumps({"to": "[EMAIL_1]"})
    pieces = [args[i:i + 3] for i in range(0, len(args), 3)]
    events = [{**base, "choices": [{"index": c, "delta": {"role": "assistant", "tool_calls": [
        {"index": t, "id": f"call_{c}_{t}", "type": "function",
         "function": {"name": "send", "arguments": ""}} for t in range(n_calls)]},
        "finish_reason": None} for c in range(2)]}]
    for p in pieces:
        events.append({**base, "choices": [{"index": c, "delta": {"tool_calls": [
            {"index": t, "function": {"arguments": p}} for t in range(n_calls)]},
            "finish_reason": None} for c in range(2)]})
    events.append({**base, "choices": [{"index": c, "delta": {}, "finish_reason": "tool_calls"}
                                       for c in range(2)]})
    fake.script_for("test/private", raw(200, sse(events),
                                        headers={"Content-Type": "text/event-stream"}))
    r = start_router(cfg(fake), env=ENV)
    reply = r.chat("private", key=CLINIC_KEY, content=f"mail {ADA}", stream=True, n=2)
    assert reply.status == 200 and reply.done(), reply.text
    assert "[EMAIL" not in reply.text
    got = {}
    for e in reply.events():
        for ch in e.get("choices") or []:
            for tc in (ch.get("delta") or {}).get("tool_calls") or []:
                key = (ch["index"], tc["index"])
                got[key] = got.get(key, "") + ((tc.get("function") or {}).get("arguments") or "")
    assert len(got) == 2 * n_calls
    for key, text_ in got.items():
        assert json.loads(text_) == {"to": ADA}, (key, text_)
    assert ADA not in fake.chat_requests[0]["raw"]


def test_a_refusal_and_a_legacy_function_call_come_back_restored(fake, start_router):
    """Whole and streamed (each placeholder split across chunks), the answer's refusal and
    function_call arguments are restored like its content."""
    base = {"id": "gen-r", "object": "chat.completion.chunk", "created": 1,
            "model": "test/private"}
    refusal, args = "I will not mail [EMAIL_1].", json.dumps({"to": "[EMAIL_1]"})
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"},
                                    "finish_reason": None}]}]
    events += [{**base, "choices": [{"index": 0, "delta": {"refusal": refusal[i:i + 4]},
                                     "finish_reason": None}]} for i in range(0, len(refusal), 4)]
    events.append({**base, "choices": [{"index": 0, "delta": {"function_call": {
        "name": "send", "arguments": ""}}, "finish_reason": None}]})
    events += [{**base, "choices": [{"index": 0, "delta": {"function_call": {
        "arguments": args[i:i + 4]}}, "finish_reason": None}]} for i in range(0, len(args), 4)]
    events.append({**base, "choices": [{"index": 0, "delta": {},
                                        "finish_reason": "function_call"}]})
    whole = {"id": "gen-w", "object": "chat.completion", "created": 1, "model": "test/private",
             "choices": [{"index": 0, "finish_reason": "function_call", "message": {
                 "role": "assistant", "content": None, "refusal": refusal,
                 "function_call": {"name": "send", "arguments": args}}}],
             "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
    fake.script_for("test/private",
                    raw(200, json.dumps(whole), headers={"Content-Type": "application/json"}),
                    raw(200, sse(events), headers={"Content-Type": "text/event-stream"}))
    r = start_router(cfg(fake), env=ENV)
    reply = r.chat("private", key=CLINIC_KEY, content=f"mail {ADA}")
    assert reply.status == 200, reply.text
    msg = reply.json()["choices"][0]["message"]
    assert msg["refusal"] == f"I will not mail {ADA}."
    assert json.loads(msg["function_call"]["arguments"]) == {"to": ADA}
    reply = r.chat("private", key=CLINIC_KEY, content=f"mail {ADA}", stream=True)
    assert reply.status == 200 and reply.done(), reply.text
    assert "[EMAIL" not in reply.text, reply.text
    deltas = [c.get("delta") or {} for e in reply.events() for c in e.get("choices") or []]
    assert "".join(d.get("refusal") or "" for d in deltas) == f"I will not mail {ADA}."
    got = "".join((d.get("function_call") or {}).get("arguments") or "" for d in deltas)
    assert json.loads(got) == {"to": ADA}
    assert all(ADA not in q["raw"] for q in fake.chat_requests)
