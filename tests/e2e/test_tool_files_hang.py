"""read_file and search_files on a file system that hangs (a dead NFS server): the open() of a
note blocks in the kernel. Simulated with a fanotify permission mark that nobody answers
(needs CAP_SYS_ADMIN; skipped without it): every open() of the file waits until the mark's
descriptor is closed. The gateway must keep answering /healthz, the tool must time out after
agent.tool_timeout_s, and the turn must finish with that timeout in the model's context."""
import ctypes
import json
import os
import threading
import time
import urllib.request

import pytest

from agent_harness import agent_config, fake, tool_results  # noqa: F401
from conftest import SLOW, http_get, to_yaml
from fakes.fake_openai import text, tool_calls
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

API_KEY = "sk-e2e-files-hang-7f3a"
FAN_CLASS_CONTENT, FAN_CLOEXEC, FAN_OPEN_PERM, FAN_MARK_ADD, AT_FDCWD = 0x4, 0x1, 0x10000, 0x1, -100


def hang_opens_of(path):
    """A fanotify descriptor that makes every open() of path wait until it is closed."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
    if fd < 0:
        pytest.skip(f"fanotify_init: {os.strerror(ctypes.get_errno())} (needs CAP_SYS_ADMIN)")
    if libc.fanotify_mark(fd, FAN_MARK_ADD, ctypes.c_uint64(FAN_OPEN_PERM), AT_FDCWD,
                          str(path).encode()) < 0:
        os.close(fd)
        pytest.skip(f"fanotify_mark: {os.strerror(ctypes.get_errno())}")
    return fd


def chat(g, prompt):
    req = urllib.request.Request(
        g.url + "/v1/chat/completions",
        data=json.dumps({"messages": [{"role": "user", "content": prompt}]}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        method="POST")
    with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("tool,args", [
    ("read_file", lambda p: {"path": str(p)}),
    ("search_files", lambda p: {"pattern": "x", "path": str(p)}),
])
def test_a_hung_notes_dir_does_not_freeze_the_gateway(gateway, fake, tmp_path, tool, args):
    notes = tmp_path / "vault"
    notes.mkdir()
    stuck = notes / "stuck.md"
    stuck.write_text("x marks the spot\n")
    cfg = agent_config(fake, "{home}", notes_dirs=[str(notes)],
                       agent={"tool_timeout_s": 1},
                       api={"listen": "127.0.0.1:{port}", "key": "os.environ/API_SERVER_KEY"})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace("{{home}}", "{home}").replace("{{port}}", "{port}")
    g = gateway(text_, env={UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})
    fake.script_for("test/free", tool_calls(("c1", tool, json.dumps(args(stuck)))),
                    text("the notes are unreachable"))
    fan = hang_opens_of(stuck)
    result = {}
    try:
        t = threading.Thread(target=lambda: result.update(chat(g, "read my note")), daemon=True)
        t.start()
        deadline = time.monotonic() + 10 * SLOW
        while len(fake.chat_requests) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the tool call is running and its open() hangs
        started = time.monotonic()
        status, _, body = http_get(g.url + "/healthz", timeout=3)
        assert (status, body) == (200, "ok\n")
        assert time.monotonic() - started < 1.5 * SLOW
        t.join(20 * SLOW)
        assert not t.is_alive(), "the turn did not finish while the file hung"
    finally:
        os.close(fan)  # the "server" comes back: the stuck thread returns
    assert result["choices"][0]["message"]["content"] == "the notes are unreachable"
    res = tool_results(fake.chat_requests[1])[0]
    assert f"{tool} timed out after 1 s" in res, res
    # Later calls work once the file system answers again.
    fake.script_for("test/free", tool_calls(("c2", "read_file", json.dumps({"path": str(stuck)}))),
                    text("ok"))
    chat(g, "again")
    assert "x marks the spot" in tool_results(fake.chat_requests[3])[-1]
