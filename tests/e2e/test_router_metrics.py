"""`hermetic router` /metrics: LiteLLM's series names and labels (docs/references.md section 3), values
that match the traffic that happened, `promtool check metrics`, and no raw key anywhere."""
import math

from fakes.fake_openai import error, openrouter_error, text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    MASTER_ENV, MASTER_KEY, UPSTREAM_KEY, approx, deployment, fake, msum, promtool_check,
    router_config, samples, sha256_hex, start_router,
)

ALICE_KEY = "sk-e2e-metrics-alice-SECRET-77aa"
WRONG_KEY = "sk-e2e-metrics-wrong-SECRET-88bb"
KEY_ENV = {MASTER_ENV: MASTER_KEY, "E2E_ALICE_KEY": ALICE_KEY}
COMMON = ("hashed_api_key", "api_key_alias", "team", "user")
LABELS = {
    "litellm_proxy_total_requests_metric_total": ("requested_model", "status_code") + COMMON,
    "litellm_proxy_failed_requests_metric_total":
        ("requested_model", "exception_status", "exception_class") + COMMON,
    "litellm_requests_metric_total": ("model",) + COMMON,
    "litellm_spend_metric_total": ("model",) + COMMON,
    "litellm_total_tokens_metric_total": ("model",),
    "litellm_input_tokens_metric_total": ("model",),
    "litellm_output_tokens_metric_total": ("model",),
    "litellm_request_total_latency_metric_count": (),
    "litellm_llm_api_latency_metric_count": ("model",),
    "litellm_deployment_successful_fallbacks_total":
        ("requested_model", "fallback_model", "exception_status", "exception_class"),
    "litellm_deployment_state": ("litellm_model_name", "model_id", "api_base", "api_provider"),
}
# docs/references.md section 3: 0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5, 1.0 ... 10.0 by 0.5,
# 15, 20, 25, 30, 60, 120, 180, 240, 300, +Inf
LATENCY_BUCKETS = sorted({0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5}
                         | {1.0 + 0.5 * i for i in range(19)}
                         | {15.0, 20.0, 25.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0, math.inf})


def keyed_config(fake, **sections):
    return router_config(
        fake, [deployment("free", "test/free", fake, id="free-1"),
               deployment("cheap", "test/cheap", fake, id="cheap-1")],
        general_settings={"master_key": f"os.environ/{MASTER_ENV}"},
        keys=[{"key": "os.environ/E2E_ALICE_KEY", "alias": "alice", "max_budget": 0.03}],
        litellm_settings={"fallbacks": [{"free": ["cheap"]}]}, **sections)


def run_traffic(r, fake):
    """One fallback after a 429, one direct success, one unknown model, one stream, one 401.
    Returns the usage of the answered JSON calls."""
    fake.script_for("test/free", openrouter_error(429), text("direct", cost=0.001),
                    text("streamed", cost=0.0))
    fake.script_for("test/cheap", text("fell back", cost=0.0015), text("alice", cost=0.01))
    usages = []
    reply = r.chat("free", key=MASTER_KEY)
    assert reply.status == 200 and reply.content() == "fell back", reply.text
    usages.append(reply.json()["usage"])
    reply = r.chat("free", key=MASTER_KEY)
    assert reply.status == 200 and reply.content() == "direct", reply.text
    usages.append(reply.json()["usage"])
    assert r.chat("nope", key=MASTER_KEY).status == 400
    assert r.chat("free", key=MASTER_KEY, stream=True).status == 200
    assert r.chat("free", key=WRONG_KEY).status == 401
    reply = r.chat("cheap", key=ALICE_KEY)
    assert reply.status == 200 and reply.content() == "alice", reply.text
    usages.append(reply.json()["usage"])
    return usages


