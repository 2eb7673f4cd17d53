"""Review before anything leaves (docs/security.md): from a lane with `review_outbound`, an
outbound action (here an MCP tool that is not read-only, and web_fetch) is a draft card in
Telegram and the cockpit, never a plain approval: it shows where it goes, the draft, what the
turn read, the sentences the draft step marked as inferred (highlighted) and where a skill's
never_invent items appear without a source. Approve sends the approved text exactly once
however often it is pressed; Edit takes the owner's next message as the draft; Reject and
expiry send nothing. Every decision is in the audit trail with the lane."""
import http.server
import json
import threading
import time

import pytest

from agent_harness import agent_config, fake, tool_results  # noqa: F401
from conftest import SLOW
from fakes.fake_mcp import FakeMcp, tool
from fakes.fake_openai import text, tool_calls
from fakes.fake_telegram import callback_data_of
from test_ui import cockpit, get_json, login, password_hash, request  # noqa: F401 (fixtures)
from test_ui_browser import browser_peers  # noqa: F401 (a fixture)
from tg_harness import gateways, offered, telegram_section, tg, wait_for  # noqa: F401

HOOK_TOKEN = "e2e-review-hook-SECRET-token"
ALLOWED = 1001
OUTSIDE = 2002  # a hook's deliver chat, not in the lane
DRAFT = "Ana agreed to lead the audit. The follow-up is due on 3 May."
INFERRED = "Ana agreed to lead the audit."
UNSOURCED = "The follow-up is due on 3 May."
MARKS = json.dumps({"inferred": [INFERRED, "A sentence that is not in the draft."],
                    "unsourced": [{"item": "due dates", "sentence": UNSOURCED},
                                  {"item": "owners", "sentence": INFERRED}]})
SKILL = ("---\nname: minutes\ndescription: Meeting notes to a CRM note.\nworkflow:\n"
         "  never_invent: [due dates]\n  review: none\n---\nWrite the note.\n")


@pytest.fixture
def mcp():
    with FakeMcp(tools=[tool("add_note", "echo", description="Add a note to the CRM"),
                        tool("find", "echo", description="Find",
                             annotations={"readOnlyHint": True})]) as m:
        yield m


@pytest.fixture
def bot(fake, tg, mcp, gateways):
    def make(expire_min=1440, lane=None, **extra):
        tele = telegram_section(tg, ALLOWED)
        lanes = {"private": {"models": ["free"], "chats": [str(ALLOWED)],
                             "review_outbound": True, "review_expire_min": expire_min,
                             **(lane or {})}}
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele,
                           mcp_servers={"crm": {"url": mcp.url, "timeout": 10 * SLOW}},
                           lanes=lanes, audit={"enabled": True}, **extra)
        g = gateways.start(cfg, env={"HOOK_TOKEN": HOOK_TOKEN})
        d = g.home / "skills" / "minutes"
        d.mkdir(parents=True, exist_ok=True)
        (d / "SKILL.md").write_text(SKILL)
        wait_for(lambda: "mcp_crm_add_note" in offered(g), 30 * SLOW, "the MCP tools")
        return g

    return make


def notes(mcp):
    return [r["body"]["params"].get("arguments") for r in mcp.requests
            if isinstance(r.get("body"), dict) and r["body"].get("method") == "tools/call"
            and r["body"]["params"].get("name") == "add_note"]


def cards(tg):
    return [m for m in tg.messages(ALLOWED) if "Draft for review" in m["text"]]


def card(tg, n=1):
    wait_for(lambda: len(cards(tg)) >= n, 30 * SLOW, f"draft card {n}")
    return cards(tg)[n - 1]


def current(tg, message_id):
    return next(m for m in tg.messages(ALLOWED) if m["message_id"] == message_id)


def answers(tg):
    return [c["params"] for c in tg.calls("answerCallbackQuery")]


