"""The sustained rate: the highest open-loop rate a target holds with its p99 under a limit (1 s)
and under 0.1% errors, against the fake upstream's fixed delay (20 ms): onthebench's
"sustained" figure.

The search runs the targets side by side: a ladder of rates (start, x growth, ... up to max),
at each step one window per target still in the race (the others stopped, in an order rotated
per step); a target that misses a step gets a second window at that rate (one stall of the
shared machine is not a verdict) and leaves the race when that misses too. Then the interval
between a target's last held rate and its first missed one is bisected (geometric midpoints,
`refine` steps); a missed bisection window, too, is tried once more before the midpoint counts
as missed, for the same reason. The whole search has a time bound: past it, each target's figure
is its highest held rate so far, marked bounded.

Each target keeps a window of its own here, unlike the rounds' interleaved windows: a target
driven past what it holds builds a backlog that would run on into the next target's slices, and
the verdict (held or not, by a wide margin: p99 under 1 s) is less exposed to a noisy second
than the budgets' p99 differences of some tens of µs. Standard library only."""
import time

from benchlib import log
from summary import CLK_TCK


def held(r, max_p99_us, max_error_ratio):
    """(held?, why) for one window's loadgen answer."""
    if r.get("error"):
        return False, r["error"]
    n = r.get("requests") or 0
    if not n:
        return False, "no request counted"
    err = (r.get("errors") or 0) / n
    p99 = (r.get("latency_us") or {}).get("p99")
    if err > max_error_ratio:
        return False, f"errors {err:.2%}"
    if p99 is None or p99 >= max_p99_us:
        return False, f"p99 {p99} µs"
    return True, f"p99 {p99:.0f} µs, errors {err:.2%}"


def window(bench, t, rate, a, body, cpu_ticks):
    """One window at rate; the loadgen's answer with the CPU per request of t's process
    (cpu_ticks(pid): its utime+stime)."""
    ticks0 = cpu_ticks(t.pid) if t.pid else None
    p = bench.loadgen(t, rate, a.sustain_window, a.sustain_warmup, body,
                      a.sustain_timeout, a.max_conns, capture=False)
    r = bench.finish_loadgen(p, a.sustain_window + a.sustain_warmup + a.sustain_timeout + 15)
    if ticks0 is not None:
        ticks1 = cpu_ticks(t.pid)
        sent = (r.get("requests") or 0) + int(rate * a.sustain_warmup)
        if ticks1 is not None and sent:
            r["proxy_cpu_us_per_request"] = round((ticks1 - ticks0) * 1e6 / CLK_TCK / sent, 1)
    t.client_ok += r.get("ok") or 0
    return {k: r[k] for k in ("rate", "requests", "ok", "errors", "achieved_rate", "latency_us",
                              "transport_errors", "status", "error", "proxy_cpu_us_per_request")
            if k in r}


def search(bench, targets, live, a, body, cpu_ticks):
    """The search over targets (live: every target's process, to stop the others); body: the
    request.{target: {"rate": held rate or None, "first_missed": rate or None, "steps": [...],
    "bounded": bool}} and the method."""
    end = time.monotonic() + a.sustain_max_seconds
    res = {t.name: {"rate": None, "first_missed": None, "steps": [], "bounded": False}
           for t in targets}

    def run(t, rate):
        with bench.quiet_others(t, live):
            r = window(bench, t, rate, a, body, cpu_ticks)
        ok, why = held(r, a.sustain_p99_ms * 1000, a.sustain_max_errors)
        res[t.name]["steps"].append({"rate": rate, "held": ok, "why": why, "loadgen": r})
        log(f"sustained: {t.name} at {rate} req/s: {'held' if ok else 'missed'} ({why})")
        return ok

    ladder, rate = [], float(a.sustain_start)
    while rate <= a.sustain_max:
        ladder.append(int(round(rate)))
        rate *= a.sustain_growth
    racing = list(targets)
    for i, rate in enumerate(ladder):
        if not racing:
            break
        order = racing[i % len(racing):] + racing[:i % len(racing)]
        for t in order:
            if time.monotonic() > end:
                res[t.name]["bounded"] = True
                racing.remove(t)
                continue
            if run(t, rate) or run(t, rate):
                res[t.name]["rate"] = rate
            else:
                res[t.name]["first_missed"] = rate
                racing.remove(t)
    for t in racing:  # held the whole ladder
        res[t.name]["bounded"] = True
    for _ in range(a.sustain_refine):
        for t in targets:
            lo, hi = res[t.name]["rate"], res[t.name]["first_missed"]
            # (an interval within 1% is as fine as the windows' noise allows)
            if lo is None or hi is None or hi <= lo * 1.01 or time.monotonic() > end:
                continue
            mid = int(round((lo * hi) ** 0.5))
            if run(t, mid) or run(t, mid):
                res[t.name]["rate"] = mid
            else:
                res[t.name]["first_missed"] = mid
    method = (f"open loop, {a.sustain_window} s windows after {a.sustain_warmup} s warm-up, "
              f"upstream {a.delay_ms} ms; held = p99 < {a.sustain_p99_ms} ms and errors <= "
              f"{a.sustain_max_errors:.1%} (a request still unanswered after "
              f"{a.sustain_timeout} s counts as an error); ladder {ladder} req/s, every target "
              "at each step (order rotated, others stopped), a missed step tried once more; "
              f"then {a.sustain_refine} bisection step(s) between the last held and the first "
              "missed rate (geometric midpoints), a missed midpoint tried once more too; at "
              f"most {a.sustain_max_seconds} s in all")
    return {"method": method, "max_p99_ms": a.sustain_p99_ms,
            "max_error_ratio": a.sustain_max_errors, "targets": res}