def test_request_spend_token_and_fallback_metrics_match_the_traffic(fake, start_router):
    r = start_router(keyed_config(fake), env=KEY_ENV)
    usages = run_traffic(r, fake)
    m = r.metrics()
    master = sha256_hex(MASTER_KEY)
    alice = sha256_hex(ALICE_KEY)
    total = "litellm_proxy_total_requests_metric_total"
    assert msum(m, total, requested_model="free", status_code="200", hashed_api_key=master) == 3
    # A rejected model is labelled "None", never with the client's string (issue 14).
    assert msum(m, total, requested_model="None", status_code="400", hashed_api_key=master) == 1
    assert not samples(m, total, requested_model="nope")
    assert msum(m, total, requested_model="cheap", status_code="200", hashed_api_key=alice,
                api_key_alias="alice") == 1
    assert all(s[1]["team"] == "None" and s[1]["user"] == "None"
               for s in samples(m, total)), samples(m, total)
    failed = "litellm_proxy_failed_requests_metric_total"
    assert msum(m, failed, requested_model="None", exception_status="400") == 1
    fb = "litellm_deployment_successful_fallbacks_total"
    assert msum(m, fb, requested_model="free", fallback_model="cheap", exception_status="429") == 1
    assert msum(m, fb) == 1
    assert msum(m, "litellm_deployment_failed_fallbacks_total") == 0
    assert approx(msum(m, "litellm_spend_metric_total"), 0.0015 + 0.001 + 0.01, 1e-9)
    assert approx(msum(m, "litellm_spend_metric_total", hashed_api_key=alice), 0.01, 1e-9)
    # The stream's usage is counted too: at least the three JSON answers' tokens.
    prompt = sum(u["prompt_tokens"] for u in usages)
    completion = sum(u["completion_tokens"] for u in usages)
    assert msum(m, "litellm_input_tokens_metric_total") > prompt
    assert msum(m, "litellm_output_tokens_metric_total") > completion
    assert (msum(m, "litellm_total_tokens_metric_total")
            == msum(m, "litellm_input_tokens_metric_total")
            + msum(m, "litellm_output_tokens_metric_total"))
    assert msum(m, "litellm_requests_metric_total") >= 4
    remaining = samples(m, "litellm_remaining_api_key_budget_metric", hashed_api_key=alice)
    assert len(remaining) == 1 and approx(remaining[0][2], 0.02, 1e-9), remaining
    for name, labels in LABELS.items():
        found = samples(m, name)
        assert found, f"{name} missing"
        for _, got, _ in found:
            assert set(labels) <= set(got), f"{name}{got} lacks {set(labels) - set(got)}"


def test_latency_histograms_use_litellm_buckets(fake, start_router):
    fake.script_for("test/free", text("one"), text("two"))
    r = start_router(router_config(fake))
    assert r.chat("free").status == 200 and r.chat("free").status == 200
    m = r.metrics()
    for base in ("litellm_request_total_latency_metric", "litellm_llm_api_latency_metric"):
        counts = samples(m, base + "_count")
        assert counts and sum(v for _, _, v in counts) >= 2, (base, counts)
        assert samples(m, base + "_sum")
        buckets = samples(m, base + "_bucket")
        for _, labels, count in counts:
            mine = [(float(l["le"]), v) for _, l, v in buckets
                    if {k: x for k, x in l.items() if k != "le"} == labels]
            assert sorted(le for le, _ in mine) == LATENCY_BUCKETS, (base, labels)
            assert dict(mine)[math.inf] == count


def test_failed_fallback_is_counted(fake, start_router):
    fake.script_for("test/free", error(503, {"error": {"code": 503, "message": "down"}}))
    fake.script_for("test/cheap", error(503, {"error": {"code": 503, "message": "down too"}}))
    r = start_router(router_config(fake, litellm_settings={"fallbacks": [{"free": ["cheap"]}]}))
    assert r.chat("free").status >= 500
    m = r.metrics()
    assert msum(m, "litellm_deployment_failed_fallbacks_total", requested_model="free",
                fallback_model="cheap") == 1
    assert msum(m, "litellm_deployment_successful_fallbacks_total") == 0
    assert msum(m, "litellm_proxy_failed_requests_metric_total", requested_model="free") == 1


def test_metrics_pass_promtool(fake, start_router):
    r = start_router(keyed_config(fake), env=KEY_ENV)
    run_traffic(r, fake)
    reply = r.get("/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4"), reply.headers
    rc, out = promtool_check(reply.text)
    assert rc == 0, out


def test_raw_keys_never_appear_in_metrics_or_logs(fake, start_router):
    r = start_router(keyed_config(fake), env=KEY_ENV)
    run_traffic(r, fake)
    metrics = r.metrics_text()
    assert sha256_hex(MASTER_KEY) in metrics and sha256_hex(ALICE_KEY) in metrics
    assert r.stop() == 0
    for where, body in (("/metrics", metrics), ("stderr", r.stderr()), ("stdout", r.stdout()),
                        ("home/logs/hermetic.log", r.logfile())):
        for secret in (MASTER_KEY, ALICE_KEY, WRONG_KEY, UPSTREAM_KEY):
            assert secret not in body, f"{secret} leaked into {where}"
