"""Background tasks and `delegate` subagents through the real gateway, with the scripted fake
model and the fake Telegram. The task's own agent answers on model group `free` (test/free);
children are told to use `cheap` (test/cheap) and grandchildren `deep` (test/deep), so each
level has its own script queue and the requests of each level can be told apart.

What is proved: /bg is acknowledged at once and the chat stays free while the task runs, the
result arrives once through the outbox; a child's request holds only its goal and context
(no parent history) and the tools it was given; max_depth refuses a grandchild's delegate;
max_parallel_children and max_running hold; a tree budget stops everything within one call's
cost and says which limit; a kill -9 in the middle of a tree does not run a stored child
again and delivers the result once; Stop and Steer work from Telegram; a failed child is
reported to the parent and the result is still delivered; the API and the CLI.
"""
import json
import sqlite3
import subprocess
import time
import urllib.request

import pytest

from agent_harness import agent_config, fake, messages, tool_results  # noqa: F401
from conftest import SLOW, Gateway, argv, clean_env, to_yaml
from fakes.fake_openai import error, text, tool_calls
from fakes.fake_telegram import FakeTelegram, callback_data_of
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, deployment

TOKEN = "123456:TEST-e2e-SECRET-token"
CHAT = 1001


@pytest.fixture
def tg():
    with FakeTelegram(token=TOKEN) as t:
        t.add_chat(CHAT)
        yield t


