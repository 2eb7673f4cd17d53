"""A JSON member name repeated in one object is refused by every route that reads JSON
(issue 38, item 1; RFC 7493 I-JSON; docs/security.md, "One JSON parser").

cJSON keeps both members and its lookups find the first; Python, JavaScript and Go keep the
last. A key limited to `small` sent {"model":"small","model":"gpt-4o",...}: the router checked
and billed `small` and forwarded both, and the upstream ran gpt-4o. Now the one parser
(src/core/json.c) refuses the text and each route answers its usual 400 naming the member.

The routes come from the binary itself: at debug level httpd logs each route it registers,
marked `json` when the handler reads a JSON body (HTTPD_JSON). The set of JSON routes each
server logs must equal the table below, and a POST route not marked JSON must be listed as
taking something else, so a new route fails this test until it is covered here.
"""
import http.client
import json
import re
import time

import pytest

from agent_harness import agent_config
from conftest import SLOW, to_yaml
from fakes.fake_openai import raw, text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    MASTER_ENV, MASTER_KEY, UPSTREAM_ENV, UPSTREAM_KEY, deployment, fake, router_config,
    start_router,
)

SMALL_KEY = "sk-e2e-dup-small-only-SECRET-3b7e"
API_KEY = "sk-e2e-dup-api-SECRET-9c1f"
HOOK_TOKEN = "e2e-dup-hook-SECRET-77aa"
AM_TOKEN = "e2e-dup-am-SECRET-41bd"
PASSWORD = "a long cockpit passphrase for dup"

ROUTE_LINE = re.compile(r"http: route((?: [A-Z]+)+) (\S+)( json)? \(port (\d+)\)")

# The body: the first members are what a check of cJSON's tree saw.
DUP_MODEL = (b'{"model":"small","messages":[{"role":"user","content":"hi"}],"prompt":"hi",'
             b'"input":"hi","voice":"alloy","max_tokens":100,"max_output_tokens":100,'
             b'"model":"gpt-4o","max_tokens":200000}')

# Router: every JSON route, and the POST routes that take something else.
ROUTER_JSON = {p + s for p in ("", "/v1") for s in (
    "/chat/completions", "/completions", "/embeddings", "/audio/speech", "/responses",
    "/images/generations", "/rerank")} | {
    "/v1/messages", "/v1/messages/count_tokens"}
ROUTER_OTHER_POST = {"/audio/transcriptions": "a multipart form",
                     "/v1/audio/transcriptions": "a multipart form",
                     "/images/edits": "a multipart form",
                     "/v1/images/edits": "a multipart form"}

# Gateway (API, hooks, Alertmanager webhook, cockpit): route -> (auth, body, member, where).
GATEWAY_JSON = {
    "/v1/chat/completions": ("api", b'{"messages":[{"role":"user","content":"hi",'
                             b'"content":"bye"}]}', "content", "$.messages[0]"),
    "/v1/tools/call": ("api", b'{"name":"mcp_x","arguments":{},"name":"y"}', "name", "$"),
    "/v1/hooks/dup": ("hook", b'{"kind":"run","kind":"swim"}', "kind", "$"),
    "/v1/alerts/alertmanager": ("am", b'{"version":"4","status":"firing","alerts":[{"labels":'
                                b'{"alertname":"A","alertname":"B"}}]}', "alertname",
                                "$.alerts[0].labels"),
    "/v1/ui/login": (None, b'{"password":"wrong","password":"%s"}' % API_KEY.encode(),
                     "password", "$"),
    "/v1/ui/memory/save": ("ui", b'{"text":"a","text":"b"}', "text", "$"),
    "/v1/ui/skill/create": ("ui", b'{"name":"a","name":"b"}', "name", "$"),
    "/v1/ui/skill/save": ("ui", b'{"name":"a","name":"b"}', "name", "$"),
    "/v1/ui/skill/delete": ("ui", b'{"name":"a","name":"b"}', "name", "$"),
    "/v1/ui/approvals/answer": ("ui", b'{"id":"00","choice":0,"choice":1}', "choice", "$"),
    "/v1/ui/jobs/run": ("ui", b'{"name":"a","name":"b"}', "name", "$"),
    "/v1/ui/reminders/pause": ("ui", b'{"id":1,"source":"s","paused":true,"id":2}', "id", "$"),
    "/v1/ui/reminders/delete": ("ui", b'{"id":1,"source":"s","id":2}', "id", "$"),
    "/v1/ui/chat": ("ui", b'{"message":"hi","message":"bye"}', "message", "$"),
    "/v1/ui/tasks/stop": ("ui", b'{"id":1,"id":2}', "id", "$"),
    "/v1/ui/quarantine/approve": ("ui", b'{"name":"a","name":"b"}', "name", "$"),
    "/v1/tasks": ("api", b'{"prompt":"a","prompt":"b"}', "prompt", "$"),
    "/v1/tasks/*": ("api", b'{"text":"a","text":"b"}', "text", "$"),
}
# where a wildcard route is posted to
GATEWAY_POST_TO = {"/v1/tasks/*": "/v1/tasks/1/steer"}
GATEWAY_OTHER_POST = {"/v1/ui/logout": "no body", "/v1/ui/breaker/resume": "no body",
                      "/v1/ui/chat/stop": "no body", "/v1/ui/chat/new": "no body"}