def marked(msg):
    """The texts Telegram shows bold (the card's highlights are bold and underlined)."""
    t = msg["text"].encode("utf-16-le")
    return [t[e["offset"] * 2:(e["offset"] + e["length"]) * 2].decode("utf-16-le")
            for e in msg.get("entities", []) if e["type"] == "underline"]


def audit(g, kind):
    lines = (g.home / "logs" / "audit.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if f'"kind":"{kind}"' in x]


def script_note(fake, draft=DRAFT, marks=MARKS, then="Saved the note."):
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "minutes"}))),
                    tool_calls(("c2", "mcp_crm_add_note", json.dumps({"message": draft}))),
                    text(marks), text(then))


def test_approve_sends_the_approved_draft_exactly_once(bot, tg, mcp, fake):
    script_note(fake)
    g = bot()
    tg.push_text("note the meeting in the CRM", chat_id=ALLOWED)
    c = card(tg)
    # The card, not the plain approval: destination, lane, draft, sources, marks, buttons.
    body = c["text"]
    assert "May I run this?" not in body
    assert "To: mcp_crm_add_note" in body and "Lane: private" in body, body
    assert DRAFT in body and "version 1" in body
    assert "skill_view (minutes)" in body and "lane private: chat 1001" in body, body
    assert "Inferred or unverified" in body and "A sentence that is not" not in body
    assert f"due dates: {UNSOURCED}" in body and "owners:" not in body
    assert marked(c) == [INFERRED, UNSOURCED]
    labels = [b["text"] for row in c["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Approve", "Edit", "Reject"]
    # The draft step was one call of the turn's own (lane's) model with the draft in it.
    step = fake.chat_requests[2]["body"]
    assert step["model"] == "test/free"
    assert "You review a draft" in step["messages"][0]["content"]
    assert DRAFT in step["messages"][1]["content"]
    assert "due dates" in step["messages"][1]["content"]
    time.sleep(1 * SLOW)
    assert notes(mcp) == []  # nothing leaves before Approve
    approve = callback_data_of(c["reply_markup"])[0]
    tg.press(ALLOWED, c["message_id"], approve, user_id=ALLOWED)
    tg.press(ALLOWED, c["message_id"], approve, user_id=ALLOWED)
    wait_for(lambda: "Saved the note." in tg.sent(ALLOWED), 30 * SLOW, "the answer")
    wait_for(lambda: len(answers(tg)) == 2, 10 * SLOW, "both presses answered")
    tg.press(ALLOWED, c["message_id"], approve, user_id=ALLOWED, check=False)
    wait_for(lambda: len(answers(tg)) == 3, 10 * SLOW, "the late press answered")
    assert notes(mcp) == [{"message": DRAFT}]  # once, whatever the presses
    # The second and the late press are told the card is closed, and leave it alone: an
    # "Expired" edit from the text they carry once overwrote the approval when the second
    # press came in a later batch than the first.
    texts = sorted(a.get("text", "") for a in answers(tg))
    assert texts == ["", "This question is closed: its message says how.",
                     "This question is closed: its message says how."], answers(tg)
    wait_for(lambda: "→ Approved by @ada" in current(tg, c["message_id"])["text"], 10 * SLOW,
             "the card closed")
    time.sleep(1 * SLOW)
    assert current(tg, c["message_id"])["text"].endswith("→ Approved by @ada")
    assert "fake echo: " + DRAFT in tool_results(fake.chat_requests[-1])[-1]
    # The audit: the decision, who, the draft and what was sent, with the lane; the draft and
    # the sent text are the record of what left, kept without audit.include_text (off here:
    # the turn's own line carries no message text)
    [r] = audit(g, "review")
    assert all("text" not in t and "answer" not in t for t in audit(g, "turn"))
    assert (r["decision"], r["by"], r["lane"], r["draft"], r["sent"]) == (
        "approved", "@ada", "private", DRAFT, DRAFT)
    assert r["inferred"] == 1 and r["unsourced"] == 1 and r["source"] == f"telegram:{ALLOWED}"
    [call] = [x for x in audit(g, "tool") if x["tool"] == "mcp_crm_add_note"]
    assert call["approval"] == "Approved by @ada" and call["lane"] == "private"
    assert call["outcome"] == "ok"


def test_edit_takes_the_owners_next_message_as_the_draft(bot, tg, mcp, fake):
    script_note(fake)
    g = bot()
    tg.push_text("note the meeting", chat_id=ALLOWED)
    c = card(tg)
    tg.press(ALLOWED, c["message_id"], callback_data_of(c["reply_markup"])[1], user_id=ALLOWED)
    wait_for(lambda: "→ Edit: your next message" in current(tg, c["message_id"])["text"],
             20 * SLOW, "the card waiting for the edit")
    n_requests = len(fake.chat_requests)
    edited = "Ana will lead the audit. No date was set."
    tg.push_text(edited, chat_id=ALLOWED)
    c2 = card(tg, 2)
    assert edited in c2["text"] and "version 2" in c2["text"]
    assert marked(c2) == []  # the model's marks were on sentences no longer there
    assert len(fake.chat_requests) == n_requests  # the edit is not a message for the model
    time.sleep(0.5 * SLOW)
    assert notes(mcp) == []
    tg.press(ALLOWED, c2["message_id"], callback_data_of(c2["reply_markup"])[0], user_id=ALLOWED)
    wait_for(lambda: "Saved the note." in tg.sent(ALLOWED), 30 * SLOW, "the answer")
    assert notes(mcp) == [{"message": edited}]  # the edited text is what left
    decisions = [(r["decision"], r["version"]) for r in audit(g, "review")]
    assert decisions == [("edited", 2), ("approved", 2)]
    assert audit(g, "review")[-1]["sent"] == edited


def test_an_edit_of_a_whole_call_draft_is_the_call_that_runs(bot, tg, mcp, fake):
    """A call with no string argument is its own draft (the call as JSON). An edit that is not
    a JSON object leaves it as it was; an edit that is one is the call that runs."""
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "minutes"}))),
                    tool_calls(("c2", "mcp_crm_add_note", json.dumps({"message": 42}))),
                    text(MARKS), text("Saved the note."))
    g = bot()
    tg.push_text("note the meeting", chat_id=ALLOWED)
    edit = callback_data_of(card(tg)["reply_markup"])[1]
    tg.press(ALLOWED, card(tg)["message_id"], edit, user_id=ALLOWED)
    wait_for(lambda: "→ Edit: your next message" in current(tg, card(tg)["message_id"])["text"],
             20 * SLOW, "the card waiting for the edit")
    tg.push_text("just a sentence", chat_id=ALLOWED)
    c2 = card(tg, 2)
    assert "the draft is unchanged" in c2["text"] and '{"message":42}' in c2["text"], c2["text"]
    tg.press(ALLOWED, c2["message_id"], callback_data_of(c2["reply_markup"])[1], user_id=ALLOWED)
    wait_for(lambda: "→ Edit: your next message" in current(tg, c2["message_id"])["text"],
             20 * SLOW, "the second card waiting for the edit")
    tg.push_text('{"message": "Ana leads the audit."}', chat_id=ALLOWED)
    c3 = card(tg, 3)
    tg.press(ALLOWED, c3["message_id"], callback_data_of(c3["reply_markup"])[0], user_id=ALLOWED)
    wait_for(lambda: "Saved the note." in tg.sent(ALLOWED), 30 * SLOW, "the answer")
    assert notes(mcp) == [{"message": "Ana leads the audit."}]  # the edited call ran, once
    assert audit(g, "review")[-1]["sent"] == '{"message": "Ana leads the audit."}'


