"""The gateway API refuses browser-shaped requests (issue 14): any web page can POST to
127.0.0.1, and through DNS rebinding (a name of the attacker's resolving to 127.0.0.1) read the
answer. So every API route (chat completions, tools, tools/call, hooks) refuses a Host that does
not name this server (403), a cross-origin Origin (403), and a POST that is not
application/json (415), with or without api.key; /healthz and /readyz (GET, no side effects,
called by the kubelet with Host: <pod IP>:<port>) are exempt, and /metrics has its own Host
check (test_metrics_host.py). And
`config check` refuses an api.listen off loopback without api.key."""
import http.client
import json

import pytest

from agent_harness import agent_config, fake  # noqa: F401
from conftest import SLOW, clean_env, free_port, run, to_yaml
from fakes.fake_openai import text
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

HOOK_TOKEN = "hook-e2e-guard-SECRET-41c9"
CHAT = {"model": "hermetic-agent", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def api_gateway(gateway, fake):
    def make(**api):
        cfg = agent_config(fake, "HOME", api={"listen": "127.0.0.1:PORT", **api},
                           hooks=[{"name": "note", "token": "os.environ/HOOK_TOKEN",
                                   "prompt": "A note: {{payload.text}}"}])
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
        return gateway(text_, env={UPSTREAM_ENV: UPSTREAM_KEY, "HOOK_TOKEN": HOOK_TOKEN})
    return make


def send(g, method, path, body=None, headers=None):
    """One request with exactly these headers (Host included when given). Returns (status,
    body text)."""
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30 * SLOW)
    h = dict(headers or {})
    try:
        c.putrequest(method, path, skip_host="Host" in h, skip_accept_encoding=True)
        data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        if method == "POST":
            h.setdefault("Content-Length", str(len(data)))
        for k, v in h.items():
            c.putheader(k, v)
        c.endheaders(data if method == "POST" else None)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def local(g):
    return f"127.0.0.1:{g.port}"


def test_the_browser_shaped_post_of_the_issue_is_refused_and_runs_no_turn(api_gateway, fake):
    g = api_gateway()
    status, body = send(g, "POST", "/v1/chat/completions", json.dumps(CHAT).encode(),
                        {"Host": "attacker.example", "Origin": "https://attacker.example",
                         "Content-Type": "text/plain"})
    assert status == 403, body
    assert "attacker.example" in body and "api.allowed_hosts" in body
    assert fake.chat_requests == []


@pytest.mark.parametrize("headers,want", [
    # DNS rebinding: the page's own name, everything else right
    ({"Host": "attacker.example:{port}", "Content-Type": "application/json"}, 403),
    ({"Host": "127.0.0.1.attacker.example", "Content-Type": "application/json"}, 403),
    # a cross-origin page posting to the right address
    ({"Host": "127.0.0.1:{port}", "Origin": "https://attacker.example",
      "Content-Type": "application/json"}, 403),
    ({"Host": "127.0.0.1:{port}", "Origin": "null", "Content-Type": "application/json"}, 403),
    # a "simple" request a page can send without a CORS preflight
    ({"Host": "127.0.0.1:{port}", "Content-Type": "text/plain"}, 415),
    ({"Host": "127.0.0.1:{port}", "Content-Type": "application/x-www-form-urlencoded"}, 415),
    ({"Host": "127.0.0.1:{port}"}, 415),
])
def test_each_browser_mark_alone_is_refused(api_gateway, fake, headers, want):
    g = api_gateway()
    h = {k: v.replace("{port}", str(g.port)) for k, v in headers.items()}
    status, body = send(g, "POST", "/v1/chat/completions", json.dumps(CHAT).encode(), h)
    assert status == want, body
    assert fake.chat_requests == []


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST",
                                  "[::1]:{port}", "localhost:18642"])
def test_local_clients_and_same_origin_pages_still_run_turns(api_gateway, fake, host):
    g = api_gateway()
    fake.script_for("test/free", text("hello"))
    h = host.replace("{port}", str(g.port))
    status, body = send(g, "POST", "/v1/chat/completions", CHAT,
                        {"Host": h, "Origin": f"http://{h}",
                         "Content-Type": "application/json; charset=utf-8"})
    assert status == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"] == "hello"


