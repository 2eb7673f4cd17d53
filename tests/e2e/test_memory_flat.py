"""Memory stays flat under any tool output (issue 51, item 4; docs/agent.md "Large tool output").

One gateway, one Telegram chat, the fake model and real MCP peers written for the tests
(tests/fakes/fake_mcp.py over stdio and over Streamable HTTP). Each case is one Telegram turn
that moves 50 MB through the gateway:

- an MCP tool over stdio, one over HTTP (a JSON body and an SSE event) and the builtin
  web_fetch each return 50 MB in one result: the model's next request carries the excerpt
  with its note ("[output cut: the first N of M bytes shown; the whole output is in PATH]"),
  and PATH under home/tool-output/ holds all M bytes;
- the model streams a 50 MB answer: it reaches the chat cut at agent.answer_max_bytes with
  its note;
- a 50 MB hook payload (POST /v1/hooks/NAME, with a length and chunked) is refused with 413
  naming its size, the limit and api.max_body_bytes, before the body is read.

Throughout, the gateway's peak resident memory (VmHWM) stays under 16 MiB, and 5 s after each
turn its VmRSS is within 1 MiB of what it was before. With agent.tool_output.keep off the
note says so and nothing is written.

Memory figures are asserted only on the static release binary on this kernel (the lane of
tests/run-all.sh that measures): not under ASan (its shadow memory), not under qemu-user (the
emulator's), and not on a glibc development build (its allocator keeps 14 MiB idle, arenas and
all). The behaviour is checked everywhere, and the figures are printed (`-s`).
"""
import http.server
import json
import os
import re
import select
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import SLOW, TRAITS
from fakes.fake_mcp import FakeMcp, tool
from fakes.fake_openai import FakeOpenAI, text, tool_calls
from fakes.fake_telegram import FakeTelegram
from mcp_harness import FAKE_MCP, PY, mcp_gateway, wait_until  # noqa: F401

# In the smoke set: tests/run-all.sh runs only that on the static binaries, where the figures
# are hermetic's (the ASan lane runs every test).
pytestmark = pytest.mark.smoke

BIG = 50 * 1024 * 1024
MAX_HWM_KIB = 16 * 1024
MAX_DRIFT_KIB = 1024
SETTLE_S = 5
ANSWER_MAX = 65536

UPSTREAM_KEY = "sk-or-v1-memory-flat"
TG_TOKEN = "123456:MEMORY-flat-token"
HOOK_TOKEN = "hook-memory-flat-token"
CHAT = 1001

# benchmarks/memory/bench.py reads the figures from here (one JSON object a line).
FIGURES = os.environ.get("HERMETIC_MEMORY_FLAT_OUT")
MEASURED = TRAITS["static"] and TRAITS["native"] and not TRAITS["sanitized"]
NOTE = re.compile(r"\n\[output cut: the first (\d+) of (\d+) bytes shown; "
                  r"the whole output is in (\S+)\]$")
NOT_KEPT = " bytes shown; the whole output was not kept (agent.tool_output.keep: false)]"


def record(case, before, after, pid):
    """Prints a case's figures (and appends them to FIGURES for the bench)."""
    hwm = vm_kib(pid, "VmHWM")
    print(f"{case}: VmRSS {before} -> {after} KiB {SETTLE_S} s later, VmHWM {hwm} KiB")
    if FIGURES:
        with open(FIGURES, "a") as f:
            f.write(json.dumps({"case": case, "rss_before_kib": before,
                                "rss_after_kib": after, "hwm_kib": hwm}) + "\n")


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


class _Page(http.server.BaseHTTPRequestHandler):
    """GET /big: BIG bytes of text/plain, written in 64 KiB blocks."""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(BIG))
        self.end_headers()
        block = b"page line of the big page\n" * 2520  # 65520 bytes
        left = BIG
        try:
            while left:
                n = min(left, len(block))
                self.wfile.write(block[:n])
                left -= n
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def page_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def peers(tmp_path):
    """The fake model, the fake Bot API and the HTTP MCP server; stdio's tools file."""
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps([tool("huge", "huge", bytes=BIG)]))
    with FakeOpenAI(api_key=UPSTREAM_KEY) as model, FakeTelegram(token=TG_TOKEN) as tg, \
            FakeMcp(tools=[tool("huge", "huge", bytes=BIG), tool("echo")]) as mcp:
        tg.add_chat(CHAT)
        yield model, tg, mcp, tools_file


