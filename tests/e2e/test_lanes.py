"""Lanes (docs/security.md, "Lanes"): a call in a lane reaches only its lane's model groups.

One fake upstream per side: `pub` serves the public groups (free, cheap), `priv` the private
lane's group (strong-private). Every test asserts on what each fake received: a request of a
private call, its retries and its fallbacks never reach `pub`, and when no group of the lane
can answer the call fails with a clear message instead of going to a lower lane's model.
"""
import http.server
import json
import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from agent_harness import Agent, agent_config, messages, tool_results
from conftest import SLOW, clean_env, run
from fakes.fake_mcp import FakeMcp, text_result, tool
from fakes.fake_telegram import callback_data_of
from fakes.fake_openai import FakeOpenAI, openai_error, text, tool_calls
from test_lane_review import Page
from router_harness import (  # noqa: F401 (start_router is a fixture)
    MASTER_ENV, MASTER_KEY, UPSTREAM_ENV, UPSTREAM_KEY, deployment, fake, router_config, start_router,
    upstream_models,
)
from tg_harness import (  # noqa: F401 (gateways and tg are fixtures)
    TOKEN, gateways, offered, telegram_section, tg, wait_for,
)

CLINIC_KEY = "sk-e2e-clinic-scripts-SECRET-2b7e"
ENV = {MASTER_ENV: MASTER_KEY, "E2E_CLINIC_KEY": CLINIC_KEY}
LANES = {
    "private": {"models": ["strong-private"], "skills": ["client-notes"],
                "mcp_servers": [], "keys": ["clinic-scripts"]},
    "deidentified": {"models": ["cheap"]},
}


@pytest.fixture
def priv():
    with FakeOpenAI(api_key=UPSTREAM_KEY) as f:
        yield f


def models(pub, priv):
    return [deployment("free", "test/free", pub), deployment("cheap", "test/cheap", pub),
            deployment("strong-private", "test/strong-private", priv)]


def lanes(keys=True, **over):
    """LANES with over merged in; without the pinned key (keys=False) for a config with no keys."""
    out = json.loads(json.dumps(LANES))
    for name, lane in over.items():
        out[name].update(lane)
    for lane in out.values():
        if not lane.get("mcp_servers"):
            lane.pop("mcp_servers", None)
        if not keys:
            lane.pop("keys", None)
    return out


def router_cfg(pub, priv, **sections):
    return router_config(
        pub, models(pub, priv),
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_CLINIC_KEY", "alias": "clinic-scripts"}],
        lanes=lanes(), **sections)


# ---- the router endpoint: a pinned key, metadata.lane ------------------------------------

def test_a_pinned_key_never_reaches_a_group_outside_its_lane(fake, priv, start_router):
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=CLINIC_KEY)
    assert reply.status == 403, reply.text
    msg = reply.error()["message"]
    assert "lane 'private' may not reach model group 'cheap'" in msg, msg
    assert "strong-private" in msg and "nothing was sent" in msg, msg
    assert upstream_models(fake) == [] and upstream_models(priv) == []


def test_a_pinned_key_falls_back_only_to_its_lane(fake, priv, start_router):
    priv.script_for("test/strong-private", text("from the private model"))
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("free", key=CLINIC_KEY, fallbacks=["cheap", "strong-private"])
    assert reply.status == 200, reply.text
    assert reply.content() == "from the private model"
    assert reply.headers.get("x-litellm-model-group") == "strong-private"
    assert upstream_models(fake) == []
    assert upstream_models(priv) == ["test/strong-private"]


def test_a_private_calls_retries_and_fallbacks_stay_in_the_lane(fake, priv, start_router):
    priv.script_for("test/strong-private", openai_error(500, "boom", "server_error"),
                    openai_error(500, "boom again", "server_error"))
    cfg = router_cfg(fake, priv, router_settings={"num_retries": 1},
                     litellm_settings={"fallbacks": [{"strong-private": ["cheap", "free"]}]})
    r = start_router(cfg, env=ENV)
    reply = r.chat("strong-private", key=CLINIC_KEY)
    assert reply.status >= 400, reply.text
    assert upstream_models(priv) == ["test/strong-private", "test/strong-private"]
    assert upstream_models(fake) == [], "a fallback of a private call reached a public group"


def test_metadata_lane_raises_a_call(fake, priv, start_router):
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=MASTER_KEY, metadata={"lane": "private"})
    assert reply.status == 403, reply.text
    assert upstream_models(fake) == []


def test_metadata_lane_never_lowers_a_pinned_key(fake, priv, start_router):
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=CLINIC_KEY, metadata={"lane": "deidentified"})
    assert reply.status == 403, reply.text
    assert "lane 'private'" in reply.error()["message"]
    assert upstream_models(fake) == []


def test_metadata_naming_no_lane_is_a_400(fake, priv, start_router):
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=MASTER_KEY, metadata={"lane": "nonesuch"})
    assert reply.status == 400, reply.text
    assert reply.error()["param"] == "metadata.lane"
    assert upstream_models(fake) == []


def test_calls_in_no_lane_behave_as_before(fake, priv, start_router):
    fake.script_for("test/cheap", text("public answer"), text("public again"))
    r = start_router(router_cfg(fake, priv), env=ENV)
    reply = r.chat("cheap", key=MASTER_KEY)
    assert reply.status == 200 and reply.content() == "public answer", reply.text
    reply = r.chat("cheap", key=MASTER_KEY, metadata={"lane": "deidentified"})
    assert reply.status == 200, reply.text
    assert upstream_models(fake) == ["test/cheap", "test/cheap"]


# ---- redaction of router clients' calls: a pinned key, metadata.lane ---------------------

