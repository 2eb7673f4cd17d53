#!/usr/bin/env python3
"""A stdio MCP server (newline-delimited JSON-RPC, protocol 2025-11-25) for what hermetic must
relay exactly. Python's json keeps integers of any size, so what this server prints is what
it was sent.

Tools:
  ``echo_args``  answers with one text block: the ``arguments`` it received, as JSON. Its
                 inputSchema has ``maximum: 9007199254740991`` and ``default:
                 1234567890123456789``, which a client holding numbers as doubles changes.
  ``tool_<i>``   with ``--tools N``: N more tools (for tool-count limits), each echoing too.

    python3 tests/fakes/fake_mcp_exact.py [--tools N]

Python 3.11 standard library only.
"""
import argparse
import json
import sys

SCHEMA = {
    "type": "object",
    "properties": {
        "n": {"type": "integer", "minimum": -9007199254740991, "maximum": 9007199254740991,
              "default": 1234567890123456789, "description": "an integer"},
        "x": {"type": "number", "multipleOf": 0.1},
    },
}


def tools(extra):
    out = [{"name": "echo_args", "description": "Echoes its arguments as JSON.",
            "inputSchema": SCHEMA}]
    for i in range(extra):
        out.append({"name": f"tool_{i:03d}", "description": f"Extra tool number {i}.",
                    "inputSchema": {"type": "object", "properties": {}}})
    return out


def answer(msg, extra):
    method = msg.get("method")
    if method == "initialize":
        return {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-mcp-exact", "version": "1"}}
    if method == "tools/list":
        return {"tools": tools(extra)}
    if method == "tools/call":
        args = msg.get("params", {}).get("arguments", {})
        return {"content": [{"type": "text", "text": json.dumps(args, separators=(",", ":"))}]}
    if method == "ping":
        return {}
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", type=int, default=0)
    a = ap.parse_args()
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "id" not in msg or "method" not in msg:
            continue
        res = answer(msg, a.tools)
        if res is None:
            out = {"jsonrpc": "2.0", "id": msg["id"],
                   "error": {"code": -32601, "message": f"unknown method {msg['method']}"}}
        else:
            out = {"jsonrpc": "2.0", "id": msg["id"], "result": res}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
