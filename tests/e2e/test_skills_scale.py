"""Skills at scale (issue 19): a hundred real-shaped skills in Hermes' category folders. The
system prompt names the ones the first message is about within skills.index_tokens, "hello"
stays within the issue's 1,500 input tokens, skills_list pages and searches instead of
answering with every skill, and `config check` reports a skill whose front matter names
another folder."""
import json

from agent_harness import agent, est_tokens, fake, messages, tool_results  # noqa: F401
from fakes.fake_openai import text, tool_calls

# Hermes-like categories, tools and what a skill does with them: 100 distinct skills with
# descriptions of real length (60-160 characters, quoted YAML like real SKILL.md files).
CATEGORIES = {
    "mlops": ["axolotl", "vllm", "llama-cpp", "peft", "wandb", "huggingface-hub", "unsloth",
              "gguf", "lm-eval", "tensorrt"],
    "software-development": ["github-pr", "code-review", "git-bisect", "pytest", "rust-cargo",
                             "go-modules", "typescript", "refactor", "changelog", "semver"],
    "productivity": ["obsidian", "notion", "google-calendar", "todoist", "gmail", "slack",
                     "linear", "trello", "zotero", "anki"],
    "research": ["arxiv", "semantic-scholar", "pubmed", "wikipedia", "paper-summary",
                 "citation", "literature-review", "patents", "datasets", "benchmarks"],
    "media": ["ffmpeg", "whisper", "youtube", "spotify", "podcast", "image-resize", "gif",
              "subtitles", "tts", "ocr"],
    "data": ["postgres", "sqlite", "duckdb", "pandas", "csv-clean", "jq", "excel", "bigquery",
             "grafana", "prometheus-alerts"],
    "home": ["home-assistant", "mqtt", "zigbee", "backup-restic", "nas-health", "ups",
             "printer", "router-dns", "wifi", "solar"],
    "writing": ["blog-post", "newsletter", "latex", "pdf-report", "slides", "translate",
                "proofread", "resume", "grant", "press-release"],
    "finance": ["invoice", "expenses", "budget-review", "tax-docs", "crypto-prices",
                "stock-news", "receipts", "payroll"],
    "devops": ["docker-compose", "terraform", "ansible", "nginx", "caddy", "systemd",
               "ssh-keys", "certbot", "uptime-kuma", "tailscale", "cron-audit"],
}
VERBS = ["Set up and run", "Debug and fix", "Plan, check and report on", "Automate",
         "Review and clean up"]


def real_skills():
    out, i = [], 0
    for cat, tools in CATEGORIES.items():
        for tool in tools:
            desc = (f"{VERBS[i % len(VERBS)]} {tool.replace('-', ' ')} tasks for the "
                    f"{cat.replace('-', ' ')} work: the steps, the commands that worked last "
                    f"time, and what to check before telling the user it is done.")
            out.append((cat, tool, desc[:60 + (i * 37) % 100]))
            i += 1
    out.append(("devops", "kubernetes-troubleshoot",
                "Diagnose crashing Kubernetes pods: kubectl describe, logs, events, "
                "resource limits and rollout restarts."))
    assert len(out) == 100
    return out


def write_skills(home, skills):
    for cat, name, desc in skills:
        d = home / "skills" / cat / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {json.dumps(desc)}\n"
                                    f"metadata:\n  hermes:\n    tags: [{cat}]\n---\n"
                                    f"# {name}\n\n## Steps\n1. Read the docs.\n" + "x" * 2000)
        (d.parent / "DESCRIPTION.md").write_text(f"Skills for {cat}.\n")


def skills_section(system):
    head = "## Skills (skill_view NAME for details)\n"
    assert head in system
    rest = system.split(head, 1)[1]
    return rest.split("\n\n", 1)[0]


def test_the_index_names_the_relevant_skill_within_its_budget(agent, fake, capsys):
    skills = real_skills()
    assert len(skills) >= 100
    write_skills(agent.home, skills)
    fake.script_for("test/free", text("Let me look."))
    r = agent.chat("My Kubernetes pods keep crashing after the deploy (CrashLoopBackOff?!)")
    assert r.returncode == 0, r.stderr
    system = messages(fake.chat_requests[0])[0]["content"]
    index = skills_section(system)
    assert index.startswith("kubernetes-troubleshoot: Diagnose crashing Kubernetes pods")
    assert len(index.encode()) <= 400 * 4
    named = [line.split(":", 1)[0] for line in index.splitlines()[:-1]]
    assert index.splitlines()[-1] == f"({len(skills) - len(named)} more: skills_list searches them)"
    assert len(named) >= 10
    with capsys.disabled():
        print(f"\n  index of {len(skills)} skills: {len(index.encode())} bytes, "
              f"{len(named)} named")


def test_hello_with_100_skills_costs_at_most_1500_input_tokens(agent, fake, capsys):
    write_skills(agent.home, real_skills())
    fake.script_for("test/free", text("Hello!"))
    r = agent.chat("hello")
    assert r.returncode == 0, r.stderr
    n = est_tokens(fake.chat_requests[0])
    with capsys.disabled():
        print(f"\n  'hello' with 100 skills: {n} input tokens (bytes/4)")
    assert n <= 1500
    system = messages(fake.chat_requests[0])[0]["content"]
    # Nothing in "hello" matches a skill: the index is the first skills by name, no ranking.
    listed = [line.split(":", 1)[0] for line in skills_section(system).splitlines()
              if not line.startswith("(")]
    by_name = sorted(name for _, name, _ in real_skills())
    assert listed == by_name[:len(listed)], listed
    assert "kubernetes-troubleshoot" not in listed


def test_skills_list_pages_and_searches(agent, fake):
    write_skills(agent.home, real_skills())
    fake.script_for("test/free",
                    tool_calls(("c0", "skills_list", "{}"),
                               ("c1", "skills_list", json.dumps({"query": "kubectl \"pods\" (crash"})),
                               ("c2", "skills_list", json.dumps({"category": "media",
                                                                 "offset": 5, "limit": 3}))),
                    text("ok"))
    assert agent.chat("which skills?").returncode == 0
    first, found, media = tool_results(fake.chat_requests[1])
    assert len(first.encode()) < 4096
    assert first.startswith("Skills 1-20 of 100:\nCategories: data (10), devops (12), ")
    assert "Next page: offset=20." in first
    assert found.splitlines()[1].startswith("kubernetes-troubleshoot [devops]: Diagnose")
    assert media.splitlines()[0] == "Skills 6-8 of 10 in category media:"
    assert media.splitlines()[1].startswith("spotify [media]: ")


def test_config_check_reports_a_name_that_is_not_its_folder(agent):
    write_skills(agent.home, real_skills()[:5])
    d = agent.home / "skills" / "productivity" / "obsidian-vault"
    d.mkdir(parents=True)
    (d / "SKILL.md").write_text("---\nname: obsidian\ndescription: Notes.\n---\n")
    (agent.home / "skills" / "nofront").mkdir(parents=True)
    (agent.home / "skills" / "nofront" / "SKILL.md").write_text("# just markdown\n")
    r = agent.run("config", "check")
    assert r.returncode == 0, r.stderr
    assert "skills:      5 usable, index 400 tokens, 2 with problems:" in r.stdout
    assert (f"  WARNING: {d}/SKILL.md: front matter: name 'obsidian' differs from the "
            "directory name") in r.stdout
    assert f"  WARNING: {agent.home}/skills/nofront/SKILL.md: SKILL.md must start" in r.stdout
