"""The builtin tools as the model uses them: scripted tool calls through `hermetic chat`, the
results read back from the next request the fake model received. Covers the bounds and the
refusals a model must not get around: memory limits, skill names, file roots and symlinks,
and the SSRF guard of web_fetch."""
import http.server
import json
import os
import threading

import pytest

from agent_harness import agent, est_tokens, fake, messages, tool_results  # noqa: F401
from fakes.fake_openai import text, tool_calls


def call(agent, fake, name, args, *more):
    """Scripts one round of tool calls (name, args), ... and a final answer; returns results."""
    calls = [(f"c{i}", n, json.dumps(a) if not isinstance(a, str) else a)
             for i, (n, a) in enumerate([(name, args), *more])]
    fake.script_for("test/free", tool_calls(*calls), text("ok"))
    before = len(fake.chat_requests)
    r = agent.chat("do it")
    assert r.returncode == 0, r.stderr
    return tool_results(fake.chat_requests[before + 1])


# ---- prompt economy -------------------------------------------------------------------

@pytest.mark.smoke
def test_hello_costs_at_most_1500_input_tokens(agent, fake, capsys):
    fake.script_for("test/free", text("Hello! What can I do for you?"))
    r = agent.chat("hello")
    assert r.returncode == 0, r.stderr
    req = fake.chat_requests[0]
    n = est_tokens(req)
    names = [t["function"]["name"] for t in req["body"].get("tools", [])]
    with capsys.disabled():
        print(f"\n  'hello' with the default toolset: {len(req['raw'].encode())} bytes "
              f"= {n} input tokens (bytes/4), {len(names)} tools: {', '.join(names)}")
    # Every builtin of the default toolset is offered (prometheus needs prometheus.url).
    for t in ("memory", "session_search", "skills_list", "skill_view", "skill_manage",
              "read_file", "search_files", "web_fetch", "time"):
        assert t in names
    assert "prometheus_query" not in names
    assert n <= 1500


def test_system_prompt_has_persona_skills_memory_and_time(agent, fake, tmp_path):
    persona = tmp_path / "SOUL.md"
    persona.write_text("You are Ada, a terse assistant for a Pi cluster.")
    agent.configure(agent={"persona_file": str(persona)}, timezone="Asia/Manila")
    skill = agent.home / "skills" / "k3s-upgrade"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: k3s-upgrade\ndescription: Upgrade K3s node by "
                                    "node.\n---\n# Steps\nDrain first.\n")
    (agent.home / "memories").mkdir(parents=True, exist_ok=True)
    (agent.home / "memories" / "USER.md").write_text("Prefers metric units.")
    fake.script_for("test/free", text("hi"))
    assert agent.chat("hello").returncode == 0
    system = messages(fake.chat_requests[0])[0]["content"]
    assert system.startswith("You are Ada, a terse assistant")
    assert "k3s-upgrade: Upgrade K3s node by node." in system
    assert "Drain first." not in system  # the index only, not the skill body
    assert "Prefers metric units." in system
    assert "(Asia/Manila)" in system


# ---- memory ----------------------------------------------------------------------------

def test_memory_add_replace_remove_and_bounds(agent, fake):
    res = call(agent, fake, "memory", {"action": "add", "target": "user",
                                       "content": "Lives in Manila."})
    assert not res[0].startswith("Error"), res[0]
    assert "Lives in Manila." in (agent.home / "memories" / "USER.md").read_text()
    res = call(agent, fake, "memory", {"action": "replace", "target": "user",
                                       "old_text": "Manila", "content": "Lives in Cebu."})
    assert "Lives in Cebu." in (agent.home / "memories" / "USER.md").read_text()
    # Over the bound (1,375 characters for USER.md): refused with numbers, file unchanged.
    before = (agent.home / "memories" / "USER.md").read_text()
    res = call(agent, fake, "memory", {"action": "add", "target": "user", "content": "x" * 1400})
    assert res[0].startswith("Error"), res[0]
    assert "1,375" in res[0] or "1375" in res[0]
    assert (agent.home / "memories" / "USER.md").read_text() == before
    res = call(agent, fake, "memory", {"action": "remove", "target": "user", "old_text": "Cebu"})
    assert "Cebu" not in (agent.home / "memories" / "USER.md").read_text()


# ---- skills ----------------------------------------------------------------------------

SKILL = "---\nname: {name}\ndescription: Back up the notes vault.\n---\n# Backup\nrun restic\n"


