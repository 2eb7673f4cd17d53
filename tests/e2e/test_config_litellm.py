"""LiteLLM compatibility of the config: the sample of real-world config patterns under
tests/data/litellm-configs/ loads with `hermetic config check` (only secrets in the environment),
a key unknown to both LiteLLM and hermetic warns with a suggestion (an error under --strict), and
the router answers model_group_alias names and wildcard groups under the group, with bounded
labels."""
import re

import pytest

from conftest import ROOT, clean_env, run
from fakes.fake_openai import text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    deployment, fake, router_config, start_router, upstream_models,
)

SAMPLE_DIR = ROOT / "tests" / "data" / "litellm-configs"
SAMPLES = sorted(SAMPLE_DIR.glob("*.yaml"))
ENV_REF = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# AWS's standard variables: bedrock/ entries that name no credentials read these.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIAE2ETESTEXAMPLE00", "AWS_SECRET_ACCESS_KEY":
           "e2e-test-aws-secret-access-key-0000", "AWS_REGION": "us-east-1",
           "AZURE_API_BASE": "https://e2e-test.openai.azure.com"}


def env_for(path):
    """Every variable the file references as os.environ/NAME or ${NAME}, set to a plausible
    value; ${NAME:-default} forms stay unset so their defaults are used."""
    env = dict(AWS_ENV)
    for m in ENV_REF.finditer(path.read_text()):
        name = m.group(1) or m.group(2)
        if "BASE" in name or "URL" in name:
            env[name] = "https://e2e-test.example/v1"
        elif "REGION" in name:
            env[name] = "eu-west-1"
        elif "VERSION" in name:
            env[name] = "2024-10-21"
        else:
            env[name] = f"e2e-test-value-of-{name.lower()}"
    return env


def check(path, tmp_path):
    return run("config", "check", "--config", str(path),
               env=clean_env(HERMETIC_HOME=str(tmp_path / "home"), **env_for(path)))


def test_the_sample_is_large_and_covers_the_reported_prefix_mix():
    """At least 40 patterns, and each prefix of the issue's survey appears in several."""
    assert len(SAMPLES) >= 40
    texts = [p.read_text() for p in SAMPLES]

    def share(pattern):
        return sum(1 for t in texts if re.search(pattern, t, re.M)) / len(texts)

    assert share(r"model: (openai/|gpt-|o4|text-embedding|whisper)") > 0.35
    assert share(r"model: ['\"]?gemini/") > 0.10
    assert share(r"model: ['\"]?anthropic/") > 0.10
    assert share(r"model: ['\"]?ollama(_chat)?/") > 0.08
    assert share(r"model: ['\"]?azure/") > 0.08
    assert share(r"model: ['\"]?bedrock/") > 0.07
    assert share(r"model: ['\"]?groq/") > 0.05
    assert share(r"model: ['\"]?openrouter/") > 0.05
    assert share(r"model: ['\"]?hosted_vllm/") > 0.05
    assert share(r"mode: embedding") > 0.10
    assert share(r"model_name: ['\"]?[^\n]*\*") > 0.08
    for p in SAMPLES:
        first = p.read_text().splitlines()[0]
        assert first.startswith("# "), f"{p.name}: the first line describes the pattern"


