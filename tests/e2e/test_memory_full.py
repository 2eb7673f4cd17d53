"""Memory that never fills silently (issue 19): a memory write that would pass the file's bound
makes one auxiliary call (auxiliary.memory, by default the compression model) that condenses the
other entries; the old file is kept in memories/.history, the pending entry is added as written,
and the human reads one line about it after the answer. An answer that does not pass the checks
(too long, empty) or a failed call leaves the file byte for byte as it was, and the human is told
that the write did not fit. A turn that read untrusted text never condenses: its write is a
proposal, as before. Run through `hermetic chat -q` against the scripted fake model."""
import json
import re
import urllib.request

import pytest

from agent_harness import agent, agent_config, fake, tool_results  # noqa: F401
from conftest import SLOW, http_get, to_yaml
from fakes.fake_openai import hang, openrouter_error, text, tool_calls
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

MAX = 400  # memory.max_chars of these tests; a condensed file may hold 70% of it
ENTRIES = [f"Fact {i}: the rack in the hallway holds Pi number {i} of the cluster."
           for i in range(6)]
SEEDED = "\n§\n".join(ENTRIES) + "\n"  # over the bound, as a hand edit could leave it
SEEDED_CHARS = len(SEEDED) - 1
NEW = "The user's cat is called Miso."
CONDENSED = ("Facts 0-5: the hallway rack holds Pis 0 to 5 of the cluster.\n§\n"
             "The NAS is in the attic.")
NOTICE = "Memory was full; I condensed MEMORY.md from"


def memories(agent):
    return agent.home / "memories"


def seed(agent, content=SEEDED):
    memories(agent).mkdir(parents=True, exist_ok=True)
    (memories(agent) / "MEMORY.md").write_text(content)


def history(agent, prefix="MEMORY.md."):
    d = memories(agent) / ".history"
    return sorted(p for p in d.iterdir() if p.name.startswith(prefix)) if d.exists() else []


def aux_requests(fake):
    return [r for r in fake.chat_requests if r["body"]["model"] == "test/cheap"]


def add(content, cid="c1", target="memory"):
    return (cid, "memory", json.dumps({"action": "add", "target": target, "content": content}))


def run_turn(agent, fake, *rounds):
    """Scripts the model's tool-call rounds and an answer "ok"; returns the chat's result and the
    tool results of the last round."""
    fake.script_for("test/free", *[tool_calls(*r) for r in rounds], text("ok"))
    before = len([r for r in fake.chat_requests if r["body"]["model"] == "test/free"])
    r = agent.chat("remember this")
    free = [q for q in fake.chat_requests if q["body"]["model"] == "test/free"]
    return r, tool_results(free[before + len(rounds)]) if len(free) > before + len(rounds) else []


@pytest.fixture
def full(agent):
    agent.configure(memory={"max_chars": MAX})
    # The seeded file is over the bound as a hand edit could leave it; a new entry never fits.
    seed(agent)
    return agent


def test_a_full_file_is_condensed_once_and_the_entry_added(full, fake):
    agent = full
    fake.script_for("test/cheap", text(CONDENSED))
    r, res = run_turn(agent, fake, [add(NEW)])
    assert r.returncode == 0, r.stderr
    # Exactly one auxiliary call, to the compression model (auxiliary.memory's default), with
    # the file's entries and the bound it must meet.
    aux = aux_requests(fake)
    assert len(aux) == 1, aux
    sent = "\n".join(m["content"] for m in aux[0]["body"]["messages"])
    for e in ENTRIES:
        assert e in sent
    assert "280" in sent  # 70% of 400
    assert NEW not in sent  # the pending entry is kept as written, not condensed
    # The file: the condensed entries, then the pending one.
    assert (memories(agent) / "MEMORY.md").read_text() == CONDENSED + "\n§\n" + NEW + "\n"
    # The old version is kept, byte for byte.
    kept = history(agent)
    assert len(kept) == 1 and kept[0].read_text() == SEEDED
    assert (kept[0].stat().st_mode & 0o777) == 0o600
    # The model reads that it worked and how; the human reads one line after the answer.
    assert res[0].startswith("Added to MEMORY.md"), res[0]
    assert "condensed" in res[0] and ".history/MEMORY.md." in res[0]
    out = r.stdout.strip()
    assert out.startswith("ok\n\n"), out
    assert out.count(NOTICE) == 1, out
    assert SEEDED_CHARS > MAX
    chars = len(CONDENSED) + 3 + len(NEW)
    assert (f"from {SEEDED_CHARS} to {chars} characters "
            "(old version kept in memories/.history).") in out
    # The notice is for the human, not the session's history.
    fake.script_for("test/free", text("again"))
    n = len(fake.chat_requests)
    assert agent.run("chat", input="hello\n").returncode == 0
    assert fake.chat_requests[n:] and NOTICE not in fake.chat_requests[n]["raw"]