@pytest.fixture
def gateway(tmp_path, fake, tg):
    started = []

    def make(tasks=None, **sections):
        cfg = agent_config(
            fake, "HOME", api={"listen": "127.0.0.1:PORT"},
            telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [CHAT],
                      "api_base": tg.url, "poll_timeout_s": 1, "stream": "off",
                      "progress": "off"},
            tasks=tasks or {}, **sections)
        cfg["model_list"].append(deployment("deep", "test/deep", fake))
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        if started:  # a restart: the same home, config and port
            g = started[-1]
            g.start()
            return g
        g = Gateway(tmp_path, text_, {UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
        started.append(g)
        return g.start()

    yield make
    for g in started:
        g.kill()
        assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()


def wait_for(what, pred, timeout=20):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def rows(g):
    db = sqlite3.connect(g.home / "state.db")
    db.row_factory = sqlite3.Row
    out = [dict(r) for r in db.execute("SELECT * FROM tasks ORDER BY id")]
    db.close()
    return out


def sent(tg):
    return tg.sent(CHAT)


def results(tg):
    """The bot's messages that carry a task's result (done, stopped by a limit, failed)."""
    return [s for s in sent(tg) if s.startswith("Task ") and
            (" done " in s[:20] or "stopped:" in s or "failed" in s[:25])]


def reqs(fake, model):
    return [r for r in fake.chat_requests if r["model"] == model]


def tool_names(req):
    return sorted(t["function"]["name"] for t in req["body"].get("tools", []))


def delegate(*goals):
    return json.dumps({"tasks": list(goals)})


def child_answer(summary, findings=(), could_not=()):
    return text(json.dumps({"summary": summary, "findings": list(findings),
                            "could_not_do": list(could_not)}), cost=0.0001)


def test_bg_is_acknowledged_at_once_and_its_result_arrives_while_the_chat_stays_free(
        gateway, tg, fake):
    fake.script_for("test/free",
                    text("The long answer: 42.", cost=0.0002, first_byte_delay=2.5 * SLOW),
                    text("Hi there!"))
    g = gateway()
    tg.push_text("/bg work out the answer", chat_id=CHAT)
    ack = wait_for("the ack", lambda: [s for s in sent(tg) if "started in the background" in s])
    assert ack[0].startswith("Task 1 started")
    # The chat is free: a message while the task works is answered before the task's result.
    wait_for("the task's call", lambda: reqs(fake, "test/free"))
    tg.push_text("hello", chat_id=CHAT)
    wait_for("the chat's answer", lambda: "Hi there!" in sent(tg))
    assert results(tg) == []
    [res] = wait_for("the result", lambda: results(tg))
    assert "Task 1 done" in res and "The long answer: 42." in res
    assert sent(tg).index("Hi there!") < sent(tg).index(res)
    task_req = reqs(fake, "test/free")[0]
    system = messages(task_req)[0]["content"]
    assert "background task 1" in system
    assert messages(task_req)[-1]["content"] == "work out the answer"
    [row] = rows(g)
    assert row["state"] == "done" and row["delivered"] == 1 and row["origin"] == "telegram:1001"
    assert row["spent_usd"] == pytest.approx(0.0002)
    # Delivered once: a restart does not send it again.
    g.stop()
    gateway()
    time.sleep(1.5 * SLOW)
    assert len(results(tg)) == 1


def test_children_get_fresh_contexts_their_tools_and_report_to_the_parent(gateway, tg, fake):
    goals = [{"goal": "Find the capital of France", "context": "Answer with one word.",
              "tools": ["time"], "model": "cheap"},
             {"goal": "Find the capital of Peru", "tools": ["time"], "model": "cheap"}]
    fake.script_for("test/free",
                    tool_calls(("d1", "delegate", delegate(*goals)), cost=0.0001),
                    text("Paris and Lima.", cost=0.0001))
    fake.script_for("test/cheap", child_answer("Paris", ["capital: Paris"]),
                    child_answer("Lima", could_not=["check the population"]))
    g = gateway(tasks={"max_depth": 1})
    tg.push_text("/bg SECRET-PARENT-HISTORY find two capitals", chat_id=CHAT)
    [res] = wait_for("the result", lambda: results(tg))
    assert "Paris and Lima." in res
    kids = reqs(fake, "test/cheap")
    assert len(kids) == 2
    for k in kids:
        msgs = messages(k)
        # a fresh context: the system prompt and the goal, nothing of the parent's
        assert [m["role"] for m in msgs] == ["system", "user"]
        assert "SECRET-PARENT-HISTORY" not in k["raw"]
        assert "subagent" in msgs[0]["content"]
        # only the tools it was given; max_depth 1: no delegate for a child
        assert tool_names(k) == ["time"]
    users = sorted(messages(k)[1]["content"] for k in kids)
    assert users[0].startswith("Find the capital of France")
    assert "Context from the agent that asked:\nAnswer with one word." in users[0]
    assert users[1] == "Find the capital of Peru"
    # the parent offered delegate, and reads both structured results
    assert "delegate" in tool_names(reqs(fake, "test/free")[0])
    [answer] = tool_results(reqs(fake, "test/free")[1])
    got = json.loads(answer)["results"]
    assert [r["status"] for r in got] == ["done", "done"]
    by_goal = {r["goal"]: r for r in got}
    assert {by_goal[goals[0]["goal"]]["summary"], by_goal[goals[1]["goal"]]["summary"]} == \
        {"Paris", "Lima"}
    assert all(r["cost_usd"] == pytest.approx(0.0001) for r in got)
    tree = rows(g)
    assert [r["depth"] for r in tree] == [0, 1, 1]
    assert all(r["root"] == tree[0]["id"] for r in tree)
    assert tree[0]["state"] == "done"
    # The audit trail: each child's start and end with its cost, under the task's id; the
    # router's attempts carry source task:<node> and purpose task / subagent.
    trail = [json.loads(line)
             for line in (g.home / "logs" / "audit.jsonl").read_text().splitlines()]
    nodes = [l for l in trail if l["kind"] == "task"]
    for kid in tree[1:]:
        mine = [l for l in nodes if l["node"] == kid["id"]]
        assert [l["event"] for l in mine] == ["start", "end"]
        assert all(l["task"] == tree[0]["id"] and l["depth"] == 1 for l in mine)
        assert mine[1]["outcome"] == "done" and mine[1]["cost_usd"] == pytest.approx(0.0001)
    attempts = {(l["source"], l["purpose"]) for l in trail if l["kind"] == "attempt"}
    assert attempts == {("task:1", "task"), ("task:2", "subagent"), ("task:3", "subagent")}


def test_max_depth_two_runs_grandchildren_and_refuses_a_grandchilds_delegate(gateway, tg, fake):
    fake.script_for("test/free",
                    tool_calls(("d1", "delegate", delegate({"goal": "level one",
                                                             "model": "cheap"}))),
                    text("root done"))
    fake.script_for("test/cheap",
                    tool_calls(("d2", "delegate", delegate({"goal": "level two",
                                                             "model": "deep"}))),
                    child_answer("child done"))
    fake.script_for("test/deep",
                    tool_calls(("d3", "delegate", delegate({"goal": "level three"}))),
                    child_answer("grandchild done"))
    g = gateway(tasks={"max_depth": 2})
    tg.push_text("/bg go deep", chat_id=CHAT)
    [res] = wait_for("the result", lambda: results(tg))
    assert "root done" in res
    assert "delegate" in tool_names(reqs(fake, "test/free")[0])
    assert "delegate" in tool_names(reqs(fake, "test/cheap")[0])  # depth 1 may
    deep = reqs(fake, "test/deep")
    assert "delegate" not in tool_names(deep[0])  # depth 2 may not
    [refused] = tool_results(deep[1])
    assert refused.startswith("Error:") and "delegate" in refused
    assert [r["depth"] for r in rows(g)] == [0, 1, 2]  # no depth-3 row was made


def test_parallel_children_and_running_tasks_are_capped(gateway, tg, fake):
    goals = [{"goal": f"part {i}", "model": "cheap"} for i in range(4)]
    fake.script_for("test/free", tool_calls(("d1", "delegate", delegate(*goals))),
                    text("all parts"), text("second task done"))
    fake.script_for("test/cheap",
                    *[text(json.dumps({"summary": f"p{i}"}), first_byte_delay=0.8 * SLOW)
                      for i in range(4)])
    g = gateway(tasks={"max_parallel_children": 2, "max_running": 1})
    tg.push_text("/bg four parts", chat_id=CHAT)
    tg.push_text("/bg a second task", chat_id=CHAT)
    wait_for("both results", lambda: len(results(tg)) == 2, timeout=40)
    kids = reqs(fake, "test/cheap")
    starts = sorted(k["monotonic"] for k in kids)
    # two at once: the third starts only after one of the first two answered (0.8 s each)
    assert starts[1] - starts[0] < 0.6 * SLOW
    assert starts[2] - starts[0] >= 0.7
    assert starts[3] - starts[1] >= 0.7
    # max_running 1: the second task's call comes after the first task's last call
    free = reqs(fake, "test/free")
    assert messages(free[2])[-1]["content"] == "a second task"
    assert free[2]["monotonic"] >= free[1]["monotonic"]
    assert all("Task 1 done" in r or "Task 2 done" in r for r in results(tg))


def test_a_tree_budget_stops_everything_within_one_calls_cost(gateway, tg, fake):
    goals = [{"goal": f"expensive {i}", "model": "cheap"} for i in range(3)]
    fake.script_for("test/free", tool_calls(("d1", "delegate", delegate(*goals)), cost=0.004),
                    text("must not be reached"))
    fake.script_for("test/cheap", *[text(json.dumps({"summary": f"found {i}"}), cost=0.004)
                                    for i in range(3)])
    g = gateway(tasks={"max_parallel_children": 1, "budget": {"usd": 0.01}})
    tg.push_text("/bg spend", chat_id=CHAT)
    [res] = wait_for("the result", lambda: results(tg))
    assert "stopped: it reached the tree's budget of $0.0100 (tasks.budget.usd)" in res
    assert "found 0" in res  # the partial result is delivered
    # root 0.004 + child 0.004 = 0.008; the next call (0.004 more) would pass 0.01: refused
    assert len(fake.chat_requests) == 2
    tree = rows(g)
    spent = sum(r["spent_usd"] for r in tree)
    assert spent <= 0.01 + 0.004
    assert tree[0]["state"] == "budget"
    assert {r["state"] for r in tree[1:]} <= {"done", "budget"}


def test_a_compression_call_reserves_against_the_tree_budget_before_it_leaves(
        gateway, tg, fake):
    # A 1,024-token context: after two rounds the history is compressed by `cheap` before the
    # third call (measured: cheap is the third request without a budget). $0.0025 holds two
    # $0.001 calls; the compression call would be the third: refused before it leaves.
    long = "word " * 150
    fake.script_for("test/free", *[tool_calls((f"c{i}", "time", "{}"), content=long,
                                              cost=0.001) for i in range(4)], text("never"))
    fake.script_for("test/cheap", text("SUMMARY of the middle"))
    g = gateway(tasks={"max_depth": 0, "budget": {"usd": 0.0025}},
                agent={"context_tokens": 1024}, toolsets=["time"])
    tg.push_text("/bg keep asking the time", chat_id=CHAT)
    [res] = wait_for("the result", lambda: results(tg))
    assert "stopped: it reached the tree's budget of $0.0025 (tasks.budget.usd)" in res
    assert reqs(fake, "test/cheap") == []  # the compression request never left
    assert len(reqs(fake, "test/free")) == 2
    [row] = rows(g)
    assert row["state"] == "budget" and row["spent_usd"] == pytest.approx(0.002)


def test_a_compression_call_inside_a_task_counts_in_the_tree(gateway, tg, fake):
    long = "word " * 150
    fake.script_for("test/free", *[tool_calls((f"c{i}", "time", "{}"), content=long,
                                              cost=0.001) for i in range(2)], text("end"))
    fake.script_for("test/cheap", text("SUMMARY of the middle", cost=0.0005))
    g = gateway(tasks={"max_depth": 0}, agent={"context_tokens": 1024}, toolsets=["time"])
    tg.push_text("/bg keep asking the time", chat_id=CHAT)
    [res] = wait_for("the result", lambda: results(tg))
    assert len(reqs(fake, "test/cheap")) == 1
    assert "4 model calls" in res  # three of the task's own and the compression call
    [row] = rows(g)
    assert row["spent_usd"] == pytest.approx(0.0025)  # 2 x 0.001 + 0.0005


def test_kill_9_mid_tree_resumes_without_rerunning_a_stored_child_and_delivers_once(
        gateway, tg, fake):
    goals = [{"goal": "quick part", "model": "cheap"}, {"goal": "slow part", "model": "cheap"}]
    fake.script_for("test/free", tool_calls(("d1", "delegate", delegate(*goals))))
    fake.script_for("test/cheap", child_answer("quick done"),
                    text("never answered", first_byte_delay=60))
    g = gateway(tasks={"max_parallel_children": 1})
    tg.push_text("/bg two parts", chat_id=CHAT)
    wait_for("the slow child's call", lambda: len(reqs(fake, "test/cheap")) == 2)
    quick = [r for r in rows(g) if r["prompt"] == "quick part"][0]
    assert quick["state"] == "done"
    g.proc.kill()
    g.proc.wait()
    n_before = len(fake.chat_requests)
    # After the restart the root's stored answer (its delegate call) is acted on, not asked
    # for again: the root's one new call is the one that reads the children's results.
    fake.script_for("test/free", text("both parts done"))
    fake.script_for("test/cheap", child_answer("slow done"))
    gateway(tasks={"max_parallel_children": 1})
    [res] = wait_for("the result", lambda: results(tg))
    assert "both parts done" in res
    after = fake.chat_requests[n_before:]
    assert len([r for r in after if r["model"] == "test/free"]) == 1
    assert len(reqs(fake, "test/free")) == 2  # one before the kill, one after: none repeated
    last = reqs(fake, "test/free")[-1]
    assert "interrupted" not in last["raw"]  # the stored delegate call was run, not abandoned
    assert [m["tool_call_id"] for m in messages(last) if m["role"] == "tool"] == ["d1"]
    kids = [r for r in after if r["model"] == "test/cheap"]
    assert len(kids) == 1 and "slow part" in kids[0]["raw"]  # the quick child was not re-run
    [answer] = tool_results(reqs(fake, "test/free")[-1])[-1:]
    got = {r["goal"]: r for r in json.loads(answer)["results"]}
    assert got["quick part"]["from_journal"] is True and got["quick part"]["summary"] == \
        "quick done"
    assert got["slow part"]["summary"] == "slow done"
    # the slow child continued its own session: its goal is in it once
    assert kids[0]["raw"].count("slow part") == 1
    g.stop()
    gateway(tasks={"max_parallel_children": 1})
    time.sleep(1.5 * SLOW)
    assert len(results(tg)) == 1


def test_stop_and_steer_from_telegram(gateway, tg, fake):
    fake.script_for("test/free",
                    tool_calls(("t1", "time", "{}"), first_byte_delay=4 * SLOW),
                    text("steered answer"),
                    text("never", first_byte_delay=30))
    g = gateway()
    tg.push_text("/bg watch something", chat_id=CHAT)
    wait_for("the first call", lambda: reqs(fake, "test/free"))
    tg.push_text("/tasks", chat_id=CHAT)
    listing = wait_for("the list", lambda: [m for m in tg.messages(CHAT)
                                            if m.get("reply_markup") and "#1" in m["text"]])
    assert "running" in listing[0]["text"]
    buttons = callback_data_of(listing[0]["reply_markup"])
    assert buttons == ["t:s:1", "t:g:1"]
    tg.press(CHAT, listing[0]["message_id"], "t:g:1", user_id=CHAT)
    wait_for("the steer prompt", lambda: [s for s in sent(tg) if "What should task 1 know" in s])
    tg.push_text("Focus on the weather", chat_id=CHAT)
    try:
        wait_for("the steer ack", lambda: [s for s in sent(tg) if "reads that at its next step" in s])
    except AssertionError:
        raise AssertionError((sent(tg), g.stderr()[-3000:]))
    [res] = wait_for("the result", lambda: results(tg))
    assert "steered answer" in res
    second = reqs(fake, "test/free")[1]
    guide = [m["content"] for m in messages(second) if m["role"] == "user"][-1]
    assert "Guidance from the owner" in guide and "Focus on the weather" in guide
    # Stop: a second task is stopped before its call returns; no result follows.
    tg.push_text("/bg wait forever", chat_id=CHAT)
    wait_for("its call", lambda: len(reqs(fake, "test/free")) == 3)
    tg.push_text("/tasks", chat_id=CHAT)
    listing = wait_for("the list", lambda: [m for m in tg.messages(CHAT)
                                            if m.get("reply_markup") and "#2" in m["text"]])
    tg.press(CHAT, listing[-1]["message_id"], "t:s:2", user_id=CHAT)
    wait_for("the stopped note", lambda: "Task 2 stopped." in sent(tg))
    time.sleep(0.5 * SLOW)
    assert [r for r in results(tg) if "Task 2" in r] == []
    assert [r["state"] for r in rows(g)] == ["done", "stopped"]


def guidance(req):
    return [m["content"] for m in messages(req) if m["role"] == "user"
            and "Guidance from the owner" in m["content"]]


def test_steer_reaches_the_running_children_and_a_named_child_alone(gateway, tg, fake):
    goals = [{"goal": "part a", "model": "cheap", "tools": ["time"]},
             {"goal": "part b", "model": "deep", "tools": ["time"]}]
    fake.script_for("test/free", tool_calls(("d1", "delegate", delegate(*goals))),
                    text("parts combined"))
    fake.script_for("test/cheap", tool_calls(("a1", "time", "{}"), first_byte_delay=3 * SLOW),
                    tool_calls(("a2", "time", "{}"), first_byte_delay=2 * SLOW),
                    child_answer("a done"))
    fake.script_for("test/deep", tool_calls(("b1", "time", "{}"), first_byte_delay=3 * SLOW),
                    child_answer("b done"))
    g = gateway(tasks={"max_parallel_children": 2})
    status, body = api(g, "POST", "/v1/tasks", {"prompt": "two parts"})
    tid = body["id"]
    wait_for("both children's first calls",
             lambda: reqs(fake, "test/cheap") and reqs(fake, "test/deep"))
    kids = {r["prompt"]: r["id"] for r in rows(g) if r["parent"]}
    # Guidance longer than a goal (8,000 bytes) is refused, not cut, and reaches nobody...
    assert api(g, "POST", f"/v1/tasks/{tid}/steer", {"text": "x" * 8001})[0] == 400
    # ...guidance for the task goes to every node of the tree not ended yet...
    assert api(g, "POST", f"/v1/tasks/{tid}/steer", {"text": "Only sources from 2026"}) == \
        (200, {"ok": True})
    wait_for("child a's second call", lambda: len(reqs(fake, "test/cheap")) == 2)
    # ...and guidance for a named child to that child alone.
    assert api(g, "POST", f"/v1/tasks/{kids['part a']}/steer", {"text": "Cite the page"})[0] \
        == 200
    wait_for("the result", lambda: rows(g)[0]["state"] == "done")
    cheap, deep = reqs(fake, "test/cheap"), reqs(fake, "test/deep")
    assert guidance(cheap[0]) == [] and guidance(deep[0]) == []
    assert ["Only sources from 2026" in x for x in guidance(cheap[1])] == [True]
    assert ["Only sources from 2026" in x for x in guidance(deep[1])] == [True]
    assert len(guidance(cheap[2])) == 2 and "Cite the page" in guidance(cheap[2])[1]
    root = reqs(fake, "test/free")
    assert guidance(root[0]) == []
    assert ["Only sources from 2026" in x for x in guidance(root[1])] == [True]
    assert all("Cite the page" not in r["raw"] for r in root + deep)
    # An ended node takes no guidance.
    assert api(g, "POST", f"/v1/tasks/{kids['part b']}/steer", {"text": "late"})[0] == 409


def test_a_failed_child_is_reported_and_the_result_still_delivered(gateway, tg, fake):
    goals = [{"goal": "works", "model": "cheap"}, {"goal": "breaks", "model": "deep"}]
    fake.script_for("test/free", tool_calls(("d1", "delegate", delegate(*goals))),
                    text("one of two worked"))
    fake.script_for("test/cheap", child_answer("fine"))
    fake.script_for("test/deep", error(500, {"error": {"message": "upstream broke"}}))
    g = gateway(tasks={"max_depth": 1})
    tg.push_text("/bg try both", chat_id=CHAT)
    [res] = wait_for("the result", lambda: results(tg))
    assert "one of two worked" in res
    [answer] = tool_results(reqs(fake, "test/free")[1])
    got = {r["goal"]: r for r in json.loads(answer)["results"]}
    assert got["works"]["status"] == "done"
    assert got["breaks"]["status"] == "failed" and "500" in got["breaks"]["error"]
    assert "did not finish" in json.loads(answer)["note"]
    assert [r["state"] for r in rows(g)] == ["done", "done", "failed"]


def api(g, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(g.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5 * SLOW) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_the_api_and_the_cli(gateway, tg, fake):
    fake.script_for("test/free", text("api answer", cost=0.0003), text("cli answer"))
    g = gateway()
    status, body = api(g, "POST", "/v1/tasks", {"prompt": "from the api"})
    assert status == 202 and body["state"] == "queued"
    tid = body["id"]
    done = wait_for("the task", lambda: (lambda b: b if b["state"] == "done" else None)(
        api(g, "GET", f"/v1/tasks/{tid}")[1]))
    assert done["result"] == "api answer" and done["origin"] == "api"
    assert done["tree_spent"]["usd"] == pytest.approx(0.0003)
    assert api(g, "GET", "/v1/tasks/999")[0] == 404
    status, listed = api(g, "GET", "/v1/tasks")
    assert status == 200 and [t["id"] for t in listed["data"]] == [tid]
    assert api(g, "GET", f"/v1/tasks/{tid}/nope")[0] == 404
    assert api(g, "POST", f"/v1/tasks/{tid}/stop", {})[0] == 409  # it has ended
    assert api(g, "POST", "/v1/tasks", {"prompt": ""})[0] == 400
    # a chat id must be an integer Telegram can hold
    for bad in (1.5, 1e300, -1e300):
        assert api(g, "POST", "/v1/tasks", {"prompt": "x", "chat_id": bad})[0] == 400, bad
    assert sent(tg) == []  # an API task without a chat_id goes to no chat
    env = clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN})
    r = subprocess.run(argv("tasks", "add", "from the cli", "--config", str(g.config)),
                       env=env, capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 0, r.stderr
    assert "task 2 queued" in r.stdout
    wait_for("the cli task", lambda: rows(g)[-1]["state"] == "done")
    r = subprocess.run(argv("tasks", "list", "--config", str(g.config)), env=env,
                       capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 0 and "#2 done" in r.stdout and "#1 done" in r.stdout
    r = subprocess.run(argv("tasks", "show", "2", "--config", str(g.config)), env=env,
                       capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 0 and json.loads(r.stdout)["result"] == "cli answer"


PIPELINE_SKILL = """---
name: research-pipeline
description: Research a question with subagents, have the findings critiqued, answer formatted.
---
1. `delegate` one research goal per angle of the question (at most 3), each with the
   question as context and only the tools it needs.
2. `delegate` one critique goal: the research summaries as context; it lists what is weak,
   missing or contradictory.
3. Answer in Markdown: a two-line summary, the findings as bullets, then the open points
   the critique raised.
"""


# No usage.cost in the answer: the router prices the tokens with model_info, as for a provider
# that does not report a cost.
PRICED = {"usage": {"cost": None}}


def test_worked_example_research_critique_format_pipeline_and_its_cost(gateway, tg, fake):
    """docs/agent.md's worked example: the pipeline skill on the seed's deepseek prices, tokens
    as the fake counts them (request bytes / 4); the tree's measured cost is printed for the
    docs and must stay far below the default budget."""
    question = "Is running a personal LLM gateway on a Raspberry Pi 5 practical?"
    research = [{"goal": f"Research: {angle}", "context": question, "model": "cheap",
                 "tools": ["time"]}
                for angle in ("memory and CPU needs", "network and power reliability")]
    fake.script_for("test/free",
                    tool_calls(("s1", "skill_view", '{"name": "research-pipeline"}'), **PRICED),
                    tool_calls(("d1", "delegate", delegate(*research)), **PRICED),
                    tool_calls(("d2", "delegate", delegate(
                        {"goal": "Critique these findings", "model": "cheap", "tools": [],
                         "context": "8 GB RAM suffices for a static gateway; a UPS is "
                                    "advised for power cuts."})), **PRICED),
                    text("**Summary**: practical, with a UPS.\n\n- 8 GB RAM is plenty\n"
                         "- power cuts are the main risk\n\nOpen: SD card wear.", **PRICED))
    fake.script_for("test/cheap",
                    text(json.dumps({"summary": "8 GB RAM suffices",
                                     "findings": ["the gateway uses under 20 MB"]}), **PRICED),
                    text(json.dumps({"summary": "a UPS is advised",
                                     "findings": ["power cuts corrupt SD cards"]}), **PRICED),
                    text(json.dumps({"summary": "sound, one gap",
                                     "could_not_do": ["measure SD card wear"]}), **PRICED))
    prices = {"input_cost_per_token": 0.00000028, "output_cost_per_token": 0.00000088}
    g = gateway(tasks={"max_depth": 1})
    # The seed's deepseek-chat prices on both groups the tree uses.
    cfg = g.config.read_text()
    g.stop()
    skill = g.home / "skills" / "research-pipeline"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(PIPELINE_SKILL)
    import yaml  # noqa: PLC0415
    data = yaml.safe_load(cfg)
    for m in data["model_list"]:
        m["model_info"] = dict(prices)
    g.config.write_text(yaml.safe_dump(data))
    gateway()
    tg.push_text(f"/bg Use the research-pipeline skill: {question}", chat_id=CHAT)
    [res] = wait_for("the result", lambda: results(tg), timeout=30)
    assert "practical, with a UPS" in res
    status, tree = api(g, "GET", "/v1/tasks/1")
    assert status == 200 and tree["state"] == "done"
    assert [c["prompt"] for c in tree["children"]] == [r["goal"] for r in research] + \
        ["Critique these findings"]
    spent = tree["tree_spent"]
    assert spent["model_calls"] == 7 and spent["tool_calls"] == 3
    assert 0 < spent["usd"] < 0.01
    print(f"\nworked example: {spent['model_calls']} model calls, {spent['tokens']} tokens, "
          f"${spent['usd']:.6f}")


def test_a_clean_stop_mid_tree_leaves_it_to_resume_and_deliver_once(gateway, tg, fake):
    goals = [{"goal": f"part {i}", "model": "cheap"} for i in range(3)]
    fake.script_for("test/free", tool_calls(("d1", "delegate", delegate(*goals))))
    fake.script_for("test/cheap", child_answer("part 0 done"),
                    text("never answered", first_byte_delay=60))
    g = gateway(tasks={"max_parallel_children": 1})
    tg.push_text("/bg three parts", chat_id=CHAT)
    wait_for("the second child's call", lambda: len(reqs(fake, "test/cheap")) == 2)
    assert g.stop() == 0  # SIGTERM: the running child is cancelled, the waiting one not run
    tree = rows(g)
    assert [r["state"] for r in tree] == ["running", "done", "running", "queued"]
    assert results(tg) == []
    fake.script_for("test/free", tool_calls(("d2", "delegate", delegate(*goals))),
                    text("three parts done"))
    fake.script_for("test/cheap", child_answer("part 1 done"), child_answer("part 2 done"))
    n_before = len(reqs(fake, "test/cheap"))
    gateway(tasks={"max_parallel_children": 1})
    [res] = wait_for("the result", lambda: results(tg))
    assert "three parts done" in res
    assert len(reqs(fake, "test/cheap")) - n_before == 2  # part 0 came from the journal
    assert [r["state"] for r in rows(g)] == ["done"] * 4


def test_a_timed_out_child_is_reported_and_the_parent_waits_without_its_own_clock(
        gateway, tg, fake):
    # turn_timeout_s 2: the child's call hangs past it and the child reports timed_out; the
    # parent waited longer than 2 s for its children, yet its own clock did not run out.
    goals = [{"goal": "slow", "model": "cheap"}, {"goal": "quick", "model": "deep"}]
    fake.script_for("test/free", tool_calls(("d1", "delegate", delegate(*goals))),
                    text("reported both"))
    fake.script_for("test/cheap", text("too late", first_byte_delay=30),
                    text(json.dumps({"summary": "ran out of time"})))
    fake.script_for("test/deep", child_answer("quick one"))
    g = gateway(tasks={"max_depth": 1}, agent={"turn_timeout_s": 2})
    tg.push_text("/bg one slow one quick", chat_id=CHAT)
    [res] = wait_for("the result", lambda: results(tg), timeout=30)
    assert "reported both" in res and "time limit" not in res
    [answer] = tool_results(reqs(fake, "test/free")[1])
    got = {r["goal"]: r for r in json.loads(answer)["results"]}
    assert got["slow"]["status"] == "timed_out"
    assert got["quick"]["status"] == "done" and got["quick"]["summary"] == "quick one"
    assert rows(g)[0]["state"] == "done"


def test_a_child_inherits_its_parents_taint(gateway, tg, fake):
    # A /bg of a forwarded message runs tainted, and so does its child: the child's memory
    # write waits for the owner's approval instead of being made.
    fake.script_for("test/free",
                    tool_calls(("d1", "delegate", delegate({"goal": "note it",
                                                             "model": "cheap"}))),
                    text("noted, pending approval"))
    fake.script_for("test/cheap",
                    tool_calls(("m1", "memory", json.dumps(
                        {"action": "add", "target": "memory", "content": "INJECTED-NOTE"}))),
                    child_answer("asked to note it"))
    g = gateway(tasks={"max_depth": 1})
    tg.push_text("/bg remember INJECTED-NOTE", chat_id=CHAT, forward_origin={
        "type": "hidden_user", "sender_user_name": "Eve", "date": 0})
    wait_for("the result", lambda: results(tg))
    tree = rows(g)
    assert tree[0]["untrusted"] == "a forwarded message"
    assert tree[1]["untrusted"] == "a forwarded message"
    [held] = tool_results(reqs(fake, "test/cheap")[1])
    assert held.startswith("Not applied yet") and "approval" in held
    memory = g.home / "memories" / "MEMORY.md"
    assert not memory.exists() or "INJECTED-NOTE" not in memory.read_text()


def test_a_task_begun_five_times_without_ending_is_failed_not_run_again(gateway, tg, fake):
    fake.script_for("test/free", text("never answered", first_byte_delay=60))
    g = gateway()
    tg.push_text("/bg crashes the gateway", chat_id=CHAT)
    wait_for("its call", lambda: reqs(fake, "test/free"))
    g.proc.kill()
    g.proc.wait()
    # As if each of four more starts had been cut short by a crash.
    db = sqlite3.connect(g.home / "state.db")
    db.execute("UPDATE tasks SET starts = 5 WHERE id = 1")
    db.commit()
    db.close()
    n = len(fake.chat_requests)
    gateway()
    [res] = wait_for("the failure", lambda: results(tg))
    assert res.startswith("Task 1 failed: it was begun 5 times without ending")
    assert len(fake.chat_requests) == n  # not run (and paid) again
    assert rows(g)[0]["state"] == "failed"