def start_gateway(mcp_gateway, peers, **agent):  # noqa: F811
    """The gateway (mcp_harness's, with its clean-exit checks) on the peers."""
    model, tg, mcp, tools_file = peers
    g = mcp_gateway(
        {"bigio": {"command": PY, "args": [str(FAKE_MCP), "--stdio", "--tools-file",
                                           str(tools_file)], "timeout": 120 * SLOW},
         "bighttp": {"url": mcp.url, "timeout": 120 * SLOW}},
        env={"UPSTREAM": UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TG_TOKEN, "HOOK_TOKEN": HOOK_TOKEN},
        timezone="UTC", model="m",
        model_list=[{"model_name": "m", "litellm_params": {
            "model": "openrouter/test/m", "api_base": model.url,
            "api_key": "os.environ/UPSTREAM"}}],
        agent={"answer_max_bytes": ANSWER_MAX, "tool_timeout_s": 120 * SLOW, **agent},
        telegram={"token": "os.environ/TELEGRAM_BOT_TOKEN", "allowed_users": [CHAT],
                  "api_base": tg.url, "progress": "off"},
        guardrails={"bleed": {"max_calls": 0}},
        approvals={"mcp": "none"},
        web={"allow_hosts": ["127.0.0.1"]},
        hooks=[{"name": "big", "token": "os.environ/HOOK_TOKEN", "prompt": "a payload"}],
        log={"level": "info"})
    g.wait_tools("bigio")
    g.wait_tools("bighttp")
    return g


class Turns:
    """Telegram turns with the memory before and after each."""

    def __init__(self, g, model, tg):
        self.g, self.model, self.tg = g, model, tg
        self.n = 0

    def run(self, steps, until, what):
        """Scripts the model, sends a message, waits for the chat to show `until`; returns the
        model's requests of this turn. Checks RSS SETTLE_S later against before."""
        self.model.script(*steps)
        before_requests = len(self.model.chat_requests)
        before = vm_kib(self.g.proc.pid, "VmRSS")
        self.n += 1
        self.tg.push_text(f"turn {self.n}: {what}", chat_id=CHAT, user_id=CHAT)
        wait_until(lambda: any(until in t for t in self.tg.sent(CHAT)), timeout=60,
                   what=f"the chat to show {until!r} ({what})")
        time.sleep(SETTLE_S)
        after = vm_kib(self.g.proc.pid, "VmRSS")
        record(what, before, after, self.g.proc.pid)
        if MEASURED:
            assert after - before <= MAX_DRIFT_KIB, (
                f"{what}: RSS {after} KiB {SETTLE_S} s later, {before} KiB before")
        return self.model.chat_requests[before_requests:]


def tool_message(requests, call_id):
    """The content of the tool message answering call_id in the model's requests."""
    for r in requests:
        for m in r["body"]["messages"]:
            if m.get("role") == "tool" and m.get("tool_call_id") == call_id:
                return m["content"]
    raise AssertionError(f"no tool message for {call_id}")


def check_kept(content, home, size=None):
    """The excerpt's note: the file under home/tool-output/ holds the whole (size bytes)."""
    m = NOTE.search(content)
    assert m, f"no cut note: {content[-300:]!r}"
    shown, total, path = int(m.group(1)), int(m.group(2)), Path(m.group(3))
    assert len(content.encode()) <= 16384 and shown > 15000
    assert path.parent == home / "tool-output", path
    assert path.stat().st_size == total == (size or total)
    assert total > BIG - 1024
    return path


