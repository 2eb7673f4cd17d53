"""`hermetic config check` on LiteLLM configs (issue 39): an unknown key in a section LiteLLM owns
is a warning at its FILE:LINE:COL with a hint and the config loads; `--strict` makes it an error
(exit 1); hermetic's own sections keep the error; default_litellm_params merges; an unset
credential variable of a deployment warns; the compatibility summary closes with the
deployment count. Each config here is written for one pattern."""
import re

from conftest import clean_env, run

HOME_ENV = {"OPENAI_API_KEY": "sk-e2e-compat-openai-0001",
            "LITELLM_MASTER_KEY": "sk-e2e-compat-master-0002"}

UNKNOWN_EVERYWHERE = """\
model_list:
  - model_name: chat
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/OPENAI_API_KEY
      tpm_limits: 1000
    model_info:
      owner_team: data
    litellm_provider: openai
litellm_settings:
  log_level: DEBUG
router_settings:
  timezone: UTC
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  disable_error_logs: true
"""

# (line:col, section as the message names it, key) of each unknown key above
UNKNOWN_AT = [
    ("6:7", "model_list[0].litellm_params", "tpm_limits"),
    ("8:7", "model_list[0].model_info", "owner_team"),
    ("9:5", "model_list[0]", "litellm_provider"),
    ("11:3", "litellm_settings", "log_level"),
    ("13:3", "router_settings", "timezone"),
    ("16:3", "general_settings", "disable_error_logs"),
]


def check(tmp_path, text, *flags, **env):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    r = run("config", "check", *flags, "--config", str(cfg),
            env=clean_env(HERMETIC_HOME=str(tmp_path / "home"), **{**HOME_ENV, **env}))
    return r, r.stdout + r.stderr


def test_unknown_keys_in_litellm_sections_warn_and_load(tmp_path):
    r, out = check(tmp_path, UNKNOWN_EVERYWHERE)
    assert r.returncode == 0, out
    for at, section, key in UNKNOWN_AT:
        assert re.search(rf"config\.yaml:{at}: warning: unknown key '{key}' in "
                         rf"'{re.escape(section)}' \(ignored, as LiteLLM ignores it\)", out), out
    assert "did you mean 'tpm'?" in out
    assert ": error: " not in out


def test_strict_turns_those_warnings_into_errors(tmp_path):
    r, out = check(tmp_path, UNKNOWN_EVERYWHERE, "--strict")
    assert r.returncode == 1, out
    for at, section, key in UNKNOWN_AT:
        assert re.search(rf"config\.yaml:{at}: error: unknown key '{key}' in "
                         rf"'{re.escape(section)}'", out), out
    assert "config check failed" in out


def test_strict_loads_a_config_of_known_keys(tmp_path):
    """Keys LiteLLM documents and hermetic ignores on purpose are not typos."""
    r, out = check(tmp_path, "model_list:\n  - model_name: chat\n    litellm_params:\n"
                             "      model: openai/gpt-4o-mini\n"
                             "litellm_settings:\n  drop_params: true\n", "--strict")
    assert r.returncode == 0, out
    assert "warning: ignored: 'drop_params' in 'litellm_settings'" in out


def test_a_typo_in_a_hermetic_section_is_an_error_in_both_modes(tmp_path):
    text = "agent:\n  max_iteration: 5\n"
    for flags in ((), ("--strict",)):
        r, out = check(tmp_path, text, *flags)
        assert r.returncode == 1, out
        assert "config.yaml:2:3: error: unknown key 'max_iteration' in 'agent'; did you mean " \
               "'max_iterations'?" in out, out


