"""The OpenAI-compatible providers of the catalogue (src/core/providers.c) and Azure OpenAI,
through the real `hermetic router`: each prefix reaches its provider with the provider's URL,
key header and upstream model id, keys default to LiteLLM's variables, and Azure's errors map
to LiteLLM's classes."""
import json
import subprocess

import pytest

from conftest import argv, clean_env, to_yaml
from fakes.fake_azure import FakeAzure
from fakes.fake_openai import FakeOpenAI, text
from router_harness import (UPSTREAM_ENV, UPSTREAM_KEY, deployment, fake, router_config,  # noqa: F401
                            start_router)

AZURE_KEY = "azure-e2e-key-SECRET-5b1c"


def entry(name, model, **params):
    return {"model_name": name, "litellm_params": {"model": model, **params}}


def test_groq_key_comes_from_its_variable_and_model_loses_the_prefix(fake, start_router):
    """groq/<id> with no api_key: LiteLLM's GROQ_API_KEY is the Bearer key, and the provider
    gets the id without the prefix."""
    fake.script_for("llama-3.3-70b-versatile", text("from groq"))
    cfg = router_config(fake, [entry("g", "groq/llama-3.3-70b-versatile", api_base=fake.url)])
    r = start_router(cfg, env={"GROQ_API_KEY": UPSTREAM_KEY})
    reply = r.chat("g")
    assert reply.status == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "from groq"
    req = fake.chat_requests[-1]
    assert req["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert req["body"]["model"] == "llama-3.3-70b-versatile"


@pytest.mark.smoke
def test_ollama_chat_gets_the_v1_path_and_no_key(start_router):
    """ollama_chat/<id> with api_base http://host:11434 (how configs write it) calls Ollama's
    OpenAI-compatible /v1/chat/completions, with no Authorization header."""
    with FakeOpenAI(api_key=None) as ollama:
        ollama.script(text("from ollama"))
        cfg = router_config(ollama, [entry("local", "ollama_chat/qwen3:4b",
                                           api_base=ollama.base_url)])
        r = start_router(cfg)
        reply = r.chat("local")
        assert reply.status == 200, reply.text
        req = ollama.chat_requests[-1]
        assert req["path"] == "/v1/chat/completions"
        assert "authorization" not in req["headers"]
        assert req["body"]["model"] == "qwen3:4b"


def test_hosted_vllm_without_api_base_is_a_config_error(tmp_path):
    """hosted_vllm has no public URL: config check says api_base (or its variable) is needed."""
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml({"model_list": [entry("v", "hosted_vllm/meta-llama/Llama-3-8B")]}))
    r = subprocess.run(argv("config", "check", "--config", str(path)), capture_output=True,
                       text=True, env=clean_env(), timeout=30)
    assert r.returncode == 1
    assert "provider 'hosted_vllm' needs api_base (the server's URL) or HOSTED_VLLM_API_BASE" \
        in r.stdout + r.stderr


