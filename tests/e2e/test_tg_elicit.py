"""Questions from MCP servers in Telegram: a server that asks (elicitation) during a turn's
tool call gets its form asked in the chat, one field at a time (buttons for booleans and short
choices, a typed reply for numbers and text), and exactly the owner's answers reach it; Decline
and no answer (cancel) reach it too; a link (url mode) is a message with Done; in a lane with
review_outbound the answer is shown before it goes. The server is tests/peers/elicit_server.cjs
(the pinned SDK), whose tools answer with what reached them."""
import http.client
import json
import subprocess
import time
import urllib.request

import pytest

from agent_harness import agent_config, fake, tool_results  # noqa: F401
from conftest import SLOW, argv, clean_env
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import callback_data_of
from mcp_harness import NODE, PEERS_DIR, peers  # noqa: F401
from tg_harness import gateways, telegram_section, tg, wait_for  # noqa: F401

ALLOWED = 1001
PASSWORD = "a long cockpit passphrase"


@pytest.fixture
def bot(fake, tg, peers, gateways):
    def make(timeout_s=300, **extra):
        tele = telegram_section(tg, ALLOWED)
        server = {"command": NODE, "args": [str(PEERS_DIR / "elicit_server.cjs"),
                                            str(peers.prefix)],
                  "timeout": 10 * SLOW, "connect_timeout": 20 * SLOW}
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele,
                           approvals={"timeout_s": timeout_s},
                           mcp_servers={"asker": server}, **extra)
        return gateways.start(cfg, wait_tool="mcp_asker_book_table")

    return make


def question(tg, n):
    """The n-th question message (with buttons, or closed with →), as it is now."""
    def found():
        qs = [m for m in tg.messages(ALLOWED) if m.get("reply_markup") or "→" in m["text"]]
        return qs[n - 1] if len(qs) >= n else None
    wait_for(found, 30 * SLOW, f"question {n}")
    return found()


def buttons(q):
    return [b["text"] for row in q["reply_markup"]["inline_keyboard"] for b in row]


def press(tg, q, label):
    data = callback_data_of(q["reply_markup"])
    tg.press(ALLOWED, q["message_id"], data[buttons(q).index(label)], user_id=ALLOWED)


def closed(tg, q):
    """The question's message once it lost its buttons: its text."""
    def now():
        m = next(m for m in tg.messages(ALLOWED) if m["message_id"] == q["message_id"])
        return None if m.get("reply_markup") else m["text"]
    wait_for(now, 30 * SLOW, "the question to close")
    return now()


def server_got(fake, tg, reply):
    """What reached the server: its tool's result, as the model got it."""
    wait_for(lambda: reply in tg.sent(ALLOWED), 60 * SLOW, "the turn's answer")
    return json.loads(tool_results(fake.chat_requests[-1])[-1])


def test_a_form_is_asked_field_by_field_and_the_answers_reach_the_server(bot, tg, fake):
    fake.script_for("test/free", tool_calls(("c1", "mcp_asker_book_table", "{}")),
                    text("Booked."))
    bot()
    tg.push_text("book a table for tonight", chat_id=ALLOWED)
    q = question(tg, 1)  # guests: an integer, typed
    assert "MCP server asker asks (1 of 5)" in q["text"] and "Guests" in q["text"]
    assert "Reply with a whole number from 1 to 12" in q["text"]
    assert buttons(q) == ["Decline"]
    tg.push_text("13", chat_id=ALLOWED)  # out of range: asked again with why
    assert closed(tg, q).endswith("→ Not taken: guests: 13 is above the maximum 12")
    q = question(tg, 2)
    assert "not taken: guests: 13 is above the maximum 12" in q["text"]
    tg.push_text("4", chat_id=ALLOWED)
    assert closed(tg, q).endswith("→ Answered: 4")
    q = question(tg, 3)  # time: a titled choice of two, as buttons
    assert buttons(q) == ["Early", "Late", "Decline"]
    press(tg, q, "Late")
    q = question(tg, 4)  # outside: a boolean, optional
    assert buttons(q) == ["Yes", "No", "Skip", "Decline"]
    press(tg, q, "Yes")
    q = question(tg, 5)  # note: optional text
    press(tg, q, "Skip")
    q = question(tg, 6)  # name: its default as a button
    assert buttons(q) == ['Default: "Ada"', "Decline"]
    press(tg, q, 'Default: "Ada"')
    assert server_got(fake, tg, "Booked.") == {"action": "accept", "content": {
        "guests": 4, "time": "20:00", "outside": True, "name": "Ada"}}


def test_decline_reaches_the_server(bot, tg, fake):
    fake.script_for("test/free", tool_calls(("c1", "mcp_asker_book_table", "{}")),
                    text("Not booked."))
    bot()
    tg.push_text("book a table", chat_id=ALLOWED)
    q = question(tg, 1)
    press(tg, q, "Decline")
    assert closed(tg, q).endswith("→ Declined")
    assert server_got(fake, tg, "Not booked.") == {"action": "decline"}


