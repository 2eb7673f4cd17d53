"""What the model reads of a real MCP server (issue 14, items 22-25, 30, 31).

@modelcontextprotocol/server-filesystem (pinned in tests/peers) answers every tool twice (a text
block and structuredContent), puts base64 into structuredContent for media files, and ships
descriptions longer than 400 bytes whose last sentence is the safety rule. tests/fakes/
fake_mcp_exact.py echoes tool arguments as it received them and offers a schema with integers
above 2^53, and can offer many tools.
"""
import json
import re
import struct
import zlib

import pytest

from agent_harness import agent, fake, tool_results  # noqa: F401
from conftest import ROOT, SLOW
from fakes.fake_openai import text, tool_calls
from mcp_harness import (CALL_TIMEOUT, CONNECT_TIMEOUT, NODE_CONNECT_TIMEOUT, NODE, PY, McpGateway, PyMcpStdio,
                         mcp_call, mcp_list, peers, write_config)  # noqa: F401

FAKE_EXACT = ROOT / "tests" / "fakes" / "fake_mcp_exact.py"
SAFETY = "Only works within allowed directories."
BIG = 1234567890123456789
MAX_SAFE = 9007199254740991
# A run of base64 this long in model text is a leaked blob (no English word is this long).
B64_RUN = re.compile(r"[A-Za-z0-9+/]{64,}")


def filesystem_js(peers):
    return (peers.prefix / "node_modules" / "@modelcontextprotocol" / "server-filesystem" /
            "dist" / "index.js")


def filesystem_entry(peers, root):
    return {"command": NODE, "args": [str(filesystem_js(peers)), str(root)],
            "timeout": CALL_TIMEOUT, "connect_timeout": NODE_CONNECT_TIMEOUT}


def exact_entry(*args):
    return {"command": PY, "args": [str(FAKE_EXACT), *args], "timeout": CALL_TIMEOUT,
            "connect_timeout": CONNECT_TIMEOUT}


