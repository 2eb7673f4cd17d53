"""`hermetic router`, the OpenAI-compatible surface: health, model lists, auth, the model
allowlist, request caps, pass-through of request fields, OpenRouter headers, x-litellm-*
response headers and the seed config. Every upstream is the scripted fake (tests/fakes)."""
import re
import signal
import threading

import pytest

from conftest import ROOT
from fakes.fake_openai import error, text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    INVALID_MODEL, MASTER_ENV, MASTER_KEY, UPSTREAM_KEY, approx, count_calls, deployment,
    fake, router_config, start_router, upstream_models,
)

SEED = ROOT / "tests" / "data" / "seed.yaml"
CHEAP_KEY = "sk-e2e-cheap-only-SECRET-99b1"
AUTH_ENV = {MASTER_ENV: MASTER_KEY, "E2E_CHEAP_KEY": CHEAP_KEY}


def auth_config(fake):
    return router_config(fake, general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
                         keys=[{"key": "os.environ/E2E_CHEAP_KEY", "alias": "cheap-only",
                                "models": ["cheap"]}])


def assert_openai_error(reply, status):
    assert reply.status == status, (reply.status, reply.text)
    err = reply.error()
    assert isinstance(err.get("message"), str) and err["message"], err
    assert "type" in err and err.get("param", "missing") is None, err
    return err


# -- process and health ------------------------------------------------------

@pytest.mark.smoke
def test_health_endpoints_need_no_auth_and_sigterm_exits_0_with_empty_stdout(fake, start_router):
    r = start_router(auth_config(fake), env=AUTH_ENV)
    live = r.get("/health/liveliness")
    assert live.status == 200, live.text
    assert live.json() == "I'm alive!"
    ready = r.get("/health/readiness")
    assert ready.status == 200, ready.text
    doc = ready.json()
    assert isinstance(doc, dict) and isinstance(doc.get("status"), str) and doc["status"], doc
    assert r.get("/metrics").status == 200
    assert r.stop(signal.SIGTERM) == 0, r.stderr()
    assert r.stdout() == ""
    assert fake.chat_requests == []


def test_sigint_exits_0(fake, start_router):
    r = start_router(router_config(fake))
    assert r.stop(signal.SIGINT) == 0, r.stderr()
    assert r.stdout() == ""


# -- proxying ----------------------------------------------------------------

@pytest.mark.smoke
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
def test_proxies_a_chat_completion_to_its_deployment(fake, start_router, path):
    fake.script_for("test/free", text("Hello from upstream", cost=0.0001))
    r = start_router(router_config(fake))
    reply = r.chat("free", path=path)
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["choices"][0]["message"]["content"] == "Hello from upstream"
    assert doc["usage"]["total_tokens"] > 0
    [req] = fake.chat_requests
    assert req["path"] == "/v1/chat/completions"  # api_base + /chat/completions
    assert req["body"]["model"] == "test/free"  # openrouter/ prefix stripped
    assert req["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert req["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_concurrent_requests_are_served_in_parallel(fake, start_router):
    n = 8
    fake.script_for("test/free", *[text(f"slow {i}", first_byte_delay=0.6) for i in range(n)])
    r = start_router(router_config(fake))
    replies = []

    def call():
        replies.append(r.chat("free"))

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(x.status for x in replies) == [200] * n, [x.text for x in replies]
    assert sorted(x.content() for x in replies) == sorted(f"slow {i}" for i in range(n))
    # Each upstream answer is held for 0.6 s: a router that served calls one after another
    # could not have sent the last request before the first one was answered.
    seen = sorted(q["monotonic"] for q in fake.chat_requests)
    assert len(seen) == n and seen[-1] - seen[0] < 0.6, seen


def test_unknown_request_fields_pass_through_unchanged(fake, start_router):
    fake.script_for("test/free", text("ok"))
    r = start_router(router_config(fake))
    tools = [{"type": "function", "function": {
        "name": "pods_list", "description": "List pods",
        "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}},
                       "required": ["namespace"]}}}]
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "pods? caf\u00e9 \u2603 \"quoted\""},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "pods_list", "arguments": "{\"namespace\": \"default\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "web-1 Running"},
    ]
    extra = {"tools": tools,
             "tool_choice": {"type": "function", "function": {"name": "pods_list"}},
             "parallel_tool_calls": False, "temperature": 0.25, "max_tokens": 77, "top_k": 40,
             "x_custom": {"nested": [1, "two", None, {"three": 3.5}], "flag": True},
             "provider": {"order": ["Fake"], "allow_fallbacks": False}}
    reply = r.post("/v1/chat/completions", {"model": "free", "messages": messages, **extra})
    assert reply.status == 200, reply.text
    [req] = fake.chat_requests
    sent = req["body"]
    for key, value in extra.items():
        assert sent.get(key) == value, f"{key}: sent {sent.get(key)!r}, expected {value!r}"
    assert sent["messages"] == messages
    assert sent["model"] == "test/free"
    assert sent.get("usage") == {"include": True}  # OpenRouter usage accounting


