"""The release binary's allocator front (src/core/alloc_keep.c, alloc_front.c), seen from outside:
`hermetic router` keeps the blocks a burst of requests freed, so the next burst reuses them, and
gives them back once it is idle (docs/router.md, "Memory goes back after a burst"), as its
`hermetic_alloc_kept_bytes` gauge shows. Other builds keep nothing and say 0."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fakes.fake_openai import text
from router_harness import (  # noqa: F401 (fake, start_router are fixtures)
    MASTER_ENV, MASTER_KEY, deployment, fake, msum, router_config, start_router,
)

KEPT = "hermetic_alloc_kept_bytes"
BURST = 240
PARALLEL = 24


def burst(r, fake):
    fake.script_for("test/free", *[text("ok")] * BURST)
    with ThreadPoolExecutor(PARALLEL) as pool:
        replies = list(pool.map(lambda _: r.chat("free", key=MASTER_KEY), range(BURST)))
    assert all(x.status == 200 for x in replies), [x.text for x in replies if x.status != 200]


def config(fake):
    return router_config(fake, [deployment("free", "test/free", fake, id="free-1")],
                         general_settings={"master_key": f"os.environ/{MASTER_ENV}"})


@pytest.mark.smoke
@pytest.mark.needs("static", "native")
def test_router_keeps_a_bursts_blocks_and_gives_them_back_when_idle(fake, start_router):
    r = start_router(config(fake), env={MASTER_ENV: MASTER_KEY})
    burst(r, fake)
    peak = msum(r.metrics(), KEPT)
    # Up to 24 requests at once, each with its buffers of a few KiB: what they freed is kept
    # (about 200 KB here; the bound leaves room for a busy machine's smaller overlap).
    assert peak >= 32 * 1024, f"{KEPT} after a burst: {peak}"
    # Each second, half of what sat unused the whole second goes back (the 1 s tick runs on
    # with no connection open): after 8 s, a few scrapes' worth is left.
    time.sleep(8)
    idle = msum(r.metrics(), KEPT)
    print(f"{KEPT}: {peak:.0f} after a burst of {BURST}, {idle:.0f} after 8 s idle")
    assert idle <= peak / 8, f"{KEPT}: {peak} after the burst, still {idle} after 8 s idle"
    # The cap: never past 16 MiB (ROUTER_KEEP_BYTES in src/main.c).
    burst(r, fake)
    assert 0 < msum(r.metrics(), KEPT) <= 16 * 1024 * 1024


@pytest.mark.needs("dynamic")
def test_router_without_the_front_keeps_nothing(fake, start_router):
    r = start_router(config(fake), env={MASTER_ENV: MASTER_KEY})
    burst(r, fake)
    m = r.metrics()
    assert [s for s in m if s[0] == KEPT], f"no {KEPT} series in /metrics"
    assert msum(m, KEPT) == 0