def test_no_answer_cancels(bot, tg, fake):
    fake.script_for("test/free", tool_calls(("c1", "mcp_asker_defaults", "{}")),
                    text("Nobody answered."))
    bot(timeout_s=10)  # the least approvals.timeout_s takes
    tg.push_text("fill the form", chat_id=ALLOWED)
    q = question(tg, 1)
    assert closed(tg, q).endswith("→ No answer in 10 s: cancelled")
    assert server_got(fake, tg, "Nobody answered.") == {"action": "cancel"}


def test_a_link_is_a_message_with_done(bot, tg, fake):
    fake.script_for("test/free", tool_calls(("c1", "mcp_asker_pay", "{}")), text("Paid."))
    bot()
    tg.push_text("pay the bill", chat_id=ALLOWED)
    q = question(tg, 1)
    assert "https://pay.example/confirm/42" in q["text"]
    assert buttons(q) == ["Done", "Decline"]
    press(tg, q, "Done")
    assert server_got(fake, tg, "Paid.") == {"action": "accept"}


def test_a_lane_with_review_outbound_shows_the_answer_before_it_goes(bot, tg, fake):
    fake.script_for("test/free", tool_calls(("c1", "mcp_asker_defaults", "{}")),
                    text("Sent."))
    bot(lanes={"private": {"models": ["free"], "chats": [str(ALLOWED)],
                           "review_outbound": True}})
    tg.push_text("fill the form", chat_id=ALLOWED)
    for n in range(1, 6):  # five fields, each with a default
        q = question(tg, n)
        press(tg, q, next(b for b in buttons(q) if b.startswith("Default")))
    q = question(tg, 6)
    assert "Send this answer to MCP server asker?" in q["text"]
    assert 'name: "John Doe"' in q["text"] and "score: 95.5" in q["text"]
    assert buttons(q) == ["Send", "Decline"]
    time.sleep(0.5 * SLOW)
    assert "Sent." not in tg.sent(ALLOWED)  # nothing went before Send
    press(tg, q, "Send")
    assert server_got(fake, tg, "Sent.")["action"] == "accept"


def cockpit_post(g, cookie, csrf, body):
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30 * SLOW)
    try:
        c.request("POST", "/v1/ui/approvals/answer", json.dumps(body),
                  {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        c.close()


def cockpit_login(g):
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30 * SLOW)
    try:
        c.request("POST", "/v1/ui/login", json.dumps({"password": PASSWORD}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200
        return r.getheader("Set-Cookie").split(";")[0], json.loads(r.read())["csrf"]
    finally:
        c.close()


def cockpit_questions(g, cookie):
    req = urllib.request.Request(g.url + "/v1/ui/approvals", headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
        return json.loads(r.read())["questions"]


def test_the_cockpit_shows_the_same_question_and_answers_it_typed_or_by_button(bot, tg, fake):
    hashed = subprocess.run(argv("ui", "hash-password"), input=PASSWORD + "\n",
                            capture_output=True, text=True, env=clean_env(), timeout=60 * SLOW)
    fake.script_for("test/free", tool_calls(("c1", "mcp_asker_book_table", "{}")),
                    text("Booked from the cockpit."))
    g = bot(ui={"password_hash": hashed.stdout.strip()})
    cookie, csrf = cockpit_login(g)
    tg.push_text("book a table", chat_id=ALLOWED)
    answers = ["3", 0, 1, "terrace", "Bob"]  # guests typed, Early, No, note typed, name typed
    for n, a in enumerate(answers, 1):
        q = question(tg, n)
        listed = [x for x in cockpit_questions(g, cookie) if x["text"] in "❓ " + q["text"]]
        assert len(listed) == 1, (n, q["text"], [x["text"] for x in cockpit_questions(g, cookie)])
        x = listed[0]
        assert x["kind"] == "elicit" and x["source"] == f"telegram:{ALLOWED}"
        assert x["choices"] == buttons(q)
        assert x["typed"] == isinstance(a, str)
        body = {"id": x["id"], "text": a} if isinstance(a, str) else {"id": x["id"], "choice": a}
        assert cockpit_post(g, cookie, csrf, body) == (200, {"answered": True})
        closed(tg, q)  # Telegram's message closes too
    assert server_got(fake, tg, "Booked from the cockpit.") == {"action": "accept", "content": {
        "guests": 3, "time": "18:00", "outside": False, "note": "terrace", "name": "Bob"}}


def test_a_question_from_a_call_of_no_turn_is_declined(bot, tg):
    """POST /v1/tools/call has no chat to ask: the server hears decline at once."""
    g = bot()
    req = urllib.request.Request(g.url + "/v1/tools/call", method="POST",
                                 data=json.dumps({"name": "mcp_asker_defaults"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
        body = json.loads(r.read())
    assert json.loads(body["content"]) == {"action": "decline"} and not body["is_error"]
    assert not [m for m in tg.messages(ALLOWED) if m.get("reply_markup")]