def test_reject_sends_nothing_and_tells_the_model(bot, tg, mcp, fake):
    script_note(fake, then="Understood, I did not save it.")
    g = bot()
    tg.push_text("note the meeting", chat_id=ALLOWED)
    c = card(tg)
    tg.press(ALLOWED, c["message_id"], callback_data_of(c["reply_markup"])[2], user_id=ALLOWED)
    wait_for(lambda: "Understood, I did not save it." in tg.sent(ALLOWED), 30 * SLOW,
             "the answer")
    assert notes(mcp) == []
    assert "rejected the draft" in tool_results(fake.chat_requests[-1])[-1]
    # The card's edit and the model's answer are two Telegram calls; the answer may land first.
    wait_for(lambda: current(tg, c["message_id"])["text"].endswith(
        "→ Rejected by @ada: nothing was sent"), 10 * SLOW, "the rejected card")
    [r] = audit(g, "review")
    assert r["decision"] == "rejected" and "sent" not in r


def test_an_unanswered_draft_expires_and_sends_nothing(bot, tg, mcp, fake):
    """Waits the one minute review_expire_min allows at least."""
    script_note(fake, then="It expired.")
    g = bot(expire_min=1)
    tg.push_text("note the meeting", chat_id=ALLOWED)
    c = card(tg)
    assert "expires in 1 min" in c["text"]
    time.sleep(50)
    assert notes(mcp) == [] and "It expired." not in tg.sent(ALLOWED)  # still waiting
    wait_for(lambda: "It expired." in tg.sent(ALLOWED), 10 + 30 * SLOW, "the expiry")
    assert notes(mcp) == []
    assert "did not review (it expired)" in tool_results(fake.chat_requests[-1])[-1]
    assert "→ Expired after 1 min: nothing was sent" in current(tg, c["message_id"])["text"]
    assert [r["decision"] for r in audit(g, "review")] == ["expired"]


