"""`hermetic router` with vertex_ai/ deployments against tests/fakes/fake_vertex.py (a Google
token endpoint that checks the service account's RS256 JWT, and Vertex's publisher-model API
that checks the bearer token): Gemini and Claude on Vertex, whole and streamed; the access
token reused, shared by concurrent calls, refreshed once it nears its end; a refused token
exchange as a clear error; credentials as a file, as JSON text and from
GOOGLE_APPLICATION_CREDENTIALS; gcloud's application-default login (a refresh token) and the
metadata server (GCE/GKE) when no key is given; a bad key file as a FILE:LINE:COL config error;
a group whose only deployment is inactive answering a clear 503."""
import json
import threading
import time

import pytest

from conftest import clean_env, run
from fakes.fake_anthropic import text as claude_text
from fakes.fake_gemini import text as gemini_text
from fakes.fake_openai import openai_error, text as openai_text
from fakes.fake_vertex import FakeVertex, authorized_user, service_account
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    deployment, fake, router_config, start_router,
)

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4@20250514"
EMAIL = "runner@proj-e2e.iam.gserviceaccount.com"


@pytest.fixture
def vertex():
    with FakeVertex() as v:
        yield v


@pytest.fixture
def account(vertex, tmp_path):
    """The service account's JSON key file (its token_uri is the fake's), registered with it."""
    info, key = service_account(email=EMAIL, token_uri=vertex.token_url)
    vertex.add_account(info, key)
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path, info


def vertex_deployment(name, vertex, model, credentials=None, **params):
    lp = {"model": f"vertex_ai/{model}", "api_base": vertex.url,
          "vertex_project": vertex.project, "vertex_location": vertex.location, **params}
    if credentials is not None:
        lp["vertex_credentials"] = str(credentials)
    return {"model_name": name, "litellm_params": lp}


def start(start_router, fake, models, env=None):
    return start_router(router_config(fake, models), env=env or {})


def bearer(req):
    return req["headers"].get("authorization")


@pytest.mark.smoke
def test_gemini_on_vertex_goes_to_the_publisher_url_with_the_token(vertex, account, fake,
                                                                   start_router):
    vertex.gemini.script(gemini_text("Hello from Gemini on Vertex."))
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI, account[0])])
    reply = r.chat("gem", messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Hi"}], max_tokens=32)
    assert reply.status == 200, reply.text
    assert reply.content() == "Hello from Gemini on Vertex."
    assert reply.json()["usage"]["prompt_tokens"] > 0
    [req] = vertex.requests
    assert req["path"] == (f"/v1/projects/proj-e2e/locations/us-central1/publishers/google/"
                           f"models/{GEMINI}:generateContent")
    assert req["status"] == 200
    [exchange] = vertex.token_requests
    assert exchange["status"] == 200
    assert bearer(req) == "Bearer ya29.fake-1"
    claims = exchange["claims"]
    assert claims["iss"] == EMAIL
    assert claims["aud"] == vertex.token_url
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert claims["exp"] - claims["iat"] == 3600
    assert req["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert req["body"]["generationConfig"]["maxOutputTokens"] == 32
    assert "x-goog-api-key" not in req["headers"]


def test_gemini_on_vertex_streams(vertex, account, fake, start_router):
    vertex.gemini.script(gemini_text("Streaming from Vertex, in pieces.", chunk_size=6))
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI, account[0])])
    reply = r.chat("gem", stream=True, include_usage=True)
    assert reply.status == 200, reply.text
    assert reply.error_events() == [], reply.text
    assert reply.stream_content() == "Streaming from Vertex, in pieces."
    assert reply.done(), reply.text
    [req] = vertex.requests
    assert req["path"].endswith(f"/publishers/google/models/{GEMINI}:streamGenerateContent")
    assert req["query"] == "alt=sse"


