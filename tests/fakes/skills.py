"""A hundred real-shaped skills in Hermes' category folders (home/skills/<category>/<name>/
SKILL.md), for the skills tests and the gateway benchmark: distinct names and descriptions of
real length (60-160 characters, quoted YAML like real SKILL.md files), a 2 KB body each."""
import json
from pathlib import Path

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
    home = Path(home)
    for cat, name, desc in skills:
        d = home / "skills" / cat / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {json.dumps(desc)}\n"
                                    f"metadata:\n  hermes:\n    tags: [{cat}]\n---\n"
                                    f"# {name}\n\n## Steps\n1. Read the docs.\n" + "x" * 2000)
        (d.parent / "DESCRIPTION.md").write_text(f"Skills for {cat}.\n")


