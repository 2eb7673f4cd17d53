"""MCP servers asking the model (sampling/createMessage) in the gateway, with Hermes'
`sampling:` keys: server-everything's trigger-sampling-request during a Telegram turn gets its
answer from the configured model group through the router (max_tokens cut to
max_tokens_cap, the system prompt and the message passed on, the call in the ledger as the
server's); a server without `sampling.enabled` is not offered it; max_rpm refuses the request
over it; the lane that lists the server bounds the models it reaches."""
import json
import re
import sqlite3
import subprocess
import time

import pytest

from agent_harness import agent_config, fake, messages, tool_results  # noqa: F401
from conftest import ROOT, SLOW, argv, clean_env
from fakes.fake_openai import text, tool_calls
from mcp_harness import NODE, PEERS_DIR, peers  # noqa: F401
from tg_harness import gateways, offered, telegram_section, tg, wait_for  # noqa: F401

ALLOWED = 1001
TOOL = "mcp_everything_trigger-sampling-request".replace("-", "_")


@pytest.fixture
def bot(fake, tg, peers, gateways):
    def make(sampling=None, wait_tool=True, **extra):
        tele = telegram_section(tg, ALLOWED)
        server = {"command": NODE, "args": ["--require", str(PEERS_DIR / "loopback.cjs"),
                                            str(peers.everything_js), "stdio"],
                  "timeout": 20 * SLOW, "connect_timeout": 20 * SLOW}
        if sampling is not None:
            server["sampling"] = sampling
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT"}, telegram=tele,
                           approvals={"mcp": "none"}, mcp_servers={"everything": server},
                           **extra)
        g = gateways.start(cfg, wait_tool="mcp_everything_echo")
        if wait_tool:
            wait_for(lambda: TOOL in offered(g), 30 * SLOW, "the sampling tool")
        return g

    return make


def turn(fake, tg, args, reply):
    """A turn that calls the sampling tool with args; returns what the tool answered."""
    fake.script_for("test/free", tool_calls(("c1", TOOL, json.dumps(args))), text(reply))
    tg.push_text("ask the server", chat_id=ALLOWED)
    wait_for(lambda: reply in tg.sent(ALLOWED), 60 * SLOW, "the turn's answer")
    return tool_results(fake.chat_requests[-1])[-1]


def sampled(fake):
    """The requests that reached the sampling model (test/cheap)."""
    return [r for r in fake.chat_requests if r["body"].get("model") == "test/cheap"]


def test_a_server_samples_the_configured_model_through_the_router(bot, tg, fake):
    fake.script_for("test/cheap", text("Paris, of course."))
    bot(sampling={"enabled": True, "model": "cheap", "max_tokens_cap": 50})
    out = turn(fake, tg, {"prompt": "capital of France?", "maxTokens": 500}, "It said Paris.")
    assert '"text": "Paris, of course."' in out and '"model": "cheap"' in out
    assert '"stopReason": "endTurn"' in out
    [req] = sampled(fake)
    assert req["body"]["max_tokens"] == 50  # cut to max_tokens_cap
    ms = messages(req)
    assert ms[0] == {"role": "system", "content": "You are a helpful test server."}
    assert "capital of France?" in json.dumps(ms[1])


def test_a_server_without_sampling_enabled_is_not_offered_it(bot, tg, fake):
    g = bot(wait_tool=False)
    time.sleep(1 * SLOW)
    assert TOOL not in offered(g)  # server-everything registers it only for a sampling client


def test_max_rpm_refuses_requests_over_it(bot, tg, fake):
    fake.script_for("test/cheap", text("one"))
    bot(sampling={"enabled": True, "model": "cheap", "max_rpm": 1})
    assert '"text": "one"' in turn(fake, tg, {"prompt": "a"}, "First.")
    out = turn(fake, tg, {"prompt": "b"}, "Second.")
    assert "more than 1 sampling requests this minute" in out
    assert "mcp_servers.everything.sampling.max_rpm" in out
    assert len(sampled(fake)) == 1