def png(n_bytes):
    """A valid PNG of about n_bytes (an IDAT of incompressible noise)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    side = int((n_bytes / 3) ** 0.5) + 1
    rows = b"".join(b"\0" + bytes((x * 7919 + y * 104729) % 251 for x in range(side * 3))
                    for y in range(side))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b""))


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    return root


# -- item 22: text blocks win over structuredContent ---------------------------------------------

def test_a_file_read_reaches_the_model_once(peers, tmp_path, files):
    """read_text_file of an 11 KB file: exactly the file, not its JSON copy first."""
    body = "".join(f'line {i}: "quoted" \\ and more text to fill the line\n' for i in range(200))
    body = body[:11000]
    (files / "notes.txt").write_text(body)
    cfg = write_config(tmp_path, {"fs": filesystem_entry(peers, files)})
    r = mcp_call(cfg, "fs", "read_text_file", {"path": str(files / "notes.txt")})
    assert r.returncode == 0, r
    assert r.stdout == body + "\n", r
    assert "truncated" not in r.stdout


# -- item 23: no base64 from any part of a result ------------------------------------------------

def test_media_files_never_reach_the_model_as_base64(peers, tmp_path, files):
    image = png(12000)
    (files / "pic.png").write_bytes(image)
    (files / "blob.bin").write_bytes(bytes(range(256)) * 20)
    cfg = write_config(tmp_path, {"fs": filesystem_entry(peers, files)})
    r = mcp_call(cfg, "fs", "read_media_file", {"path": str(files / "pic.png")})
    assert r.returncode == 0, r
    assert not B64_RUN.search(r.stdout), r.stdout[:3000]
    assert f"[image: image/png, {len(image)} bytes]" in r.stdout, r
    assert len(r.stdout) < 1000, r
    r = mcp_call(cfg, "fs", "read_media_file", {"path": str(files / "blob.bin")})
    assert r.returncode == 0, r
    assert not B64_RUN.search(r.stdout), r.stdout[:3000]
    assert "application/octet-stream, 5120 bytes]" in r.stdout, r


# -- item 24: descriptions keep whole sentences; mcp list shows what the model gets --------------

def test_descriptions_keep_their_safety_sentence_and_list_shows_them_as_sent(
        peers, tmp_path, files, fake, agent):  # noqa: F811
    c = PyMcpStdio([NODE, str(filesystem_js(peers)), str(files)])
    try:
        c.initialize()
        original = {t["name"]: t.get("description", "") for t in c.list_tools()}
    finally:
        c.close()
    long_ones = [n for n, d in original.items() if SAFETY in d and len(d.encode()) > 400]
    assert long_ones, "server-filesystem has no long description with the safety sentence"

    # Every schema as it is (the catalog is tests/e2e/test_tool_catalog.py's).
    agent.configure(mcp_servers={"fs": filesystem_entry(peers, files)},
                    agent={"tool_schema_budget_tokens": 0})
    fake.script_for("test/free", text("done"))
    r = agent.chat("hello", timeout=60)
    assert r.returncode == 0, r.stderr
    sent = {t["function"]["name"]: t["function"]["description"]
            for t in fake.chat_requests[0]["body"]["tools"]
            if t["function"]["name"].startswith("mcp_fs_")}
    assert len(sent) == len(original)
    for name, desc in original.items():
        got = sent["mcp_fs_" + name]
        if len(desc.encode()) <= 1024:
            assert got == desc, name
        else:
            assert got.endswith(". [...]") and len(got.encode()) <= 1024, (name, got)
    for name in long_ones:
        assert SAFETY in sent["mcp_fs_" + name], (name, sent["mcp_fs_" + name])

    listed = {t["name"]: t["description"]
              for t in mcp_list(agent.config_path, env=agent.env).server("fs")["tools"]}
    assert listed == sent


# -- item 25: integers above 2^53 pass unchanged on every path ------------------------------------

EXACT_ARGS = '{"n":1234567890123456789,"x":0.1,"m":-9223372036854775808}'


def test_cli_call_arguments_reach_the_server_exactly(tmp_path):
    cfg = write_config(tmp_path, {"ex": exact_entry()})
    r = mcp_call(cfg, "ex", "echo_args", EXACT_ARGS)
    assert r.returncode == 0, r
    assert r.stdout == EXACT_ARGS + "\n"


def test_gateway_api_keeps_schema_and_argument_numbers(tmp_path):
    gw = McpGateway(tmp_path, {"ex": exact_entry()}).start()
    try:
        gw.wait_tools("ex")
        r = gw.tools_reply()
        assert r.status == 200, r
        schema = {t["name"]: t for t in r.json()["tools"]}["mcp_ex_echo_args"]["parameters"]
        assert schema["properties"]["n"]["maximum"] == MAX_SAFE
        assert schema["properties"]["n"]["default"] == BIG
        r = gw.request("POST", "/v1/tools/call",
                       body=('{"name":"mcp_ex_echo_args","arguments":' + EXACT_ARGS + "}").encode())
        assert r.status == 200, r
        assert r.json()["content"] == EXACT_ARGS
    finally:
        gw.stop()


def test_model_gets_exact_schemas_and_server_gets_exact_arguments(fake, agent):  # noqa: F811
    agent.configure(mcp_servers={"ex": exact_entry()})
    fake.script_for("test/free", tool_calls(("c1", "mcp_ex_echo_args", EXACT_ARGS)), text("done"))
    r = agent.chat("echo", timeout=60)
    assert r.returncode == 0, r.stderr
    first = fake.chat_requests[0]
    assert "9007199254740991" in first["raw"] and "1234567890123456789" in first["raw"]
    tool = {t["function"]["name"]: t for t in first["body"]["tools"]}["mcp_ex_echo_args"]
    assert tool["function"]["parameters"]["properties"]["n"]["maximum"] == MAX_SAFE
    assert tool_results(fake.chat_requests[1]) == [EXACT_ARGS]


# -- item 31: a Hermes mcp_servers entry loads unchanged -----------------------------------------

def test_hermes_server_entry_loads_and_include_wins_over_exclude(tmp_path):
    entry = dict(exact_entry("--tools", "2"), auth="oauth",
                 sampling={"enabled": True, "max_tokens_cap": 4096},
                 tools={"include": ["echo_args", "tool_000"], "exclude": ["echo_args"],
                        "resources": True, "prompts": False})
    cfg = write_config(tmp_path, {"hermes": entry})
    r = mcp_list(cfg)
    assert r.returncode == 0, r
    assert sorted(r.tool_names("hermes")) == ["mcp_hermes_echo_args", "mcp_hermes_tool_000"]
    for key in ("'resources'", "'prompts'"):
        assert re.search(rf"warning: ignored: {key} in 'mcp_servers\.hermes", r.stderr), r
    # auth: oauth is for servers with a url (docs/mcp.md); a command server's is ignored
    assert ("warning: mcp_servers.hermes.auth: ignored: auth: oauth applies only to servers "
            "with a url") in r.stderr, r
    assert "'sampling'" not in r.stderr, r  # Hermes' sampling keys are taken (docs/mcp.md)
    assert "include and exclude are both set: include wins" in r.stderr, r


# -- item 30: never more tools than the provider accepts ------------------------------------------

OPENAI_MAX_TOOLS = 128


def test_requests_carry_at_most_128_tools_builtin_first(fake, agent):  # noqa: F811
    # With the catalog off; with it, no tool is left out (tests/e2e/test_tool_catalog.py).
    agent.configure(mcp_servers={"many": exact_entry("--tools", "170")},
                    agent={"tool_schema_budget_tokens": 0})
    fake.script_for("test/free", text("done"), text("done again"))
    r = agent.chat("hello", timeout=60)
    assert r.returncode == 0, r.stderr
    names = [t["function"]["name"] for t in fake.chat_requests[0]["body"]["tools"]]
    assert len(names) == OPENAI_MAX_TOOLS
    builtin = [n for n in names if not n.startswith("mcp_")]
    assert builtin and names[:len(builtin)] == builtin  # builtin tools first, all of them
    assert "time" in builtin and "memory" in builtin
    # MCP tools in the server's order until the cap; the log names those left out.
    n_mcp = OPENAI_MAX_TOOLS - len(builtin)
    assert names[len(builtin):] == (["mcp_many_echo_args"] +
                                    [f"mcp_many_tool_{i:03d}" for i in range(n_mcp - 1)])
    log = r.stderr
    first_out = f"mcp_many_tool_{n_mcp - 1:03d}"
    m = re.search(r"exceed agent\.max_tools \(128\); (\d+) MCP tools are left out.*?: (.*)", log)
    assert m, log[-3000:]
    assert int(m.group(1)) == 171 - n_mcp
    assert m.group(2).startswith(first_out) and "mcp_many_tool_169" in m.group(2)


def test_a_lower_max_tools_caps_too_and_doctor_warns(fake, agent):  # noqa: F811
    agent.configure(mcp_servers={"many": exact_entry("--tools", "40")},
                    agent={"max_tools": 20, "tool_schema_budget_tokens": 0})
    fake.script_for("test/free", text("done"))
    r = agent.chat("hello", timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests[0]["body"]["tools"]) == 20
    d = agent.run("doctor")
    assert re.search(r"tools: WARNING: up to \d+ builtin \+ 41 MCP tools exceed "
                     r"agent\.max_tools \(20", d.stdout), d.stdout
    # With the catalog (the default budget) nothing is left out, and doctor says how.
    agent.configure(mcp_servers={"many": exact_entry("--tools", "40")}, agent={"max_tools": 20})
    d = agent.run("doctor")
    assert re.search(r"tools: \d+ builtin \+ 41 MCP tools are more than agent\.max_tools "
                     r"\(20\): the MCP tools go to the model as mcp_call's catalog", d.stdout), \
        d.stdout