def test_every_api_route_is_guarded_and_the_probes_are_not(api_gateway, fake):
    g = api_gateway()
    evil = {"Host": "attacker.example", "Content-Type": "application/json"}
    plain = {"Host": local(g), "Content-Type": "text/plain",
             "Authorization": f"Bearer {HOOK_TOKEN}"}
    assert send(g, "GET", "/v1/tools", headers={"Host": "attacker.example"})[0] == 403
    assert send(g, "GET", "/v1/tools", headers={"Host": local(g),
                                                "Origin": "http://attacker.example"})[0] == 403
    assert send(g, "POST", "/v1/tools/call", {"name": "x"}, evil)[0] == 403
    assert send(g, "POST", "/v1/tools/call", b'{"name": "x"}', plain)[0] == 415
    assert send(g, "POST", "/v1/hooks/note", {"text": "hi"},
                {**evil, "Authorization": f"Bearer {HOOK_TOKEN}"})[0] == 403
    assert send(g, "POST", "/v1/hooks/note", b'{"text": "hi"}', plain)[0] == 415
    assert fake.chat_requests == []
    # Webhook senders (Alertmanager, GitHub) send JSON with the hook's own token: still runs.
    fake.script_for("test/free", text("noted"))
    status, body = send(g, "POST", "/v1/hooks/note", {"text": "hi"},
                        {"Host": local(g), "Content-Type": "application/json",
                         "Authorization": f"Bearer {HOOK_TOKEN}"})
    assert status in (200, 202), body
    # The kubelet names the pod's IP: the probes answer any Host. /metrics checks its Host
    # (tests/e2e/test_metrics_host.py): an address this connection did not come in on is not.
    for path in ("/healthz", "/readyz"):
        status, body = send(g, "GET", path, headers={"Host": f"10.42.0.17:{g.port}"})
        assert status in (200, 503) if path == "/readyz" else status == 200, (path, body)
    assert send(g, "GET", "/metrics", headers={"Host": f"10.42.0.17:{g.port}"})[0] == 403


def test_allowed_hosts_names_a_service_and_a_key_does_not_lift_the_host_check(api_gateway,
                                                                               fake):
    g = api_gateway(key="os.environ/HOOK_TOKEN", allowed_hosts=["hermetic.agents.svc"])
    fake.script_for("test/free", text("via the service"))
    auth = {"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"}
    status, body = send(g, "POST", "/v1/chat/completions", CHAT,
                        {"Host": f"hermetic.agents.svc:{g.port}", **auth})
    assert status == 200, body
    status, body = send(g, "POST", "/v1/chat/completions", CHAT,
                        {"Host": "attacker.example", **auth})
    assert status == 403, body
    assert len(fake.chat_requests) == 1


@pytest.mark.parametrize("api,ok", [
    ({"listen": "0.0.0.0:8642"}, False),
    ({"listen": "[::]:8642"}, False),
    ({"listen": "127.example.com:8642"}, False),
    ({"listen": "127.0.0.1:8642", "allowed_hosts": ["*"]}, False),
    ({"listen": "127.0.0.1:8642", "allowed_hosts": ["hermetic.svc:8642"]}, False),
    ({"listen": "127.0.0.1:8642", "allowed_hosts": ["hermetic.agents.svc"]}, True),
    ({"listen": "0.0.0.0:8642", "key": "os.environ/API_SERVER_KEY", "allowed_hosts": ["*"]},
     True),
])
def test_config_check_refuses_an_api_anyone_can_reach_without_a_key(tmp_path, api, ok):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(to_yaml({"home": str(tmp_path / "home"), "api": api}))
    r = run("config", "check", "--config", str(cfg),
            env=clean_env(API_SERVER_KEY="sk-guard-e2e-SECRET-0a1b"))
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    if not ok:
        assert "error: api." in r.stderr, r.stderr


def test_the_gateway_does_not_start_with_an_open_api_without_a_key(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(to_yaml({"home": str(tmp_path / "home"), "api": {"listen": f"0.0.0.0:{free_port()}"}}))
    r = run("gateway", "--config", str(cfg), timeout=20)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "error: api.listen: api.key is not set and 0.0.0.0 is not a loopback" in r.stderr
    assert not (tmp_path / "home" / "state.db").exists()
