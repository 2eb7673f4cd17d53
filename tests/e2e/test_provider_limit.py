"""Spend layer 5: `hermetic doctor` reads OpenRouter's GET /api/v1/key for each distinct key of
the openrouter/ deployments and prints the key's own limit, usage and what is left, or why it
could not (401, nothing listening), and never the key."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agent_harness import agent_config, fake  # noqa: F401
from conftest import clean_env, free_port, run, to_yaml
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY, deployment

MASKED_LABEL = "sk-or-v1-e2e...c"


def doctor(tmp_path, cfg, key=UPSTREAM_KEY):
    (tmp_path / "home").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    r = run("doctor", "--config", str(path), env=clean_env(**{UPSTREAM_ENV: key}))
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
    for out in (r.stdout, r.stderr):
        assert UPSTREAM_KEY not in out and MASKED_LABEL not in out
    return r, [line for line in r.stdout.splitlines() if line.startswith("openrouter key")]


def test_doctor_prints_the_key_limit_usage_and_remaining(tmp_path, fake):
    fake.key_info = {"label": MASKED_LABEL, "limit": 5.0, "limit_remaining": 4.25,
                     "limit_reset": "daily", "usage": 12.5, "usage_daily": 0.75,
                     "is_free_tier": False}
    cfg = agent_config(fake, tmp_path / "home")
    cfg["model_list"].append(deployment("free", "test/free-b", fake))  # same key, same group
    r, lines = doctor(tmp_path, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    # One request per distinct key, with the deployment's key as a Bearer token.
    keys = [q for q in fake.requests if q["path"].endswith("/key")]
    assert len(keys) == 1 and keys[0]["method"] == "GET"
    assert keys[0]["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert lines == ["openrouter key (free, cheap): limit $5.0000 (resets daily), remaining "
                     "$4.2500; used $0.7500 today, $12.5000 in total"]
    assert fake.chat_requests == []  # reading the limit costs nothing


def test_doctor_says_when_the_key_has_no_limit(tmp_path, fake):
    fake.key_info = {"usage": 3.0, "usage_daily": 1.0}
    r, lines = doctor(tmp_path, agent_config(fake, tmp_path / "home"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert lines == ["openrouter key (free, cheap): no credit limit on this key (set one: "
                     "openrouter.ai -> Keys); used $1.0000 today, $3.0000 in total"]


def test_doctor_reports_a_rejected_key_and_an_unreachable_provider(tmp_path, fake):
    r, lines = doctor(tmp_path, agent_config(fake, tmp_path / "home"), key="sk-or-v1-wrong")
    assert r.returncode == 1
    assert lines == ["openrouter key (free, cheap): FAILED: HTTP 401: User not found."]
    closed = f"http://127.0.0.1:{free_port()}/api/v1"
    cfg = agent_config(fake, tmp_path / "home")
    cfg["model_list"] = [deployment("free", "test/free", closed),
                         deployment("cheap", "test/cheap", fake)]
    r, lines = doctor(tmp_path, cfg)
    assert r.returncode == 1
    assert len(lines) == 2 and lines[0].startswith("openrouter key (free): FAILED: "), lines
    assert lines[1].startswith("openrouter key (cheap): no credit limit"), lines


class EchoingProvider(BaseHTTPRequestHandler):
    """A provider whose 401 quotes the bearer key it was sent, far enough into a long message
    that a 200-character cut falls inside the key."""

    def do_GET(self):
        token = self.headers.get("Authorization", "").partition(" ")[2]
        body = json.dumps({"error": {"code": 401, "message": "x" * 180 + f" key {token}"
                                     " is not valid"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_doctor_never_prints_a_key_the_provider_quotes_back(tmp_path, fake):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), EchoingProvider)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cfg = agent_config(fake, tmp_path / "home")
        cfg["model_list"][0] = deployment("free", "test/free",
                                          f"http://127.0.0.1:{srv.server_port}/api/v1")
        r, lines = doctor(tmp_path, cfg)
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.returncode == 1
    assert len(lines) == 2 and lines[0].startswith("openrouter key (free): FAILED: HTTP 401: xxx"), \
        lines
    # Not the key, and not the start of it either (the message is cut at 200 characters).
    for out in (r.stdout, r.stderr):
        assert UPSTREAM_KEY[:14] not in out, out
