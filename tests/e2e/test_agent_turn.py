"""The agent's turn against the scripted fake model: the tool loop, errors the model can read,
limits with their summary call, compression, cancel, sessions and the `chat` command."""
import json
import signal

import pytest
import sqlite3
import time

from agent_harness import agent, fake, messages, tool_results  # noqa: F401
from conftest import SLOW
from fakes.fake_openai import text, tool_calls


@pytest.mark.smoke
def test_multi_step_tool_loop_feeds_each_result_to_the_next_call(agent, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "time", "{}")),
                    tool_calls(("c2", "time", '{"timezone": "Asia/Manila"}')),
                    text("It is late."))
    r = agent.chat("what time is it here and in Manila?")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "It is late."
    reqs = fake.chat_requests
    assert len(reqs) == 3
    assert tool_results(reqs[0]) == []
    first = tool_results(reqs[1])
    assert len(first) == 1 and "UTC" in first[0]
    second = tool_results(reqs[2])
    assert len(second) == 2 and "Asia/Manila" in second[1] and "+0800" in second[1]
    # The assistant's tool-call message precedes its results, with the ids the model chose.
    msgs = messages(reqs[2])
    calls = [m for m in msgs if m["role"] == "assistant" and m.get("tool_calls")]
    assert [c["tool_calls"][0]["id"] for c in calls] == ["c1", "c2"]
    assert [m["tool_call_id"] for m in msgs if m["role"] == "tool"] == ["c1", "c2"]
    # The transcript goes to stderr: calls, results, and the usage line.
    assert "-> time {}" in r.stderr and "<- time:" in r.stderr
    assert "3 model calls, 2 tool calls" in r.stderr