def test_gateway_memory_flat_under_50_mb_outputs_answers_and_hooks(mcp_gateway, peers,  # noqa: F811
                                                                  page_server):
    model, tg, mcp, _ = peers
    g = start_gateway(mcp_gateway, peers)
    turns = Turns(g, model, tg)
    # A small turn first: what a first turn allocates for good is not a 50 MB result's.
    turns.run([tool_calls(("w1", "mcp_bighttp_echo", '{"message": "warm"}')),
               text("warmed up")], "warmed up", "warm-up")

    # A kept output past agent.tool_output.keep_days (7): the next one written prunes it, from
    # inside the gateway's sandbox.
    old = g.home / "tool-output" / "20260101-000000-mcp-old-000000.txt"
    old.parent.mkdir(mode=0o700, exist_ok=True)
    old.write_text("old output\n")
    os.utime(old, (time.time() - 8 * 86400,) * 2)
    reqs = turns.run([tool_calls(("c1", "mcp_bigio_huge", "{}")), text("done stdio")],
                     "done stdio", "MCP over stdio, 50 MB")
    check_kept(tool_message(reqs, "c1"), g.home)
    assert not old.exists(), "a kept output older than keep_days was not pruned"

    reqs = turns.run([tool_calls(("c2", "mcp_bighttp_huge", "{}")), text("done json")],
                     "done json", "MCP over HTTP (JSON body), 50 MB")
    check_kept(tool_message(reqs, "c2"), g.home)

    reqs = turns.run([tool_calls(("c3", "mcp_bighttp_huge", '{"sse": true}')),
                      text("done sse")], "done sse", "MCP over HTTP (SSE event), 50 MB")
    check_kept(tool_message(reqs, "c3"), g.home)

    reqs = turns.run([tool_calls(("c4", "web_fetch", json.dumps({"url": page_server + "/big"}))),
                      text("done web")], "done web", "web_fetch, 50 MB page")
    page = tool_message(reqs, "c4")
    m = re.search(r"larger than web\.max_bytes; all its (\d+) bytes are in (\S+)\)", page)
    assert m, page[:400]
    assert int(m.group(1)) == BIG and Path(m.group(2)).stat().st_size == BIG
    assert Path(m.group(2)).parent == g.home / "tool-output"
    assert len(page.encode()) <= 16384

    turns.run([text("y" * BIG, chunk_size=65536)], "agent.answer_max_bytes",
              "a streamed answer of 50 MB")
    shown = "".join(tg.sent(CHAT))
    assert (f"[answer cut: the model's answer passed agent.answer_max_bytes "
            f"({ANSWER_MAX} bytes); the rest was not read]") in shown
    answer = shown.split("done web", 1)[1].split("[answer cut:", 1)[0]
    assert 0.9 * ANSWER_MAX < answer.count("y") <= ANSWER_MAX

    before = vm_kib(g.proc.pid, "VmRSS")
    for chunked in (False, True):
        status, body = post_hook(g, chunked)
        assert status == 413, body
        assert "over the limit of 1048576 bytes (api.max_body_bytes)" in body, body
        if not chunked:
            assert f"request body too large: {BIG} bytes" in body, body
    time.sleep(SETTLE_S)
    after = vm_kib(g.proc.pid, "VmRSS")
    hwm = vm_kib(g.proc.pid, "VmHWM")
    record("hook payloads of 50 MB (length, chunked)", before, after, g.proc.pid)
    assert g.proc.poll() is None
    if MEASURED:
        assert after - before <= MAX_DRIFT_KIB
        assert hwm <= MAX_HWM_KIB, f"peak RSS {hwm} KiB > {MAX_HWM_KIB} KiB"


def test_whole_output_not_kept_when_configured_off(mcp_gateway, peers):  # noqa: F811
    model, tg, _, _ = peers
    g = start_gateway(mcp_gateway, peers, tool_output={"keep": False})
    turns = Turns(g, model, tg)
    reqs = turns.run([tool_calls(("k1", "mcp_bigio_huge", "{}")), text("done off")],
                     "done off", "MCP over stdio, 50 MB, not kept")
    content = tool_message(reqs, "k1")
    assert content.endswith(NOT_KEPT), content[-300:]
    assert len(content.encode()) <= 16384
    assert not (g.home / "tool-output").exists()


def post_hook(g, chunked):
    """POSTs a 50 MB payload to /v1/hooks/big; returns the status and body of the answer,
    read as soon as it comes (the gateway answers before the body is through)."""
    s = socket.create_connection(("127.0.0.1", g.port), timeout=30 * SLOW)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BIG}"
    s.sendall((f"POST /v1/hooks/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {HOOK_TOKEN}\r\nContent-Type: application/json\r\n"
               f"{framing}\r\n\r\n").encode())
    block = b"x" * 65536
    sent = 0
    answer = b""
    try:
        while sent < BIG:
            if select.select([s], [], [], 0)[0]:
                break  # answered before the body is through
            s.sendall(b"10000\r\n" + block + b"\r\n" if chunked else block)
            sent += len(block)
        deadline = time.monotonic() + 10 * SLOW
        while b"\r\n\r\n" not in answer or len(answer) < _answer_len(answer):
            assert time.monotonic() < deadline, answer
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    finally:
        s.close()
    assert sent < BIG, "the whole 50 MB was read before an answer"
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def _answer_len(answer):
    head, _, _ = answer.partition(b"\r\n\r\n")
    m = re.search(rb"content-length:\s*(\d+)", head, re.I)
    return len(head) + 4 + (int(m.group(1)) if m else 0)
