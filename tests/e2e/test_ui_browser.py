"""The cockpit in a real browser (issue 21): headless Chromium from Debian's `chromium` package,
driven over CDP by playwright-core from npm (tests/browser/install.sh; no browser download).
At phone and desktop width: a wrong password refused, login, the Sessions list, a search and a
session, Memory and skills (at phone width MEMORY.md edited and saved, a new skill refused with
the validator's words, created, then deleted after a confirm), Jobs, Spend (its total equal to `hermetic spend`'s) and Health, at desktop width a chat with
a tool call and a streamed answer and a stopped turn, then after New session the earlier
session picked from the Sessions list and continued with its history (an API client's session
shows no Continue but where it is continued), logout; no console error,
page error or failed request on any page (a CSP violation would be one), no serious or critical
axe-core violation on any page; a screenshot of each
page at each width in build-results/ui-browser/ (HERMETIC_UI_ARTIFACTS overrides).

Skipped, saying why, only when chromium or playwright-core cannot be installed."""
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agent_harness import fake  # noqa: F401
from conftest import SLOW, clean_env, run
from fakes.fake_openai import text, tool_calls
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY
from test_mcp_signin_sdk import demo  # noqa: F401
from mcp_harness import peers  # noqa: F401
from test_ui import API_KEY, PASSWORD, chat, cockpit, parse_spend, password_hash  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser_peers():
    try:
        p = subprocess.run(["bash", str(ROOT / "tests/browser/install.sh")], capture_output=True,
                           text=True, timeout=900 * SLOW)
    except subprocess.TimeoutExpired:
        pytest.skip("tests/browser/install.sh timed out installing chromium or playwright-core")
    if p.returncode != 0:
        pytest.skip("no browser for the cockpit test: tests/browser/install.sh said: "
                    + (p.stderr.strip().splitlines() or ["?"])[-1])
    return Path(p.stdout.strip().splitlines()[-1]) / "node_modules"