def test_openrouter_attribution_headers(fake, start_router, tmp_path):
    fake.script_for("test/free", text("one"), text("two"))
    r = start_router(router_config(fake))
    assert r.chat("free").status == 200
    r.stop()
    r2 = start_router(router_config(fake, router={"openrouter_referer": "https://hermetic.test/e2e",
                                                  "openrouter_title": "e2e title"}),
                      name="router2")
    assert r2.chat("free").status == 200
    first, second = fake.chat_requests
    assert first["headers"].get("x-title") == "hermetic"
    assert "http-referer" not in first["headers"]
    assert second["headers"].get("x-title") == "e2e title"
    assert second["headers"].get("http-referer") == "https://hermetic.test/e2e"


# -- model lists ---------------------------------------------------------------

def listing_models(fake):
    return [deployment("free", "qwen/qwen3-coder:free", fake, id="free-qwen"),
            deployment("free", "google/gemini-2.0-flash-exp:free", fake),
            deployment("cheap", "qwen/qwen-turbo", fake,
                       model_info={"input_cost_per_token": 5e-08,
                                   "output_cost_per_token": 2e-07})]


@pytest.mark.parametrize("path", ["/v1/models", "/models"])
def test_models_lists_model_groups_only(fake, start_router, path):
    r = start_router(router_config(fake, listing_models(fake)))
    reply = r.get(path)
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["object"] == "list"
    ids = [m["id"] for m in doc["data"]]
    assert sorted(ids) == ["cheap", "free"], ids
    assert all(m.get("object") == "model" for m in doc["data"])
    for provider_id in ("qwen/", "gemini", "openrouter/"):
        assert provider_id not in reply.text