def test_every_openai_compatible_prefix_loads_with_its_default_base(tmp_path):
    """Each catalogue prefix with a public URL loads with only its key variable set, as a
    LiteLLM config would."""
    prefixes = {"openai": "OPENAI_API_KEY", "openrouter": "OPENROUTER_API_KEY",
                "groq": "GROQ_API_KEY", "cerebras": "CEREBRAS_API_KEY",
                "deepseek": "DEEPSEEK_API_KEY", "mistral": "MISTRAL_API_KEY",
                "together_ai": "TOGETHERAI_API_KEY", "fireworks_ai": "FIREWORKS_AI_API_KEY",
                "nvidia_nim": "NVIDIA_NIM_API_KEY", "xai": "XAI_API_KEY",
                "perplexity": "PERPLEXITYAI_API_KEY", "huggingface": "HF_TOKEN",
                "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
    models = [entry(f"m-{p}", f"{p}/some-model") for p in prefixes]
    models.append(entry("m-ollama", "ollama/llama3"))
    models.append(entry("m-lmstudio", "lm_studio/qwen"))
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml({"model_list": models}))
    env = clean_env()
    env.update({v: f"key-{v.lower()}-1234" for v in prefixes.values()})
    r = subprocess.run(argv("config", "check", "--config", str(path)), capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in r.stdout + r.stderr


def azure_config(fake_openai, azure, **params):
    lp = {"api_base": azure.url, "api_key": "os.environ/AZURE_E2E_KEY", **params}
    return router_config(fake_openai, [entry("az", "azure/gpt4o-prod", **lp)])


def test_azure_calls_the_deployment_url_with_api_version_and_api_key(fake, start_router):
    """azure/<deployment>: POST /openai/deployments/<deployment>/chat/completions with the
    api-version query and the api-key header, never a Bearer token."""
    with FakeAzure(AZURE_KEY, ["gpt4o-prod"]) as az:
        az.script(("text", "from azure"), ("text", "streamed from azure"))
        r = start_router(azure_config(fake, az, api_version="2024-06-01"),
                         env={"AZURE_E2E_KEY": AZURE_KEY})
        reply = r.chat("az")
        assert reply.status == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"] == "from azure"
        req = az.requests[-1]
        assert req["path"] == "/openai/deployments/gpt4o-prod/chat/completions"
        assert req["query"]["api-version"] == ["2024-06-01"]
        assert req["headers"]["api-key"] == AZURE_KEY
        assert "authorization" not in req["headers"]
        s = r.chat("az", stream=True)
        assert s.status == 200
        events = [json.loads(line[6:]) for line in s.text.splitlines()
                  if line.startswith("data: {")]
        content = "".join(c["choices"][0]["delta"].get("content") or ""
                          for c in events if c.get("choices"))
        assert content == "streamed from azure"
        assert az.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_azure_api_version_defaults_and_v1_base_needs_none(fake, start_router):
    """Without api_version the default 2024-10-21 is sent; an api_base ending in /openai/v1
    is Azure's v1 API: stock OpenAI path, model = deployment, no api-version."""
    with FakeAzure(AZURE_KEY, ["gpt4o-prod"]) as az:
        az.script(("text", "a"), ("text", "b"))
        cfg = router_config(fake, [
            entry("classic", "azure/gpt4o-prod", api_base=az.url, api_key=AZURE_KEY),
            entry("v1", "azure/gpt4o-prod", api_base=az.url + "/openai/v1/", api_key=AZURE_KEY)])
        r = start_router(cfg)
        assert r.chat("classic").status == 200
        assert az.requests[-1]["query"]["api-version"] == ["2024-10-21"]
        assert r.chat("v1").status == 200
        assert az.requests[-1]["path"] == "/openai/v1/chat/completions"
        assert az.requests[-1]["query"] == {}
        assert az.requests[-1]["body"]["model"] == "gpt4o-prod"


def test_azure_content_filter_is_a_content_policy_error_and_falls_back(fake, start_router):
    """Azure's 400 content_filter is LiteLLM's content-policy class: the client gets 400
    content_policy_violation, and content_policy_fallbacks route to the fallback group."""
    with FakeAzure(AZURE_KEY, ["gpt4o-prod"]) as az:
        az.script(("filter",), ("filter",))
        fake.script_for("test/safe", text("from the fallback"))
        cfg = azure_config(fake, az)
        cfg["model_list"].append(deployment("safe", "test/safe", fake))
        r = start_router(cfg, env={"AZURE_E2E_KEY": AZURE_KEY, UPSTREAM_ENV: UPSTREAM_KEY})
        reply = r.chat("az")
        assert reply.status == 400
        assert reply.json()["error"]["type"] == "content_policy_violation"
        r.stop()
        cfg["litellm_settings"] = {"content_policy_fallbacks": [{"az": ["safe"]}]}
        r2 = start_router(cfg, env={"AZURE_E2E_KEY": AZURE_KEY, UPSTREAM_ENV: UPSTREAM_KEY},
                          name="router2")
        reply = r2.chat("az")
        assert reply.status == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"] == "from the fallback"
        assert reply.headers["x-litellm-attempted-fallbacks"] == "1"


def test_azure_wrong_key_is_an_auth_error(fake, start_router):
    """A wrong api-key: Azure's 401 reaches the client as 401 authentication_error."""
    with FakeAzure(AZURE_KEY, ["gpt4o-prod"]) as az:
        r = start_router(azure_config(fake, az), env={"AZURE_E2E_KEY": "wrong-key-000"})
        reply = r.chat("az")
        assert reply.status == 401
        assert reply.json()["error"]["type"] == "authentication_error"
        assert "wrong-key-000" not in reply.text