def test_skill_create_view_patch_and_bad_names(agent, fake):
    res = call(agent, fake, "skill_manage", {"action": "create", "name": "backup",
                                             "content": SKILL.format(name="backup")})
    assert not res[0].startswith("Error"), res[0]
    assert (agent.home / "skills" / "backup" / "SKILL.md").exists()
    res = call(agent, fake, "skill_view", {"name": "backup"})
    assert "run restic" in res[0]
    res = call(agent, fake, "skill_manage", {"action": "patch", "name": "backup",
                                             "old_text": "run restic", "new_text": "run borg"})
    assert not res[0].startswith("Error"), res[0]
    assert "run borg" in (agent.home / "skills" / "backup" / "SKILL.md").read_text()
    res = call(agent, fake, "skills_list", {})
    assert "backup: Back up the notes vault." in res[0]
    for bad in ("../x", "A", "x/y", ".hidden"):
        res = call(agent, fake, "skill_manage", {"action": "create", "name": bad,
                                                 "content": SKILL.format(name=bad)})
        assert res[0].startswith("Error"), (bad, res[0])
    assert not (agent.home / "x").exists() and not (agent.tmp / "x").exists()
    res = call(agent, fake, "skill_view", {"name": "backup", "file": "../../state.db"})
    assert res[0].startswith("Error"), res[0]


# ---- files -----------------------------------------------------------------------------

def test_read_file_roots_symlinks_and_notes(agent, fake, tmp_path):
    notes = tmp_path / "vault"
    notes.mkdir()
    (notes / "todo.md").write_text("buy zip ties\nlabel the Pis\n")
    agent.configure(notes_dirs=[str(notes)])
    agent.home.mkdir(parents=True, exist_ok=True)
    os.symlink("/etc/passwd", agent.home / "passwd-link")
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    res = call(agent, fake, "read_file", {"path": str(notes / "todo.md")},
               ("read_file", {"path": "/etc/passwd"}),
               ("read_file", {"path": "passwd-link"}),
               ("read_file", {"path": "../outside.txt"}),
               ("search_files", {"pattern": "zip ties"}))
    assert "buy zip ties" in res[0] and not res[0].startswith("Error")
    for r in res[1:4]:
        assert r.startswith("Error"), r
        assert "root:" not in r and "not yours" not in r
    assert "todo.md" in res[4] and "zip ties" in res[4]


# ---- web_fetch -------------------------------------------------------------------------

class _Pages(http.server.BaseHTTPRequestHandler):
    barrier = None

    def _send(self, status, body, ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/together":
            # Answers "together" only when a second request arrives while this one waits.
            try:
                type(self).barrier.wait()
                self._send(200, b"together")
            except threading.BrokenBarrierError:
                self._send(200, b"alone")
            return
        if self.path == "/page":
            body = (b"<html><head><title>Cluster news</title><style>p{}</style></head><body>"
                    b"<h1>Nodes</h1><p>All &amp; well.</p><script>x()</script></body></html>")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def pages():
    _Pages.barrier = threading.Barrier(2, timeout=5)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.mark.smoke
def test_web_fetch_refuses_internal_addresses_and_redirects_into_them(agent, fake, pages):
    res = call(agent, fake, "web_fetch", {"url": pages + "/page"},
               ("web_fetch", {"url": "http://10.0.0.1/"}),
               ("web_fetch", {"url": "http://169.254.169.254/latest/meta-data/"}),
               ("web_fetch", {"url": "http://[::1]/"}))
    for r in res:
        assert r.startswith("Error"), r
    assert "127.0.0.1" in res[0] and "10.0.0.1" in res[1] and "169.254.169.254" in res[2]


def test_web_fetch_allowed_host_reduces_html_and_rechecks_redirects(agent, fake, pages):
    agent.configure(web={"allow_hosts": ["127.0.0.1"]})
    res = call(agent, fake, "web_fetch", {"url": pages + "/page"},
               ("web_fetch", {"url": pages + "/redirect?to=http://169.254.169.254/x"}))
    assert not res[0].startswith("Error"), res[0]
    assert "Cluster news" in res[0] and "All & well." in res[0]
    assert "x()" not in res[0] and "p{}" not in res[0]
    assert res[1].startswith("Error") and "169.254.169.254" in res[1]


def test_read_only_calls_run_in_parallel(agent, fake, pages):
    agent.configure(web={"allow_hosts": ["127.0.0.1"]})
    res = call(agent, fake, "web_fetch", {"url": pages + "/together"},
               ("web_fetch", {"url": pages + "/together"}))
    assert all("together" in r for r in res), res