def streamed_arguments(reply):
    return "".join(((tc.get("function") or {}).get("arguments") or "")
                   for e in reply.events() for c in (e.get("choices") or [])
                   for tc in ((c.get("delta") or {}).get("tool_calls") or []))


def test_a_redacting_lanes_client_calls_go_out_with_placeholders_and_come_back(
        fake, priv, start_router):
    priv.script_for("test/strong-private",
                    text("I will write to [EMAIL_1] and [EMAIL_2]."),
                    text("Stream: mail [EMAIL_1] now, cc [EMAIL_2].", chunk_size=3),
                    tool_calls(("c1", "send", json.dumps({"to": "[EMAIL_2]"})), chunk_size=3))
    cfg = router_config(
        fake, models(fake, priv),
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_CLINIC_KEY", "alias": "clinic-scripts"}],
        lanes=lanes(private={"redact": ["email"]}))
    r = start_router(cfg, env=ENV)
    asked = "Mail ada@example.com and bob@example.org"
    # Not streamed, the pinned key: the provider gets placeholders, the client the addresses.
    reply = r.chat("strong-private", key=CLINIC_KEY, content=asked)
    assert reply.status == 200, reply.text
    assert reply.content() == "I will write to ada@example.com and bob@example.org."
    raw = priv.chat_requests[0]["raw"]
    assert "Mail [EMAIL_1] and [EMAIL_2]" in raw, raw
    assert "ada@example.com" not in raw and "bob@example.org" not in raw
    # Streamed in pieces of 3 characters (every placeholder split across chunks), the master
    # key raised by metadata.lane: restored chunk by chunk, no placeholder reaches the client.
    reply = r.chat("strong-private", key=MASTER_KEY, content=asked, stream=True,
                   metadata={"lane": "private"})
    assert reply.status == 200 and reply.done(), reply.text
    assert reply.stream_content() == "Stream: mail ada@example.com now, cc bob@example.org."
    assert "[EMAIL" not in reply.text, reply.text
    raw = priv.chat_requests[1]["raw"]
    assert "Mail [EMAIL_1] and [EMAIL_2]" in raw and "ada@example.com" not in raw
    # A streamed tool call's arguments are restored the same way.
    reply = r.chat("strong-private", key=CLINIC_KEY, content=asked, stream=True)
    assert reply.status == 200 and reply.done(), reply.text
    assert json.loads(streamed_arguments(reply)) == {"to": "bob@example.org"}
    assert "[EMAIL" not in reply.text, reply.text
    # A route the router cannot redact is refused, never sent as it is.
    reply = r.post("/v1/embeddings", {"model": "strong-private", "input": asked}, key=CLINIC_KEY)
    assert reply.status == 400, reply.text
    assert "redacts" in reply.error()["message"], reply.text
    assert len(priv.chat_requests) == 3 and upstream_models(fake) == []
    # A call in no lane is sent as it is.
    fake.script_for("test/cheap", text("plain"))
    reply = r.chat("cheap", key=MASTER_KEY, content=asked)
    assert reply.status == 200 and reply.content() == "plain"
    assert "ada@example.com" in fake.chat_requests[-1]["raw"]


def test_an_anthropic_client_with_a_pinned_key_is_redacted_too(fake, priv, start_router):
    from test_router_messages import anthropic_events, reassemble
    priv.script_for("test/strong-private", text("Reply sent to [EMAIL_1].", chunk_size=3),
                    text("Reply sent to [EMAIL_1] again."))
    cfg = router_config(
        fake, models(fake, priv),
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_CLINIC_KEY", "alias": "clinic-scripts"}],
        lanes=lanes(private={"redact": ["email"]}))
    r = start_router(cfg, env=ENV)
    body = {"model": "strong-private", "max_tokens": 256, "stream": True,
            "messages": [{"role": "user", "content": "Answer ada@example.com"}]}
    headers = {"anthropic-version": "2023-06-01"}
    reply = r.post("/v1/messages", body, key=CLINIC_KEY, headers=headers)
    assert reply.status == 200, reply.text
    msg = reassemble(anthropic_events(reply))
    assert msg["content"] == [{"type": "text", "text": "Reply sent to ada@example.com."}], msg
    assert "[EMAIL" not in reply.text
    body["stream"] = False
    reply = r.post("/v1/messages", body, key=CLINIC_KEY, headers=headers)
    assert reply.status == 200, reply.text
    assert reply.json()["content"] == [{"type": "text",
                                        "text": "Reply sent to ada@example.com again."}]
    for q in priv.chat_requests:
        assert "Answer [EMAIL_1]" in q["raw"] and "ada@example.com" not in q["raw"]
    assert upstream_models(fake) == []


# ---- the agent: a turn's lane from what it read -----------------------------------------

SKILL = "---\nname: {name}\ndescription: Notes about clients.\n---\n# Notes\nclient Ada: {secret}\n"


def private_agent(tmp_path, pub, priv, **sections):
    a = Agent(tmp_path, pub)
    a.configure(model_list=models(pub, priv), lanes=lanes(keys=False),
                litellm_settings={"fallbacks": [{"free": ["strong-private"]},
                                                {"cheap": ["strong-private"]}]},
                **sections)
    skill = a.home / "skills" / "client-notes"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(SKILL.format(name="client-notes", secret="diagnosis-X17"))
    return a


