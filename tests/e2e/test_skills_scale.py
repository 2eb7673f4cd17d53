"""Skills at scale (issue 19): a hundred real-shaped skills in Hermes' category folders. The
system prompt names the ones the first message is about within skills.index_tokens, "hello"
stays within the issue's 1,500 input tokens, skills_list pages and searches instead of
answering with every skill, and `config check` reports a skill whose front matter names
another folder."""
import json

from agent_harness import agent, est_tokens, fake, messages, tool_results  # noqa: F401
from mcp_harness import peers, servers  # noqa: F401
from fakes.fake_openai import text, tool_calls
from fakes.skills import real_skills, write_skills

CATEGORY_LIST = ("data, devops, finance, home, media, mlops, productivity, research, "
                 "software-development, writing")


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
    # Only skills the message is about are named; the rest are counted by category.
    assert index.splitlines()[-1] == (f"({len(skills) - len(named)} more in {CATEGORY_LIST}: "
                                      "skills_list searches them)")
    assert "obsidian" not in named and "ffmpeg" not in named
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
    # Nothing in "hello" matches a skill: no names, only what there is by category.
    assert skills_section(system) == (f"(100 skills in {CATEGORY_LIST}: skills_list "
                                      "searches them)")


def test_hello_with_100_skills_and_both_mcp_servers_costs_at_most_1500_tokens(
        agent, fake, servers, capsys):
    """The issue's figure: the default toolset, 100 skills, kubernetes-mcp-server (HTTP) and
    server-everything (stdio) attached. Their schemas pass agent.tool_schema_budget_tokens, so
    the model gets the catalog, cut to fit, and every MCP tool is in it."""
    write_skills(agent.home, real_skills())
    k8s = servers.kubernetes()
    agent.configure(mcp_servers={
        "kubernetes": {"url": k8s.url, "timeout": 60},
        "everything": servers.everything_stdio_entry()})
    fake.script_for("test/free", text("Hello!"))
    r = agent.chat("hello")
    assert r.returncode == 0, r.stderr
    req = fake.chat_requests[0]
    n = est_tokens(req)
    tools = {t["function"]["name"]: t["function"] for t in req["body"]["tools"]}
    with capsys.disabled():
        print(f"\n  'hello' with 100 skills and both MCP servers: {n} input tokens (bytes/4)")
    assert n <= 1500
    assert "mcp_call" in tools and "mcp_tool_schema" in tools
    assert not any(name.startswith("mcp_kubernetes_") for name in tools)
    catalog = tools["mcp_call"]["description"]
    assert "\n[kubernetes]\n" in catalog and "\n[everything]\n" in catalog
    for name in ("pods_list", "pods_log", "events_list", "echo", "get_sum",
                 "trigger_long_running_operation"):
        assert f"\n{name}" in catalog, name


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