def _keys_anywhere(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _keys_anywhere(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _keys_anywhere(v)


@pytest.mark.parametrize("path", ["/model/info", "/v1/model/info"])
def test_model_info_lists_deployments_without_api_keys(fake, start_router, path):
    r = start_router(router_config(fake, listing_models(fake)))
    reply = r.get(path)
    assert reply.status == 200, reply.text
    data = reply.json()["data"]
    assert sorted(d["model_name"] for d in data) == ["cheap", "free", "free"]
    by_provider = {d["litellm_params"]["model"].removeprefix("openrouter/"): d for d in data}
    assert set(by_provider) == {"qwen/qwen3-coder:free", "google/gemini-2.0-flash-exp:free",
                                "qwen/qwen-turbo"}
    assert by_provider["qwen/qwen3-coder:free"]["model_info"]["id"] == "free-qwen"
    assert re.fullmatch(r"free-\d+",
                        by_provider["google/gemini-2.0-flash-exp:free"]["model_info"]["id"])
    assert re.fullmatch(r"cheap-\d+", by_provider["qwen/qwen-turbo"]["model_info"]["id"])
    assert "api_key" not in set(_keys_anywhere(data))
    assert UPSTREAM_KEY not in reply.text


# -- auth ----------------------------------------------------------------------

@pytest.mark.parametrize("key", ["", "sk-e2e-wrong-key"], ids=["missing", "wrong"])
def test_missing_or_wrong_key_is_401_openai_shaped(fake, start_router, key):
    fake.script_for("test/free", text("must not be reached"))
    r = start_router(auth_config(fake), env=AUTH_ENV)
    err = assert_openai_error(r.chat("free", key=key), 401)
    assert err.get("code") == "401", err
    assert r.get("/v1/models", key=key).status == 401
    assert fake.chat_requests == []


def test_key_whose_models_lack_the_group_is_401(fake, start_router):
    fake.script_for("test/free", text("free via master"))
    fake.script_for("test/cheap", text("cheap via key"))
    r = start_router(auth_config(fake), env=AUTH_ENV)
    assert_openai_error(r.chat("free", key=CHEAP_KEY), 401)
    ok = r.chat("cheap", key=CHEAP_KEY)
    assert ok.status == 200 and ok.content() == "cheap via key", ok.text
    ok = r.chat("free", key=MASTER_KEY)
    assert ok.status == 200 and ok.content() == "free via master", ok.text
    assert upstream_models(fake) == ["test/cheap", "test/free"]


def test_no_master_key_and_no_keys_means_no_auth(fake, start_router):
    fake.script_for("test/free", text("open"))
    r = start_router(router_config(fake))
    reply = r.chat("free", key="")
    assert reply.status == 200, reply.text
    assert r.get("/v1/models", key="").status == 200



def test_an_unset_master_key_variable_starts_locked_not_open(fake, start_router):
    """LiteLLM serves without authentication when master_key's variable is unset; hermetic
    starts too, but locked: a virtual key still works, anything else is 401 naming the
    variable, the empty bearer included, and no such request reaches the upstream."""
    fake.script_for("test/cheap", text("cheap via key"))
    r = start_router(auth_config(fake), env={"E2E_CHEAP_KEY": CHEAP_KEY})  # no MASTER_ENV
    assert f"environment variable {MASTER_ENV} is not set" in r.stderr()
    for key in ("", "anything", MASTER_KEY):
        err = assert_openai_error(r.chat("free", key=key), 401)
        assert f"names the environment variable {MASTER_ENV}" in err["message"], err
        assert "locked until it is set" in err["message"], err
    ok = r.chat("cheap", key=CHEAP_KEY)
    assert ok.status == 200 and ok.content() == "cheap via key", ok.text
    assert r.get("/health/liveliness").status == 200
    assert upstream_models(fake) == ["test/cheap"]

# -- allowlist -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["nope", "qwen/qwen3-coder:free",
                                  "openrouter/qwen/qwen3-coder:free", "FREE"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_model_outside_the_allowlist_is_400_and_upstream_never_called(fake, start_router, name,
                                                                      stream):
    fake.script_for(name, text("must not be reached"))
    fake.script_for("qwen/qwen3-coder:free", text("must not be reached"))
    fake.script(text("must not be reached"))
    models = [deployment("free", "qwen/qwen3-coder:free", fake),
              deployment("cheap", "qwen/qwen-turbo", fake)]
    r = start_router(router_config(fake, models, litellm_settings={"default_fallbacks": ["cheap"]}))
    reply = r.chat(name, stream=stream)
    err = assert_openai_error(reply, 400)
    assert err["message"] == INVALID_MODEL.format(name), err
    assert fake.requests == []


# -- request caps and validation ---------------------------------------------------

def test_body_over_max_body_bytes_is_413(fake, start_router):
    fake.script_for("test/free", text("small ok"), text("must not be reached"))
    r = start_router(router_config(fake, router={"max_body_bytes": 2048}))
    assert r.chat("free", content="x" * 100).status == 200
    reply = r.chat("free", content="x" * 8192)
    assert reply.status == 413, reply.text
    assert count_calls(fake, "test/free") == 1


def test_invalid_json_body_is_400_openai_shaped(fake, start_router):
    r = start_router(router_config(fake))
    reply = r.post("/v1/chat/completions", raw=b'{"model": "free", "messages": [')
    assert_openai_error(reply, 400)
    assert fake.requests == []


@pytest.mark.parametrize("missing", ["model", "messages"])
def test_missing_model_or_messages_is_400(fake, start_router, missing):
    r = start_router(router_config(fake))
    body = {"model": "free", "messages": [{"role": "user", "content": "hi"}]}
    del body[missing]
    assert_openai_error(r.post("/v1/chat/completions", body), 400)
    assert fake.requests == []


# -- response headers ------------------------------------------------------------

def test_success_headers_name_deployment_group_retries_and_cost(fake, start_router):
    fake.script_for("test/free", error(503, {"error": {"code": 503, "message": "busy"}}),
                    text("ok", cost=0.00123))
    r = start_router(router_config(fake, [deployment("free", "test/free", fake,
                                                     id="free-primary")],
                                   router_settings={"num_retries": 2}))
    reply = r.chat("free")
    assert reply.status == 200, reply.text
    h = reply.headers
    assert h.get("x-litellm-model-id") == "free-primary"
    assert h.get("x-litellm-model-group") == "free"
    assert approx(h["x-litellm-response-cost"], 0.00123)
    assert h.get("x-litellm-attempted-retries") == "1"
    assert h.get("x-litellm-attempted-fallbacks") == "0"
    assert float(h["x-litellm-overhead-duration-ms"]) >= 0
    assert count_calls(fake, "test/free") == 2


def test_default_deployment_id_matches_model_info(fake, start_router):
    fake.script_for("test/free", text("a"))
    fake.script_for("test/cheap", text("b"))
    r = start_router(router_config(fake))
    ids = {d["model_name"]: d["model_info"]["id"] for d in r.get("/model/info").json()["data"]}
    for group in ("free", "cheap"):
        reply = r.chat(group)
        assert reply.status == 200, reply.text
        assert re.fullmatch(rf"{group}-\d+", reply.headers["x-litellm-model-id"])
        assert reply.headers["x-litellm-model-id"] == ids[group]


# -- the seed deployment ---------------------------------------------------------

SEED_ENV = {"OPENROUTER_API_KEY": UPSTREAM_KEY, MASTER_ENV: MASTER_KEY,
            "TELEGRAM_BOT_TOKEN": "123456:e2e-telegram-secret-token",
            "API_SERVER_KEY": "e2e-api-server-secret"}


def seed_config(fake):
    """tests/data/seed.yaml with home, router.listen and every api_base pointed at the fake."""
    lines = []
    for line in SEED.read_text().splitlines():
        if line.startswith("home:"):
            line = "home: {home}"
        lines.append(line)
        m = re.match(r"^(\s+)model: openrouter/", line)
        if m:
            lines.append(f"{m.group(1)}api_base: {fake.url}")
    lines += ["router:", '  listen: "127.0.0.1:{port}"']
    return "\n".join(lines) + "\n"


def test_seed_config_serves_its_model_groups(fake, start_router):
    fake.script_for("qwen/qwen3-coder:free", text("seeded"))
    r = start_router(seed_config(fake), env=SEED_ENV, key=MASTER_KEY)
    reply = r.get("/v1/models")
    assert reply.status == 200, reply.text
    assert sorted(m["id"] for m in reply.json()["data"]) == ["cheap", "free", "free2", "strong"]
    reply = r.chat("free")
    assert reply.status == 200 and reply.content() == "seeded", reply.text
    [req] = fake.chat_requests
    assert req["body"]["model"] == "qwen/qwen3-coder:free"
    assert r.chat("free", key="").status == 401
