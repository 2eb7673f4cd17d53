"""The provider prefixes of the LiteLLM survey (docs/litellm-compat.md) that appear in two or
more configs: `config check` on a one-deployment config per prefix, as written in the wild
(no api_base, the key from LiteLLM's variable), loads it active or inactive-with-why, never
refuses it; the OpenAI-compatible ones each make one call through the router with their key
taken from LiteLLM's variable; an inactive deployment leaves the rest of the config routing
and its own group answers a clear 503."""
import pytest

from conftest import clean_env, run
from fakes.fake_openai import text as openai_text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    UPSTREAM_KEY, api_base_of, deployment, fake, parse_metrics, router_config, samples,
    start_router,
)

# prefix, model as written, the variable LiteLLM reads the key from
OPENAI_COMPATIBLE = [
    ("cohere", "cohere/command-r-plus", "COHERE_API_KEY"),
    ("github", "github/Phi-4", "GITHUB_API_KEY"),
    ("cloudflare", "cloudflare/@cf/meta/llama-3.1-8b-instruct", "CLOUDFLARE_API_KEY"),
    ("zhipu", "zhipu/glm-4-plus", "ZHIPUAI_API_KEY"),
    ("zhipuai", "zhipuai/glm-4-plus", "ZHIPUAI_API_KEY"),
    ("volcengine", "volcengine/ep-20250101-abcde", "VOLCENGINE_API_KEY"),
    ("nvidia", "nvidia/meta/llama3-70b-instruct", "NVIDIA_NIM_API_KEY"),
    ("nvidia_nim", "nvidia_nim/meta/llama3-70b-instruct", "NVIDIA_NIM_API_KEY"),
    ("together_ai", "together_ai/meta-llama/Llama-3-70b-chat-hf", "TOGETHERAI_API_KEY"),
    ("perplexity", "perplexity/sonar", "PERPLEXITYAI_API_KEY"),
    ("huggingface", "huggingface/Qwen/Qwen2.5-72B-Instruct", "HF_TOKEN"),
    ("xai", "xai/grok-3", "XAI_API_KEY"),
]

# prefix, model as written, what the inactive warning says
INACTIVE = [
    ("sagemaker", "sagemaker/jumpstart-dft-llama-2-7b",
     "SageMaker endpoint invocation is not implemented"),
    ("github_copilot", "github_copilot/gpt-4o", "device-login flow"),
    ("a custom handler", "claude_code/sonnet", "provider 'claude_code' is not one hermetic knows"),
]

# LiteLLM starts with these and reads what they lack only when it builds a call: active, the
# warning and the summary say what their calls need
NEEDS_AT_CALL = [
    ("cloudflare without its account", "cloudflare/@cf/meta/llama-3.1-8b-instruct",
     "cloudflare needs CLOUDFLARE_ACCOUNT_ID (or api_base) for its URL"),
]


def config_check(tmp_path, model, **env):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"model_list:\n  - model_name: m\n    litellm_params:\n"
                   f"      model: {model}\n")
    r = run("config", "check", "--config", str(cfg),
            env=clean_env(HERMETIC_HOME=str(tmp_path / "home"), **env))
    return r, r.stdout + r.stderr


@pytest.mark.parametrize("prefix,model,key_env", OPENAI_COMPATIBLE,
                         ids=[p[0] for p in OPENAI_COMPATIBLE])
def test_openai_compatible_prefix_loads_active(prefix, model, key_env, tmp_path):
    r, out = config_check(tmp_path, model, **{key_env: "e2e-key", "CLOUDFLARE_ACCOUNT_ID": "a1"})
    assert r.returncode == 0, out
    assert "deployments: 1 active, 0 inactive" in out, out
    assert "no api_key" not in out, out


@pytest.mark.parametrize("what,model,why", INACTIVE, ids=[p[0] for p in INACTIVE])
def test_uncallable_prefix_loads_inactive_with_why(what, model, why, tmp_path):
    r, out = config_check(tmp_path, model)
    assert r.returncode == 0, out
    assert "deployments: 0 active, 1 inactive" in out, out
    assert f"config.yaml:4:14: warning: model_list[0].litellm_params.model: deployment of " \
           f"'m' is inactive: " in out, out
    assert why in out, out


