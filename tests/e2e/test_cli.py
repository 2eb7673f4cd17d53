"""The command-line contract: --version, config check (summary or FILE:LINE:COL errors), usage."""
import re

import pytest

from conftest import ROOT, clean_env, run

SEED = ROOT / "tests" / "data" / "seed.yaml"
SEED_ENV = dict(OPENROUTER_API_KEY="sk-or-v1-e2e-secret-openrouter",
                LITELLM_MASTER_KEY="sk-e2e-master-secret",
                TELEGRAM_BOT_TOKEN="123456:e2e-telegram-secret-token",
                API_SERVER_KEY="e2e-api-server-secret")


@pytest.mark.smoke
def test_version_names_hermetic_and_every_linked_library():
    r = run("--version")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^hermetic \d+\.\d+\.\d+ \(\S+\)$", out, re.M), out
    for lib in ("curl", "mbedtls", "sqlite", "libevent", "cjson", "libyaml"):
        assert re.search(rf"^{lib} \d+\.\d+", out, re.M), f"{lib} missing in:\n{out}"


@pytest.mark.smoke
@pytest.mark.needs("static")  # the development build links Debian's libcurl (OpenSSL)
def test_static_build_uses_mbedtls_for_tls():
    r = run("--version")
    assert re.search(r"^curl 8\.\d+\.\d+ \(mbedTLS/3\.6\.\d+\)$", r.stdout, re.M), r.stdout


@pytest.mark.smoke
def test_config_check_seed_prints_summary_without_secrets():
    r = run("config", "check", "--config", str(SEED), env=clean_env(**SEED_ENV))
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    for name in ("free", "free2", "cheap", "strong", "qwen/qwen3-coder:free", "kubernetes",
                 "morning-briefing"):
        assert name in out, f"{name} not in summary:\n{out}"
    for secret in SEED_ENV.values():
        assert secret not in out


def test_config_check_reads_HERMETIC_CONFIG_when_no_flag():
    r = run("config", "check", env=clean_env(HERMETIC_CONFIG=str(SEED), **SEED_ENV))
    assert r.returncode == 0, r.stderr
    assert str(SEED) in r.stdout


@pytest.mark.smoke
def test_config_check_unknown_key_points_at_line_and_column(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("home: /tmp/x\nagent:\n  max_iterations: 5\n  max_iteratons: 6\n")
    r = run("config", "check", "--config", str(cfg))
    assert r.returncode == 1
    assert re.search(rf"^{re.escape(str(cfg))}:4:3: error: .*max_iteratons.*did you mean "
                     r".max_iterations", r.stderr, re.M), r.stderr


def test_config_check_names_missing_environment_variable(tmp_path):
    cfg = tmp_path / "env.yaml"
    cfg.write_text("api:\n  listen: 127.0.0.1:8642\n  key: os.environ/HERMETIC_E2E_UNSET_KEY\n")
    r = run("config", "check", "--config", str(cfg))
    assert r.returncode == 1
    assert re.search(rf"{re.escape(str(cfg))}:3:\d+: error: .*HERMETIC_E2E_UNSET_KEY",
                     r.stderr), r.stderr


def test_config_check_wrong_type_and_range(tmp_path):
    cfg = tmp_path / "types.yaml"
    cfg.write_text("agent:\n  max_iterations: lots\napi:\n  listen: 127.0.0.1:70000\n")
    r = run("config", "check", "--config", str(cfg))
    assert r.returncode == 1
    assert re.search(rf"{re.escape(str(cfg))}:2:19: error: .*expected an integer, got .lots.", r.stderr), r.stderr
    assert re.search(rf"{re.escape(str(cfg))}:4:\d+: error: .*(port|listen)", r.stderr), r.stderr


def test_config_check_missing_file_says_which(tmp_path):
    missing = tmp_path / "nope.yaml"
    r = run("config", "check", "--config", str(missing))
    assert r.returncode == 1
    assert str(missing) in r.stderr


def test_unknown_command_exits_2_with_usage():
    r = run("frobnicate")
    assert r.returncode == 2
    assert "unknown command" in r.stderr and "usage:" in r.stderr


def command_words(synopsis):
    """The subcommand a synopsis names: its leading words up to the first option, argument or
    alternative ("mcp list", "sessions", "--version")."""
    words = synopsis.split()
    name = [words[0]]
    for w in words[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*", w):
            break
        name.append(w)
    return " ".join(name)


def test_cli_page_command_block_and_usage_name_the_same_subcommands():
    """docs/cli.md's command block and `hermetic --help` are two copies of one list: a subcommand
    added, dropped or given other options in main.c's table without docs/cli.md (or the other
    way round) fails here."""
    page = (ROOT / "docs" / "cli.md").read_text()
    block = re.search(r"^## Commands\n\n```\n(.*?)^```", page, re.S | re.M)
    assert block, "docs/cli.md has no ## Commands code block"
    documented = {}
    for line in block.group(1).splitlines():
        synopsis = line.split("#")[0].strip()
        assert synopsis.startswith("hermetic "), line
        synopsis = synopsis[len("hermetic "):]
        documented[command_words(synopsis)] = synopsis
    r = run("--help")
    assert r.returncode == 0
    printed = {}
    for line in r.stdout.splitlines():
        if re.match(r"  \S", line):
            synopsis = re.split(r"\s{2,}", line.strip())[0]
            printed[command_words(synopsis)] = synopsis
    assert "doctor" in printed and "mcp list" in printed
    assert documented == printed


def test_docs_configuration_tables_are_what_config_reference_prints():
    """docs/configuration.md promises every config key: its tables must be the generated
    reference, so a key added, renamed or given a new default in the option table
    (src/core/config_table.c) without a docs update fails here."""
    r = run("config", "reference")
    assert r.returncode == 0, r.stderr
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert r.stdout.strip() in doc, \
        "docs/configuration.md's config tables differ from `hermetic config reference`: paste its output"


def test_each_command_answers_help_with_its_own_usage():
    """`hermetic CMD --help` prints that command's usage on stdout and exits 0 (the docs tests
    check every documented option against it); with a subcommand, that row alone; the commands
    whose synopsis abbreviates their words add the full usage; hidden ones answer too."""
    r = run("mcp", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: hermetic mcp list")
    assert all(f"hermetic mcp {s}" in r.stdout for s in ("list", "call", "login", "logout"))
    r = run("mcp", "call", "--help")
    assert r.returncode == 0 and "--elicit" in r.stdout and "mcp list" not in r.stdout
    r = run("skill", "install", "--help")
    assert r.returncode == 0 and "install SOURCE [--sha256 HEX]" in r.stdout
    r = run("audit", "--help")
    assert r.returncode == 0 and "--lane NAME" in r.stdout
    r = run("sandbox-rules", "--help")
    assert r.returncode == 0 and "[--kill]" in r.stdout
    r = run("config", "check", "--help")
    assert r.returncode == 0 and "--strict" in r.stdout
    r = run("nosuch", "--help")
    assert r.returncode == 2 and "unknown command" in r.stderr
