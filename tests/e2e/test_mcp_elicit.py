"""Questions from MCP servers (elicitation) on the CLI: `hermetic mcp call --elicit
ask|defaults|decline` against real servers that ask: server-everything's
trigger-elicitation-request and tests/peers/elicit_server.cjs (the pinned SDK), whose tools
answer with exactly what reached the server."""
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import SLOW, argv, clean_env
from mcp_harness import NODE, PEERS_DIR, assert_clean_exit, peers, write_config  # noqa: F401

ELICIT_SERVER = PEERS_DIR / "elicit_server.cjs"


@pytest.fixture
def asker(peers, tmp_path):
    """config(**entry options) -> a config with server `asker` (elicit_server.cjs, stdio).
    Its waits scale with SLOW, as test_tg_elicit's: a fixed 20 s connect_timeout expired while
    Node.js started under make test's load."""
    def make(**kw):
        entry = {"command": NODE, "args": [str(ELICIT_SERVER), str(peers.prefix)],
                 "timeout": 10 * SLOW, "connect_timeout": 20 * SLOW, **kw}
        return write_config(tmp_path, {"asker": entry})
    return make


@pytest.fixture
def everything(peers, tmp_path):
    entry = {"command": NODE, "args": [str(PEERS_DIR / "loopback.cjs"),
                                       str(peers.everything_js), "stdio"],
             "timeout": 10 * SLOW, "connect_timeout": 20 * SLOW}
    entry["args"].insert(0, "--require")
    return write_config(tmp_path, {"everything": entry})


def call(config, server, tool, *opts, stdin="", timeout=60):
    """`hermetic mcp call` with options before SERVER and stdin (a pipe: no terminal)."""
    p = subprocess.run(argv("mcp", "call", "--config", str(config), *opts, server, tool),
                       input=stdin, env=clean_env(), capture_output=True, text=True,
                       timeout=timeout * SLOW)
    assert_clean_exit(p, (0, 1))
    return p


def answer(p):
    """What reached elicit_server.cjs: its tool's text, the elicitation result."""
    return json.loads(p.stdout)


def test_defaults_answers_with_every_default_sep1034(asker):
    p = call(asker(), "asker", "defaults", "--elicit", "defaults")
    assert p.returncode == 0, p.stderr
    assert answer(p) == {"action": "accept", "content": {
        "name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": True}}
    assert "asks: Please accept with defaults" in p.stderr


def test_defaults_declines_when_a_required_field_has_no_default(asker):
    p = call(asker(), "asker", "book_table", "--elicit", "defaults")
    assert answer(p) == {"action": "decline"}
    assert "guests: required, and it has no default" in p.stderr


def test_ask_reads_typed_answers_one_field_at_a_time(asker):
    # guests: a wrong answer first (re-asked), then 4; time by number; outside as "n";
    # note typed; name: Enter takes its default
    p = call(asker(), "asker", "book_table", "--elicit", "ask",
             stdin="13\n4\n2\nn\nwindow please\n\n")
    assert answer(p) == {"action": "accept", "content": {
        "guests": 4, "time": "20:00", "outside": False, "note": "window please",
        "name": "Ada"}}
    assert "guests: 13 is above the maximum 12" in p.stderr
    assert "1. Early" in p.stderr and "2. Late" in p.stderr


def test_ask_takes_an_enum_by_its_title_and_leaves_optional_fields_out(asker):
    p = call(asker(), "asker", "book_table", "--elicit", "ask", stdin="2\nearly\n\n\n\n")
    assert answer(p) == {"action": "accept", "content": {
        "guests": 2, "time": "18:00", "name": "Ada"}}


@pytest.mark.parametrize("stdin,action", [("/decline\n", "decline"), ("/cancel\n", "cancel"),
                                          ("3\n", "cancel")],  # end of input: cancel
                         ids=["decline", "cancel", "eof"])
def test_ask_declines_or_cancels(asker, stdin, action):
    p = call(asker(), "asker", "book_table", "--elicit", "ask", stdin=stdin)
    assert answer(p) == {"action": action}


def test_without_elicit_and_no_terminal_the_question_is_declined(asker):
    p = call(asker(), "asker", "book_table", stdin="4\n1\n")
    assert answer(p) == {"action": "decline"}
    assert "stdin is not a terminal" in p.stderr


def test_decline_declines(asker):
    p = call(asker(), "asker", "defaults", "--elicit", "decline")
    assert answer(p) == {"action": "decline"}


def test_url_mode_shows_the_link_and_accepts_after_enter(asker):
    p = call(asker(), "asker", "pay", "--elicit", "ask", stdin="\n")
    assert answer(p) == {"action": "accept"}
    assert "https://pay.example/confirm/42" in p.stderr
    p = call(asker(), "asker", "pay", "--elicit", "defaults")
    assert answer(p) == {"action": "decline"}


@pytest.mark.parametrize("stdin,action", [("\n", "accept"), ("y\n", "accept"),
                                          ("/decline\n", "decline")])
def test_a_form_without_fields_is_a_confirmation(asker, stdin, action):
    """Nothing to fill in: Enter (or anything but /decline, /cancel) accepts, no field is
    asked for."""
    p = call(asker(), "asker", "confirm", "--elicit", "ask", stdin=stdin)
    assert answer(p) == ({"action": "accept", "content": {}} if action == "accept"
                         else {"action": action})
    assert "Delete the draft?" in p.stderr
    assert "(null)" not in p.stderr and "[string]" not in p.stderr, p.stderr
    assert "Enter accepts" in p.stderr

def test_the_call_timeout_does_not_run_while_the_human_answers(asker):
    """The server's timeout is 2 s; the answer comes after 4 s and the call still succeeds."""
    r, w = os.pipe()
    proc = subprocess.Popen(argv("mcp", "call", "--config", str(asker(timeout=2)), "--elicit",
                                 "ask", "asker", "defaults"),
                            stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(), text=True)
    os.close(r)
    threading.Timer(4, lambda: (os.write(w, b"\n" * 5), os.close(w))).start()
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30 * SLOW)
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 >= 4
    assert json.loads(out)["action"] == "accept"


def test_elicit_option_is_checked_and_stands_before_server(asker):
    p = subprocess.run(argv("mcp", "call", "--config", str(asker()), "--elicit", "maybe",
                            "asker", "defaults"),
                       env=clean_env(), capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "--elicit takes ask, defaults or decline, not maybe" in p.stderr


def test_server_everything_form_with_multi_selects(everything):
    """server-everything's 13-field form: strings with formats, numbers, enums of each kind,
    multi-selects; every answer reaches it as typed."""
    stdin = "\n".join(["Ada Lovelace", "y", "", "ada@example.org", "https://ada.example",
                       "1815-12-10", "7", "", "Joey", "2,3", "Wonder Woman", "", "2"]) + "\n"
    p = call(everything, "everything", "trigger-elicitation-request", "--elicit", "ask",
             stdin=stdin)
    assert p.returncode == 0, p.stderr
    raw = json.loads(p.stdout.split("Raw result:", 1)[1])
    assert raw["action"] == "accept"
    c = raw["content"]
    assert c["name"] == "Ada Lovelace" and c["check"] is True
    assert c["integer"] == 7 and c["number"] == 3.14
    assert c["untitledSingleSelectEnum"] == "Joey"
    assert c["untitledMultipleSelectEnum"] == ["Piano", "Violin"]
    assert c["titledSingleSelectEnum"] == "hero-3"
    assert c["titledMultipleSelectEnum"] == ["fish-1"]
    assert c["legacyTitledEnum"] == "pet-2"