@pytest.mark.parametrize("what,model,why", NEEDS_AT_CALL, ids=[p[0] for p in NEEDS_AT_CALL])
def test_what_only_calls_need_leaves_the_deployment_active_as_litellm_starts_it(
        what, model, why, tmp_path):
    r, out = config_check(tmp_path, model)
    assert r.returncode == 0, out
    assert "deployments: 1 active, 0 inactive" in out, out
    assert "config.yaml:4:14: warning: model_list[0].litellm_params.model: deployment of 'm' " \
           "is active (LiteLLM starts with it and reads this only at call time), but its " \
           "calls fail until: " in out, out
    assert f"  active, its calls fail until set: m ({model}): {why}" in out, out


def test_vertex_without_credentials_or_project_loads_active_for_the_metadata_server(tmp_path):
    # LiteLLM starts; google.auth.default() finds the token and project at call time
    r, out = config_check(tmp_path, "vertex_ai/gemini-2.5-pro")
    assert r.returncode == 0, out
    assert "deployments: 1 active, 0 inactive" in out, out
    assert "at call time, and the project too" in out, out


def test_a_cloudflare_call_without_the_account_id_says_so_and_sends_nothing(fake,
                                                                           start_router):
    fake.script_for("test/free", openai_text("the other deployment"))
    r = start_router(router_config(fake, [
        {"model_name": "cf", "litellm_params": {
            "model": "cloudflare/@cf/meta/llama-3.1-8b-instruct"}},
        deployment("other", "test/free", fake)]), env={"CLOUDFLARE_API_KEY": "cf-key"})
    reply = r.chat("cf")
    assert reply.status == 401, reply.text
    msg = reply.json()["error"]["message"]
    assert "cloudflare needs CLOUDFLARE_ACCOUNT_ID (or api_base) for its URL" in msg, msg
    assert "nothing was sent" in msg, msg
    assert fake.chat_requests == []
    assert r.chat("other").content() == "the other deployment"


@pytest.mark.parametrize("prefix,model,key_env", OPENAI_COMPATIBLE,
                         ids=[p[0] for p in OPENAI_COMPATIBLE])
def test_openai_compatible_prefix_calls_with_litellms_key_variable(prefix, model, key_env, fake,
                                                                   start_router):
    upstream_id = model.split("/", 1)[1]
    fake.script_for(upstream_id, openai_text(f"answered via {prefix}"))
    r = start_router(router_config(fake, [{"model_name": "m", "litellm_params": {
        "model": model, "api_base": api_base_of(fake)}}]), env={key_env: UPSTREAM_KEY})
    reply = r.chat("m")
    assert reply.status == 200, reply.text
    assert reply.content() == f"answered via {prefix}"
    [req] = fake.chat_requests
    assert req["model"] == upstream_id


def test_an_inactive_group_answers_503_and_the_rest_routes(fake, start_router):
    fake.script_for("test/free", openai_text("still routing"))
    r = start_router(router_config(fake, [
        {"model_name": "copilot", "litellm_params": {"model": "github_copilot/gpt-4o"}},
        deployment("free", "test/free", fake)]))
    reply = r.chat("copilot")
    assert reply.status == 503, reply.text
    assert reply.json()["error"]["message"] == (
        "model 'copilot' has no active deployment (config check lists them): GitHub Copilot "
        "signs in with a device-login flow that a server cannot complete")
    assert fake.chat_requests == []
    assert r.chat("free").content() == "still routing"
    # LiteLLM's deployment state: 2 (complete outage) for the inactive one, 0 for the other
    parsed = parse_metrics(r.metrics_text())
    assert [v for _, _, v in samples(parsed, "litellm_deployment_state",
                                     litellm_model_name="copilot", api_base="",
                                     api_provider="github_copilot")] == [2]
    assert [v for _, _, v in samples(parsed, "litellm_deployment_state",
                                     litellm_model_name="free")] == [0]


def test_an_inactive_group_falls_back(fake, start_router):
    fake.script_for("test/free", openai_text("from the fallback"))
    r = start_router(router_config(
        fake, [{"model_name": "sm", "litellm_params": {"model": "sagemaker/llama-2-7b"}},
               deployment("free", "test/free", fake)],
        router_settings={"fallbacks": [{"sm": ["free"]}]}))
    reply = r.chat("sm")
    assert reply.status == 200, reply.text
    assert reply.content() == "from the fallback"
