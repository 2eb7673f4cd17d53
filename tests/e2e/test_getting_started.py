"""docs/getting-started.md, walked as a new user walks it, with the page's own commands, against
fakes of Telegram and the model (OpenRouter's API on loopback).

Every command line of the page's `sh` blocks runs here as written: the exports (their values are
the tokens the fakes expect), `hermetic config check`, `hermetic gateway` (twice: before and
after the user's id is in allowed_users), `hermetic doctor`. A block that cannot run here (the
cluster) carries `<!-- not run by the tests: REASON -->` above it; any other command line the
page gains fails test_every_command_of_the_page_runs_here_or_says_why until this walk runs it.
The page's minimal config is used as shown; only what cannot be on loopback changes: home, the
two api_base keys that point at the fakes, the API port."""
import re
import shlex
import subprocess

import yaml

from conftest import ROOT, SLOW, Gateway, argv, clean_env, run, to_yaml
from fakes.fake_openai import FakeOpenAI, text
from fakes.fake_telegram import FakeTelegram
from test_docs_examples import fenced_blocks

PAGE = ROOT / "docs" / "getting-started.md"
DOC = PAGE.read_text()
NOT_RUN = re.compile(r"<!--\s*not run by the tests:\s*(.*?)\s*-->")
ME = 987654321
# What this walk runs, by the page's command line: each is checked against the page below.
RUNS = ("export", "hermetic config check", "hermetic gateway", "hermetic doctor")


def page_blocks():
    """(first line, command lines, the not-run reason or None) for each sh block of the page."""
    for lang, line, body, reason in fenced_blocks(PAGE, NOT_RUN):
        if lang == "sh":
            lines = [ln.strip() for ln in body.splitlines()
                     if ln.strip() and not ln.strip().startswith("#")]
            yield line, lines, reason


def page_lines():
    return [ln for _, lines, reason in page_blocks() if reason is None for ln in lines]


def page_command(prefix):
    """The page's one command line that starts with prefix, as argv after `hermetic`."""
    found = [ln for ln in page_lines() if ln.startswith(prefix)]
    assert len(found) == 1, f"the page should show `{prefix} ...` once: {found}"
    words = shlex.split(found[0].split(" #", 1)[0])
    return found[0], words[1:]


def doc_config():
    section = DOC.split("## 2. The minimal config", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```\n", 1)[0]


def page_env():
    """The exports of step 1, as the shell would set them."""
    env = {}
    for ln in page_lines():
        if ln.startswith("export "):
            name, _, value = shlex.split(ln.split(" #", 1)[0])[1].partition("=")
            env[name] = value
    assert {"TELEGRAM_BOT_TOKEN", "OPENROUTER_API_KEY"} <= set(env), env
    return env


def with_config(words, path):
    return [str(path) if w == "config.yaml" else w for w in words]


def test_every_command_of_the_page_runs_here_or_says_why():
    blocks = list(page_blocks())
    assert len(blocks) >= 5
    for line, lines, reason in blocks:
        if reason is not None:
            assert len(reason) > 20, f"getting-started.md:{line}: say why the block cannot run"
            continue
        for ln in lines:
            assert ln.startswith(RUNS), (
                f"getting-started.md:{line}: `{ln}` is run by no test: walk it in "
                "tests/e2e/test_getting_started.py, or mark its block "
                "<!-- not run by the tests: REASON -->")
    assert any("K3s" in (r or "") for _, _, r in blocks), "the cluster block says why it is not run"


class PageGateway(Gateway):
    """The gateway started with the page's own command line."""

    def __init__(self, tmp_path, config_text, env, words):
        super().__init__(tmp_path, config_text, env)
        self.words = words

    def start(self, wait=True):
        self._err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(argv(*with_config(self.words, self.config)), env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=self._err)
        if wait:
            self.wait_healthy()
        return self


def test_the_page_walked_with_its_own_commands(tmp_path):
    exported = page_env()
    env = clean_env(**exported)
    ran = [ln for ln in page_lines() if ln.startswith("export ")]
    check_line, check = page_command("hermetic config check")
    gateway_line, gateway = page_command("hermetic gateway")
    doctor_line, doctor = page_command("hermetic doctor")

    # 3. The config as the page shows it passes config check with the page's command.
    cfg = tmp_path / "shown" / "config.yaml"
    cfg.parent.mkdir()
    cfg.write_text(doc_config())
    r = run(*with_config(check, cfg), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{cfg}: ok" in r.stdout and "prints `config.yaml: ok`" in DOC
    assert re.search(r"telegram: +on, allowed users: 1, token set", r.stdout), r.stdout
    assert "budget:      daily $0.50" in r.stdout
    ran.append(check_line)

    with FakeOpenAI(api_key=exported["OPENROUTER_API_KEY"]) as model, \
            FakeTelegram(token=exported["TELEGRAM_BOT_TOKEN"], bot_username="ada_helper_bot") as tg:
        shown = yaml.safe_load(doc_config())
        shown["home"] = "HOME"
        shown["model_list"][0]["litellm_params"]["api_base"] = model.url
        shown["telegram"]["api_base"] = tg.url
        shown["telegram"]["poll_timeout_s"] = 1
        shown["api"] = {"listen": "127.0.0.1:PORT"}
        text_ = to_yaml(shown).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")

        # 4. A message from a user not yet allowed: the log says who it was, as the page quotes.
        g = PageGateway(tmp_path, text_, exported, gateway).start()
        try:
            tg.push_text("hi, who am I?", chat_id=ME, user_id=ME)
            quoted = f"telegram: message from user {ME} (not in telegram.allowed_users) ignored"
            assert quoted in DOC
            refusal = "This is a private assistant. Sorry."
            assert tg.wait_sent(ME, 1, timeout=20 * SLOW) == [refusal] and f'"{refusal}"' in DOC
            assert quoted in g.stderr(), g.stderr()
            assert model.chat_requests == []
        finally:
            assert g.stop() == 0
        # 5. With the id in allowed_users, after a restart, the first message is answered.
        g.config.write_text(g.config.read_text().replace("123456789", str(ME)))
        model.script_for("qwen/qwen-turbo", text("Hello! I am your assistant."))
        g.start()
        try:
            tg.push_text("hello", chat_id=ME, user_id=ME)
            assert tg.wait_sent(ME, 2, timeout=20 * SLOW)[1] == "Hello! I am your assistant."
        finally:
            assert g.stop() == 0
        ran.append(gateway_line)

        # 6. doctor names the bot, as the page shows.
        r = run(*with_config(doctor, g.config), env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "telegram: ok, the bot is @ada_helper_bot" in r.stdout
        assert "telegram: ok, the bot is @your_bot" in DOC
        ran.append(doctor_line)
    assert sorted(ran) == sorted(page_lines()), "a command line of the page this walk did not run"


def test_the_page_is_linked_from_the_readme_and_points_into_deploy_k3s():
    readme = (ROOT / "README.md").read_text()
    assert "(docs/getting-started.md)" in readme
    assert "(deploy-k3s.md)" in DOC and "@BotFather" in DOC and "/mybots" in DOC