class Page(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):
        Page.hits.append(self.path)
        body = b"<html><body>ok</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_web_fetch_from_a_review_lane_waits_for_approve(bot, tg, mcp, fake):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    Page.hits = []
    url = f"http://127.0.0.1:{srv.server_address[1]}/report?patient=ana"
    try:
        fake.script_for("test/free",
                        tool_calls(("c1", "web_fetch", json.dumps({"url": url}))),
                        text('{"inferred": []}'), text("Fetched."))
        bot(web={"allow_hosts": ["127.0.0.1"]})
        tg.push_text("fetch the report", chat_id=ALLOWED)
        c = card(tg)
        assert "To: web_fetch" in c["text"] and url in c["text"]
        time.sleep(1 * SLOW)
        assert Page.hits == []
        tg.press(ALLOWED, c["message_id"], callback_data_of(c["reply_markup"])[0],
                 user_id=ALLOWED)
        wait_for(lambda: "Fetched." in tg.sent(ALLOWED), 30 * SLOW, "the answer")
        assert Page.hits == ["/report?patient=ana"]
    finally:
        srv.shutdown()


# ---- the cockpit shows the same card and answers it --------------------------------------

def test_the_cockpit_shows_edits_and_approves_a_card_once(bot, tg, mcp, fake, password_hash):
    script_note(fake)
    g = bot(ui={"password_hash": password_hash})
    _, cookie, csrf, _ = login(g)
    tg.push_text("note the meeting", chat_id=ALLOWED)
    c = card(tg)
    [q] = get_json(g, "/v1/ui/approvals", cookie)["questions"]
    k = q["card"]
    assert q["kind"] == "draft" and q["choices"] == ["Approve", "Edit", "Reject"]
    assert (k["destination"], k["lane"], k["field"], k["draft"], k["version"]) == (
        "mcp_crm_add_note (an MCP tool that is not read-only)", "private", "message", DRAFT, 1)
    assert k["inferred"] == [INFERRED] and k["unsourced"] == [f"due dates: {UNSOURCED}"]
    assert k["draft_html"] == f"<mark>{INFERRED}</mark> <mark>{UNSOURCED}</mark>"
    assert "skill_view (minutes)" in k["sources"]
    # Edit with the new text: the Telegram card closes, the next version is asked.
    edited = "Ana will lead the audit <b>soon</b>."
    assert answer(g, cookie, csrf, q["id"], 1, edited) == (200, {"answered": True})
    wait_for(lambda: "→ Edited" in current(tg, c["message_id"])["text"], 20 * SLOW,
             "the first card closed")
    c2 = card(tg, 2)
    assert "Ana will lead the audit <b>soon</b>." in c2["text"]  # escaped, shown as typed
    [q2] = get_json(g, "/v1/ui/approvals", cookie)["questions"]
    assert q2["card"]["version"] == 2 and q2["card"]["card_id"] == k["card_id"]
    assert q2["card"]["draft_html"] == "Ana will lead the audit &lt;b&gt;soon&lt;/b&gt;."
    assert answer(g, cookie, csrf, q2["id"], 0) == (200, {"answered": True})
    assert answer(g, cookie, csrf, q2["id"], 0)[0] == 409  # decided once
    wait_for(lambda: "Saved the note." in tg.sent(ALLOWED), 30 * SLOW, "the answer")
    tg.press(ALLOWED, c2["message_id"], callback_data_of(c2["reply_markup"])[0],
             user_id=ALLOWED, check=False)
    wait_for(lambda: len(answers(tg)) == 1, 10 * SLOW, "the late Telegram press answered")
    assert notes(mcp) == [{"message": edited}]
    reviews = audit(g, "review")
    assert [(r["decision"], r["by"].split(" ")[0]) for r in reviews] == [
        ("edited", "cockpit"), ("approved", "cockpit")]
    assert reviews[-1]["sent"] == edited and reviews[-1]["card"] == k["card_id"]


