"""`hermetic router` budgets count the calls in flight: each upstream attempt reserves what it may
cost before it is sent (max_tokens at the completion price plus the prompt at the prompt price,
else the deployment's recent mean cost, else all that is left of the cap) and settles it when
the answer comes. Ten concurrent calls against a $1.00 cap and an upstream charging $0.50 a call
overspend by at most one call's cost, whichever cap it is: daily, monthly, the proxy-wide
max_budget or a key's max_budget. A call that finds the rest of a budget reserved waits for the
calls in flight to settle (within its timeout) and is then decided on their real cost."""
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
    # Each reserves 0.5: two fit under 1.00; the other eight wait for them to settle, then are
    # refused on the 1.00 really spent, before the upstream.
    assert_capped(fake, r, replies, paid_calls=2)
    # Settled: the reservations are gone and the real spend refuses the next call.
    late = r.chat("free", max_tokens=100)
    assert late.status == 400 and late.error()["type"] == "budget_exceeded", late.text
    assert "in flight" not in late.error()["message"], late.text


def test_unpriced_deployment_without_history_runs_alone_until_its_cost_is_known(
        fake, start_router):
    script(fake, N)
    r = start(fake, start_router, "daily")
    replies = concurrent_chats(r)
    # Its cost is unknown until one call settled: the first reserves the whole budget; then the
    # mean (0.50) is known and one more fits.
    assert_capped(fake, r, replies, paid_calls=2)
    starts = sorted(x["monotonic"] for x in fake.chat_requests)
    assert starts[1] - starts[0] >= 0.9, starts  # the second waited for the first to settle


def test_free_deployment_without_history_serves_every_concurrent_call(fake, start_router):
    fake.script_for("test/free", *[text(f"free {i}", cost=0.0, first_byte_delay=0.5)
                                   for i in range(N)])
    r = start(fake, start_router, "daily")
    replies = concurrent_chats(r)
    # The first runs alone; once it cost 0.00 the others run together.
    assert [x.status for x in replies] == [200] * N, [x.text for x in replies]
    rows = r.wait_spend_rows(N)
    assert len(rows) == N and sum(x["cost_usd"] for x in rows) == 0, rows


def test_a_call_that_waits_past_its_timeout_is_refused(fake, start_router):
    fake.script_for("test/free", text("slow", cost=CALL_USD, first_byte_delay=3),
                    text("must not be reached"))
    sections, _ = CAPS["daily"]
    models = [deployment("free", "test/free", fake, model_info={"output_cost_per_token": 0.01},
                         timeout=10)]
    r = start_router(router_config(fake, models, **sections,
                                   router_settings={"timeout": 1}))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(r.chat, "free", max_tokens=100, timeout=30)
        fake.wait_requests(1, timeout=5)
        waiting = r.chat("free", max_tokens=100)
        assert waiting.status == 400 and waiting.error()["type"] == "budget_exceeded", \
            waiting.text
        assert waiting.error()["message"] == ("Budget has been exceeded! Current cost: 0.0, "
                                              "Max budget: 1.0; calls in flight may add 1.0")
        assert 0.8 <= waiting.elapsed < 2.5, waiting.elapsed
        assert slow.result().status == 200
    assert len(fake.chat_requests) == 1


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



def test_n_choices_reserve_n_completions(fake, start_router):
    """A chat asking for n choices may cost n completions, and reserves them: four choices of up
    to 100 tokens reserve 2.00, all of a 1.00 cap, so the other calls wait and are refused on
    what the first really cost (reserving one completion, 0.50, let two through: 4.00)."""
    fake.script_for("test/free", *[text(f"paid {i}", cost=4 * CALL_USD, first_byte_delay=1.0)
                                   for i in range(N)])
    r = start(fake, start_router, "daily", PRICED)
    with concurrent.futures.ThreadPoolExecutor(N) as pool:
        replies = list(pool.map(lambda i: r.chat("free", content=f"call {i}", max_tokens=100,
                                                  n=4, timeout=30), range(N)))
    assert sorted(x.status for x in replies) == [200] + [400] * (N - 1), \
        [(x.status, x.text) for x in replies]
    assert count_calls(fake, "test/free") == 1
