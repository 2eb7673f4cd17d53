"""`hermetic router` budgets count the calls in flight: each upstream attempt reserves what it may
cost before it is sent (max_tokens at the completion price plus the prompt at the prompt price,
else the deployment's recent mean cost, else all that is left of the cap) and settles it when
the answer comes. Ten concurrent calls against a $1.00 cap and an upstream charging $0.50 a call
overspend by at most one call's cost, whichever cap it is: daily, monthly, the proxy-wide
max_budget or a key's max_budget."""
import concurrent.futures
import json

import pytest

from fakes.fake_openai import text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    approx, count_calls, deployment, fake, router_config, start_router,
)

ALICE_KEY = "sk-e2e-alice-SECRET-77aa01"
CALL_USD = 0.5
CAP_USD = 1.0
N = 10
# 0.5 USD per completion token limit of 100: the estimate of a call is exactly its cost.
PRICED = {"input_cost_per_token": 0, "output_cost_per_token": CALL_USD / 100}

CAPS = {
    "daily": ({"budget": {"daily_usd": CAP_USD}}, {}),
    "monthly": ({"budget": {"monthly_usd": CAP_USD}}, {}),
    "max_budget": ({"litellm_settings": {"max_budget": CAP_USD, "budget_duration": "1d"}}, {}),
    "key": ({"keys": [{"key": "os.environ/E2E_ALICE_KEY", "alias": "alice",
                       "max_budget": CAP_USD}]}, {"E2E_ALICE_KEY": ALICE_KEY}),
}


def start(fake, start_router, cap, model_info=None):
    sections, env = CAPS[cap]
    models = [deployment("free", "test/free", fake, model_info=model_info)]
    r = start_router(router_config(fake, models, **sections), env=env)
    r.key = ALICE_KEY if cap == "key" else None
    return r


def concurrent_chats(r, n=N):
    """n chats sent at once (each on its own connection); their replies, in any order."""
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: r.chat("free", content=f"call {i}", max_tokens=100,
                                              timeout=30), range(n)))


def assert_capped(fake, r, replies, paid_calls):
    ok = [x for x in replies if x.status == 200]
    refused = [x for x in replies if x.status != 200]
    assert len(ok) == paid_calls, [(x.status, x.text) for x in replies]
    for x in refused:
        assert x.status == 400, x.text
        assert x.error()["type"] == "budget_exceeded", x.text
        assert x.error()["message"].startswith("Budget has been exceeded!"), x.text
    assert count_calls(fake, "test/free") == len(ok)  # the refused never reached it
    rows = r.wait_spend_rows(paid_calls)
    spent = sum(x["cost_usd"] for x in rows)
    assert spent <= CAP_USD + CALL_USD + 1e-9, rows  # within one call's cost of the cap
    assert approx(spent, paid_calls * CALL_USD, 1e-9), rows
    return spent


def script(fake, n):
    # Slow enough that all of them are in flight together.
    fake.script_for("test/free", *[text(f"paid {i}", cost=CALL_USD, first_byte_delay=1.0)
                                   for i in range(n)])


@pytest.mark.parametrize("cap", sorted(CAPS))
def test_concurrent_calls_cannot_overspend_a_cap(fake, start_router, cap):
    script(fake, N)
    r = start(fake, start_router, cap, PRICED)
    replies = concurrent_chats(r)
    # Each reserves 0.5: two fit under 1.00, the other eight are refused before the upstream.
    assert_capped(fake, r, replies, paid_calls=2)
    refused = next(x for x in replies if x.status == 400)
    assert "calls in flight may add" in refused.error()["message"], refused.text
    # Settled: the reservations are gone and the real spend refuses the next call.
    late = r.chat("free", max_tokens=100)
    assert late.status == 400 and late.error()["type"] == "budget_exceeded", late.text
    assert "in flight" not in late.error()["message"], late.text


def test_unpriced_deployment_without_history_runs_one_call_at_a_time(fake, start_router):
    script(fake, N)
    r = start(fake, start_router, "daily")
    replies = concurrent_chats(r)
    # Its cost is unknown until one call settled: the first reserves the whole budget.
    assert_capped(fake, r, replies, paid_calls=1)


def test_unpriced_deployment_reserves_its_recent_mean_cost(fake, start_router):
    script(fake, N + 1)
    r = start(fake, start_router, "daily")
    first = r.chat("free", max_tokens=100)
    assert first.status == 200, first.text
    r.wait_spend_rows(1)
    replies = concurrent_chats(r)
    # 0.50 spent, the mean is 0.50: one more fits.
    ok = [x for x in replies if x.status == 200]
    assert len(ok) == 1, [(x.status, x.text) for x in replies]
    rows = r.wait_spend_rows(2)
    assert approx(sum(x["cost_usd"] for x in rows), 1.0, 1e-9), rows


def test_concurrent_streams_are_capped_too(fake, start_router):
    fake.script_for("test/free", *[text(f"streamed {i}", cost=CALL_USD, first_chunk_delay=1.0)
                                   for i in range(N)])
    r = start(fake, start_router, "daily", PRICED)
    with concurrent.futures.ThreadPoolExecutor(N) as pool:
        replies = list(pool.map(lambda i: r.chat("free", stream=True, max_tokens=100,
                                                 timeout=30), range(N)))
    ok = [x for x in replies if x.status == 200]
    assert len(ok) == 2, [(x.status, x.text) for x in replies]
    assert all(x.done() for x in ok), [x.text for x in ok]
    rows = r.wait_spend_rows(2)
    assert approx(sum(x["cost_usd"] for x in rows), 1.0, 1e-9), rows
    assert json.dumps(rows).count('"estimated": 0') == 2, rows