def test_a_skill_raises_the_turn_and_the_next_call_stays_in_the_lane(tmp_path, fake, priv):
    a = private_agent(tmp_path, fake, priv)
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "client-notes"}))),
                    text("a new session is public again"))
    priv.script_for("test/strong-private", text("private answer"), text("still private"))
    # Two turns of one session (the REPL continues it).
    r = a.run("chat", input="look up Ada\nand now?\n")
    assert r.returncode == 0, r.stderr
    assert "private answer" in r.stdout and "still private" in r.stdout, r.stdout
    # The public group got only the request made before the skill was read.
    assert len(fake.chat_requests) == 1
    assert "diagnosis-X17" not in fake.chat_requests[0]["raw"]
    # The private model got the skill's text (the turn's next call, its fallback) ...
    assert "diagnosis-X17" in tool_results(priv.chat_requests[0])[0]
    # ... and the session's next turn, which went straight to the lane's group.
    assert len(priv.chat_requests) == 2
    assert "diagnosis-X17" in priv.chat_requests[1]["raw"]
    # A new session starts in no lane again.
    r = a.chat("something else")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "a new session is public again"
    assert len(fake.chat_requests) == 2 and len(priv.chat_requests) == 2
    assert "diagnosis-X17" not in fake.chat_requests[1]["raw"]


def test_a_turn_that_rises_mid_turn_moves_to_its_lanes_group_without_a_fallback(
        tmp_path, fake, priv):
    """No fallback leads from `free` to the lane: the next call after the skill raised the turn
    goes to the lane's group itself, before anything of the lane reaches `free`."""
    a = private_agent(tmp_path, fake, priv)
    a.configure(model_list=models(fake, priv), lanes=lanes(keys=False))  # no fallbacks to the lane
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "client-notes"}))))
    priv.script_for("test/strong-private", text("private answer"))
    r = a.chat("look up Ada")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "private answer"
    assert "may not reach" not in r.stdout + r.stderr
    assert len(fake.chat_requests) == 1
    assert "diagnosis-X17" not in json.dumps(fake.chat_requests)
    assert "diagnosis-X17" in tool_results(priv.chat_requests[0])[0]
    assert priv.chat_requests[0]["body"]["model"] == "test/strong-private"


def test_a_private_turn_whose_lane_group_fails_fails_clearly(tmp_path, fake, priv):
    a = private_agent(tmp_path, fake, priv)
    a.configure(model_list=models(fake, priv), lanes=lanes(keys=False),
                litellm_settings={"fallbacks": [{"strong-private": ["cheap", "free"]}]})
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "client-notes"}))))
    priv.script_for("test/strong-private", openai_error(500, "private model down", "server_error"))
    r = a.chat("look up Ada")
    assert "private model down" in r.stdout + r.stderr
    # The config's fallbacks of the lane's group lead out of the lane: none of them is tried.
    assert len(fake.chat_requests) == 1
    assert "diagnosis-X17" not in json.dumps(fake.chat_requests)


def test_an_unlisted_skill_leaves_the_turn_where_it_was(tmp_path, fake, priv):
    a = private_agent(tmp_path, fake, priv)
    other = a.home / "skills" / "recipes"
    other.mkdir(parents=True)
    (other / "SKILL.md").write_text(SKILL.format(name="recipes", secret="pancakes"))
    fake.script_for("test/free", tool_calls(("c1", "skill_view", json.dumps({"name": "recipes"}))),
                    text("public answer"))
    r = a.chat("recipes?")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "public answer"
    assert len(fake.chat_requests) == 2 and priv.chat_requests == []


# ---- Telegram: a chat's lane, /lane, /context, restarts, /new -----------------------------

OWNER = 1001


@pytest.fixture
def bot(fake, priv, tg, gateways):
    def make(mcp=None, progress="off", **lane_over):
        extra = {"mcp_servers": {"crm": {"url": mcp.url, "timeout": 10 * SLOW}}} if mcp else {}
        tele = telegram_section(tg, OWNER, progress=progress)
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele,
                           model_list=models(fake, priv), lanes=lanes(keys=False, **lane_over),
                           litellm_settings={"fallbacks": [{"free": ["strong-private"]}]},
                           **extra)
        g = gateways.start(cfg)
        if mcp:
            wait_for(lambda: "mcp_crm_lookup" in offered(g), 30 * SLOW, "the MCP tools")
        return g

    return make


def wait_reply(tg, n):
    return tg.wait_sent(OWNER, n, timeout=20 * SLOW)


def test_a_listed_chat_is_private_from_its_first_call(bot, tg, fake, priv):
    priv.script_for("test/strong-private", tool_calls(("c1", "time", "{}")),
                    text("private hello", first_byte_delay=2 * SLOW))
    bot(progress="tools", private={"chats": [str(OWNER)]})
    tg.push_text("my lab results: glucose 7.9", chat_id=OWNER)
    # The progress line (the first message, edited into the answer) says the lane.
    wait_for(lambda: tg.sent(OWNER) == ["private hello"], 30 * SLOW, "the answer")
    first = [c["params"]["text"] for c in tg.calls("sendMessage")][0]
    assert "running time" in first and "lane private" in first, first
    assert fake.chat_requests == [], "a turn of a private chat reached a public group"
    assert "glucose 7.9" in priv.chat_requests[0]["raw"]
    tg.push_text("/context", chat_id=OWNER)
    assert wait_reply(tg, 2)[1].startswith(f"Lane: private (chat {OWNER}).")