def answer(g, cookie, csrf, qid, choice, text_=None):
    body = {"id": qid, "choice": choice}
    if text_ is not None:
        body["text"] = text_
    status, _, raw = request(g, "POST", "/v1/ui/approvals/answer", body,
                             {"Cookie": cookie, "X-CSRF-Token": csrf})
    return status, json.loads(raw or b"{}")


# ---- a job's answer delivered to a chat outside the lane ---------------------------------

def hook(g, body):
    import urllib.request
    req = urllib.request.Request(g.url + "/v1/hooks/inbox", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {HOOK_TOKEN}"},
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
        return json.loads(r.read())


def test_a_hooks_answer_for_a_chat_outside_the_lane_waits_on_a_card(bot, tg, mcp, fake):
    tg.add_chat(OUTSIDE)
    tg.add_chat(ALLOWED)  # the owner's lane chat, where the card goes
    answer_text = "Private summary: Ana takes 5 mg from Monday."
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "minutes"}))),
                    text(answer_text))
    g = bot(lane={"skills": ["minutes"]},
            hooks=[{"name": "inbox", "token": "os.environ/HOOK_TOKEN",
                    "prompt": "New mail: {{payload.body}}", "deliver": f"telegram:{OUTSIDE}"}])
    out = hook(g, {"body": "Ana's dose"})
    # The skill raised the run to the private lane: its answer leaves neither to the hook's
    # caller nor to the deliver chat; a note says it is held, and the card is in the lane.
    assert out["status"] == "ok" and "held for review" in out["result"], out
    assert answer_text not in json.dumps(out)
    wait_for(lambda: any("held for review" in x for x in tg.sent(OUTSIDE)), 20 * SLOW,
             "the note in the deliver chat")
    c = card(tg)
    assert "the answer of hook:inbox, delivered to telegram:2002" in c["text"], c["text"]
    assert answer_text in c["text"] and "Lane: private" in c["text"]
    assert not any("Draft for review" in x for x in tg.sent(OUTSIDE))
    approve = callback_data_of(c["reply_markup"])[0]
    tg.press(ALLOWED, c["message_id"], approve, user_id=ALLOWED)
    tg.press(ALLOWED, c["message_id"], approve, user_id=ALLOWED)
    wait_for(lambda: answer_text in tg.sent(OUTSIDE), 20 * SLOW, "the approved answer")
    wait_for(lambda: len(answers(tg)) == 2, 10 * SLOW, "both presses answered")
    time.sleep(1 * SLOW)
    assert tg.sent(OUTSIDE).count(answer_text) == 1
    [r] = audit(g, "review")
    assert (r["decision"], r["lane"], r["sent"]) == ("approved", "private", answer_text)


