"""The fake upstreams' account rate limit (tests/fakes/ratelimit.py) must be faithful before
rate pools are tested against it: counted on arrival at prompt + max_tokens, refused with
OpenAI's 429 body and retry-after before any script step is taken, x-ratelimit-* on every
answer, and an exact sliding minute (checked with a clock the test moves)."""
import json
import sys

from test_fake_openai import TESTS_DIR, chat, request, sse

sys.path.insert(0, str(TESTS_DIR))

from fakes.fake_openai import FakeOpenAI, text  # noqa: E402
from fakes.ratelimit import SlidingLimit, duration  # noqa: E402


def test_a_request_that_fits_is_answered_with_the_accounts_headers():
    with FakeOpenAI(rate_limit=(1000, 10)) as fake:
        fake.script(text("hello"))
        status, headers, body, _ = chat(fake, max_tokens=600)
        assert status == 200, body
        assert headers["x-ratelimit-limit-tokens"] == "1000"
        assert headers["x-ratelimit-limit-requests"] == "10"
        assert headers["x-ratelimit-remaining-requests"] == "9"
        left = int(headers["x-ratelimit-remaining-tokens"])
        assert 1000 - 600 - 60 < left < 1000 - 600, left  # the prompt counts too
        assert headers["x-ratelimit-reset-tokens"].endswith("s")


def test_a_request_past_the_tpm_gets_openais_429_and_takes_no_step():
    with FakeOpenAI(rate_limit=(1000, None)) as fake:
        fake.script(text("one"), text("two"))
        assert chat(fake, max_tokens=600)[0] == 200
        status, headers, body, _ = chat(fake, max_tokens=600)
        assert status == 429
        err = json.loads(body)["error"]
        assert err["code"] == "rate_limit_exceeded" and err["type"] == "tokens"
        assert err["message"].startswith("Rate limit reached for fake/model in organization ")
        assert "tokens per min (TPM): Limit 1000, Used " in err["message"]
        assert "Please try again in " in err["message"]
        assert 58 <= int(headers["retry-after"]) <= 60
        assert "x-ratelimit-remaining-tokens" in headers
        assert fake.remaining == 1  # the refused request took no step
        assert fake.limit.refused == 1 and fake.limit.peak_tokens <= 1000


def test_a_request_past_the_rpm_is_refused_on_requests():
    with FakeOpenAI(rate_limit=(None, 1)) as fake:
        fake.script(text("one"), text("two"))
        assert chat(fake)[0] == 200
        status, headers, body, _ = chat(fake)
        assert status == 429
        assert json.loads(body)["error"]["type"] == "requests"
        assert "requests per min (RPM): Limit 1, Used 1, Requested 1" in body.decode()
        assert "x-ratelimit-limit-tokens" not in headers


def test_a_stream_carries_the_headers_and_an_answer_over_its_count_is_counted():
    with FakeOpenAI(rate_limit=(100000, None)) as fake:
        fake.script(text("x" * 4000))  # ~1000 completion tokens, no max_tokens asked
        status, headers, body, _ = chat(fake, stream=True)
        assert status == 200 and headers["x-ratelimit-limit-tokens"] == "100000"
        assert sse(body)[0][-1] == "[DONE]"
        assert fake.limit.peak_tokens >= 1000


def test_the_window_is_an_exact_sliding_minute():
    now = [100.0]
    lim = SlidingLimit(1000, None, clock=lambda: now[0])
    first, _ = lim.admit("m", 700)
    assert first is not None
    now[0] = 130.0
    assert lim.admit("m", 200)[0] is not None
    refused, (status, body, headers) = lim.admit("m", 200)
    assert refused is None and status == 429
    assert headers["retry-after"] == "30"  # the first entry leaves at 160
    now[0] = 159.999
    assert lim.admit("m", 200)[0] is None
    now[0] = 160.0
    assert lim.admit("m", 200)[0] is not None
    assert lim.peak_tokens == 900 and lim.refused == 2


def test_settling_never_gives_back_but_counts_an_overrun():
    now = [0.0]
    lim = SlidingLimit(1000, None, clock=lambda: now[0])
    e, _ = lim.admit("m", 500)
    lim.settle(e, 100)
    assert lim.headers()["x-ratelimit-remaining-tokens"] == "500"
    lim.settle(e, 800)
    assert lim.headers()["x-ratelimit-remaining-tokens"] == "200"
    assert lim.peak_tokens == 800


def test_reset_durations_read_like_openais():
    assert [duration(s) for s in (0.009, 0.12, 1.4, 17.283, 360, 61.4)] == \
        ["9ms", "120ms", "1.4s", "17.28s", "6m0s", "1m1s"]


def test_the_control_route_reports_peak_and_refusals():
    with FakeOpenAI(rate_limit=(100, None)) as fake:
        fake.script(text("a"))
        chat(fake, max_tokens=45)
        chat(fake, max_tokens=45)
        status, _, body, _ = request(fake, "GET", "/_fake/ratelimit")
        got = json.loads(body)
        assert status == 200 and got["refused"] == 1 and got["admitted"] == 1
        assert 45 < got["peak_tokens"] <= 100