def test_lane_by_hand_survives_a_restart_and_new_starts_low(bot, tg, fake, priv):
    fake.script_for("test/free", text("public hello"), text("public again"))
    priv.script_for("test/strong-private", text("private now"), text("private after restart"))
    g = bot()
    tg.push_text("hello", chat_id=OWNER)
    assert wait_reply(tg, 1) == ["public hello"]
    tg.push_text("/lane private", chat_id=OWNER)
    assert wait_reply(tg, 2)[1] == "Lane: private (asked (/lane))."
    tg.push_text("/lane deidentified", chat_id=OWNER)
    assert wait_reply(tg, 3)[2].startswith("Lanes only rise")
    tg.push_text("the client's file", chat_id=OWNER)
    assert wait_reply(tg, 4)[3] == "private now"
    assert len(fake.chat_requests) == 1
    assert g.stop() == 0
    g.start()
    tg.push_text("more of the file", chat_id=OWNER)
    assert wait_reply(tg, 5)[4] == "private after restart"
    assert len(fake.chat_requests) == 1, "the lane was lost across a restart"
    assert "the client's file" in priv.chat_requests[1]["raw"]
    tg.push_text("/new", chat_id=OWNER)
    wait_reply(tg, 6)
    tg.push_text("something public", chat_id=OWNER)
    assert wait_reply(tg, 7)[6] == "public again"
    assert "the client's file" not in fake.chat_requests[1]["raw"]
    # Visible: the lane is on the audit lines and the ledger rows of the private calls.
    lines = [json.loads(x) for x in (g.home / "logs" / "audit.jsonl").read_text().splitlines()]
    attempts = [x for x in lines if x["kind"] == "attempt"]
    assert {(x["model_group"], x.get("lane")) for x in attempts} == {
        ("free", None), ("strong-private", "private")}
    # The lane's turns are served by its group: nothing was asked of `free` to refuse.
    assert [x for x in lines if x["kind"] == "lane_refused"] == []
    assert {(x["model_group"], x.get("answered_by")) for x in lines if x["kind"] == "turn"} == {
        ("free", None), ("free", "strong-private")}
    assert {x.get("lane") for x in lines if x["kind"] == "turn"} == {None, "private"}
    r = run("audit", "tail", "--lane", "private", "--json", "-n", "100", "--config",
            str(g.config), env=clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN}))
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 0 and got and all(x["lane"] == "private" for x in got), r.stdout
    assert len(got) == sum(1 for x in lines if x.get("lane") == "private")
    r = run("spend", "--config", str(g.config), env=clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN}))
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert "LANE" in rows[0].split()
    assert any(x.split()[1:3] == ["strong-private", "private"] for x in rows[1:]), r.stdout
    assert any(x.split()[1] == "free" and x.split()[2].isdigit() for x in rows[1:]), r.stdout


@pytest.fixture
def crm():
    with FakeMcp(tools=[tool("lookup", "fixed", description="Looks a client up",
                             annotations={"readOnlyHint": True},
                             result=text_result("client Ada: ICD F32.1"))]) as m:
        yield m


def test_an_mcp_result_raises_the_turn_before_the_next_call(bot, tg, fake, priv, crm):
    fake.script_for("test/free", tool_calls(("c1", "mcp_crm_lookup", "{}")))
    priv.script_for("test/strong-private", text("Ada is on file."))
    g = bot(mcp=crm, private={"mcp_servers": ["crm"]})
    tg.push_text("who is Ada?", chat_id=OWNER)
    assert wait_reply(tg, 1) == ["Ada is on file."]
    assert len(fake.chat_requests) == 1
    # The call after the result went to the lane's group itself: `free` was not even asked
    # (and refused) first, though the config's fallbacks would have led there too.
    audit = (g.home / "logs" / "audit.jsonl").read_text()
    assert '"kind":"lane_refused"' not in audit
    assert "F32.1" not in json.dumps(fake.chat_requests)
    assert "F32.1" in tool_results(priv.chat_requests[0])[0]
    tg.push_text("/context", chat_id=OWNER)
    assert wait_reply(tg, 2)[1].startswith("Lane: private (mcp crm).")


def test_redaction_placeholders_go_out_and_come_back(bot, tg, fake, priv):
    fake.script_for("test/free", text("I will write to [EMAIL_1] about [PATTERN_1]."),
                    text("Done: [EMAIL_1] and [PHONE_1]."))
    bot(deidentified={"models": ["free", "cheap"], "chats": [str(OWNER)],
                      "redact": ["email", "phone", "iban", "card", "ip"],
                      "redact_patterns": ["MRN-[0-9]{6}"]})
    tg.push_text("Mail ada@example.com about MRN-004211", chat_id=OWNER)
    assert wait_reply(tg, 1) == ["I will write to ada@example.com about MRN-004211."]
    raw = fake.chat_requests[0]["raw"]
    assert "ada@example.com" not in raw and "MRN-004211" not in raw
    assert "Mail [EMAIL_1] about [PATTERN_1]" in raw
    tg.push_text("and call +49 30 1234 5678, cc ada@example.com", chat_id=OWNER)
    assert wait_reply(tg, 2)[1] == "Done: ada@example.com and +49 30 1234 5678."
    raw = fake.chat_requests[1]["raw"]
    # The same value keeps its placeholder across turns; nothing real goes out.
    assert "and call [PHONE_1], cc [EMAIL_1]" in raw
    assert "I will write to [EMAIL_1] about [PATTERN_1]." in raw
    for secret in ("ada@example.com", "MRN-004211", "1234 5678"):
        assert secret not in raw
    assert priv.chat_requests == []


# ---- no context bleed: session search and memory -----------------------------------------