def test_a_second_overflow_in_the_same_turn_is_refused_and_told(full, fake):
    agent = full
    # Condensed to just under 70% (280): the next entry of 100 characters would need a second
    # condensing call, although it is short enough for one.
    condensed = "\n§\n".join(["Hallway rack: Pis 0 to 5 of the cluster; " + "n" * 200,
                                "The NAS is in the attic."])
    assert len(condensed) <= 280
    fake.script_for("test/cheap", text(condensed))
    big = "Long note: " + "b" * 89
    r, res = run_turn(agent, fake, [add(NEW)], [add(big, "c2")])
    assert r.returncode == 0, r.stderr
    assert len(aux_requests(fake)) == 1  # at most one condensing call per file per turn
    assert res[-1].startswith("Error") and "condensed once in this turn" in res[-1], res[-1]
    text_ = (memories(agent) / "MEMORY.md").read_text()
    assert NEW in text_ and big.strip() not in text_
    out = r.stdout
    assert out.count(NOTICE) == 1, out
    assert out.count("Memory is full: a new entry did not fit in MEMORY.md") == 1, out


@pytest.mark.parametrize("answer", [
    text("Everything about the rack and the cluster, kept word for word. " * 6),  # too long
    text(""),  # nothing
    text("§\n§\n"),  # no entries
    openrouter_error(502),  # the call failed
], ids=["too_long", "empty", "no_entries", "upstream_error"])
def test_a_bad_condensation_changes_nothing_and_the_user_is_told(full, fake, answer):
    agent = full
    fake.script_for("test/cheap", answer)
    before = (memories(agent) / "MEMORY.md").read_bytes()
    r, res = run_turn(agent, fake, [add(NEW)])
    assert r.returncode == 0, r.stderr
    assert len(aux_requests(fake)) == 1
    assert (memories(agent) / "MEMORY.md").read_bytes() == before
    assert history(agent) == []
    assert res[0].startswith("Error") and "Condensing MEMORY.md with one model call failed" \
        in res[0], res[0]
    out = r.stdout
    assert out.count("Memory is full: a new entry did not fit in MEMORY.md") == 1, out
    assert "condensing it failed" in out and "the file is unchanged" in out, out
    assert NOTICE not in out


def test_a_condensing_call_cut_by_the_tool_timeout_changes_nothing(full, fake):
    agent = full
    agent.configure(memory={"max_chars": MAX}, agent={"tool_timeout_s": 1})
    fake.script_for("test/cheap", hang())
    before = (memories(agent) / "MEMORY.md").read_bytes()
    r, res = run_turn(agent, fake, [add(NEW)])
    assert r.returncode == 0, r.stderr
    assert "timed out" in res[0], res[0]
    assert (memories(agent) / "MEMORY.md").read_bytes() == before
    assert history(agent) == []
    assert "condensing it failed (the model call was stopped before it answered)" \
        in r.stdout, r.stdout


def test_an_entry_too_long_for_any_condensed_file_makes_no_call(full, fake):
    agent = full
    before = (memories(agent) / "MEMORY.md").read_bytes()
    r, res = run_turn(agent, fake, [add("x" * 150)])  # > 30% of the bound
    assert r.returncode == 0, r.stderr
    assert aux_requests(fake) == []
    assert (memories(agent) / "MEMORY.md").read_bytes() == before
    assert "Memory is full: a new entry did not fit in MEMORY.md" in r.stdout
    assert "not condensed (the new entry is too long to fit even then)" in r.stdout


