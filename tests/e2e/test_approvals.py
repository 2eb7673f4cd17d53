"""Approvals and ask_user in Telegram: an MCP tool whose annotations do not say read-only waits
for the human's Approve (buttons under one message with the whole call) and only then reaches
the MCP server; Deny and no answer never run it; "Always in this chat" stops asking; a
stranger's press is refused; a button from before a restart approves nothing; ask_user hands
the model the user's choice."""
import json
import time

import pytest

from agent_harness import agent_config, fake, tool_results  # noqa: F401
from conftest import SLOW
from fakes.fake_mcp import FakeMcp, tool
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import callback_data_of
from tg_harness import gateways, tg, telegram_section, wait_for  # noqa: F401

ALLOWED = 1001
STRANGER = 666

TOOLS = [
    tool("delete_pod", "echo", description="Delete a pod",
         annotations={"destructiveHint": True}),
    tool("list_pods", "echo", description="List pods", annotations={"readOnlyHint": True}),
    tool("label_pod", "echo", description="Label a pod"),  # no annotations: not read-only
]


@pytest.fixture
def mcp():
    with FakeMcp(tools=TOOLS) as m:
        yield m


@pytest.fixture
def bot(fake, tg, mcp, gateways):
    def make(timeout_s=300, **extra):
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"},
                           telegram=telegram_section(tg, ALLOWED),
                           approvals={"timeout_s": timeout_s},
                           mcp_servers={"k8s": {"url": mcp.url, "timeout": 10 * SLOW}},
                           **extra)
        return gateways.start(cfg, wait_tool="mcp_k8s_delete_pod")

    return make


def mcp_calls(mcp, name):
    return [r["body"]["params"].get("arguments") for r in mcp.requests
            if isinstance(r.get("body"), dict) and r["body"].get("method") == "tools/call"
            and r["body"]["params"].get("name") == name]


def question(tg, n=1):
    """The n-th message with buttons (as it is now) once it exists."""
    def found():
        qs = [m for m in tg.messages(ALLOWED) if m.get("reply_markup") or "→" in m["text"]]
        return qs[n - 1] if len(qs) >= n else None
    wait_for(found, 30 * SLOW, f"question {n}")
    return found()


def current(tg, message_id):
    return next(m for m in tg.messages(ALLOWED) if m["message_id"] == message_id)


def answers(tg):
    return [c["params"] for c in tg.calls("answerCallbackQuery")]