def test_higher_lane_sessions_and_memory_never_reach_a_lower_lane_turn(tmp_path, fake, priv):
    a = private_agent(tmp_path, fake, priv)
    # Session 1: public, mentions the word.
    fake.script_for("test/free", text("noted"))
    assert a.chat("the diagnosis meeting is on Monday").returncode == 0
    # Session 2: private (it read the skill); its answer mentions the word too, and it puts
    # the secret into memory: the private lane's file, not the one every conversation reads.
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "client-notes"}))))
    add = json.dumps({"action": "add", "content": "Ada has diagnosis-X17"})
    priv.script_for("test/strong-private", tool_calls(("c2", "memory", add)),
                    text("Ada's diagnosis-X17 stays here"))
    r = a.chat("Ada's file")
    assert r.returncode == 0 and r.stdout.strip() == "Ada's diagnosis-X17 stays here", r.stderr
    added = tool_results(priv.chat_requests[1])[-1]
    assert added.startswith("Added to lanes/private/MEMORY.md"), added
    memory = a.home / "memories" / "MEMORY.md"
    assert not memory.exists() or "X17" not in memory.read_text()
    # Session 3: public; its search finds the public session only.
    search = json.dumps({"query": "diagnosis"})
    fake.script_for("test/free", tool_calls(("c3", "session_search", search)), text("done"))
    r = a.chat("what do we know about diagnosis?")
    assert r.returncode == 0, r.stderr
    found = tool_results(fake.chat_requests[-1])[0]
    assert "diagnosis meeting" in found and "X17" not in found, found
    assert all("X17" not in req["raw"] for req in fake.chat_requests)
    # A private turn may read both.
    fake.script_for("test/free",
                    tool_calls(("c4", "skill_view", json.dumps({"name": "client-notes"}))))
    priv.script_for("test/strong-private", tool_calls(("c5", "session_search", search)),
                    text("both"))
    r = a.chat("private search")
    assert r.returncode == 0, r.stderr
    found = tool_results(priv.chat_requests[-1])[-1]
    assert "diagnosis meeting" in found and "X17" in found, found


def test_higher_lane_memory_never_appears_in_a_lower_lane_request(tmp_path, fake, priv):
    a = private_agent(tmp_path, fake, priv)
    a.configure(model_list=models(fake, priv),
                lanes=lanes(keys=False, deidentified={"models": ["free", "cheap"],
                                                      "skills": ["recipes"]}),
                litellm_settings={"fallbacks": [{"free": ["strong-private"]},
                                                {"cheap": ["strong-private"]}]})
    recipes = a.home / "skills" / "recipes"
    recipes.mkdir(parents=True)
    (recipes / "SKILL.md").write_text(SKILL.format(name="recipes", secret="pancakes"))
    view = lambda name: json.dumps({"name": name})  # noqa: E731
    read = json.dumps({"action": "read", "target": "memory"})
    memories = a.home / "memories"
    # 1. A private turn (it read the client skill) keeps an entry: in the lane's own file.
    fake.script_for("test/free", tool_calls(("c1", "skill_view", view("client-notes"))))
    add = json.dumps({"action": "add", "target": "memory", "content": "Ada's MRN is 55-1234"})
    priv.script_for("test/strong-private", tool_calls(("c2", "memory", add)), text("kept"))
    r = a.chat("remember Ada's MRN")
    assert r.returncode == 0 and r.stdout.strip() == "kept", r.stderr
    assert tool_results(priv.chat_requests[-1])[-1].startswith(
        "Added to lanes/private/MEMORY.md (20/2,200 characters, 1 entry)")
    assert (memories / "lanes" / "private" / "MEMORY.md").read_text() == "Ada's MRN is 55-1234\n"
    assert not (memories / "MEMORY.md").exists()
    # 2. A turn in no lane: neither its prompt nor its memory read holds the entry.
    fake.script_for("test/free", tool_calls(("c3", "memory", read)), text("nothing"))
    r = a.chat("what do you remember?")
    assert r.returncode == 0 and r.stdout.strip() == "nothing", r.stderr
    assert tool_results(fake.chat_requests[-1])[0] == "MEMORY.md (0/2,200 characters, 0 entries)"
    # 3. A turn in the lower lane (the recipes skill): the same, and its own entry is kept in
    #    its lane.
    add = json.dumps({"action": "add", "target": "memory", "content": "likes pancakes"})
    fake.script_for("test/free", tool_calls(("c4", "skill_view", view("recipes"))),
                    tool_calls(("c5", "memory", add)), tool_calls(("c6", "memory", read)),
                    text("deidentified done"))
    r = a.chat("a recipe")
    assert r.returncode == 0 and r.stdout.strip() == "deidentified done", r.stderr
    shown = tool_results(fake.chat_requests[-1])[-1]
    assert "Lane deidentified: lanes/deidentified/MEMORY.md" in shown and "likes pancakes" in shown
    assert "55-1234" not in shown
    assert all("55-1234" not in q["raw"] for q in fake.chat_requests), "private memory leaked"
    # 4. A private session: from the call after the skill on, its system prompt holds the
    #    lane's entry and the lower lane's, and so does its next turn (the session's stored
    #    lane); the call before the skill (public) held neither.
    before = len(fake.chat_requests)
    fake.script_for("test/free", tool_calls(("c7", "skill_view", view("client-notes"))))
    priv.script_for("test/strong-private", text("MRN 55-1234"), text("still 55-1234"))
    r = a.run("chat", input="Ada's MRN?\nand again?\n")
    assert r.returncode == 0 and "MRN 55-1234" in r.stdout and "still 55-1234" in r.stdout
    for q in priv.chat_requests[-2:]:
        system = messages(q)[0]["content"]
        assert "## Memory (lane private: 20/2,200 characters, 1 entry)\nAda's MRN is 55-1234" \
            in system
        assert "## Memory (lane deidentified:" in system and "likes pancakes" in system
    assert len(fake.chat_requests) == before + 1
    assert all("55-1234" not in q["raw"] for q in fake.chat_requests)


