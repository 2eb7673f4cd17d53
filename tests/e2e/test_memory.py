"""Gateway memory under agent work, on the static x86_64 release binary (the budget in docs/numbers.md:
<= 8 MiB under load, no growth): 300 sequential scripted turns, each a tool call (the real
server-everything over stdio, the memory tool, the time tool, in rotation) and an answer, in one
API session whose history grows and gets compressed, every 50th turn a Telegram message to the
fake Bot API instead.

- peak resident memory (VmHWM) of the gateway stays <= 8 MiB;
- resident memory (VmRSS) after the run is at most 512 KiB above what it was after the first
  50 turns (a leak of ~2 KiB per turn fails this);
- the checkpoint thread really copies the WAL back into state.db while the gateway runs (when
  it did not, state.db stayed one page and the WAL grew by ~130 KiB per turn for ever, its
  shared-memory index, mapped into the gateway, with it). Under this test's back-to-back turns
  the WAL still grows (a PASSIVE checkpoint cannot restart a WAL that is written to every
  millisecond); it restarts at the first second without writes.

Only the static x86_64 build measures real figures: ASan's shadow memory and qemu's own
footprint would measure the tools, not hermetic (benchmarks/gateway/ reports those).
"""
import json
import time
import urllib.request

import pytest

from conftest import Gateway, SLOW, to_yaml
from fakes.fake_openai import FakeOpenAI, text, tool_calls
from fakes.fake_telegram import FakeTelegram
from mcp_harness import LOOPBACK, NODE, peers  # noqa: F401

TURNS = 300
FIRST = 50
TG_EVERY = 50
MAX_HWM_KIB = 8 * 1024
MAX_GROWTH_KIB = 512

UPSTREAM_KEY = "sk-or-v1-memory-test"
API_KEY = "sk-memory-test-api"
TG_TOKEN = "123456:MEMORY-test-token"
CHAT = 1001
ANSWER = "Done. " + "Here is what I found, in a few sentences so the history grows. " * 8
USER_TEXT = "Please check this for me and keep it in mind for later; " * 12


pytestmark = [
    pytest.mark.smoke,
    # memory is measured on the static release binary; under an emulator RSS is the
    # emulator's, and ASan's shadow memory is not hermetic's
    pytest.mark.needs("static", "native", "unsanitized"),
]


def status_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


def chat(g, content):
    body = json.dumps({"user": "soak", "messages": [{"role": "user", "content": content}]})
    req = urllib.request.Request(g.url + "/v1/chat/completions", data=body.encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {API_KEY}"}, method="POST")
    with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
        assert r.status == 200
        return json.loads(r.read())


def test_gateway_memory_stays_bounded_over_300_turns(tmp_path, peers):  # noqa: F811
    with FakeOpenAI(api_key=UPSTREAM_KEY, cycle=True, keep_requests=10) as fake, \
            FakeTelegram(token=TG_TOKEN) as tg:
        tg.add_chat(CHAT)
        fake.script_for("test/free",
                        tool_calls(("c1", "mcp_everything_echo", '{"message": "' + "x" * 200
                                    + '"}')), text(ANSWER),
                        tool_calls(("c2", "memory", '{"action": "read", "target": "memory"}')),
                        text(ANSWER),
                        tool_calls(("c3", "time", "{}")), text(ANSWER))
        fake.script_for("test/cheap", text("Summary: the user asked for checks; all done. " * 4))
        model = {"api_base": fake.url, "api_key": "os.environ/UPSTREAM"}
        cfg = {
            "home": "HOME", "timezone": "UTC", "model": "free",
            "auxiliary": {"compression": "cheap"},
            "model_list": [
                {"model_name": "free", "litellm_params": {"model": "openrouter/test/free",
                                                          **model}},
                {"model_name": "cheap", "litellm_params": {"model": "openrouter/test/cheap",
                                                           **model}}],
            "telegram": {"token": "os.environ/TELEGRAM_BOT_TOKEN",
                "stream": "off", "progress": "off", "allowed_users": [CHAT],
                         "api_base": tg.url},
            # 300 turns in seconds: the bleed breaker (60 calls in 15 min) would refuse them.
            "guardrails": {"bleed": {"max_calls": 0}},
            "api": {"listen": "127.0.0.1:PORT", "key": "os.environ/API_SERVER_KEY"},
            "mcp_servers": {"everything": {
                "command": NODE,
                "args": ["--require", str(LOOPBACK), str(peers.everything_js), "stdio"]}},
        }
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        g = Gateway(tmp_path, text_, {"UPSTREAM": UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TG_TOKEN,
                                      "API_SERVER_KEY": API_KEY})
        g.start()
        try:
            deadline = time.monotonic() + 30 * SLOW
            while "mcp_everything_echo" not in tools(g):
                assert time.monotonic() < deadline, "server-everything's tools never listed"
                time.sleep(0.05)
            sent = 0
            after_first = None
            for i in range(1, TURNS + 1):
                if i % TG_EVERY == 0:
                    tg.push_text(f"{USER_TEXT} ({i})", chat_id=CHAT, user_id=CHAT)
                    sent += 1
                    tg.wait_sent(CHAT, sent, timeout=60 * SLOW)
                else:
                    assert chat(g, f"{USER_TEXT} ({i})")["choices"][0]["message"]["content"] \
                        == ANSWER
                if i == FIRST:
                    after_first = status_kib(g.proc.pid)
            end = status_kib(g.proc.pid)
            wal = (g.home / "state.db-wal").stat().st_size
            db_bytes = (g.home / "state.db").stat().st_size
            compressions = fake.usage_totals.get("test/cheap", {}).get("calls", 0)
        finally:
            g.stop()
    print(f"after {FIRST} turns {after_first}, after {TURNS} {end}, "
          f"{fake.chat_count} model calls, {compressions} compressions, state.db {db_bytes} bytes, WAL {wal} bytes")
    assert fake.chat_count >= 2 * TURNS
    assert compressions >= 1, "the history never reached compression: not a long history"
    assert end["VmHWM"] <= MAX_HWM_KIB, f"peak RSS {end['VmHWM']} KiB > {MAX_HWM_KIB} KiB"
    assert end["VmRSS"] - after_first["VmRSS"] <= MAX_GROWTH_KIB, (
        f"RSS grew {end['VmRSS'] - after_first['VmRSS']} KiB from turn {FIRST} to {TURNS}")
    assert db_bytes > 64 * 1024, f"state.db is {db_bytes} bytes: the WAL was never checkpointed"


def tools(g):
    req = urllib.request.Request(g.url + "/v1/tools",
                                 headers={"Authorization": f"Bearer {API_KEY}"})
    try:
        with urllib.request.urlopen(req, timeout=5 * SLOW) as r:
            return r.read().decode()
    except OSError:
        return ""
