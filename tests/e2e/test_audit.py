"""The audit trail: one JSON line per model attempt, tool call and turn in
home/logs/audit.jsonl, through the real gateway's agent API. A turn whose first model call is
retried once (500, then a tool call), whose tool runs, and whose second call exhausts its retry
and falls back to another group leaves exactly those lines, in order, with its source and
session on each; no secret and no message text is in the file unless audit.include_text; and
`hermetic audit tail|search` reads them back with their filters."""
import json
import subprocess
import urllib.request

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, Gateway, argv, clean_env, to_yaml
from fakes.fake_openai import error, text, tool_calls
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, deployment

API_KEY = "sk-e2e-audit-SECRET-77"
ASK = "what time is it, SECRETIVE-USER-TEXT"
ANSWER = "It is noon, PRIVATE-ANSWER."


@pytest.fixture
def start(tmp_path, fake):
    started = []

    def make(**audit):
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT",
                                              "key": "os.environ/API_SERVER_KEY"},
                           audit=audit,
                           router_settings={"num_retries": 1},
                           litellm_settings={"fallbacks": [{"free": ["strong"]}]})
        cfg["model_list"].append(deployment("strong", "test/strong", fake))
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})
        started.append(g)
        return g.start()

    yield make
    for g in started:
        g.kill()
        assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def ask(g, prompt):
    req = urllib.request.Request(
        g.url + "/v1/chat/completions",
        data=json.dumps({"user": "ana", "messages": [{"role": "user", "content": prompt}]})
        .encode(), headers={"Content-Type": "application/json",
                            "Authorization": f"Bearer {API_KEY}"}, method="POST")
    with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
        return json.loads(r.read())


def trail(g):
    path = g.home / "logs" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def audit_cli(g, *args):
    env = clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})
    r = subprocess.run(argv("audit", *args, "--config", str(g.config)), env=env,
                       capture_output=True, text=True, timeout=30 * SLOW)
    return r.returncode, r.stdout, r.stderr


def script_turn(fake):
    boom = {"error": {"message": "upstream exploded", "type": "server_error"}}
    fake.script_for("test/free", error(500, boom), tool_calls(("c1", "time", "{}")),
                    error(500, boom), error(500, boom))
    fake.script_for("test/strong", text(ANSWER))


def test_a_turn_with_a_retry_a_tool_and_a_fallback_leaves_its_lines(start, fake):
    script_turn(fake)
    g = start()
    assert ask(g, ASK)["choices"][0]["message"]["content"] == ANSWER
    lines = trail(g)
    assert [(x["kind"], x.get("model_group") or x.get("tool")) for x in lines] == [
        ("attempt", "free"), ("attempt", "free"), ("tool", "time"),
        ("attempt", "free"), ("attempt", "free"), ("attempt", "strong"), ("turn", "free")]
    first, retried, tool, second, second_retry, fell_back, turn = lines
    session = turn["session"]
    assert session > 0
    for x in lines:
        assert x["source"] == "api:ana" and x["session"] == session, x
        assert x["ts"].endswith("Z") and len(x["ts"]) == 24
    # The retry: the first attempt refused (not billed), the second answered.
    assert (first["status"], first["outcome"], first["billed"], first["attempt"]) == \
        (500, "http_error", False, 1)
    assert "upstream exploded" in first["error"]
    assert (retried["status"], retried["outcome"], retried["billed"], retried["attempt"]) == \
        (200, "ok", True, 2)
    assert retried["call"] == first["call"] and retried["purpose"] == "turn"
    assert retried["input_tokens"] > 0 and retried["output_tokens"] > 0
    assert "cost_usd" in retried and retried["deployment"]
    # The tool: its name and a hash of its arguments, never the arguments.
    assert tool["outcome"] == "ok" and tool["args_sha256"] and len(tool["args_sha256"]) == 16
    assert "approval" not in tool
    # The fallback: two refused attempts of free, then strong with fallback 1.
    assert second["call"] == second_retry["call"] == fell_back["call"] != first["call"]
    assert [second["billed"], second_retry["billed"], fell_back["billed"]] == \
        [False, False, True]
    assert [second["fallback"], second_retry["fallback"]] == [0, 0]
    assert [second["attempt"], second_retry["attempt"]] == [1, 2]
    assert (fell_back["model_group"], fell_back["fallback"], fell_back["outcome"],
            fell_back["attempt"]) == ("strong", 1, "ok", 3)
    # The turn adds up its calls.
    assert turn["outcome"] == "done" and turn["model_calls"] == 2 and turn["tool_calls"] == 1
    # It asked for free; its last call was answered by the fallback (issue 47).
    assert (turn["model_group"], turn["answered_by"]) == ("free", "strong")
    assert turn["input_tokens"] == retried["input_tokens"] + fell_back["input_tokens"]
    raw = (g.home / "logs" / "audit.jsonl").read_text()
    for secret in (API_KEY, UPSTREAM_KEY, "SECRETIVE-USER-TEXT", "PRIVATE-ANSWER"):
        assert secret not in raw