def test_a_private_turns_compression_call_stays_in_the_lane(tmp_path, fake, priv):
    # auxiliary.compression is `cheap` (public); in the private lane it falls back to the
    # lane's group, and nothing of the turn reaches the public fake after the skill.
    a = private_agent(tmp_path, fake, priv, agent={"context_tokens": 1024},
                      toolsets=["time", "skills"])
    long = "word " * 150
    fake.script_for("test/free",
                    tool_calls(("c0", "skill_view", json.dumps({"name": "client-notes"}))))
    priv.script_for("test/strong-private",
                    *[tool_calls((f"c{i}", "time", "{}"), content=long) for i in range(1, 5)],
                    *[text("finished")] * 4)
    r = a.chat("start " + "please " * 20)
    assert ", compressed" in r.stderr, r.stderr
    assert len(fake.chat_requests) == 1, [q["model"] for q in fake.chat_requests]
    assert all(q["model"] != "test/cheap" for q in fake.chat_requests)
    compress = [q for q in priv.chat_requests
                if "You compress chat history" in json.dumps(q["body"]["messages"][0])]
    assert compress, "no compression call reached the lane's group"
    assert "diagnosis-X17" in json.dumps([q["raw"] for q in priv.chat_requests])
    assert r.returncode == 0 and r.stdout.strip().endswith("finished"), r.stderr


def test_a_private_turns_context_budget_is_its_lane_groups_window(tmp_path, fake, priv):
    """The session chose `free` (no window limit), the lane serves it with `strong-private`
    (1024 tokens): once the turn is in the lane, compression follows the lane's window."""
    small = [deployment("free", "test/free", fake), deployment("cheap", "test/cheap", fake),
             deployment("strong-private", "test/strong-private", priv,
                        model_info={"max_input_tokens": 1024})]
    a = private_agent(tmp_path, fake, priv, toolsets=["time", "skills"])
    a.configure(model_list=small, lanes=lanes(keys=False), toolsets=["time", "skills"])
    long = "word " * 150
    fake.script_for("test/free",
                    tool_calls(("c0", "skill_view", json.dumps({"name": "client-notes"}))))
    priv.script_for("test/strong-private",
                    *[tool_calls((f"c{i}", "time", "{}"), content=long) for i in range(1, 5)],
                    *[text("finished")] * 4)
    r = a.chat("start " + "please " * 20)
    assert r.returncode == 0 and r.stdout.strip().endswith("finished"), r.stderr
    assert ", compressed" in r.stderr, r.stderr
    assert len(fake.chat_requests) == 1


# ---- background tasks and their subagents inherit the lane --------------------------------

def task_rows(g):
    import sqlite3
    db = sqlite3.connect(g.home / "state.db")
    out = db.execute("SELECT id, parent, lane, state FROM tasks ORDER BY id").fetchall()
    db.close()
    return out


def script_private_tree(priv):
    """The task delegates one goal, its child answers, the task answers: all on the lane's
    group (`free` falls back to `strong-private` in the private lane)."""
    goal = json.dumps({"tasks": [{"goal": "summarise the file", "context": "glucose 7.9"}]})
    priv.script_for("test/strong-private", tool_calls(("d1", "delegate", goal)),
                    text(json.dumps({"summary": "child read it", "findings": [],
                                     "could_not_do": []})),
                    text("task result: private"))


def wait_task_result(tg):
    wait_for(lambda: any(s.startswith("Task 1 done") for s in tg.sent(OWNER)), 30 * SLOW,
             "the task's result")
    return [s for s in tg.sent(OWNER) if s.startswith("Task 1 done")][0]


def test_bg_from_a_private_chat_keeps_the_task_and_its_child_in_the_lane(bot, tg, fake, priv):
    script_private_tree(priv)
    g = bot(private={"chats": [str(OWNER)]})
    tg.push_text("/bg summarise my lab file", chat_id=OWNER)
    assert "task result: private" in wait_task_result(tg)
    assert fake.chat_requests == [], "a call of a private chat's task reached a public group"
    assert len(priv.chat_requests) == 3
    # The child's request held its goal and context: it ran on the lane's group too.
    assert "summarise the file" in priv.chat_requests[1]["raw"]
    assert "glucose 7.9" in priv.chat_requests[1]["raw"]
    assert task_rows(g) == [(1, None, "private", "done"), (2, 1, "private", "done")]
    # The task and its child were served by the lane's group from their first call, not
    # refused `free` first (issue 47).
    assert '"kind":"lane_refused"' not in (g.home / "logs" / "audit.jsonl").read_text()


