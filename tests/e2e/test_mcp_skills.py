"""Skills MCP servers offer (SEP-2640, docs/mcp.md "Skills from servers"), against
tests/peers/skills_server.cjs on the pinned @modelcontextprotocol/sdk: it logs every
resources/read it gets, so each test sees which skill files hermetic fetched, and when.
"""
from mcp_harness import (CALL_TIMEOUT, CONNECT_TIMEOUT, NODE, PEERS_DIR, hermetic, mcp_list,
                         peers, write_config)  # noqa: F401

SKILLS_SERVER = PEERS_DIR / "skills_server.cjs"


def config(peers, tmp_path):
    log = tmp_path / "reads.log"
    entry = {"command": NODE, "args": [str(SKILLS_SERVER), str(peers.prefix), str(log)],
             "timeout": CALL_TIMEOUT, "connect_timeout": 3 * CONNECT_TIMEOUT}
    return write_config(tmp_path, {"srv": entry}), log


def reads(log):
    return log.read_text().splitlines() if log.exists() else []


def skill(cfg, name):
    return hermetic("mcp", "skill", "--config", str(cfg), "srv", name)


def test_listing_shows_the_skills_and_fetches_no_file(peers, tmp_path):
    """A server with skills and no tools is connected; its skills are listed from skills/list
    alone: not one resources/read (SEP-2640: not on connection, not on listing)."""
    cfg, log = config(peers, tmp_path)
    r = mcp_list(cfg)
    assert r.returncode == 0, r
    srv = r.server("srv")
    assert srv["state"] == "connected" and srv["tools"] == []
    by_name = {s["name"]: s for s in srv["skills"]}
    assert by_name["pdf-processing"] == {
        "name": "pdf-processing", "uri": "skill://pdf-processing/SKILL.md",
        "description": "Extract, fill, and assemble PDF documents", "files": 2,
        "verifiable": True}
    assert "tampered" in by_name
    text = hermetic("mcp", "list", "--config", str(cfg))
    assert "skill pdf-processing" in text.stdout, text.stdout
    assert reads(log) == []


def test_a_loaded_skill_is_verified_and_waits_in_quarantine(peers, tmp_path):
    """SKILL.md is fetched first, then its file; both land in the quarantine, pinned with their
    origin, not offered to the model until `hermetic skill approve`."""
    cfg, log = config(peers, tmp_path)
    r = skill(cfg, "pdf-processing")
    assert r.returncode == 0, r
    assert "QUARANTINED" in r.stdout and "hermetic skill approve pdf-processing" in r.stdout
    assert reads(log) == ["skill://pdf-processing/SKILL.md",
                          "skill://pdf-processing/references/FORMS.md"]
    q = tmp_path / "home" / "skills" / ".quarantine" / "pdf-processing"
    assert (q / "SKILL.md").read_text().startswith("---\nname: pdf-processing\n")
    assert (q / "references" / "FORMS.md").read_text() == (
        "# Forms\n\nField names are case-sensitive.\n")
    lock = (tmp_path / "home" / "skills.lock").read_text()
    assert "pdf-processing\tquarantined\t" in lock
    assert "\tmcp:srv skill://pdf-processing/SKILL.md" in lock
    assert not (tmp_path / "home" / "skills" / "pdf-processing").exists()

    r = hermetic("skill", "approve", "pdf-processing", "--config", str(cfg))
    assert r.returncode == 0, r
    assert (tmp_path / "home" / "skills" / "pdf-processing" / "SKILL.md").exists()


def test_a_skill_md_that_fails_its_digest_is_refused_and_nothing_more_is_read(peers, tmp_path):
    cfg, log = config(peers, tmp_path)
    r = skill(cfg, "tampered")
    assert r.returncode == 1, r
    assert "skill tampered of MCP server srv not loaded" in r.stderr, r.stderr
    assert "skill://tampered/SKILL.md has sha256" in r.stderr, r.stderr
    assert reads(log) == ["skill://tampered/SKILL.md"]
    assert not (tmp_path / "home" / "skills" / ".quarantine" / "tampered").exists()
    assert not (tmp_path / "home" / "skills.lock").exists()


def test_a_skill_the_server_does_not_list_is_an_error(peers, tmp_path):
    cfg, log = config(peers, tmp_path)
    r = skill(cfg, "nope")
    assert r.returncode == 1, r
    assert "MCP server srv lists no skill nope" in r.stderr, r.stderr
    assert reads(log) == []
    r = hermetic("mcp", "skill", "--config", str(cfg), "other", "nope")
    assert r.returncode == 1 and "no MCP server other in the config" in r.stderr, r