def artifact_dir():
    d = Path(os.environ.get("HERMETIC_UI_ARTIFACTS", ROOT / "build-results" / "ui-browser"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_the_cockpit_in_chromium_at_phone_and_desktop_width(browser_peers, cockpit, fake):
    # The breaker trips on the second setup chat (max_cost_usd), so that Spend shows it open:
    # the phone run checks that cross-site and token-less POSTs do not close it, the desktop
    # run resumes it. The time tool needs approval: the desktop chat approves it in place.
    g = cockpit(cron=[{"name": "briefing", "schedule": "0 3 * * *", "prompt": "Morning."}],
                guardrails={"bleed": {"max_cost_usd": 0.013, "cooldown_s": 0}},
                approvals={"tools": ["time"]})
    fake.script_for("test/free", text("Disks are fine.", cost=0.0125),
                    text("Noted, the zebra backup.", cost=0.0007))
    chat(g, "alice", "How are the disks?")
    chat(g, "alice", "Remember the zebra backup")
    # the desktop run's chat (after its Spend page): a tool call and a streamed answer, then
    # an answer slow enough to be stopped
    fake.script_for("test/free", text("The morning brief."),  # the desktop run's "Run now"
                    tool_calls(("t1", "time", "{}")),
                    text("It is noon where the zebra lives.", chunk_size=4),
                    text("Once upon a time " * 100, chunk_size=6, chunk_delay=0.05),
                    text("On the savanna, as before."))  # the earlier session continued
    (g.home / "memories").mkdir(parents=True, exist_ok=True)
    (g.home / "memories" / "MEMORY.md").write_text("The NAS is called zebra.\n")
    (g.home / "skills" / "backup").mkdir(parents=True)
    (g.home / "skills" / "backup" / "SKILL.md").write_text(
        "---\nname: backup\ndescription: Run and check the nightly backup.\n---\n\n# Steps\n")
    env = clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})
    r = run("spend", "--days", "30", "--config", str(g.config), env=env)
    _, total = parse_spend(r.stdout)
    out = artifact_dir()
    p = subprocess.run(["node", str(Path(__file__).with_name("ui_browser.cjs")), str(browser_peers),
                        CHROMIUM, g.url, PASSWORD, str(out)],
                       capture_output=True, text=True, timeout=180 * SLOW)
    assert p.returncode == 0, p.stderr + p.stdout
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["a11y"] == [] and len(result["a11y_checked"]) == 17
    for width in ("phone", "desktop"):
        seen = result["pages"][width]
        assert seen["wrong_password_refused"] and seen["logged_out"]
        assert 0 < seen["load_bytes"] < 100 * 1024, seen["load_bytes"]  # issue 21's budget
        assert seen["sessions"] == 1 and seen["search_hits"] >= 1
        assert "Remember the zebra backup" in seen["session_text"]
        assert re.fullmatch(r"/v1/ui/session\?id=\d+&export=md", seen["export_md"])
        # an API client's session: no Continue, and the view says where it goes on
        assert seen["continue_hidden"] is True
        assert seen["continue_where"].startswith("This session belongs to an API client (api:alice)")
        assert seen["spend_total_usd"] == total["cost_usd"] == "0.013200"
        assert seen["spend_rows"] == 1 and seen["chart_bars"] == 1
        assert seen["breaker"].startswith("Open: "), seen["breaker"]
        assert "or (" not in seen["balances"]  # no OpenRouter key of ours: the fake's only
        assert "Ready" in seen["health"] and "Seccomp" in seen["health"]
        assert "ui: a login with a wrong password" in seen["log"]  # each run's first step
        assert "# Steps" in seen["skill_text"]
        assert "briefing" in seen["jobs"] and "0 3 * * *" in seen["jobs"] and "never" in seen["jobs"]
    phone = result["pages"]["phone"]
    # MEMORY.md edited on the phone: saved through the tool's writer, shown, and kept
    assert phone["memory"].strip() == "The NAS is called zebra."
    assert phone["editor_before"] == "The NAS is called zebra.\n"
    assert phone["memory_saved"].strip() == "The NAS is called okapi.\n§\nBackups run at 02:00."
    assert phone["memory_status"].startswith("Saved MEMORY.md (48/2,200 characters, 2 entries).")
    assert phone["memory_meta"] == "48 of 2200 characters · 2 entries"
    assert (g.home / "memories" / "MEMORY.md").read_text() == (
        "The NAS is called okapi.\n§\nBackups run at 02:00.\n")
    assert [p.read_text() for p in (g.home / "memories" / ".history").iterdir()] == [
        "The NAS is called zebra.\n"]
    assert result["pages"]["desktop"]["memory"].strip().startswith("The NAS is called okapi.")
    assert phone["skill_error"] == "the front matter name 'backup' must equal the name argument 'deploy'"
    assert "# Steps" in phone["skill_created"] and "deploy" in phone["skills_after_create"]
    assert phone["delete_question"].startswith("Delete skill deploy")
    assert "deploy" not in phone["skills_after_delete"]
    assert not (g.home / "skills" / "deploy").exists()
    assert phone["no_token_status"] == 403
    assert phone["cross_site_status"] in (401, 403, 415), phone["cross_site_status"]
    assert phone["breaker_after_csrf"].startswith("Open: ")
    seen = result["pages"]["desktop"]
    assert seen["breaker_resumed"].startswith("Closed") and seen["resume_hidden"]
    assert "briefing" in seen["jobs_after_run"] and " · ok · " in seen["jobs_after_run"]
    assert seen["question"] == "time" and seen["question_outcome"] == "→ Approved"
    assert seen["chat_tool"] == "tool call: time" and seen["chat_tool_result"].startswith("result: ")
    assert seen["chat_answer"] == "It is noon where the zebra lives."
    assert seen["chat_usage"].startswith("done · session #")
    assert seen["chat_stopped"].startswith("cancelled")
    assert "What time is it?" in seen["chat_history"]
    assert "It is noon where the zebra lives." in seen["chat_history"]
    # the earlier cockpit session continued from its view: its messages in the chat, the next
    # message sent into it with its history
    earlier = int(seen["continue_earlier"])
    assert seen["continue_mine"].startswith("Continue this session in the chat")
    assert "What time is it?" in seen["continue_transcript"]
    assert f"session #{earlier} " in seen["continue_usage"], seen["continue_usage"]
    sent = [m["content"] for m in fake.chat_requests[-1]["body"]["messages"] if m["role"] == "user"]
    assert sent[0] == "What time is it?" and sent[-1] == "And where does the zebra live?", sent
    db = sqlite3.connect(f"file:{g.home / 'state.db'}?mode=ro", uri=True)
    cockpit_sessions = dict(db.execute("SELECT id, ended FROM sessions WHERE source = 'ui:cockpit'"))
    db.close()
    assert cockpit_sessions[earlier] == 0 and sum(1 for e in cockpit_sessions.values() if not e) == 1
    shots = [Path(s) for s in result["screenshots"]]
    assert len(shots) == 17 and all(s.stat().st_size > 1000 for s in shots)