def test_a_tainted_turn_does_not_condense_its_write_waits_for_approval(full, fake):
    agent = full
    before = (memories(agent) / "MEMORY.md").read_bytes()
    # session_search returns other sessions' text: untrusted, so the turn is tainted.
    r, res = run_turn(agent, fake,
                      [("c0", "session_search", json.dumps({"query": "rack"}))], [add(NEW)])
    assert r.returncode == 0, r.stderr
    assert res[-1].startswith("Not applied yet"), res[-1]
    assert aux_requests(fake) == []
    assert (memories(agent) / "MEMORY.md").read_bytes() == before
    assert history(agent) == [] and NOTICE not in r.stdout
    # Approved later, the write meets the bound as any write does: no model call, refused.
    pid = re.search(r"proposal ([0-9a-f]{6})", res[-1]).group(1)
    ap = agent.run("proposals", "approve", pid)
    assert "would be" in ap.stdout + ap.stderr, ap.stdout + ap.stderr
    assert aux_requests(fake) == []
    assert (memories(agent) / "MEMORY.md").read_bytes() == before
    # The same write from a turn that read nothing untrusted (a new session) condenses: only the
    # taint held it back.
    fake.script_for("test/cheap", text(CONDENSED))
    r, res = run_turn(agent, fake, [add(NEW)])
    assert r.returncode == 0, r.stderr
    assert len(aux_requests(fake)) == 1 and NOTICE in r.stdout, r.stdout


def test_history_keeps_the_newest_versions_only(full, fake):
    agent = full
    agent.configure(memory={"max_chars": MAX, "history_keep": 2})
    d = memories(agent) / ".history"
    d.mkdir(parents=True)
    for stamp in ("20200101T000000.000Z", "20210101T000000.000Z", "20220101T000000.000Z"):
        (d / f"MEMORY.md.{stamp}").write_text("old " + stamp)
    (d / "USER.md.20200101T000000.000Z").write_text("another file's")
    fake.script_for("test/cheap", text(CONDENSED))
    r, res = run_turn(agent, fake, [add(NEW)])
    assert r.returncode == 0, r.stderr
    kept = history(agent)
    assert len(kept) == 2, kept
    assert kept[0].name == "MEMORY.md.20220101T000000.000Z"
    assert kept[1].read_text() == SEEDED
    assert history(agent, "USER.md.") != []  # only MEMORY.md's versions are pruned


def test_auxiliary_memory_names_its_own_model(full, fake):
    agent = full
    agent.configure(memory={"max_chars": MAX},
                    auxiliary={"compression": "cheap", "memory": "free"})
    fake.script_for("test/free", tool_calls(add(NEW)), text(CONDENSED), text("ok"))
    r = agent.chat("remember this")
    assert r.returncode == 0, r.stderr
    assert aux_requests(fake) == []
    assert (memories(agent) / "MEMORY.md").read_text() == CONDENSED + "\n§\n" + NEW + "\n"
    assert NOTICE in r.stdout


def test_the_gateway_reply_carries_the_notice_and_the_turn_pays_the_call(gateway, fake, tmp_path):
    api_key = "sk-e2e-memory-full-api-7f2a"
    cfg = agent_config(fake, "{home}", memory={"max_chars": MAX},
                       api={"listen": "127.0.0.1:{port}", "key": "os.environ/API_SERVER_KEY"})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace("{{home}}", "{home}").replace("{{port}}", "{port}")
    g = gateway(text_, env={UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": api_key})
    (g.home / "memories").mkdir(parents=True, exist_ok=True)
    (g.home / "memories" / "MEMORY.md").write_text(SEEDED)
    fake.script_for("test/free", tool_calls(add(NEW), cost=0.001), text("ok", cost=0.002))
    fake.script_for("test/cheap", text(CONDENSED, cost=0.004))
    body = json.dumps({"user": "full", "messages": [{"role": "user", "content": "remember"}]})
    req = urllib.request.Request(g.url + "/v1/chat/completions", data=body.encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {api_key}"}, method="POST")
    with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
        out = json.loads(r.read())
    content = out["choices"][0]["message"]["content"]
    assert content.startswith("ok\n\n") and content.count(NOTICE) == 1, content
    # The condensing call is part of the turn's cost and of the router's requests.
    assert out["usage"]["cost"] == pytest.approx(0.007)
    _, _, metrics = http_get(g.url + "/metrics")
    served = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("litellm_requests_metric_total{"))
    assert served == 3
    # And of the ledger: one row for the condensing call, at its cost, with the turn's two.
    import sqlite3
    import time
    deadline, rows = time.monotonic() + 5 * SLOW, []
    while len(rows) < 3 and time.monotonic() < deadline:  # rows are group-committed (20 ms)
        db = sqlite3.connect(g.home / "state.db")
        rows = db.execute("SELECT model_group, cost_usd FROM spend ORDER BY id").fetchall()
        db.close()
        time.sleep(0.02)
    assert sorted(rows) == [("cheap", 0.004), ("free", 0.001), ("free", 0.002)], rows
    assert len(aux_requests(fake)) == 1
    assert (g.home / "memories" / "MEMORY.md").read_text() == CONDENSED + "\n§\n" + NEW + "\n"
