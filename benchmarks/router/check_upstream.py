#!/usr/bin/python3
"""Checks the benchmark's fake upstream (upstream.c) against the documented wire shapes, so the
benchmark measures the router against answers a real provider would give.

Anthropic's Messages API (docs.anthropic.com "Messages", "Streaming Messages" and "Errors"; the
types and the SSE decoder of anthropics/anthropic-sdk-python):
  - non-stream: {"id":"msg_...","type":"message","role":"assistant","content":[{"type":"text",
    "text"}],"model","stop_reason" (one of the documented values),"stop_sequence":null|str,
    "usage":{"input_tokens","output_tokens"}} with content-type application/json;
  - stream: SSE frames "event: NAME\\ndata: JSON\\n\\n" whose JSON "type" equals NAME, in the
    order message_start (a message with empty content and usage), content_block_start
    (index 0, an empty text block), content_block_delta* (text_delta), content_block_stop,
    message_delta (delta.stop_reason, delta.stop_sequence, cumulative usage.output_tokens),
    message_stop; ping may appear anywhere;
  - errors: {"type":"error","error":{"type","message"},"request_id"}: 401
    authentication_error without x-api-key, 400 invalid_request_error without
    anthropic-version or without max_tokens.
And that OpenAI's chat completions still answer, and that "bench-fast" requests take the fast
delay. Usage: check_upstream.py PATH-TO-upstream. Exit 0 when every check holds, 1 otherwise.
Standard library only; everything on 127.0.0.1; bounded (the upstream lives at most 60 s).
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
                "model_context_window_exceeded"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01",
                     "content-type": "application/json"}
MESSAGES_BODY = {"model": "bench-model", "max_tokens": 16,
                 "messages": [{"role": "user", "content": "Hello"}]}
DELAY_MS, FAST_MS, CHUNKS = 200, 1, 5

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def post(port, path, body, headers, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def sse_events(raw):
    """(event name, data text) per frame, as the SDK's SSE decoder reads them: ':' lines are
    comments, data lines are joined with '\\n', a blank line dispatches."""
    out, name, data = [], None, []
    for line in raw.decode().split("\n"):
        line = line.rstrip("\r")
        if line == "":
            if name is not None or data:
                out.append((name, "\n".join(data)))
            name, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    return out


def check_message(doc):
    check(isinstance(doc.get("id"), str) and doc["id"].startswith("msg_"), "message id msg_...")
    check(doc.get("type") == "message", "message type")
    check(doc.get("role") == "assistant", "message role")
    check(isinstance(doc.get("model"), str), "message model")
    content = doc.get("content")
    check(isinstance(content, list) and content, "message content is a non-empty list")
    for b in content or []:
        check(b.get("type") == "text" and isinstance(b.get("text"), str), f"text block {b}")
    check(doc.get("stop_reason") in STOP_REASONS, f"stop_reason {doc.get('stop_reason')!r}")
    check("stop_sequence" in doc and (doc["stop_sequence"] is None or
                                      isinstance(doc["stop_sequence"], str)), "stop_sequence")
    u = doc.get("usage") or {}
    check(isinstance(u.get("input_tokens"), int) and isinstance(u.get("output_tokens"), int),
          "usage input_tokens/output_tokens")


def check_stream(raw):
    events = sse_events(raw)
    docs = []
    for name, data in events:
        try:
            d = json.loads(data)
        except ValueError:
            check(False, f"stream event {name} data is not JSON: {data[:80]!r}")
            return
        check(d.get("type") == name, f"event name {name} == data type {d.get('type')}")
        if name != "ping":
            docs.append(d)
    names = [d["type"] for d in docs]
    check(names[:2] == ["message_start", "content_block_start"], f"stream starts {names[:2]}")
    check(names[-3:] == ["content_block_stop", "message_delta", "message_stop"],
          f"stream ends {names[-3:]}")
    deltas = [d for d in docs if d["type"] == "content_block_delta"]
    check(len(deltas) == CHUNKS - 1 and names[2:-3] == ["content_block_delta"] * len(deltas),
          f"{CHUNKS - 1} content_block_delta events in the middle, got {names[2:-3]}")
    if not docs or names[0] != "message_start":
        return
    m = docs[0].get("message") or {}
    check(m.get("type") == "message" and m.get("role") == "assistant" and m.get("content") == []
          and m.get("stop_reason") is None and isinstance((m.get("usage") or {}).get(
              "input_tokens"), int), "message_start carries an empty message with usage")
    cbs = docs[1]
    check(cbs.get("index") == 0 and cbs.get("content_block") == {"type": "text", "text": ""},
          "content_block_start: index 0, empty text block")
    for d in deltas:
        check(d.get("index") == 0 and (d.get("delta") or {}).get("type") == "text_delta" and
              isinstance(d["delta"].get("text"), str), f"text_delta {d}")
    md = docs[-2]
    check((md.get("delta") or {}).get("stop_reason") in STOP_REASONS and
          "stop_sequence" in md.get("delta", {}), "message_delta.delta stop_reason/stop_sequence")
    check((md.get("usage") or {}).get("output_tokens") == len(deltas),
          "message_delta.usage.output_tokens is cumulative (= number of deltas here)")
    check(docs[-3].get("index") == 0, "content_block_stop index 0")


def check_error(st, body, want_status, want_type, what):
    try:
        d = json.loads(body)
    except ValueError:
        d = {}
    check(st == want_status, f"{what}: status {st}, want {want_status}")
    check(d.get("type") == "error" and (d.get("error") or {}).get("type") == want_type and
          isinstance(d["error"].get("message"), str) and "request_id" in d,
          f"{what}: Anthropic error body with {want_type}: {body[:200]!r}")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: check_upstream.py PATH-TO-upstream")
    tmp = tempfile.mkdtemp(prefix="hermetic-upstream-check-")
    pf = os.path.join(tmp, "port")
    p = subprocess.Popen([sys.argv[1], "--port", "0", "--port-file", pf, "--delay-ms",
                          str(DELAY_MS), "--fast-delay-ms", str(FAST_MS), "--chunks", str(CHUNKS),
                          "--chunk-delay-ms", "5", "--max-seconds", "60"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while not os.path.exists(pf):
            if p.poll() is not None or time.monotonic() > end:
                raise SystemExit("check_upstream: the upstream did not start")
            time.sleep(0.02)
        port = int(open(pf).read())

        t = time.monotonic()
        st, h, body = post(port, "/v1/messages", MESSAGES_BODY, ANTHROPIC_HEADERS)
        took = time.monotonic() - t
        check(st == 200 and h.get("content-type", "").startswith("application/json"),
              f"messages: 200 application/json, got {st} {h.get('content-type')}")
        check(took >= DELAY_MS / 1000.0 * 0.9, f"messages answered after the delay ({took:.3f} s)")
        check_message(json.loads(body))

        st, h, body = post(port, "/v1/messages?beta=true", dict(MESSAGES_BODY, stream=True),
                           ANTHROPIC_HEADERS)
        check(st == 200 and h.get("content-type", "").startswith("text/event-stream"),
              f"messages stream: 200 text/event-stream, got {st} {h.get('content-type')}")
        check_stream(body)

        no_key = {k: v for k, v in ANTHROPIC_HEADERS.items() if k != "x-api-key"}
        st, _, body = post(port, "/v1/messages", MESSAGES_BODY, no_key)
        check_error(st, body, 401, "authentication_error", "no x-api-key")
        no_ver = {k: v for k, v in ANTHROPIC_HEADERS.items() if k != "anthropic-version"}
        st, _, body = post(port, "/v1/messages", MESSAGES_BODY, no_ver)
        check_error(st, body, 400, "invalid_request_error", "no anthropic-version")
        no_max = {k: v for k, v in MESSAGES_BODY.items() if k != "max_tokens"}
        st, _, body = post(port, "/v1/messages", no_max, ANTHROPIC_HEADERS)
        check_error(st, body, 400, "invalid_request_error", "no max_tokens")

        openai = {"model": "bench", "messages": [{"role": "user", "content": "bench-fast Hello"}],
                  "max_tokens": 16}
        t = time.monotonic()
        st, _, body = post(port, "/v1/chat/completions", openai,
                           {"content-type": "application/json"})
        took = time.monotonic() - t
        check(st == 200 and json.loads(body).get("object") == "chat.completion",
              "chat completions answers")
        check(took < DELAY_MS / 1000.0 / 2, f"a bench-fast request takes the fast delay ({took:.3f} s)")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/_stats")
        stats = json.loads(c.getresponse().read())
        c.close()
        check(stats.get("messages") == 2 and stats.get("requests") == 3,
              f"/_stats counts 2 Messages requests of 3 answered: {stats}")
    finally:
        p.terminate()
        p.wait(5)
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    if failures:
        for f in failures:
            print(f"check_upstream: FAIL: {f}", file=sys.stderr)
        return 1
    print("check_upstream: the fake upstream's OpenAI and Anthropic answers have the documented "
          "shapes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