@pytest.mark.smoke
@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_config_loads(path, tmp_path):
    """LiteLLM configs load unchanged: exit 0, warnings allowed (printed for the record)."""
    r = check(path, tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    warnings = out.count(": warning: ")
    print(f"{path.name}: loads, {warnings} warning(s)")


TYPOS = [
    ("general_settings:\n  store_prompt_in_spend_logs: true\n",
     "unknown key 'store_prompt_in_spend_logs' in 'general_settings'; did you mean "
     "'store_prompts_in_spend_logs'?"),
    ("general_settings:\n  master_kye: os.environ/LITELLM_MASTER_KEY\n",
     "unknown key 'master_kye' in 'general_settings'; did you mean 'master_key'?"),
    ("litellm_settings:\n  num_retires: 3\n",
     "unknown key 'num_retires' in 'litellm_settings'; did you mean 'num_retries'?"),
    ("router_settings:\n  model_group_alais: {a: free}\n",
     "unknown key 'model_group_alais' in 'router_settings'; did you mean 'model_group_alias'?"),
]


@pytest.mark.smoke
@pytest.mark.parametrize("extra,message", TYPOS, ids=[t[1].split("'")[1] for t in TYPOS])
def test_a_typo_warns_with_a_suggestion_and_strict_refuses_it(extra, message, tmp_path):
    """A key neither LiteLLM nor hermetic knows, in a section LiteLLM owns, is a warning at its
    FILE:LINE:COL naming the nearest known key, documented LiteLLM keys included (LiteLLM
    ignores it); `config check --strict` fails on it."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model_list:\n  - model_name: free\n    litellm_params:\n"
                   "      model: openrouter/qwen/qwen3-coder:free\n"
                   "      api_key: os.environ/OPENROUTER_API_KEY\n" + extra)
    env = clean_env(OPENROUTER_API_KEY="e2e-test-openrouter-key",
                    LITELLM_MASTER_KEY="e2e-test-master-key-0")
    r = run("config", "check", "--config", str(cfg), env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    where, hint = message.split("; ")
    assert re.search(rf"config\.yaml:7:3: warning: {re.escape(where)} \(ignored, as LiteLLM "
                     rf"ignores it\); {re.escape(hint)}", out), out
    r = run("config", "check", "--strict", "--config", str(cfg), env=env)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert re.search(rf"config\.yaml:7:3: error: {re.escape(message)}", out), out


def test_a_bad_env_form_is_an_error_at_its_place(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model_list:\n  - model_name: free\n    litellm_params:\n"
                   "      model: openrouter/qwen/qwen3-coder:free\n"
                   "      api_base: \"${OPENROUTER_BASE:?set it}\"\n")
    r = run("config", "check", "--config", str(cfg), env=clean_env())
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "config.yaml:5:17: error: model_list[0].litellm_params.api_base: " \
           "'${OPENROUTER_BASE:?set it}' is not a form hermetic reads" in out, out


# -- the router: aliases and wildcards --------------------------------------------------------

def alias_config(fake, **over):
    return router_config(fake, [deployment("free", "test/free", fake),
                                deployment("cheap", "test/cheap", fake)],
                         router_settings={"model_group_alias": {
                             "gpt-4": "free",
                             "old-name": {"model": "cheap", "hidden": True}}}, **over)


def test_an_alias_answers_as_its_group(fake, start_router):
    fake.script_for("test/free", text("via alias"))
    r = start_router(alias_config(fake))
    reply = r.chat("gpt-4")
    assert reply.status == 200, reply.text
    assert reply.content() == "via alias"
    assert reply.headers.get("x-litellm-model-group") == "free"
    assert upstream_models(fake) == ["test/free"]


def test_a_hidden_alias_is_callable_but_not_listed(fake, start_router):
    fake.script_for("test/cheap", text("hidden but there"))
    r = start_router(alias_config(fake))
    ids = [m["id"] for m in r.get("/v1/models").json()["data"]]
    assert ids == ["free", "cheap", "gpt-4"]
    reply = r.chat("old-name")
    assert reply.status == 200, reply.text
    assert reply.content() == "hidden but there"


def test_a_key_that_lists_an_alias_may_call_it(fake, start_router):
    fake.script_for("test/free", text("allowed"))
    cfg = alias_config(fake, keys=[{"key": "os.environ/E2E_TEAM_KEY", "alias": "team",
                                    "models": ["gpt-4"]}],
                       general_settings={"master_key": "os.environ/LITELLM_MASTER_KEY"})
    team = "sk-e2e-team-key-SECRET-0001"
    r = start_router(cfg, env={"E2E_TEAM_KEY": team,
                               "LITELLM_MASTER_KEY": "sk-e2e-master-SECRET-0002"})
    assert r.chat("gpt-4", key=team).status == 200
    # the alias grants the name, not the group behind it
    for other in ("cheap", "free"):
        refused = r.chat(other, key=team)
        assert refused.status == 401, refused.text
    ids = [m["id"] for m in r.get("/v1/models", key=team).json()["data"]]
    assert ids == ["gpt-4"]


def test_a_wildcard_group_sends_the_matched_id_and_labels_by_group(fake, start_router):
    """model_name "test/*" with model openrouter/test/*: a request for test/anything goes to the
    deployment with upstream id test/anything; metrics and headers name only "test/*"."""
    fake.script_for("test/some-model-x", text("wild"))
    wild = deployment("test/*", "test/*", fake)
    r = start_router(router_config(fake, [deployment("test/exact", "test/exact", fake), wild]))
    reply = r.chat("test/some-model-x")
    assert reply.status == 200, reply.text
    assert reply.content() == "wild"
    assert reply.headers.get("x-litellm-model-group") == "test/*"
    assert upstream_models(fake) == ["test/some-model-x"]
    metrics = r.metrics_text()
    assert "some-model-x" not in metrics
    assert 'requested_model="test/*"' in metrics
    # a group of the exact name wins over the wildcard
    fake.script_for("test/exact", text("exact"))
    exact = r.chat("test/exact")
    assert exact.content() == "exact"
    assert exact.headers.get("x-litellm-model-group") == "test/exact"


def test_the_catch_all_takes_any_name(fake, start_router):
    fake.script_for("anything-at-all", text("caught"))
    star = {"model_name": "*", "litellm_params": {
        "model": "openai/*", "api_base": fake.url, "api_key": "os.environ/E2E_UPSTREAM_KEY"}}
    r = start_router(router_config(fake, [star]))
    reply = r.chat("anything-at-all")
    assert reply.status == 200, reply.text
    assert upstream_models(fake) == ["anything-at-all"]
    assert reply.headers.get("x-litellm-model-group") == "*"