def test_parallel_calls_answer_in_call_order(agent, fake):
    fake.script_for("test/free",
                    tool_calls(("a", "time", '{"timezone": "Asia/Tokyo"}'),
                               ("b", "time", '{"timezone": "Europe/Berlin"}'),
                               ("c", "time", '{"timezone": "America/New_York"}')),
                    text("ok"))
    r = agent.chat("three clocks")
    assert r.returncode == 0, r.stderr
    msgs = messages(fake.chat_requests[1])
    tools = [m for m in msgs if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == ["a", "b", "c"]
    assert "Asia/Tokyo" in tools[0]["content"]
    assert "Europe/Berlin" in tools[1]["content"]
    assert "America/New_York" in tools[2]["content"]


def test_invalid_arguments_and_unknown_tools_become_tool_errors(agent, fake):
    fake.script_for("test/free",
                    tool_calls(("c1", "time", '{"timezone": '),
                               ("c2", "tiem", "{}"),
                               ("c3", "time", '["not", "an", "object"]'),
                               ("c4", "time", '{"timezone": "../../etc/passwd"}')),
                    text("sorry, fixed"))
    r = agent.chat("time please")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "sorry, fixed"
    res = tool_results(fake.chat_requests[1])
    assert len(res) == 4
    assert res[0].startswith("Error: the arguments are not valid JSON")
    assert res[1].startswith('Error: unknown tool "tiem"; did you mean "time"?')
    assert res[2].startswith("Error: the arguments must be a JSON object")
    assert res[3].startswith('Error: unknown timezone "../../etc/passwd"')


def test_tool_calls_beyond_32_per_answer_are_answered_not_run(agent, fake):
    calls = [(f"c{i}", "time", "{}") for i in range(34)]
    fake.script_for("test/free", tool_calls(*calls), text("ok"))
    r = agent.chat("many clocks")
    assert r.returncode == 0, r.stderr
    res = tool_results(fake.chat_requests[1])
    assert len(res) == 34
    assert all("UTC" in x for x in res[:32])
    assert res[32] == res[33] == "Error: not run: at most 32 tool calls per answer"
    assert "32 tool calls" in r.stderr  # only 32 ran


def test_iteration_cap_ends_with_one_summary_call_without_tools(agent, fake):
    agent.configure(agent={"max_iterations": 2})
    fake.script_for("test/free",
                    tool_calls(("c1", "time", "{}")),
                    tool_calls(("c2", "time", "{}")),
                    text("I checked the time twice."))
    r = agent.chat("loop forever")
    assert r.returncode == 0, r.stderr
    reqs = fake.chat_requests
    assert len(reqs) == 3
    last = reqs[2]["body"]
    assert last.get("tool_choice") == "none"
    assert "agent.max_iterations" in last["messages"][-1]["content"]
    assert len(tool_results(reqs[2])) == 2  # the second round's tools still ran
    assert "I checked the time twice." in r.stdout
    assert "Stopped: this turn reached the limit of 2 model calls per turn" in r.stdout
    assert fake.remaining == 0


def test_cost_cap_stops_the_loop_with_a_summary(agent, fake):
    agent.configure(agent={"max_turn_cost_usd": 0.001})
    fake.script_for("test/free",
                    tool_calls(("c1", "time", "{}"), cost=0.002),
                    text("Spent enough; here is where I am."))
    r = agent.chat("expensive")
    assert r.returncode == 0, r.stderr
    reqs = fake.chat_requests
    assert len(reqs) == 2
    assert reqs[1]["body"].get("tool_choice") == "none"
    assert "agent.max_turn_cost_usd" in reqs[1]["body"]["messages"][-1]["content"]
    assert "cost limit of $0.0010 per turn" in r.stdout


def test_turn_timeout_cancels_the_call_and_summarises(agent, fake):
    agent.configure(agent={"turn_timeout_s": 1})
    fake.script_for("test/free",
                    tool_calls(("c1", "time", "{}"), first_byte_delay=4),
                    text("Out of time."))
    r = agent.chat("slow")
    assert r.returncode == 0, r.stderr
    assert "Out of time." in r.stdout
    assert "agent.turn_timeout_s" in r.stdout
    assert fake.chat_requests[-1]["body"].get("tool_choice") == "none"


def test_model_failure_is_a_clear_error_with_exit_1(agent, fake):
    from fakes.fake_openai import openrouter_error
    fake.script_for("test/free", openrouter_error(400, message="Provider says no"))
    r = agent.chat("hi")
    assert r.returncode == 1
    assert "The model call failed (HTTP 400)" in r.stderr
    assert "Provider says no" in r.stderr


def test_unknown_model_is_refused_before_any_call(agent, fake):
    r = agent.chat("hi", "-m", "nope")
    assert r.returncode == 1
    assert 'There is no model "nope" in model_list.' in r.stderr
    assert fake.chat_requests == []


def test_compression_fires_once_with_one_aux_call_and_the_turn_goes_on(agent, fake):
    # A 1,024-token budget with only the time tool: a few rounds of long assistant text
    # overflow it; the middle is summarised once by `cheap`, then the turn continues.
    agent.configure(agent={"context_tokens": 1024}, toolsets=["time"])
    long = "word " * 150
    fake.script_for("test/free",
                    tool_calls(("c1", "time", "{}"), content=long),
                    tool_calls(("c2", "time", "{}"), content=long),
                    tool_calls(("c3", "time", "{}"), content=long),
                    tool_calls(("c4", "time", "{}"), content=long),
                    text("finished"))
    fake.script_for("test/cheap", text("SUMMARY: the user asked for the time repeatedly."))
    r = agent.chat("start " + "please " * 20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "finished"
    aux = [q for q in fake.chat_requests if q["model"] == "test/cheap"]
    assert len(aux) == 1, "compression must fire exactly once per turn"
    main = [q for q in fake.chat_requests if q["model"] == "test/free"]
    after = [q for q in main if q["n"] > aux[0]["n"]]
    assert after, "the turn continued after compressing"
    joined = json.dumps(messages(after[0]))
    assert "SUMMARY: the user asked" in joined
    # The first user message (the head) is kept verbatim.
    assert messages(after[0])[1]["content"].startswith("start please")
    # Tool calls and their results stay paired in every request.
    for q in main:
        ids = [c["id"] for m in messages(q) if m["role"] == "assistant"
               for c in m.get("tool_calls") or []]
        got = [m["tool_call_id"] for m in messages(q) if m["role"] == "tool"]
        assert ids == got
    assert ", compressed" in r.stderr


def test_failed_compression_is_not_retried_in_the_turn(agent, fake):
    from fakes.fake_openai import openrouter_error
    agent.configure(agent={"context_tokens": 1024}, toolsets=["time"])
    long = "word " * 150
    fake.script_for("test/free",
                    *[tool_calls((f"c{i}", "time", "{}"), content=long) for i in range(6)],
                    text("done anyway"))
    fake.script_for("test/cheap", openrouter_error(400, message="aux down"))
    r = agent.chat("go")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done anyway"
    aux = [q for q in fake.chat_requests if q["model"] == "test/cheap"]
    assert len(aux) == 1
    # Without a summary the oldest middle is left out so each request still fits the budget.
    last = [q for q in fake.chat_requests if q["model"] == "test/free"][-1]
    assert len(last["raw"].encode()) / 4 <= 1024


@pytest.mark.smoke
def test_session_search_finds_an_earlier_session(agent, fake):
    fake.script_for("test/free", text("Noted: your cat is Biscuit."))
    assert agent.chat("My cat is called Biscuit and she hates the vacuum").returncode == 0
    fake.script_for("test/free",
                    tool_calls(("s1", "session_search", '{"query": "cat vacuum"}')),
                    text("Your cat is Biscuit."))
    r = agent.chat("what was my cat's name?")
    assert r.returncode == 0, r.stderr
    res = tool_results(fake.chat_requests[-1])[0]
    assert "session 1 (" in res
    assert "[Biscuit]" not in res and "[cat]" in res and "Biscuit" in res
    # The searching session itself is not among the hits.
    assert "session 2" not in res


def test_cancel_with_sigint_saves_the_session(agent, fake):
    fake.script_for("test/free", text("too late", first_byte_delay=30))
    p = agent.popen_chat("-q", "remember this question")
    fake.wait_requests(1, timeout=20 * SLOW)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20 * SLOW)
    assert p.returncode == 1, err
    assert "(cancelled)" in err
    db = sqlite3.connect(agent.home / "state.db")
    rows = db.execute("SELECT role, content FROM messages").fetchall()
    assert rows == [("user", "remember this question")]


def test_repl_commands_and_session_continuity(agent, fake):
    fake.script_for("test/free", text("first answer"), text("second answer"))
    fake.script_for("test/cheap", text("from cheap"))
    script = "\n".join(["hello", "/usage", "again", "/model cheap", "third", "/model nope",
                        "/new", "/quit", ""])
    p = agent.popen_chat()
    out, err = p.communicate(script, timeout=60 * SLOW)
    assert p.returncode == 0, err
    assert "first answer" in out and "second answer" in out and "from cheap" in out
    assert "1 turns" in out  # /usage after the first turn
    assert "model: cheap" in out
    assert 'no model "nope"' in out
    assert "new session" in out
    reqs = fake.chat_requests
    # The second turn continued the session: it carries the first exchange.
    contents = [m.get("content") for m in messages(reqs[1])]
    assert "hello" in contents and "first answer" in contents
    assert reqs[2]["model"] == "test/cheap"


def test_a_session_title_is_valid_utf8_cut_between_characters(agent, fake):
    """The title (the first line, at most 60 bytes) is shown in `sessions`, Telegram and the
    cockpit: a byte that starts no character becomes U+FFFD and the cut falls between
    characters."""
    fake.script_for("test/free", text("ok"))
    first = "caf\udcff " + "\U0001F525" * 20  # argv byte 0xFF, then 80 bytes of emoji
    assert agent.chat(first + "\nsecond line").returncode == 0
    db = sqlite3.connect(agent.home / "state.db")
    db.text_factory = bytes
    [(title,)] = db.execute("SELECT title FROM sessions").fetchall()
    db.close()
    assert len(title) <= 60
    assert title.decode("utf-8") == "caf\ufffd " + "\U0001F525" * 13, title


def test_sessions_command_lists_shows_and_searches(agent, fake):
    fake.script_for("test/free", text("Paris is the capital."))
    assert agent.chat("capital of France?").returncode == 0
    r = agent.run("sessions", "list")
    assert r.returncode == 0 and "capital of France?" in r.stdout and " cli " in r.stdout
    r = agent.run("sessions", "show", "1")
    assert "user: capital of France?" in r.stdout
    assert "assistant: Paris is the capital." in r.stdout
    r = agent.run("sessions", "search", "Paris")
    assert "session 1" in r.stdout and "[Paris]" in r.stdout
    r = agent.run("sessions", "show", "99")
    assert r.returncode == 1 and "no session 99" in r.stderr