def test_the_tasks_and_pools_views_in_chromium(browser_peers, cockpit, fake):
    from test_ui import api_json, get_json, login, until
    fake.script_for("test/free", text("Three notes, one about the zebra backup.", cost=0.0004))
    g = cockpit(rate_pools={"okapi-account": {"tpm": 50000, "models": ["free"]}})
    status, body = api_json(g, "POST", "/v1/tasks", {"prompt": "Summarise my notes"})
    assert status == 202
    _, cookie, _, _ = login(g)
    until(lambda: get_json(g, f"/v1/ui/tasks/{body['id']}", cookie)["state"] == "done", "the task")
    p = subprocess.run(["node", str(Path(__file__).with_name("ui_browser_views.cjs")),
                        str(browser_peers), CHROMIUM, g.url, PASSWORD, str(artifact_dir())],
                       capture_output=True, text=True, timeout=90 * SLOW)
    assert p.returncode == 0, p.stderr + p.stdout
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and result["a11y"] == []
    assert f"#{body['id']} Summarise my notes" in result["tasks"] and "done" in result["tasks"]
    assert "0.000400" in result["tasks"]
    assert result["task_title"].startswith(f"Task #{body['id']} (api)")
    assert result["task_title"].endswith("lane none")
    assert "Three notes, one about the zebra backup." in result["task_tree"]
    assert "1 model calls" in result["task_tree"] and result["stop_hidden"] is True
    assert "okapi-account" in result["pools"] and "50000 tokens/min" in result["pools"]
    assert "background" in result["pools"]
    # the chat's own use beside the reserve (30 % of 50,000); the task is background, so the
    # interactive window is empty and no warning shows
    assert "0 tokens in the last 60 s · peak 0 in the last hour · reserve 15000" in \
        result["pools"], result["pools"]
    assert "raise interactive_reserve_pct" not in result["pools"]


def test_the_session_view_shows_the_lane_in_chromium(browser_peers, cockpit, fake):
    from test_ui import lane_sessions
    g, _, alice, bob = lane_sessions(cockpit, fake)
    p = subprocess.run(["node", str(Path(__file__).with_name("ui_browser_lane.cjs")),
                        str(browser_peers), CHROMIUM, g.url, PASSWORD, str(artifact_dir()),
                        str(alice["id"]), str(bob["id"])],
                       capture_output=True, text=True, timeout=90 * SLOW)
    assert p.returncode == 0, p.stderr + p.stdout
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and result["a11y"] == []
    assert result["lane_visible"] is True
    assert result["lane_text"] == "Lane: private (skill client-notes)"
    assert result["plain_visible"] is False


def test_a_quarantined_skill_is_reviewed_and_approved_in_chromium(browser_peers, cockpit,
                                                                  tmp_path):
    from test_ui import QUARANTINED_SKILL
    g = cockpit()
    src = tmp_path / "incoming" / "minutes"
    src.mkdir(parents=True)
    (src / "SKILL.md").write_text(QUARANTINED_SKILL)
    env = clean_env(**{UPSTREAM_ENV: UPSTREAM_KEY, "API_SERVER_KEY": API_KEY})
    assert run("skill", "install", str(src), "--config", str(g.config), env=env).returncode == 0
    p = subprocess.run(["node", str(Path(__file__).with_name("ui_browser_quarantine.cjs")),
                        str(browser_peers), CHROMIUM, g.url, PASSWORD, str(artifact_dir())],
                       capture_output=True, text=True, timeout=90 * SLOW)
    assert p.returncode == 0, p.stderr + p.stdout
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and result["a11y"] == []
    assert "minutes" in result["review"] and "!! [URL][TOOL]" in result["review"]
    assert "send_file" in result["review"] and "1 lines with a URL" in result["review"]
    assert result["status"].startswith("Approved minutes")
    assert result["quarantine_hidden"] is True and "minutes" in result["skills"]
    assert (g.home / "skills" / "minutes" / "SKILL.md").read_text() == QUARANTINED_SKILL