def test_claude_on_vertex_is_a_messages_body_without_model(vertex, account, fake, start_router):
    vertex.anthropic.script(claude_text("Hello from Claude on Vertex."))
    r = start(start_router, fake, [vertex_deployment("claude", vertex, CLAUDE, account[0])])
    reply = r.chat("claude", messages=[{"role": "user", "content": "Hi"}], max_tokens=64)
    assert reply.status == 200, reply.text
    doc = reply.json()
    assert doc["choices"][0]["message"]["content"] == "Hello from Claude on Vertex."
    assert doc["usage"]["completion_tokens"] > 0
    [req] = vertex.requests
    assert req["path"] == (f"/v1/projects/proj-e2e/locations/us-central1/publishers/anthropic/"
                           f"models/{CLAUDE}:rawPredict")
    assert bearer(req) == "Bearer ya29.fake-1"
    body = req["body"]
    assert body["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in body
    assert body["max_tokens"] == 64
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert "anthropic-version" not in req["headers"] and "x-api-key" not in req["headers"]


def test_claude_on_vertex_streams(vertex, account, fake, start_router):
    vertex.anthropic.script(claude_text("Claude streams through Vertex."))
    r = start(start_router, fake, [vertex_deployment("claude", vertex, CLAUDE, account[0])])
    reply = r.chat("claude", stream=True)
    assert reply.status == 200, reply.text
    assert reply.error_events() == [], reply.text
    assert reply.stream_content() == "Claude streams through Vertex."
    assert reply.done(), reply.text
    [req] = vertex.requests
    assert req["path"].endswith(f"/publishers/anthropic/models/{CLAUDE}:streamRawPredict")
    assert req["body"]["stream"] is True


def test_token_is_reused_then_refreshed_before_it_expires(vertex, account, fake, start_router):
    # A 4 s token is used for 2 s (half its life: under two minutes there is no 60 s margin).
    vertex.token_lifetime = 4
    vertex.gemini.script(*[gemini_text(f"answer {i}") for i in range(3)])
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI, account[0])])
    assert r.chat("gem").status == 200
    assert r.chat("gem").status == 200
    assert len(vertex.exchanges) == 1
    time.sleep(2.3)
    third = r.chat("gem")
    assert third.status == 200, third.text
    assert len(vertex.exchanges) == 2
    assert [bearer(q) for q in vertex.requests] == [
        "Bearer ya29.fake-1", "Bearer ya29.fake-1", "Bearer ya29.fake-2"]


def test_concurrent_calls_share_one_exchange(vertex, account, fake, start_router):
    vertex.token_delay = 0.6
    vertex.gemini.script(*[gemini_text(f"answer {i}") for i in range(4)])
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI, account[0])])
    replies = []

    def call():
        replies.append(r.chat("gem"))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [x.status for x in replies] == [200] * 4, [x.text for x in replies]
    assert len(vertex.token_requests) == 1
    assert {bearer(q) for q in vertex.requests} == {"Bearer ya29.fake-1"}


def test_a_refused_exchange_is_a_clear_error_and_nothing_is_sent(vertex, account, fake,
                                                                 start_router):
    vertex.fail_tokens(400, {"error": "invalid_grant",
                             "error_description": "Invalid JWT Signature."})
    vertex.fail_tokens(503, {"error": "backend_error"})
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI, account[0])])
    refused = r.chat("gem")
    assert refused.status == 401, refused.text
    msg = refused.json()["error"]["message"]
    assert "no access token for " + EMAIL in msg
    assert vertex.token_url in msg
    assert "invalid_grant: Invalid JWT Signature." in msg
    down = r.chat("gem")
    assert down.status == 502, down.text
    assert "the token endpoint refused the credentials (503 backend_error)" in \
        down.json()["error"]["message"]
    assert vertex.requests == []
    # the account itself is fine: the next call gets a token and goes through
    vertex.gemini.script(gemini_text("back"))
    assert r.chat("gem").content() == "back"


def test_a_401_quoting_the_minted_token_reaches_neither_client_nor_log(vertex, account, fake,
                                                                       start_router):
    vertex.gemini.script(gemini_text("warm"))
    vertex.reject_quoting_token(times=2)
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI, account[0],
                                                     num_retries=0)])
    whole = r.chat("gem")
    streamed = r.chat("gem", stream=True)
    assert whole.status == 401, whole.text
    assert "invalid authentication credentials: Bearer [REDACTED]" in \
        whole.json()["error"]["message"], whole.text
    assert streamed.status == 401, streamed.text
    [token] = {q["token"] for q in vertex.requests if q.get("token")} or \
        {bearer(q)[7:] for q in vertex.requests}
    assert token.startswith("ya29.")
    assert r.chat("gem").content() == "warm"  # the same token, and the account, still work
    for text in (whole.text, streamed.text, r.stderr(), r.logfile()):
        assert token not in text, text
    assert "[REDACTED]" in r.stderr() + r.logfile()