def test_a_destructive_mcp_tool_waits_for_approve_then_runs(bot, tg, mcp, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_k8s_list_pods", '{"message": "all"}')),
                    tool_calls(("c2", "mcp_k8s_delete_pod", '{"message": "web-7f9c"}')),
                    text("Deleted web-7f9c."))
    g = bot()
    tg.push_text("delete the broken web pod", chat_id=ALLOWED)
    q = question(tg)
    # The read-only tool ran without asking; the destructive one waits, whole call shown.
    assert mcp_calls(mcp, "list_pods") == [{"message": "all"}]
    assert "mcp_k8s_delete_pod" in q["text"] and "message: web-7f9c" in q["text"]
    data = callback_data_of(q["reply_markup"])
    labels = [b["text"] for row in q["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Approve", "Always in this chat", "Deny"]
    time.sleep(1 * SLOW)
    assert mcp_calls(mcp, "delete_pod") == []  # nothing runs before the yes
    tg.press(ALLOWED, q["message_id"], data[0], user_id=ALLOWED)
    wait_for(lambda: "Deleted web-7f9c." in tg.sent(ALLOWED), 30 * SLOW, "the answer")
    assert mcp_calls(mcp, "delete_pod") == [{"message": "web-7f9c"}]
    closed = current(tg, q["message_id"])
    assert closed["text"].endswith("→ Approved") and not closed.get("reply_markup")
    assert answers(tg) and tg.unanswered_callbacks() == []
    assert "fake echo: web-7f9c" in tool_results(fake.chat_requests[-1])[-1]
    # The audit trail keeps the decision with the call (and no argument).
    trail = (g.home / "logs" / "audit.jsonl").read_text()
    tools = [json.loads(x) for x in trail.splitlines() if '"kind":"tool"' in x]
    assert [(x["tool"], x.get("approval")) for x in tools] == [
        ("mcp_k8s_list_pods", None), ("mcp_k8s_delete_pod", "Approved")]
    assert tools[1]["source"] == f"telegram:{ALLOWED}" and "web-7f9c" not in trail


def test_deny_and_no_answer_never_run_the_tool(bot, tg, mcp, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_k8s_delete_pod", '{"message": "db-0"}')),
                    text("OK, I left it."),
                    tool_calls(("c2", "mcp_k8s_label_pod", '{"message": "x"}')),
                    text("Nobody answered."))
    bot(timeout_s=10)
    tg.push_text("delete db-0", chat_id=ALLOWED)
    q = question(tg)
    tg.press(ALLOWED, q["message_id"], callback_data_of(q["reply_markup"])[2], user_id=ALLOWED)
    wait_for(lambda: "OK, I left it." in tg.sent(ALLOWED), 30 * SLOW, "the answer after Deny")
    assert "denied" in tool_results(fake.chat_requests[1])[-1]
    assert current(tg, q["message_id"])["text"].endswith("→ Denied")
    # An unannotated tool asks too; nobody answers in approvals.timeout_s (10 s): no.
    tg.push_text("label it", chat_id=ALLOWED)
    q2 = question(tg, 2)
    assert "mcp_k8s_label_pod" in q2["text"]
    wait_for(lambda: "Nobody answered." in tg.sent(ALLOWED), 40 * SLOW, "the timeout")
    assert "no answer in time" in tool_results(fake.chat_requests[3])[-1]
    assert current(tg, q2["message_id"])["text"].endswith("→ No answer in 10 s: denied")
    assert not current(tg, q2["message_id"]).get("reply_markup")
    assert mcp_calls(mcp, "delete_pod") == [] and mcp_calls(mcp, "label_pod") == []


def test_always_in_this_chat_stops_asking_for_that_tool(bot, tg, mcp, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_k8s_label_pod", '{"message": "a"}')), text("One."),
                    tool_calls(("c2", "mcp_k8s_label_pod", '{"message": "b"}')), text("Two."))
    bot()
    tg.push_text("label a", chat_id=ALLOWED)
    q = question(tg)
    tg.press(ALLOWED, q["message_id"], callback_data_of(q["reply_markup"])[1], user_id=ALLOWED)
    wait_for(lambda: "One." in tg.sent(ALLOWED), 30 * SLOW, "the first answer")
    tg.push_text("label b", chat_id=ALLOWED)
    wait_for(lambda: "Two." in tg.sent(ALLOWED), 30 * SLOW, "the second answer")
    assert mcp_calls(mcp, "label_pod") == [{"message": "a"}, {"message": "b"}]
    assert len([m for m in tg.messages(ALLOWED) if "→" in m["text"]]) == 1


def test_a_strangers_press_is_refused_and_a_restart_approves_nothing(bot, tg, mcp, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_k8s_delete_pod", '{"message": "db-0"}')),
                    tool_calls(("c1", "mcp_k8s_delete_pod", '{"message": "db-0"}')))
    g = bot()
    tg.push_text("delete db-0", chat_id=ALLOWED)
    q = question(tg)
    approve = callback_data_of(q["reply_markup"])[0]
    tg.press(ALLOWED, q["message_id"], approve, user_id=STRANGER)
    wait_for(lambda: len(answers(tg)) == 1, 10 * SLOW, "the answer to the stranger")
    assert answers(tg)[0]["text"] == "This is a private assistant."
    assert current(tg, q["message_id"]).get("reply_markup")  # still open for the owner
    # A restart while the question is out: the old button approves nothing.
    g.kill()
    g.start()
    tg.press(ALLOWED, q["message_id"], approve, user_id=ALLOWED)
    wait_for(lambda: len(answers(tg)) == 2, 20 * SLOW, "the answer to the old press")
    assert "expired" in answers(tg)[1]["text"]
    wait_for(lambda: current(tg, q["message_id"])["text"].endswith("Expired: ask again."),
             20 * SLOW, "the old question marked expired")
    time.sleep(1 * SLOW)
    assert mcp_calls(mcp, "delete_pod") == []
    assert tg.unanswered_callbacks() == []


def test_ask_user_hands_the_model_the_choice(bot, tg, mcp, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "ask_user",
                                '{"question": "Which one?", "choices": ["Tea", "Coffee"]}')),
                    text("Tea it is."))
    bot()
    tg.push_text("make me a drink", chat_id=ALLOWED)
    q = question(tg)
    assert q["text"] == "❓ Which one?"
    labels = [b["text"] for row in q["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Tea", "Coffee"]
    tg.press(ALLOWED, q["message_id"], callback_data_of(q["reply_markup"])[0], user_id=ALLOWED)
    wait_for(lambda: "Tea it is." in tg.sent(ALLOWED), 30 * SLOW, "the answer")
    assert tool_results(fake.chat_requests[-1])[-1] == "The user chose: Tea"
    assert current(tg, q["message_id"])["text"].endswith("→ Answered: Tea")


def test_a_call_too_long_for_a_message_is_sent_whole_as_a_document(bot, tg, mcp, fake):
    long_arg = "x" * 5000 + " the end"
    fake.script_for("test/free",
                    tool_calls(("c1", "mcp_k8s_delete_pod", '{"message": "%s"}' % long_arg)),
                    text("Deleted."))
    bot()
    tg.push_text("delete it", chat_id=ALLOWED)
    wait_for(lambda: tg.files_sent(ALLOWED), 30 * SLOW, "the question as a document")
    [doc] = tg.files_sent(ALLOWED)
    assert doc["method"].lower() == "senddocument"
    assert doc["data"].decode() == "mcp_k8s_delete_pod\nmessage: " + long_arg  # never cut
    assert "The whole call is in the file" in doc["caption"]
    q = question(tg)
    tg.press(ALLOWED, q["message_id"], callback_data_of(q["reply_markup"])[0], user_id=ALLOWED)
    wait_for(lambda: "Deleted." in tg.sent(ALLOWED), 30 * SLOW, "the answer")
    assert mcp_calls(mcp, "delete_pod") == [{"message": long_arg}]
    # The document's caption says how it ended and its buttons are gone.
    wait_for(lambda: current(tg, q["message_id"]).get("caption", "").endswith("→ Approved"),
             10 * SLOW, "the closed question")
    assert not current(tg, q["message_id"]).get("reply_markup")