def test_include_text_adds_the_message_and_the_answer(start, fake):
    script_turn(fake)
    g = start(include_text=True)
    ask(g, ASK)
    turn = trail(g)[-1]
    assert turn["kind"] == "turn" and turn["text"] == ASK and turn["answer"] == ANSWER
    assert API_KEY not in (g.home / "logs" / "audit.jsonl").read_text()


def test_audit_off_writes_no_trail(start, fake):
    script_turn(fake)
    g = start(enabled=False)
    ask(g, ASK)
    assert not (g.home / "logs" / "audit.jsonl").exists()
    rc, _, err = audit_cli(g, "tail")
    assert rc == 1 and "no trail" in err


def test_the_cli_tails_and_searches_with_filters(start, fake):
    script_turn(fake)
    g = start()
    ask(g, ASK)
    fake.script_for("test/free", text("again"))
    ask(g, "second question")
    lines = trail(g)
    rc, out, err = audit_cli(g, "tail", "-n", "2", "--json")
    assert rc == 0, err
    assert [json.loads(x) for x in out.splitlines()] == lines[-2:]
    rc, out, _ = audit_cli(g, "tail")
    readable = out.splitlines()
    assert len(readable) == len(lines)
    assert readable[-1].startswith(lines[-1]["ts"] + " turn    api:ana #")
    assert "outcome=done" in readable[-1] and "model_calls=1" in readable[-1]
    rc, out, _ = audit_cli(g, "search", "strong", "--json")
    assert [(json.loads(x)["kind"], json.loads(x)["model_group"]) for x in out.splitlines()] == [
        ("attempt", "strong"), ("turn", "free")]  # the turn was answered_by strong
    rc, out, _ = audit_cli(g, "tail", "--source", "api", "--session",
                           str(lines[0]["session"]), "--json", "-n", "100")
    assert len(out.splitlines()) == len(lines)
    rc, out, _ = audit_cli(g, "tail", "--source", "telegram", "--json")
    assert rc == 0 and out == ""
    rc, out, _ = audit_cli(g, "tail", "--since", "1h", "--json", "-n", "100")
    assert len(out.splitlines()) == len(lines)
    rc, out, _ = audit_cli(g, "tail", "--since", "2999-01-01", "--json")
    assert rc == 0 and out == ""
    rc, _, err = audit_cli(g, "tail", "--since", "yesterday")
    assert rc == 2 and "--since \"yesterday\"" in err


def test_the_cli_never_prints_a_terminal_escape_from_the_trail(start, fake):
    """With include_text the trail holds what users typed; `audit tail` prints it quoted and
    escaped, so an ANSI sequence in a message cannot act on the operator's terminal."""
    script_turn(fake)
    g = start(include_text=True)
    ask(g, 'clear \x1b[2J "quoted"')
    rc, out, err = audit_cli(g, "tail")
    assert rc == 0, err
    assert "\x1b" not in out
    assert 'text="clear \\u001b[2J \\"quoted\\""' in out
    rc, _, err = audit_cli(g, "tail", "--source", "")
    assert rc == 2 and "--source needs a value" in err
