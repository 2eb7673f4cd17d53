"""MCP roots (docs/mcp.md "Roots"): a server entry's `roots:` are what the server gets from
roots/list, proven with the real @modelcontextprotocol/server-filesystem (pinned in tests/peers),
started with no directory of its own: it works in exactly the folders hermetic offers it.
"""
import re

from conftest import ROOT
from mcp_harness import (CALL_TIMEOUT, NODE_CONNECT_TIMEOUT, NODE, McpGateway, hermetic, mcp_call,
                         peers, wait_until, write_config)  # noqa: F401


def filesystem_entry(peers, roots=None):
    """server-filesystem over stdio with no directory argument: only roots can give it one."""
    entry = {"command": NODE,
             "args": [str(peers.prefix / "node_modules" / "@modelcontextprotocol" /
                          "server-filesystem" / "dist" / "index.js")],
             "timeout": CALL_TIMEOUT, "connect_timeout": NODE_CONNECT_TIMEOUT}
    if roots is not None:
        entry["roots"] = roots
    return entry


def test_the_server_works_in_the_configured_roots_and_nowhere_else(peers, tmp_path):
    """A path (with a space: percent-encoded in the URI) and a file:/// URI with a name, in the
    gateway: the server asks roots/list after initialize and lists both as its allowed
    directories, reads a file in one and refuses one outside. (The server applies the answer
    asynchronously, a few ms after it; hence the wait for its listing.)"""
    project = tmp_path / "my project"
    data = tmp_path / "data"
    outside = tmp_path / "outside"
    for d in (project, data, outside):
        d.mkdir()
    (project / "notes.txt").write_text("inside the root\n")
    (outside / "secret.txt").write_text("not for the server\n")
    gw = McpGateway(tmp_path, {"fs": filesystem_entry(peers, [
        str(project), {"uri": data.as_uri(), "name": "data"}])}).start()
    try:
        gw.wait_tools("fs")

        def listed():
            r = gw.call("mcp_fs_list_allowed_directories")
            assert r.status == 200, r
            text = r.json()["content"]
            return text if str(project) in text and str(data) in text else None
        text = wait_until(listed, timeout=10, what="the roots in the server's listing")
        assert str(outside) not in text

        r = gw.call("mcp_fs_read_text_file", {"path": str(project / "notes.txt")})
        assert r.status == 200 and "inside the root" in r.json()["content"], r

        r = gw.call("mcp_fs_read_text_file", {"path": str(outside / "secret.txt")})
        assert "not for the server" not in r.text
        assert "outside allowed directories" in r.text, r.text
    finally:
        gw.stop()


def test_without_roots_the_capability_is_not_declared(peers, tmp_path):
    """No `roots:`: the client does not offer roots, so this server (no directory of its own)
    has nowhere to work: its listing of allowed directories is empty or it fails."""
    cfg = write_config(tmp_path, {"fs": filesystem_entry(peers)})
    r = mcp_call(cfg, "fs", "list_allowed_directories", {})
    assert r.returncode == 0, r
    assert r.stdout.strip() == "Allowed directories:", r.stdout


def test_a_root_that_is_not_absolute_is_a_config_error(tmp_path):
    cfg = write_config(tmp_path, {"fs": {"command": "/bin/true",
                                         "roots": ["relative/dir", {"name": "no uri"}]}})
    r = hermetic("config", "check", "--config", str(cfg))
    assert r.returncode == 1, r
    assert "expected an absolute path or a file:/// URI" in r.stderr, r.stderr
    assert "missing required key 'uri'" in r.stderr, r.stderr


def test_the_docs_roots_example_loads(tmp_path):
    """docs/mcp.md's Roots block is a config `config check --strict` takes."""
    section = (ROOT / "docs" / "mcp.md").read_text().split("\n## Roots", 1)[1]
    block = re.findall(r"```yaml\n(.*?)```", section.split("\n## ", 1)[0], re.S)[0]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"home: {tmp_path / 'home'}\n" + block)
    r = hermetic("config", "check", "--strict", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