def test_a_minted_token_is_a_secret_until_it_expires(vertex, account, fake, start_router):
    """Another deployment's upstream quoting a token (so not the attempt's own credentials):
    the token is redacted because it is registered, the replaced one too while it lives, and
    an expired one is dropped from the registrations (they stay bounded)."""
    vertex.token_lifetime = 6  # used for 3 s, honoured for 6 s
    vertex.gemini.script(*[gemini_text(f"answer {i}") for i in range(3)])
    quoting = "the upstream saw ya29.fake-1 and ya29.fake-2"
    fake.script_for("test/oa", *[openai_error(401, quoting, "authentication_error")] * 3)
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI, account[0]),
                                   deployment("oa", "test/oa", fake, num_retries=0)])
    t0 = time.monotonic()
    assert r.chat("gem").status == 200  # ya29.fake-1, until t0 + 6
    msg = r.chat("oa").error()["message"]
    assert "saw [REDACTED] and ya29.fake-2" in msg, msg
    time.sleep(3.3)
    assert r.chat("gem").status == 200  # ya29.fake-2; fake-1 still honoured
    msg = r.chat("oa").error()["message"]
    assert "saw [REDACTED] and [REDACTED]" in msg, msg
    time.sleep(max(0.0, t0 + 6.5 - time.monotonic()))
    assert r.chat("gem").status == 200
    msg = r.chat("oa").error()["message"]
    assert "saw ya29.fake-1 and [REDACTED]" in msg, msg


def test_a_token_endpoint_that_does_not_answer_times_out_with_the_call(vertex, account, fake,
                                                                        start_router):
    vertex.token_delay = 4
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI, account[0],
                                                     timeout=1)])
    t0 = time.monotonic()
    reply = r.chat("gem")
    took = time.monotonic() - t0
    assert reply.status == 408, reply.text
    msg = reply.json()["error"]["message"]
    assert "no access token for " + EMAIL in msg
    assert took < 3.5, took
    assert vertex.requests == []