def test_the_call_is_the_servers_in_its_lane_and_the_audit(bot, tg, fake):
    """The lane that lists the server reaches only its models: a sampling model outside it is
    refused by the router, and the server hears why; the audit trail names the server."""
    fake.script_for("test/cheap", text("never"))
    g = bot(sampling={"enabled": True, "model": "cheap"}, audit={"enabled": True},
            lanes={"tools": {"models": ["free"], "mcp_servers": ["everything"]}})
    out = turn(fake, tg, {"prompt": "x"}, "Refused.")
    assert ("the model call failed: HTTP 403: lane 'tools' may not reach model group 'cheap'"
            in out)
    assert sampled(fake) == []
    trail = [json.loads(x) for x in (g.home / "logs" / "audit.jsonl").read_text().splitlines()]
    mine = [x for x in trail if x.get("source") == "mcp:everything"]
    assert [(x["kind"], x["purpose"], x["lane"]) for x in mine] == [
        ("lane_refused", "sampling", "tools")], mine


def test_sampling_during_a_turn_stays_in_the_turns_lane(bot, tg, fake):
    """The server samples while a turn of a more sensitive lane calls it: what it sends may be
    that turn's, so the call is in the turn's lane (its models only), not the server's."""
    fake.script_for("test/cheap", text("never"))
    bot(sampling={"enabled": True, "model": "cheap"},
        lanes={"private": {"models": ["free"], "chats": [str(ALLOWED)]},
               "tools": {"models": ["free", "cheap"], "mcp_servers": ["everything"]}})
    out = turn(fake, tg, {"prompt": "the private plan"}, "Refused.")
    assert sampled(fake) == []
    assert ("the model call failed: HTTP 403: lane 'private' may not reach model group "
            "'cheap'" in out), out


def test_a_servers_sampling_in_a_redacting_lane_is_redacted_and_restored(bot, tg, fake):
    """The lane that lists the server redacts what it sends: the server's text reaches the
    model with placeholders, and the answer reaches the server (and the stored turn)
    restored."""
    fake.script_for("test/cheap", text("Wrote to [EMAIL_1]."))
    g = bot(sampling={"enabled": True, "model": "cheap"},
            lanes={"private": {"models": ["free", "cheap"], "mcp_servers": ["everything"],
                               "redact": ["email"]}})
    turn(fake, tg, {"prompt": "mail ada@example.com the plan"}, "Sent.")
    [req] = sampled(fake)
    with sqlite3.connect(g.home / "state.db") as db:
        stored = [json.loads(m)["content"] for (m,) in db.execute(
            "SELECT json FROM messages WHERE role = 'tool'")]
    assert '"text": "Wrote to ada@example.com."' in "\n".join(stored), stored
    assert "ada@example.com" not in req["raw"]
    assert "mail [EMAIL_1] the plan" in json.dumps(messages(req))


def test_the_docs_sampling_example_loads(tmp_path):
    """docs/mcp.md's Sampling block is a config that `config check --strict` takes."""
    section = (ROOT / "docs" / "mcp.md").read_text().split("\n## Sampling", 1)[1]
    block = re.findall(r"```yaml\n(.*?)```", section.split("\n## ", 1)[0], re.S)[0]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"home: {tmp_path / 'home'}\n" + block)
    r = subprocess.run(argv("config", "check", "--strict", "--config", str(cfg)),
                       env=clean_env(OPENAI_API_KEY="sk-doc"), capture_output=True, text=True,
                       timeout=30 * SLOW)
    assert r.returncode == 0, r.stderr
    assert "everything stdio npx" in r.stdout


def test_a_max_tokens_past_two_to_the_53_is_refused_saying_why(bot, tg, fake):
    """maxTokens is a JSON number: one too large for an exact integer (1e300) is refused with
    the rule, never cast (which would be undefined behaviour) or sent on."""
    fake.script_for("test/cheap", text("never"))
    bot(sampling={"enabled": True, "model": "cheap"})
    out = turn(fake, tg, {"prompt": "x", "maxTokens": 1e300}, "Refused.")
    assert "needs maxTokens, a positive integer (at most 2^53)" in out, out
    assert sampled(fake) == []