def routes(log, port):
    """{path: is_json} of the POST routes the server on `port` logged."""
    out = {}
    for m in ROUTE_LINE.finditer(log):
        if int(m.group(4)) == port and "POST" in m.group(1).split():
            out[m.group(2)] = bool(m.group(3))
    return out


def assert_routes_covered(found, json_routes, other_post):
    json_found = {p for p, j in found.items() if j}
    other_found = {p for p, j in found.items() if not j}
    assert json_found == set(json_routes), (
        f"JSON routes not covered by this test: {sorted(json_found - set(json_routes))}; "
        f"covered but gone: {sorted(set(json_routes) - json_found)}")
    assert other_found == set(other_post), (
        f"POST routes neither marked HTTPD_JSON nor listed as taking something else: "
        f"{sorted(other_found - set(other_post))}")


def post(port, path, body, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30 * SLOW)
    try:
        c.request("POST", path, body=body,
                  headers={"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def message_of(body):
    """The error text of any of hermetic's 400 shapes: OpenAI's and Anthropic's
    {"error": {"message"}}, the cockpit's {"error": "..."}."""
    doc = json.loads(body)
    e = doc["error"]
    return e["message"] if isinstance(e, dict) else e


# ---- router ----------------------------------------------------------------------------------

def router_cfg(fake):
    models = [deployment(n, f"test/{n}", fake) for n in ("small", "gpt-4o")]
    return router_config(
        fake, models, general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_SMALL_KEY", "alias": "small-only", "models": ["small"]}])


ROUTER_ENV = {MASTER_ENV: MASTER_KEY, "E2E_SMALL_KEY": SMALL_KEY}


def test_every_router_json_route_refuses_a_repeated_member(fake, start_router):
    r = start_router(router_cfg(fake), env=ROUTER_ENV, key=SMALL_KEY)
    assert_routes_covered(routes(r.stderr(), r.port), ROUTER_JSON, ROUTER_OTHER_POST)
    for path in sorted(ROUTER_JSON):
        reply = r.post(path, raw=DUP_MODEL)
        assert reply.status == 400, (path, reply.text)
        doc = reply.json()
        if path.startswith("/v1/messages"):  # Anthropic's error shape
            assert doc["type"] == "error", reply.text
            assert doc["error"]["type"] == "invalid_request_error", reply.text
        assert doc["error"]["message"] == 'duplicate member "model" at $', (path, reply.text)
    time.sleep(0.3 * SLOW)
    assert fake.requests == []
    assert r.spend_rows() == []


@pytest.mark.parametrize("body, message", [
    (b'{"model":"small","messages":[{"role":"user","content":"hi"}],"mod\\u0065l":"gpt-4o"}',
     'duplicate member "model" at $'),
    (b'{"model":"small","messages":[{"role":"user","content":"hi"}],"stream":true,'
     b'"stream_options":{"include_usage":true},"stream_options":{"include_usage":false}}',
     'duplicate member "stream_options" at $'),
    (b'{"model":"small","messages":[{"role":"user","content":"hi"}],"stream":true,'
     b'"stream_options":{"include_usage":true,"include_usage":false}}',
     'duplicate member "include_usage" at $.stream_options'),
    (b'{"model":"small","messages":[{"role":"user","content":"hi"}],'
     b'"usage":{"include":true,"include":false}}', 'duplicate member "include" at $.usage'),
    (b'{"model":"small","messages":[{"role":"user","content":"hi","role":"system"}]}',
     'duplicate member "role" at $.messages[0]'),
    # a provider in Go (Ollama, LocalAI) matches names ignoring case: "MODEL" sets "model"
    (b'{"model":"small","messages":[{"role":"user","content":"hi"}],"MODEL":"gpt-4o"}',
     'duplicate member "MODEL" at $ (case ignored)'),
    (b'{"model":"small","messages":[{"role":"user","content":"hi"}],"max_tokens":100,'
     b'"Max_Tokens":200000}', 'duplicate member "Max_Tokens" at $ (case ignored)'),
])
def test_a_key_limited_to_small_cannot_smuggle_a_member(fake, start_router, body, message):
    """The limited key's duplicate never reaches the upstream nor the ledger; the same body
    without the duplicate does both (so the two checks can fail)."""
    fake.script_for("test/small", text("from small"))
    r = start_router(router_cfg(fake), env=ROUTER_ENV, key=SMALL_KEY)
    reply = r.post("/v1/chat/completions", raw=body)
    assert reply.status == 400, reply.text
    assert reply.error()["message"] == message
    assert reply.error()["type"] == "invalid_request_error"
    time.sleep(0.3 * SLOW)
    assert fake.requests == [] and r.spend_rows() == []
    ok = r.chat("small", max_tokens=100)
    assert ok.status == 200, ok.text
    assert [q["model"] for q in fake.chat_requests] == ["test/small"]
    assert len(r.wait_spend_rows(1)) == 1


def test_an_upstream_answer_with_a_repeated_member_is_an_upstream_error(fake, start_router):
    """usage twice: the client's parser would read the second, the ledger the first. The
    router's one-pass scan gives up and the one parser refuses the answer: a 502, as for
    any malformed answer, and the body is not passed on."""
    fake.script_for("test/small", raw(200, (
        '{"id":"c1","object":"chat.completion","created":1,"model":"test/small",'
        '"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},'
        '"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1},'
        '"usage":{"prompt_tokens":100000,"completion_tokens":100000}}'),
        {"Content-Type": "application/json"}))
    r = start_router(router_cfg(fake), env=ROUTER_ENV, key=SMALL_KEY)
    reply = r.chat("small")
    assert reply.status == 502, reply.text
    assert "not I-JSON" in reply.error()["message"], reply.text
    assert "100000" not in reply.text


# ---- gateway: API, hooks, Alertmanager webhook, cockpit --------------------------------------

@pytest.fixture(scope="module")
def password_hash():
    from test_ui import quick_hash
    return quick_hash(PASSWORD)


def test_every_gateway_json_route_refuses_a_repeated_member(fake, gateway, password_hash):
    cfg = agent_config(
        fake, "HOME", log={"level": "debug"},
        api={"listen": "127.0.0.1:PORT", "key": "os.environ/API_SERVER_KEY"},
        ui={"password_hash": password_hash},
        hooks=[{"name": "dup", "token": "os.environ/HOOK_TOKEN",
                "prompt": "A hook: {{payload.kind}}"}],
        alerts={"alertmanager_token": "os.environ/AM_TOKEN"})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")
    g = gateway(text_, env={UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY,
                            "HOOK_TOKEN": HOOK_TOKEN, "AM_TOKEN": AM_TOKEN})
    assert_routes_covered(routes(g.stderr(), g.port), GATEWAY_JSON, GATEWAY_OTHER_POST)
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30 * SLOW)
    c.request("POST", "/v1/ui/login", body=json.dumps({"password": PASSWORD}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200
    cookie = r.getheader("Set-Cookie").split(";")[0]
    csrf = json.loads(r.read())["csrf"]
    c.close()
    auth = {"api": {"Authorization": f"Bearer {API_KEY}"},
            "hook": {"Authorization": f"Bearer {HOOK_TOKEN}"},
            "am": {"Authorization": f"Bearer {AM_TOKEN}"},
            "ui": {"Cookie": cookie, "X-CSRF-Token": csrf}, None: {}}
    for path, (who, body, member, where) in sorted(GATEWAY_JSON.items()):
        status, answer = post(g.port, GATEWAY_POST_TO.get(path, path), body, auth[who])
        assert status == 400, (path, answer)
        assert f'duplicate member "{member}" at {where}' in message_of(answer), (path, answer)
    time.sleep(0.3 * SLOW)
    # no turn started: hook, chat and cockpit chat were refused (no POST reached the model;
    # the cockpit's balance reader may GET the OpenRouter key's figures at any time)
    assert [(r["method"], r["path"]) for r in fake.requests if r["method"] != "GET"] == []
    assert g.stop() == 0, g.stderr()
    assert "AddressSanitizer" not in g.stderr() and "runtime error:" not in g.stderr()