def test_default_litellm_params_fill_the_entry(tmp_path):
    r, out = check(tmp_path, "model_list:\n"
                             "  - model_name: chat\n"
                             "    litellm_params:\n"
                             "      model: openai/gpt-4o-mini\n"
                             "    default_litellm_params:\n"
                             "      api_key: os.environ/OPENAI_API_KEY\n"
                             "  - model_name: mini\n"
                             "    default_litellm_params:\n"
                             "      model: openai/gpt-4.1-nano\n", "--strict")
    assert r.returncode == 0, out
    assert "chat       openai gpt-4o-mini (api_key set)" in r.stdout, r.stdout
    assert "mini       openai gpt-4.1-nano" in r.stdout, r.stdout
    assert "deployments: 2 active, 0 inactive" in r.stdout


def test_an_unset_credential_variable_warns_and_the_deployment_loads(tmp_path):
    r, out = check(tmp_path, "model_list:\n  - model_name: chat\n    litellm_params:\n"
                             "      model: openai/gpt-4o-mini\n"
                             "      api_key: os.environ/E2E_COMPAT_NEVER_SET\n")
    assert r.returncode == 0, out
    assert "config.yaml:5:16: warning: model_list[0].litellm_params.api_key: environment " \
           "variable E2E_COMPAT_NEVER_SET is not set" in out, out
    assert "chat       openai gpt-4o-mini (api_key not set)" in r.stdout, r.stdout


def test_an_unset_master_key_variable_loads_with_the_router_locked(tmp_path):
    r, out = check(tmp_path, "model_list:\n  - model_name: chat\n    litellm_params:\n"
                             "      model: openai/gpt-4o-mini\n"
                             "general_settings:\n  master_key: os.environ/E2E_COMPAT_NEVER_SET\n")
    assert r.returncode == 0, out
    assert "config.yaml:6:15: warning: general_settings.master_key: environment variable " \
           "E2E_COMPAT_NEVER_SET is not set" in out, out
    assert "hermetic starts with its router locked" in out, out


def test_the_summary_lists_ignored_keys_by_section_and_ends_with_the_count(tmp_path):
    r, out = check(tmp_path, UNKNOWN_EVERYWHERE)
    assert r.returncode == 0, out
    lines = r.stdout.splitlines()
    start = lines.index("LiteLLM compatibility:")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("deployments: "))
    block = lines[start:end + 1]
    assert block == [
        "LiteLLM compatibility:",
        "  ignored in model_list[].litellm_params: tpm_limits (unknown)",
        "  ignored in model_list[].model_info: owner_team (unknown)",
        "  ignored in model_list[]: litellm_provider (unknown)",
        "  ignored in litellm_settings: log_level (unknown)",
        "  ignored in router_settings: timezone (unknown)",
        "  ignored in general_settings: disable_error_logs (unknown)",
        "deployments: 1 active, 0 inactive",
    ], block


def test_help_names_strict():
    r = run("--help")
    assert "config check [--strict] [--config FILE]" in r.stdout


BEDROCK_WITHOUT_KEYS = """\
model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-sonnet-20240229-v1:0
      aws_region_name: us-east-1
  - model_name: chat
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/OPENAI_API_KEY
litellm_settings:
  fallbacks: [{"chat": ["gpt-4o-mini", "claude"]}]
"""


def test_bedrock_without_aws_keys_warns_and_the_config_loads(tmp_path):
    """LiteLLM loads a bedrock deployment whose AWS keys are not in the environment at load time
    (a Helm chart sets them at run time): so does hermetic, with a warning at its place."""
    r, out = check(tmp_path, BEDROCK_WITHOUT_KEYS)
    assert r.returncode == 0, out
    assert re.search(r"config\.yaml:4:14: warning: model_list\[0\]\.litellm_params\.model: "
                     r"bedrock needs AWS credentials: set AWS_ACCESS_KEY_ID", out), out
    assert "deployments: 2 active, 0 inactive" in out
    r, out = check(tmp_path, BEDROCK_WITHOUT_KEYS, "--strict")
    assert r.returncode == 0, out  # a warning of the environment, not an unknown key


