"""web_fetch's SSRF guard beyond the address classes: a host that is not in web.allow_hosts is
fetched on ports 80 and 443 only, and this machine's own addresses are refused even when
they are public. A public address on an interface needs a network namespace: the second test
re-runs this file inside `unshare -rnm` (user, network and mount namespaces, no root on the
host needed), adds 1.2.3.4 to its loopback interface, serves a page there, and points a name
at it with a private /etc/hosts."""
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent_harness import agent, fake, tool_results  # noqa: F401
from fakes.fake_openai import text, tool_calls

OWN = "1.2.3.4"  # public by every table; an address of this machine only inside the namespace


def call(agent, fake, *calls):
    fake.script_for("test/free", tool_calls(*[(f"c{i}", n, json.dumps(a))
                                              for i, (n, a) in enumerate(calls)]),
                    text("ok"))
    before = len(fake.chat_requests)
    r = agent.chat("do it")
    assert r.returncode == 0, r.stderr
    return tool_results(fake.chat_requests[before + 1])


def test_an_unlisted_host_is_fetched_on_ports_80_and_443_only(agent, fake):
    res = call(agent, fake, ("web_fetch", {"url": "http://example.com:8080/admin"}),
               ("web_fetch", {"url": "https://example.com:2375/containers/json"}))
    assert "port 8080: only ports 80 and 443" in res[0], res[0]
    assert "port 2375:" in res[1] and "web.allow_hosts" in res[1], res[1]


def _netns_usable():
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    r = subprocess.run(["unshare", "-rnm", "true"], capture_output=True)
    return r.returncode == 0


@pytest.mark.needs("host-netns")  # the outer half
def test_this_machines_own_public_address_is_refused():
    if not _netns_usable():
        pytest.skip("unshare -rnm (user namespaces) or ip(8) is not available here")
    env = dict(os.environ, HERMETIC_E2E_NETNS="1")
    r = subprocess.run(["unshare", "-rnm", sys.executable, "-m", "pytest", "-q", "-p",
                        "no:cacheprovider", __file__, "-k", "inside_a_namespace"],
                       cwd=Path(__file__).parent, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr


class _Admin(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"admin console: secret-token-42"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.mark.needs("netns")  # runs inside the namespace the test above makes
def test_own_address_inside_a_namespace(agent, fake, tmp_path):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{OWN}/32", "dev", "lo"], check=True)
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{OWN} admin.example.org\n")
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)
    srv = http.server.ThreadingHTTPServer((OWN, 80), _Admin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        res = call(agent, fake, ("web_fetch", {"url": f"http://{OWN}/"}),
                   ("web_fetch", {"url": "http://admin.example.org/"}),
                   ("web_fetch", {"url": f"http://[::ffff:{OWN}]/"}))
    finally:
        srv.shutdown()
    for r in res:
        assert r.startswith("Error") and "secret-token-42" not in r, r
    assert f"{OWN} is an address of this machine" in res[0], res[0]
    assert f"{OWN} is an address of this machine" in res[1], res[1]  # after DNS
    assert "is an address of this machine" in res[2], res[2]
