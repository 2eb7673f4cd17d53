"""docs/getting-started.md, walked as a new user walks it, against fakes of Telegram and the
model (OpenRouter's API on loopback): the page's minimal config, as the page shows it, passes
`hermetic config check`; the gateway started with it logs the id of a user not yet allowed in
the words the page quotes; with that id in allowed_users the first message is answered; and
`hermetic doctor` names the bot. Only what cannot be on loopback changes: home, and the two
api_base keys that point at the fakes."""
import re
import time

import yaml

from agent_harness import fake  # noqa: F401
from conftest import ROOT, SLOW, Gateway, clean_env, run, to_yaml
from fakes.fake_openai import text
from fakes.fake_telegram import FakeTelegram
from router_harness import api_base_of

DOC = (ROOT / "docs" / "getting-started.md").read_text()
TOKEN = "555000111:GETTING-started-e2e"
from router_harness import UPSTREAM_KEY as KEY  # noqa: E402  (the fake model's key)
ME = 987654321


def doc_config():
    section = DOC.split("## 2. The minimal config", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```\n", 1)[0]


def env():
    return clean_env(TELEGRAM_BOT_TOKEN=TOKEN, OPENROUTER_API_KEY=KEY)


def test_the_minimal_config_passes_config_check_as_the_page_shows_it(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(doc_config())
    r = run("config", "check", "--config", str(cfg), env=env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{cfg}: ok" in r.stdout
    assert re.search(r"telegram: +on, allowed users: 1, token set", r.stdout), r.stdout
    assert "budget:      daily $0.50" in r.stdout
    for cmd in ("hermetic config check --config config.yaml", "hermetic gateway --config config.yaml",
                "hermetic doctor --config config.yaml"):
        assert cmd in DOC


def test_from_the_minimal_config_to_the_first_answer_and_doctor(tmp_path, fake):  # noqa: F811
    cfg = yaml.safe_load(doc_config())
    with FakeTelegram(token=TOKEN, bot_username="ada_helper_bot") as tg:
        cfg["home"] = "HOME"
        cfg["model_list"][0]["litellm_params"]["api_base"] = api_base_of(fake)
        cfg["telegram"]["api_base"] = tg.url
        cfg["telegram"]["poll_timeout_s"] = 1
        cfg["api"] = {"listen": "127.0.0.1:PORT"}
        text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
        text_ = text_.replace('"HOME"', "{home}").replace("PORT", "{port}")

        # 4. A message from a user not yet allowed: the log says who it was, as the page quotes.
        g = Gateway(tmp_path, text_, dict(env())).start()
        try:
            tg.push_text("hi, who am I?", chat_id=ME, user_id=ME)
            quoted = f"telegram: message from user {ME} (not in telegram.allowed_users) ignored"
            assert quoted in DOC
            deadline = time.monotonic() + 20 * SLOW
            while quoted not in g.stderr() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert quoted in g.stderr(), g.stderr()
            refusal = "This is a private assistant. Sorry."
            assert tg.wait_sent(ME, 1, timeout=20 * SLOW) == [refusal] and f'"{refusal}"' in DOC
            assert fake.chat_requests == []
        finally:
            assert g.stop() == 0
        # 5. With the id in allowed_users, after a restart, the first message is answered.
        g.config.write_text(g.config.read_text().replace("123456789", str(ME)))
        fake.script_for("qwen/qwen-turbo", text("Hello! I am your assistant."))
        g.start()
        try:
            tg.push_text("hello", chat_id=ME, user_id=ME)
            assert tg.wait_sent(ME, 2, timeout=20 * SLOW)[1] == "Hello! I am your assistant."
        finally:
            assert g.stop() == 0

        # 6. doctor names the bot, as the page shows.
        r = run("doctor", "--config", str(g.config), env=env())
        assert r.returncode == 0, r.stdout + r.stderr
        assert "telegram: ok, the bot is @ada_helper_bot" in r.stdout
        assert "telegram: ok, the bot is @your_bot" in DOC


def test_the_page_is_linked_from_the_readme_and_points_into_deploy_k3s():
    readme = (ROOT / "README.md").read_text()
    assert "(docs/getting-started.md)" in readme
    assert "(deploy-k3s.md)" in DOC and "@BotFather" in DOC and "/mybots" in DOC