def test_the_lane_of_a_task_shows_in_tasks_the_api_and_the_cli(bot, tg, fake, priv):
    script_private_tree(priv)
    g = bot(private={"chats": [str(OWNER)]})
    tg.push_text("/bg summarise my lab file", chat_id=OWNER)
    wait_task_result(tg)
    n = len(tg.sent(OWNER))
    tg.push_text("/tasks", chat_id=OWNER)
    [listing] = wait_reply(tg, n + 1)[n:]
    assert listing.startswith("#1 done, ") and ", lane private: summarise my lab file" in listing
    with urllib.request.urlopen(g.url + "/v1/tasks/1", timeout=5 * SLOW) as r:
        shown = json.loads(r.read())
    assert shown["lane"] == "private" and shown["children"][0]["lane"] == "private"
    with urllib.request.urlopen(g.url + "/v1/tasks", timeout=5 * SLOW) as r:
        assert [t["lane"] for t in json.loads(r.read())["data"]] == ["private"]
    env = clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
    r = run("tasks", "list", "--config", str(g.config), env=env)
    assert r.returncode == 0 and ", lane private: " in r.stdout, r.stdout + r.stderr
    r = run("tasks", "show", "1", "--config", str(g.config), env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["lane"] == "private"


def test_bg_after_lane_by_hand_keeps_the_task_and_its_child_in_the_lane(bot, tg, fake, priv):
    script_private_tree(priv)
    g = bot()
    tg.push_text("/lane private", chat_id=OWNER)
    assert wait_reply(tg, 1)[0] == "Lane: private (asked (/lane))."
    tg.push_text("/bg summarise the client's file", chat_id=OWNER)
    assert "task result: private" in wait_task_result(tg)
    assert fake.chat_requests == [], "a task started in a raised session left its lane"
    assert len(priv.chat_requests) == 3
    assert "summarise the file" in priv.chat_requests[1]["raw"]
    assert task_rows(g) == [(1, None, "private", "done"), (2, 1, "private", "done")]


def test_a_child_of_a_task_raised_by_a_skill_stays_in_the_lane(bot, tg, fake, priv):
    # A public chat's task starts in no lane, reads the private skill (its lane rises), then
    # delegates: the child starts in the parent's lane now.
    fake.script_for("test/free",
                    tool_calls(("c1", "skill_view", json.dumps({"name": "client-notes"}))))
    script_private_tree(priv)
    g = bot()
    skill = g.home / "skills" / "client-notes"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(SKILL.format(name="client-notes", secret="diagnosis-X17"))
    tg.push_text("/bg look up Ada", chat_id=OWNER)
    assert "task result: private" in wait_task_result(tg)
    assert len(fake.chat_requests) == 1, [q["model"] for q in fake.chat_requests]
    assert "diagnosis-X17" not in json.dumps(fake.chat_requests)
    assert len(priv.chat_requests) == 3
    assert "summarise the file" in priv.chat_requests[1]["raw"]
    # the root's row shows the lane it rose to, as /tasks and the API do
    assert task_rows(g) == [(1, None, "private", "done"), (2, 1, "private", "done")]
    with urllib.request.urlopen(g.url + "/v1/tasks/1", timeout=5 * SLOW) as r:
        assert json.loads(r.read())["lane"] == "private"


def test_bg_from_a_session_whose_lane_is_gone_starts_no_task(bot, tg, fake, priv):
    import sqlite3
    g = bot()
    tg.push_text("/lane private", chat_id=OWNER)
    assert wait_reply(tg, 1)[0] == "Lane: private (asked (/lane))."
    assert g.stop() == 0
    # The lane is renamed away from the config: the session's mark names a lane no config has.
    db = sqlite3.connect(g.home / "state.db")
    assert db.execute("UPDATE kv SET value = 'retired asked (/lane)'"
                      " WHERE key LIKE 'session.%.lane'").rowcount == 1
    db.commit()
    db.close()
    g.start()
    tg.push_text("/bg read the client's file", chat_id=OWNER)
    assert "lane the config no longer has" in wait_reply(tg, 2)[1]
    assert task_rows(g) == []
    assert fake.chat_requests == [] and priv.chat_requests == []


# ---- the docs' example: a lane serves its chats (docs/security.md, "Lanes"; issue 47) ------
#
# The config is docs/security.md's whole example, read from the doc: only the providers' base
# URLs point at the fakes (and the harness adds its home, Telegram's fake Bot API, the API port,
# an MCP server and a web host to fetch from). Two fake providers: `cloud` (the groups cloud and
# cheap, as at OpenAI) and `local` (the group local, as an Ollama).

DOC_OWNER = 123456789  # the doc's allowed_users
PRIVATE_CHAT = -1001234567890
DEID_CHAT = -1001234567891
OPENAI_ENV = "OPENAI_API_KEY"


def docs_lanes_config():
    """The fenced YAML block of docs/security.md's Lanes section that starts `model: cloud`."""
    doc = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    section = doc.split("\n## Lanes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    [block] = [b for b in blocks if b.startswith("model: cloud")]
    return yaml.safe_load(block)


@pytest.fixture
def cloud():
    with FakeOpenAI(api_key=UPSTREAM_KEY) as f:
        yield f


@pytest.fixture
def local():
    with FakeOpenAI() as f:  # the doc's local group has no key, as an Ollama
        yield f


@pytest.fixture
def review_mcp():
    with FakeMcp(tools=[tool("add_note", "echo", description="Add a note to the CRM")]) as m:
        yield m


@pytest.fixture
def doc_bot(cloud, local, tg, review_mcp, gateways):
    def make():
        cfg = docs_lanes_config()
        for m in cfg["model_list"]:
            m["litellm_params"]["api_base"] = (local if m["model_name"] == "local" else cloud).url
        cfg["telegram"].update({"api_base": tg.url, "poll_timeout_s": 1, "stream": "off",
                                "progress": "off"})
        cfg.update({"home": "HOME", "timezone": "UTC", "api": {"listen": "127.0.0.1:PORT"},
                    "mcp_servers": {"crm": {"url": review_mcp.url, "timeout": 10 * SLOW}},
                    "web": {"allow_hosts": ["127.0.0.1"]}, "audit": {"enabled": True},
                    "router_settings": {"num_retries": 0, "timeout": 20}})
        return gateways.start(cfg, env={OPENAI_ENV: UPSTREAM_KEY}, wait_tool="mcp_crm_add_note")

    return make


def say(tg, chat, text_):
    tg.push_text(text_, chat_id=chat, user_id=DOC_OWNER, chat_type="supergroup", title="Lane")


def replies(tg, chat, n):
    return tg.wait_sent(chat, n, timeout=30 * SLOW)


def test_the_docs_lanes_answer_their_chats_and_nothing_reaches_cloud(doc_bot, tg, cloud, local):
    local.script_for("qwen3:8b", text("private hello"), text("still local"))
    cloud.script_for("gpt-4.1-mini", text("I will write to [EMAIL_1]."),
                     text("Again [EMAIL_1], and [PHONE_1]."))
    g = doc_bot()
    say(tg, PRIVATE_CHAT, "my lab results: glucose 7.9")
    assert replies(tg, PRIVATE_CHAT, 1) == ["private hello"]
    say(tg, DEID_CHAT, "Mail ada@example.com please")
    assert replies(tg, DEID_CHAT, 1) == ["I will write to ada@example.com."]
    say(tg, DEID_CHAT, "and cc ada@example.com, call +49 30 1234 5678")
    assert replies(tg, DEID_CHAT, 2)[1] == "Again ada@example.com, and +49 30 1234 5678."
    # Nothing asked of the group `cloud` (gpt-4.1) from either chat; cheap got placeholders.
    assert [r["body"]["model"] for r in cloud.chat_requests] == ["gpt-4.1-mini"] * 2
    assert "glucose" not in json.dumps(cloud.chat_requests)
    first, second = (r["raw"] for r in cloud.chat_requests)
    for raw in (first, second):
        assert "ada@example.com" not in raw and "1234 5678" not in raw
    assert "Mail [EMAIL_1] please" in first
    # The second turn: the same value keeps its placeholder, a new one gets the next.
    assert "and cc [EMAIL_1], call [PHONE_1]" in second
    assert [r["body"]["model"] for r in local.chat_requests] == ["qwen3:8b"]
    assert "glucose 7.9" in local.chat_requests[0]["raw"]
    # The user sees which group answered; /model outside the lane is refused, naming it.
    say(tg, PRIVATE_CHAT, "/usage")
    assert replies(tg, PRIVATE_CHAT, 2)[1].startswith("Last answer: local (asked for cloud).\n")
    say(tg, PRIVATE_CHAT, "/model cloud")
    refused = replies(tg, PRIVATE_CHAT, 3)[2]
    assert refused.startswith('"cloud" is outside this chat\'s lane private: its turns are '
                              "answered by local (in that order). The model is unchanged."), refused
    say(tg, PRIVATE_CHAT, "/model")
    assert replies(tg, PRIVATE_CHAT, 4)[3].startswith(
        "Model: cloud (outside this chat's lane private: its turns are answered by local (in "
        "that order)).")
    say(tg, PRIVATE_CHAT, "/model local")
    assert replies(tg, PRIVATE_CHAT, 5)[4].startswith("Model: local.")
    say(tg, PRIVATE_CHAT, "and now?")
    assert replies(tg, PRIVATE_CHAT, 6)[5] == "still local"
    assert len(cloud.chat_requests) == 2 and len(local.chat_requests) == 2
    lines = [json.loads(x) for x in (g.home / "logs" / "audit.jsonl").read_text().splitlines()]
    assert [x for x in lines if x["kind"] == "lane_refused"] == []


def review_cards(tg):
    return [m for m in tg.messages(PRIVATE_CHAT) if "Draft for review" in m["text"]]


def approve_twice(tg, n):
    wait_for(lambda: len(review_cards(tg)) >= n, 30 * SLOW, f"draft card {n}")
    c = review_cards(tg)[n - 1]
    approve = callback_data_of(c["reply_markup"])[0]
    tg.press(PRIVATE_CHAT, c["message_id"], approve, user_id=DOC_OWNER)
    tg.press(PRIVATE_CHAT, c["message_id"], approve, user_id=DOC_OWNER)
    return c


def test_the_docs_private_lane_reviews_web_fetch_and_an_mcp_tool_and_sends_once(
        doc_bot, tg, cloud, local, review_mcp):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Page.hits = []
    url = f"http://127.0.0.1:{srv.server_address[1]}/report?patient=ana"
    draft = "Ana agreed to lead the audit."
    try:
        local.script_for("qwen3:8b",
                         tool_calls(("c1", "web_fetch", json.dumps({"url": url}))),
                         text('{"inferred": []}'), text("Fetched."),
                         tool_calls(("c2", "mcp_crm_add_note", json.dumps({"message": draft}))),
                         text('{"inferred": []}'), text("Saved the note."))
        doc_bot()
        say(tg, PRIVATE_CHAT, "fetch the report")
        c = approve_twice(tg, 1)
        assert "To: web_fetch" in c["text"] and url in c["text"] and "Lane: private" in c["text"]
        wait_for(lambda: "Fetched." in tg.sent(PRIVATE_CHAT), 30 * SLOW, "the first answer")
        say(tg, PRIVATE_CHAT, "note it in the CRM")
        c = approve_twice(tg, 2)
        assert "To: mcp_crm_add_note" in c["text"] and draft in c["text"]
        wait_for(lambda: "Saved the note." in tg.sent(PRIVATE_CHAT), 30 * SLOW, "the answer")
        time.sleep(1 * SLOW)
        assert Page.hits == ["/report?patient=ana"]  # once, whatever the presses
        notes = [r["body"]["params"].get("arguments") for r in review_mcp.requests
                 if isinstance(r.get("body"), dict) and r["body"].get("method") == "tools/call"]
        assert notes == [{"message": draft}]
        # Every call of the turns, the review's draft steps included, went to local.
        assert cloud.chat_requests == []
        assert len(local.chat_requests) == 6
    finally:
        srv.shutdown()