def test_credentials_as_json_text_and_from_the_environment(vertex, account, fake,
                                                           start_router):
    path, info = account
    vertex.gemini.script(gemini_text("from json text"), gemini_text("from the environment"))
    r = start(start_router, fake, [
        vertex_deployment("text", vertex, GEMINI, "os.environ/E2E_VERTEX_SA"),
        vertex_deployment("env", vertex, GEMINI)],
        env={"E2E_VERTEX_SA": json.dumps(info), "GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    assert r.chat("text").content() == "from json text"
    assert r.chat("env").content() == "from the environment"
    # the same account: one token serves both deployments
    assert len(vertex.exchanges) == 1


def test_project_and_location_default_from_the_key_and_us_central1(vertex, account, fake,
                                                                    start_router):
    vertex.gemini.script(gemini_text("defaults"))
    dep = vertex_deployment("gem", vertex, GEMINI, account[0])
    del dep["litellm_params"]["vertex_project"], dep["litellm_params"]["vertex_location"]
    r = start(start_router, fake, [dep])
    assert r.chat("gem").content() == "defaults"
    assert vertex.requests[0]["path"].startswith("/v1/projects/proj-e2e/locations/us-central1/")


def config_check(tmp_path, text, **env):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    r = run("config", "check", "--config", str(cfg),
            env=clean_env(HERMETIC_HOME=str(tmp_path / "home"), **env))
    return r, str(cfg), r.stdout + r.stderr


def test_a_bad_key_file_loads_its_deployment_active_its_calls_saying_why(tmp_path):
    """LiteLLM reads vertex credentials when a call needs them and starts without them: the
    deployment loads active, and the warning at the key's place says what its calls lack
    (issue 49)."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "service_account", "client_email": EMAIL,
                               "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                              "-----END PRIVATE KEY-----\n"}))
    text = ("model_list:\n  - model_name: gem\n    litellm_params:\n"
            f"      model: vertex_ai/{GEMINI}\n      vertex_project: p\n"
            f"      vertex_credentials: {bad}\n")
    r, cfg, out = config_check(tmp_path, text)
    assert r.returncode == 0, out
    assert (f"{cfg}:6:27: warning: model_list[0].litellm_params.vertex_credentials: deployment "
            f"of 'gem' is active (LiteLLM starts with it and reads this only at call time), "
            f"but its calls fail until: the key's private_key is not a PEM private key") in out
    assert "deployments: 1 active, 0 inactive" in out, out
    missing = text.replace(str(bad), str(tmp_path / "nope.json"))
    r, cfg, out = config_check(tmp_path, missing)
    assert r.returncode == 0, out
    assert (f"{cfg}:6:27: warning: model_list[0].litellm_params.vertex_credentials: deployment "
            f"of 'gem' is active (LiteLLM starts with it and reads this only at call time), "
            f"but its calls fail until: cannot read the service account key: No such file or "
            f"directory") in out, out
    user = tmp_path / "user.json"
    user.write_text(json.dumps({"type": "authorized_user", "client_id": "x"}))
    r, cfg, out = config_check(tmp_path, text.replace(str(bad), str(user)))
    assert r.returncode == 0, out
    assert "the authorized_user credentials have no client_secret" in out, out
    other = tmp_path / "wif.json"
    other.write_text(json.dumps({"type": "external_account", "audience": "x"}))
    r, cfg, out = config_check(tmp_path, text.replace(str(bad), str(other)))
    assert r.returncode == 0, out
    assert "the credentials are of type 'external_account'" in out, out


def test_gcloud_application_default_login_is_read(vertex, fake, start_router, tmp_path):
    info = {**authorized_user(), "token_uri": vertex.token_url}
    vertex.add_user(info)
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    (gcloud / "application_default_credentials.json").write_text(json.dumps(info))
    vertex.gemini.script(gemini_text("as the logged-in user"), gemini_text("again"))
    dep = vertex_deployment("gem", vertex, GEMINI)
    del dep["litellm_params"]["vertex_project"]  # the file's quota_project_id
    r = start(start_router, fake, [dep], env={"CLOUDSDK_CONFIG": str(gcloud)})
    assert r.chat("gem").content() == "as the logged-in user"
    assert r.chat("gem").content() == "again"
    [exchange] = vertex.token_requests
    assert exchange["status"] == 200
    assert exchange["form"] == {"grant_type": "refresh_token", "client_id": info["client_id"],
                                "client_secret": info["client_secret"],
                                "refresh_token": info["refresh_token"]}
    assert vertex.requests[0]["path"].startswith("/v1/projects/proj-e2e/")
    assert [bearer(q) for q in vertex.requests] == ["Bearer ya29.fake-1"] * 2


def test_without_credentials_the_metadata_server_gives_the_token(vertex, fake, start_router):
    vertex.gemini.script(gemini_text("on GKE"))
    r = start(start_router, fake, [vertex_deployment("gem", vertex, GEMINI)],
              env={"GCE_METADATA_HOST": vertex.url.removeprefix("http://")})
    assert r.chat("gem").content() == "on GKE"
    [exchange] = vertex.token_requests
    assert exchange["grant"] == "metadata" and exchange["status"] == 200
    assert exchange["headers"]["metadata-flavor"] == "Google"
    assert bearer(vertex.requests[0]) == "Bearer ya29.fake-1"


def test_without_credentials_or_project_the_metadata_server_gives_both_at_call_time(
        vertex, fake, start_router):
    # LiteLLM starts with it; google.auth.default() gives its call the GKE node's token and
    # project
    vertex.gemini.script(gemini_text("project from the node"))
    r = start(start_router, fake, [
        {"model_name": "gem", "litellm_params": {"model": f"vertex_ai/{GEMINI}",
                                                 "api_base": vertex.url,
                                                 "vertex_location": vertex.location}}],
              env={"GCE_METADATA_HOST": vertex.url.removeprefix("http://")})
    assert r.chat("gem").content() == "project from the node"
    assert [q["metadata-flavor"] for q in vertex.project_requests] == ["Google"]
    assert vertex.requests[0]["path"].startswith(f"/v1/projects/{vertex.project}/")
    # asked once: the next call has both
    vertex.gemini.script(gemini_text("again"))
    assert r.chat("gem").content() == "again"
    assert len(vertex.project_requests) == 1 and len(vertex.token_requests) == 1


def test_without_credentials_or_project_off_gcp_the_call_says_what_is_missing(
        vertex, fake, start_router):
    # no metadata server answers (off GCP): the deployment is active, as under LiteLLM, and
    # its calls fail naming the server they asked
    r = start(start_router, fake, [
        {"model_name": "gem", "litellm_params": {"model": f"vertex_ai/{GEMINI}"}},
        deployment("other", "test/free", fake)], env={"GCE_METADATA_HOST": "127.0.0.1:9"})
    reply = r.chat("gem")
    assert reply.status == 502, reply.text
    msg = reply.json()["error"]["message"]
    assert "vertex_ai: no access token for the metadata server's default service account " \
           "from http://127.0.0.1:9/computeMetadata/v1/" in msg, msg
    assert vertex.token_requests == [] and vertex.requests == []
    fake.script_for("test/free", openai_text("the rest of the config routes"))
    assert r.chat("other").content() == "the rest of the config routes"
