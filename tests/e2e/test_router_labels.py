"""`hermetic router` under client-chosen model names (issue 14, item 2): a rejected `model` is
counted as requested_model="None" (LiteLLM's label for a missing value), never as the client's
string, so many distinct or huge names neither grow the process nor the /metrics body, and no
response header echoes them. The per-family series cap and the label length cap are proven in
tests/test_metrics.c."""
import http.client
import json
import os

from fakes.fake_openai import text
from router_harness import fake, router_config, start_router  # noqa: F401 (fixtures)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def post_chat(conn, model):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp


def metrics_head(port, limit):
    """The /metrics body's length (from its header) and at most `limit` bytes of it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200
        length = int(resp.getheader("Content-Length"))
        return length, resp.read(min(length, limit)).decode(errors="replace")
    finally:
        conn.close()


def no_quarantine():
    """Sanitizer builds keep freed memory in a quarantine: RSS would measure that, not us."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=0"}


def test_rejected_model_names_do_not_grow_memory_metrics_or_headers(fake, start_router):
    fake.script_for("test/free", text("ok"))
    r = start_router(router_config(fake), env=no_quarantine())
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=30)
    # Warm up the allocator and the registry with the answered and the refused paths.
    assert post_chat(conn, "free").status == 200
    assert post_chat(conn, "warm-up-unknown").status == 400
    before = rss_kib(r.proc.pid)
    for i in range(40):
        resp = post_chat(conn, f"{i:04d}" + "x" * (256 * 1024))
        assert resp.status == 400
        assert resp.getheader("x-litellm-model-group") is None
    for i in range(300):
        resp = post_chat(conn, f"distinct-model-{i}")
        assert resp.status == 400
        assert resp.getheader("x-litellm-model-group") is None
    conn.close()
    grown = rss_kib(r.proc.pid) - before
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB after 340 refused requests"

    length, body = metrics_head(r.port, 256 * 1024)
    assert length < 128 * 1024, f"/metrics is {length} bytes"
    assert "xxxxxxxx" not in body and "distinct-model-" not in body
    total = [line for line in body.splitlines()
             if line.startswith("litellm_proxy_total_requests_metric_total{")
             and 'requested_model="None"' in line and 'status_code="400"' in line]
    assert len(total) == 1 and total[0].endswith(" 341"), total


def test_model_group_header_names_only_a_configured_group(fake, start_router):
    fake.script_for("test/free", text("ok"))
    r = start_router(router_config(fake))
    assert r.chat("free").headers.get("x-litellm-model-group") == "free"
    refused = r.chat("not-a-configured-group")
    assert refused.status == 400
    assert "x-litellm-model-group" not in refused.headers