def test_a_fallback_to_no_group_warns_and_is_skipped(tmp_path):
    """A fallback that names no model_name (a provider model id, a typo) loads in LiteLLM, which
    skips it: a warning with the hint, and the config loads."""
    r, out = check(tmp_path, BEDROCK_WITHOUT_KEYS)
    assert re.search(r"config\.yaml:11:25: warning: litellm_settings\.fallbacks\[0\]\.chat: "
                     r"'gpt-4o-mini' is not a model_name in model_list.*this fallback is "
                     r"skipped, as LiteLLM skips it", out), out
    assert ": error: " not in out


def test_a_hermetic_reference_to_no_group_stays_an_error(tmp_path):
    r, out = check(tmp_path, BEDROCK_WITHOUT_KEYS + "model: gpt-4o-mini\n")
    assert r.returncode == 1, out
    assert re.search(r"error: model: 'gpt-4o-mini' is not a model_name", out), out


def test_an_unknown_top_level_key_warns_with_its_hint(tmp_path):
    """LiteLLM's proxy reads the top-level keys it knows and ignores any other
    (ProxyConfig.load_config): so does hermetic, with a warning (an error under --strict).
    A key one typo from one of hermetic's own (`telegarm`) warns with the hint, so a misspelt
    section is never dropped in silence (issue 49: `environment:` was refused this way)."""
    base = UNKNOWN_EVERYWHERE + "team_management: {default_team: x}\n"
    r, out = check(tmp_path, base)
    assert r.returncode == 0, out
    assert re.search(r"config\.yaml:17:1: warning: unknown key 'team_management' at the top "
                     r"level \(ignored, as LiteLLM ignores it\)", out), out
    r, out = check(tmp_path, base, "--strict")
    assert r.returncode == 1 and "error: unknown key 'team_management'" in out, out
    r, out = check(tmp_path, UNKNOWN_EVERYWHERE + "telegarm: {token: x}\n")
    assert r.returncode == 0, out
    assert ("warning: unknown key 'telegarm' at the top level (ignored, as LiteLLM ignores "
            "it); did you mean 'telegram'?") in out, out
    r, out = check(tmp_path, UNKNOWN_EVERYWHERE + "telegarm: {token: x}\n", "--strict")
    assert r.returncode == 1, out


LITELLM_NUMBERS = """\
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-compat-test
      timeout: 2.5
      stream_timeout: 0.001
      num_retries: 50
litellm_settings:
  num_retries: 50
  request_timeout: 600
router_settings:
  timeout: 30.0
"""


def test_litellms_fractional_timeouts_and_large_retry_counts_load_with_a_warning(tmp_path):
    """LiteLLM's own test configs set `stream_timeout: 0.001` and `num_retries: 50`: a
    fraction of a second rounds up to hermetic's whole seconds, a count past hermetic's
    range is clamped to its top, each with a warning at its place saying what is used; a
    whole value in range (`timeout: 30.0`) is taken as it is. --strict refuses both."""
    r, out = check(tmp_path, LITELLM_NUMBERS)
    assert r.returncode == 0, out
    assert re.search(r"config\.yaml:6:16: warning: model_list\[0\]\.litellm_params\.timeout: "
                     r"'2\.5' is taken as 3 \(hermetic counts whole units: rounded up\)", out), out
    assert re.search(r"config\.yaml:7:23: warning: model_list\[0\]\.litellm_params\."
                     r"stream_timeout: '0\.001' is taken as 1 \(hermetic counts whole units", out)
    assert re.search(r"config\.yaml:8:20: warning: model_list\[0\]\.litellm_params\."
                     r"num_retries: '50' is taken as 10 \(outside what hermetic allows", out), out
    assert re.search(r"config\.yaml:10:16: warning: litellm_settings\.num_retries: '50' is "
                     r"taken as 10", out), out
    assert "router_settings.timeout: " not in out and ": error: " not in out
    assert "10 retries" in out and "timeout 30 s" in out, out
    r, out = check(tmp_path, LITELLM_NUMBERS, "--strict")
    assert r.returncode == 1, out
    assert "stream_timeout: expected an integer, got '0.001'" in out
    assert "num_retries: '50' is out of range (0..10)" in out