def test_a_held_answer_still_out_at_shutdown_is_dropped_unsent(bot, tg, mcp, fake):
    from agent_harness import SANITIZER_MARKERS
    tg.add_chat(OUTSIDE)
    tg.add_chat(ALLOWED)
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "minutes"}))),
                    text("Private: not for chat 2002."))
    g = bot(lane={"skills": ["minutes"]},
            hooks=[{"name": "inbox", "token": "os.environ/HOOK_TOKEN",
                    "prompt": "New mail: {{payload.body}}", "deliver": f"telegram:{OUTSIDE}"}])
    assert "held for review" in hook(g, {"body": "x"})["result"]
    card(tg)
    # A clean stop with the card out: nothing is sent, nothing leaks (LeakSanitizer speaks at
    # exit in the sanitizer build).
    assert g.stop() == 0, g.stderr()
    assert not any(m in g.stderr() for m in SANITIZER_MARKERS), g.stderr()
    assert "Private: not for chat 2002." not in tg.sent(OUTSIDE)


# ---- the cockpit's page in a real browser ------------------------------------------------

def test_the_cockpit_page_shows_marks_edits_and_approves_a_skills_card(
        browser_peers, cockpit, fake, tmp_path):
    import subprocess
    from pathlib import Path
    from test_ui import PASSWORD
    from test_ui_browser import CHROMIUM, artifact_dir
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Page.hits = []
    base = f"http://127.0.0.1:{srv.server_address[1]}/notes"
    url = f"{base}?owner=Ana&due=3-May"
    try:
        g = cockpit(web={"allow_hosts": ["127.0.0.1"]})
        d = g.home / "skills" / "minutes"
        d.mkdir(parents=True)
        (d / "SKILL.md").write_text(SKILL.replace("review: none", "review: before sending"))
        fake.script_for("test/free",
                        tool_calls(("c1", "skill_view", json.dumps({"name": "minutes"}))),
                        tool_calls(("c2", "web_fetch", json.dumps({"url": url}))),
                        text(json.dumps({"inferred": ["owner=Ana"],
                                         "unsourced": [{"item": "due dates",
                                                        "sentence": "due=3-May"}]})),
                        text("Filed, after your review."))
        p = subprocess.run(["node", str(Path(__file__).with_name("ui_browser_draft.cjs")),
                            str(browser_peers), CHROMIUM, g.url, PASSWORD, str(artifact_dir()),
                            base + "?owner=Ana"],
                           capture_output=True, text=True, timeout=150 * SLOW)
        assert p.returncode == 0, p.stderr + p.stdout
        result = json.loads(p.stdout.strip().splitlines()[-1])
        seen = result["seen"]
        assert result["errors"] == [] and result["a11y"] == [], result
        assert seen["marks"] == ["owner=Ana", "due=3-May"]
        assert seen["buttons"] == ["Approve", "Edit", "Reject"]
        assert "web_fetch" in seen["card"] and "minutes" in seen["card"]
        assert "null" not in seen["card"] and "undefined" not in seen["card"]
        assert "due dates: due=3-May" in seen["card"]
        assert seen["box_before"] == url
        assert base + "?owner=Ana" in seen["card2"] and "version 2" in seen["card2"]
        assert seen["marks2"] == 1  # "owner=Ana" is still there, "due=3-May" is not
        assert seen["outcome"].startswith("→ Approve"), seen
        assert seen["outcome1"].startswith("→ Edit"), seen
        assert Page.hits == ["/notes?owner=Ana"]  # the edited URL, once
        [r] = [x for x in audit(g, "review") if x["decision"] == "approved"]
        assert r["by"].startswith("cockpit ") and r["version"] == 2
    finally:
        srv.shutdown()
