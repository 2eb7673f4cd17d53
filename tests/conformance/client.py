#!/usr/bin/python3
"""The client command the MCP conformance suite runs: `client.py URL`.

The suite starts a server for one scenario, then runs this with the server's URL as the last
argument and the scenario's name in MCP_CONFORMANCE_SCENARIO. This script only does what a user
would: it writes a hermetic config with one `mcp_servers` entry for that URL, runs
`hermetic mcp list --json`, then what the scenario asks of a client (ACTIONS; the default is
`hermetic mcp call` for each tool listed, with arguments made from the tool's input schema:
every required property gets a plain value of its type). The suite's server checks what reached
it. Exit status: 0 when every hermetic command exited 0.

HERMETIC_BIN names the binary (default: build/hermetic of this checkout).
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("HERMETIC_BIN", str(ROOT / "build" / "hermetic"))
SERVER = "conformance"
TIMEOUT_S = 20

# A plain value for each JSON Schema type a required property may have.
PLAIN = {"number": 1, "integer": 1, "string": "conformance", "boolean": True,
         "array": [], "object": {}, "null": None}


def arguments(schema):
    """Arguments for a tool: each required property with a plain value of its type."""
    props = schema.get("properties") or {}
    args = {}
    for name in schema.get("required") or []:
        prop = props.get(name) or {}
        kind = prop.get("type", "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if "enum" in prop and prop["enum"]:
            args[name] = prop["enum"][0]
        elif "default" in prop:
            args[name] = prop["default"]
        else:
            args[name] = PLAIN.get(kind, "conformance")
    return args


def call_each(call, tools):
    """Calls every tool listed, with arguments from its schema; a scenario that names the
    calls to make and their arguments (its context's toolCalls, e.g. http-custom-headers)
    gets those, in its order."""
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    status = 0
    if context.get("toolCalls"):
        for c in context["toolCalls"]:
            status = status or call(c["name"], c.get("arguments") or {})
        return status
    for tool in tools:
        status = status or call(tool["tool"], arguments(tool.get("input_schema") or {}))
    return status


def echo_schema(call, tools):
    """json-schema-2020-12-preservation: the server's echo tool is handed the input schema the
    client observed for the other tool, verbatim (what `mcp list --json` shows)."""
    by_name = {t["tool"]: t for t in tools}
    observed = by_name["json_schema_2020_12_tool"]["input_schema"]
    return call("json_schema_echo", {"schema": observed})


# How `hermetic mcp call` answers the server's questions in a scenario (--elicit); the default,
# with stdin no terminal, declines. elicitation-sep1034-client-defaults asks a form whose every
# field has a default and checks that accepting it sends each default (SEP-1034).
ELICIT = {
    "elicitation-sep1034-client-defaults": "defaults",
}

def load_skills(listed, config):
    """sep-2640-client-verify-*: the user loads each skill the server lists (`hermetic mcp
    skill`); the server serves a SKILL.md that fails one check and judges that no further file
    of the skill was read. A refused load exits 1, which is the point."""
    status = 0
    for server in listed.get("servers", []):
        for skill in server.get("skills", []):
            status = status or run("mcp", "skill", "--config", str(config), server["name"],
                                   skill["name"]).returncode
    return status


# What each scenario asks of the client after listing (the suite's scenario sources say).
ACTIONS = {
    # lists tools only: the check is that a network $ref in a schema is never fetched
    "json-schema-ref-no-deref": lambda call, tools: 0,
    "json-schema-2020-12-preservation": echo_schema,
    # sep-2640-client-no-prefetch: listing only (skills/list) must read no skill file
    "sep-2640-client-no-prefetch": lambda call, tools: 0,
}
SKILL_LOADS = ("sep-2640-client-verify-digest", "sep-2640-client-verify-size",
               "sep-2640-client-verify-frontmatter")


# Scenarios of context keys (MCP_CONFORMANCE_CONTEXT) -> the server entry's oauth: keys a
# user would have set from what the authorization server's admin gave them.
CONTEXT_KEYS = {"client_id": "client_id", "client_secret": "client_secret",
                "private_key_pem": "private_key", "valid_jwt": "assertion",
                "idp_client_id": "idp_client_id", "idp_id_token": "id_token",
                "idp_issuer": "idp_issuer", "idp_token_endpoint": "idp_token_endpoint"}
# A Client ID Metadata Document URL the scenario expects a client to publish.
CIMD = {"auth/basic-cimd": "https://conformance-test.local/client-metadata.json"}


def server_entry(url, scenario):
    """The mcp_servers entry for the suite's URL: an auth/* scenario's server signs in."""
    entry = {"url": url, "timeout": TIMEOUT_S, "connect_timeout": TIMEOUT_S}
    if not scenario.startswith("auth/"):
        return entry
    entry["auth"] = "oauth"
    oauth = {}
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    for key, ours in CONTEXT_KEYS.items():
        if context.get(key):
            oauth[ours] = context[key]
    if scenario.startswith("auth/client-credentials"):
        oauth["grant"] = "client_credentials"
    if "assertion" in oauth or "id_token" in oauth:  # SEP-1933 workload identity, SEP-990
        oauth["grant"] = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    if "private_key" in oauth:
        oauth["token_endpoint_auth_method"] = "private_key_jwt"
    if scenario in CIMD:
        oauth["client_metadata_url"] = CIMD[scenario]
    if scenario.startswith("auth/dpop"):  # SEP-1932: the DPoP extension
        oauth["dpop"] = True
    if oauth:
        entry["oauth"] = oauth
    return entry


def run(*argv):
    r = subprocess.run([BIN, *argv], capture_output=True, text=True, timeout=2 * TIMEOUT_S + 10)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    print(f"client.py: hermetic {' '.join(argv[:2])} exited {r.returncode}", file=sys.stderr)
    return r


def main():
    if len(sys.argv) < 2:
        print("usage: client.py URL (run by the MCP conformance suite)", file=sys.stderr)
        return 2
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    with tempfile.TemporaryDirectory(prefix="hermetic-conformance-") as tmp:
        config = Path(tmp) / "config.yaml"
        entry = server_entry(url, scenario)
        config.write_text(json.dumps({
            "home": str(Path(tmp) / "home"),
            "log": {"level": "debug"},
            "mcp_servers": {SERVER: entry},
        }))
        # A server that signs in with a person: `mcp login` first, this script's browser
        # following the authorization URL (the suite's server approves at once).
        if entry.get("auth") == "oauth" and "grant" not in entry.get("oauth", {}):
            os.environ["BROWSER"] = f"/usr/bin/python3 {Path(__file__).parent / 'browser.py'}"
            if run("mcp", "login", "--config", str(config), SERVER).returncode != 0:
                return 1
        listed = run("mcp", "list", "--json", "--config", str(config))
        if listed.returncode != 0:
            return 1
        tools = []
        if scenario in SKILL_LOADS:
            return load_skills(json.loads(listed.stdout), config)
        for server in json.loads(listed.stdout).get("servers", []):
            if server.get("name") == SERVER:
                tools = server.get("tools", [])

        scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
        elicit = ["--elicit", ELICIT[scenario]] if scenario in ELICIT else []

        def call(name, args):
            return run("mcp", "call", "--config", str(config), *elicit, SERVER, name,
                       json.dumps(args)).returncode

        action = ACTIONS.get(scenario, call_each)
        return action(call, tools)


if __name__ == "__main__":
    sys.exit(main())
