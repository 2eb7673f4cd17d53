"""`make demo` (scripts/demo.sh) end to end with the binary under test: the scripted model
calls the real server-everything over stdio and two builtin tools, and the demo prints the
transcript, the answer, tokens and cost, ends with the pointer to docs/getting-started.md, and
exits 0."""
import os
import subprocess

import pytest

from conftest import BIN, ROOT, SLOW, clean_env


@pytest.mark.needs("native")  # the demo runs the host binary
def test_make_demo_runs_the_agent_end_to_end():
    env = clean_env(HERMETIC_BIN=BIN, HOME=os.environ.get("HOME", "/root"))
    r = subprocess.run([str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=180 * SLOW)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert '-> mcp_everything_get_sum {"a": 17, "b": 25}' in out
    assert "<- mcp_everything_get_sum: The sum of 17 and 25 is 42." in out
    assert "-> time " in out and "Asia/Manila" in out
    assert "<- memory: Added to USER.md" in out
    assert "17 + 25 = **42**" in out
    assert "3 model calls, 3 tool calls" in out and "$0.000456" in out
    assert "Asked for 17 + 25 in the demo." in out  # USER.md as the tool left it
    # The last line points to the next step: your own bot (docs/getting-started.md).
    last = out.rstrip("\n").splitlines()[-1]
    assert last == ("Next, your own Telegram bot (BotFather token, config, doctor), then the "
                    "cluster: docs/getting-started.md"), last
    assert (ROOT / "docs" / "getting-started.md").exists()
    for marker in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
        assert marker not in out + r.stderr