def test_times_are_in_the_configs_zone_and_say_so_in_chromium(browser_peers, cockpit, fake):
    """The config says Asia/Tokyo, the browser runs in America/New_York (TZ for Chromium): the
    session's time, the cron job's schedule and next run, and the spend days are Tokyo's,
    each labelled with the zone, never the browser's zone unlabelled beside a Tokyo cron line."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    from test_ui import get_json, login
    zone = "Asia/Tokyo"
    g = cockpit(timezone=zone, cron=[{"name": "briefing", "schedule": "30 7 * * *",
                                      "prompt": "Morning."}])
    fake.script_for("test/free", text("Noted."))
    chat(g, "times", "remember the okapi")
    _, cookie, _, _ = login(g)
    assert get_json(g, "/v1/ui/me", cookie)["timezone"] == zone
    session = get_json(g, "/v1/ui/sessions", cookie)["sessions"][0]
    env = {**os.environ, "TZ": "America/New_York"}
    p = subprocess.run(["node", str(Path(__file__).with_name("ui_browser_times.cjs")),
                        str(browser_peers), CHROMIUM, g.url, PASSWORD, str(artifact_dir())],
                       capture_output=True, text=True, timeout=90 * SLOW, env=env)
    assert p.returncode == 0, p.stderr + p.stdout
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and result["a11y"] == []
    assert result["browser_zone"] == "America/New_York"  # else the test proves nothing

    def tokyo(ms):
        return datetime.fromtimestamp(ms / 1000, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") + " " + zone

    assert tokyo(session["updated_ms"]) in result["sessions"], result["sessions"]
    # The cron line and its next run: 07:30 in Tokyo, both labelled.
    now = datetime.now(ZoneInfo(zone))
    nxt = now.replace(hour=7, minute=30, second=0, microsecond=0)
    if nxt <= now:
        nxt += timedelta(days=1)
    assert "30 7 * * * (Asia/Tokyo)" in result["cron"], result["cron"]
    assert nxt.strftime("%Y-%m-%d 07:30 Asia/Tokyo") in result["cron"], result["cron"]
    assert "America/New_York" not in result["cron"] + result["sessions"]
    assert result["spend_day"] == "Day (Asia/Tokyo)"
    # The session export says its zone too.
    from test_ui import request
    status, _, body = request(g, "GET", f"/v1/ui/session?id={session['id']}&export=md",
                              headers={"Cookie": cookie})
    assert status == 200, body
    started = tokyo(session["created_ms"])
    assert f"- started: {started}\n" in body.decode(), body.decode()[:400]


def test_a_pending_mcp_sign_in_shows_its_button_in_chromium(browser_peers, cockpit, demo):
    """The SDK's demo OAuth server (tests/e2e/test_mcp_signin_sdk.py) needs a sign-in: the
    cockpit's Chat page lists it with a button to the same authorization URL the API gives."""
    from test_ui import get_json, login, until
    g = cockpit(mcp_servers={"demo": {"url": demo.url_, "auth": "oauth"}})
    _, cookie, _, _ = login(g)

    def pending():
        return get_json(g, "/v1/ui/signins", cookie)["signins"]
    until(pending, "the pending sign-in")
    (want,) = pending()
    p = subprocess.run(["node", str(Path(__file__).with_name("ui_browser_signin.cjs")),
                        str(browser_peers), CHROMIUM, g.url, PASSWORD, str(artifact_dir()), "demo"],
                       capture_output=True, text=True, timeout=90 * SLOW)
    assert p.returncode == 0, p.stderr + p.stdout
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and result["a11y"] == []
    assert result["title"] == "Sign in to demo" and result["button"] == "Sign in to demo"
    assert result["href"] == want["url"] and result["target"] == "_blank"
