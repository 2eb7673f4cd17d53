#!/usr/bin/python3
"""Interleaved A/B of hermetic builds (and nginx) on one fake upstream: which build costs less
CPU a request, and how their latencies compare, measured in the same seconds. Not part of
`make bench`; for deciding a change by time rather than by instruction counts.

    benchmarks/router/ab.py --bin A=build-a/hermetic --bin B=build-b/hermetic [--nginx]
                            [--governed G=build/hermetic] [--rounds 8] [--window 8] [--rate 1000]
                            [--separate] [--keep-raw DIR]

One loadgen sends --rate req/s to each target, request by request in turn (`loadgen --target`),
so a slow moment of the machine lands on all of them alike; the targets' order rotates each
round. With --separate each target has a window of its own instead, the others stopped, as
`make bench` measures the plain budgets. A target's CPU a request in a round is what make bench
records (bench.put_cpu: its threads' run time from schedstat, warm-up included, over the
requests sent to it). Latency is loadgen's due-time-to-last-byte of each answered request,
percentiles by nearest rank (summary.pct). The CPUs are held awake as in bench.py. Prints one
line a round and the medians, and how many rounds each build was the cheaper. Tools come from
run.sh's cache (run `BENCH_ONLY=router make bench` once) or --loadgen/--upstream.
"""
import argparse
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench  # noqa: E402
from summary import pct, raw_latencies  # noqa: E402


def quantile(xs, q):
    return pct(sorted(xs), q)


def main():
    cache = os.path.join(os.environ.get("HERMETIC_CACHE", os.path.expanduser("~/.cache/hermetic")),
                         "bench", "tools")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", default=[], help="NAME=PATH of a hermetic binary")
    ap.add_argument("--nginx", action="store_true", help="nginx in the same rounds")
    ap.add_argument("--direct", action="store_true",
                    help="the upstream without a proxy in the same rounds: latencies only")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--window", type=float, default=8.0, help="seconds a round")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--rate", type=int, default=1000, help="req/s to each target")
    ap.add_argument("--separate", action="store_true",
                    help="each target in a window of its own, the others stopped (SIGSTOP), as "
                         "make bench measures the plain budgets: what a target does to the "
                         "machine (a burst of a worker thread that delays the load generator or "
                         "the upstream) then lands on its own requests only")
    ap.add_argument("--governed", action="append", default=[],
                    help="NAME=PATH of a hermetic binary run with the governed config")
    ap.add_argument("--extra", action="append", default=[],
                    help="NAME=FILE: YAML appended to that target's config")
    ap.add_argument("--keep-raw", metavar="DIR",
                    help="keep each round's per-request CSV (loadgen --raw) as DIR/NAME-ROUND.csv")
    ap.add_argument("--loadgen", default=os.path.join(cache, "loadgen"))
    ap.add_argument("--upstream", default=os.path.join(cache, "upstream"))
    a = ap.parse_args()
    bins = [b.split("=", 1) + [False] for b in a.bin] + [g.split("=", 1) + [True]
                                                          for g in a.governed]
    if not bins or any(len(b) != 3 for b in bins):
        ap.error("give --bin NAME=PATH at least once")
    if any("=" not in e for e in a.extra):
        ap.error("give --extra as NAME=FILE")
    extra = dict(e.split("=", 1) for e in a.extra)
    if any(n not in [b[0] for b in bins] for n in extra):
        ap.error("--extra names a target not given with --bin or --governed")
    # What bench.Bench reads of its arguments.
    a.stream_seconds, a.chunk_delay_ms, a.delay_ms, a.c1_delay_ms = 2.0, 50.0, 20.0, 1.0
    a.max_seconds = a.rounds * (a.window + a.warmup + 10) * 3 + 120
    a.timeout, a.max_conns, a.cpu_idle, a.nginx_why = 10.0, 1024, False, ""
    a.budget_window, a.budget_segments = a.window, 1
    fd, note = bench.hold_cpus_awake(a)
    with_nginx, a.nginx, a.hermetic = a.nginx, "", ""  # bench.Bench's: nginx from PATH
    b = bench.Bench(a)
    try:
        b.t_start = time.monotonic()
        direct = b.start_upstream()
        targets = [direct] if a.direct else []
        for name, path, governed in bins:
            t = b.start_hermetic(name, os.path.abspath(path), governed=governed,
                                 extra=extra.get(name))
            if not t.ok:
                raise SystemExit(f"ab: {name}: {t.why}")
            targets.append(t)
        if with_nginx:
            t = b.start_floor()
            if not t.ok:
                raise SystemExit(f"ab: nginx: {t.why}")
            targets.append(t)
        print(f"CPU idle states: {note}; {a.rounds} rounds of {a.window} s at {a.rate} req/s each")
        cpu = {t.name: [] for t in targets}
        lat = {t.name: [] for t in targets}
        for i in range(a.rounds):
            ts = targets[i % len(targets):] + targets[:i % len(targets)]
            raws = {t.name: os.path.join(b.tmp, f"ab-{t.name}.csv") for t in ts}
            res, line = {}, []
            for group in ([[t] for t in ts] if a.separate else [ts]):
                with b.quiet_others(group, targets):
                    cpu0 = {t.name: bench.cpu_sample(t.pid) for t in group}
                    if a.separate:
                        p = b.loadgen(group[0], a.rate, a.window, a.warmup, bench.PLAIN_BODY,
                                      a.timeout, a.max_conns, raw=raws[group[0].name])
                    else:
                        p = b.loadgen_interleaved(group, a.rate, raws)
                    x = b.finish_loadgen(p, a.window + a.warmup + a.timeout + 15)
                    if "error" in x:
                        raise SystemExit(f"ab: round {i + 1}: {x['error']}")
                    x = x["targets"] if not a.separate else {group[0].name: x}
                    for t in group:
                        w = x[t.name]
                        # one target's loadgen may leave its warm-up count out (as window())
                        sent = (w.get("requests") or 0) + w.get("warmup_requests",
                                                                int(a.rate * a.warmup))
                        bench.put_cpu(w, cpu0[t.name], bench.cpu_sample(t.pid), sent)
                        res[t.name] = w
            if a.keep_raw:
                os.makedirs(a.keep_raw, exist_ok=True)
                for t in ts:
                    shutil.copy(raws[t.name], os.path.join(a.keep_raw, f"{t.name}-{i + 1}.csv"))
            for t in ts:
                us = res[t.name].get("proxy_cpu_us_per_request")
                ls = raw_latencies(raws[t.name])
                lat[t.name].append(ls)
                if us is not None:
                    cpu[t.name].append(us)
                line.append((f"{t.name} {us:.1f} µs" if us is not None else t.name)
                            + f" p50 {quantile(ls, .5):.0f} p99 {quantile(ls, .99):.0f}")
            print(f"round {i + 1}: " + "; ".join(line), flush=True)
        print("median CPU a request, pooled p50 / p99 (µs)"
              + (", added to direct's (pooled; median of the rounds')" if a.direct else "") + ":")
        pool = {t.name: [v for ls in lat[t.name] for v in ls] for t in targets}
        for t in targets:
            p50, p99 = quantile(pool[t.name], .5), quantile(pool[t.name], .99)
            line = (f"  {t.name}: " + (f"{statistics.median(cpu[t.name]):.2f}  " if t.pid else "")
                    + f"{p50:.0f} / {p99:.0f}")
            if a.direct and t is not direct:
                added = [(quantile(x, .5) - quantile(d, .5), quantile(x, .99) - quantile(d, .99))
                         for x, d in zip(lat[t.name], lat[direct.name])]
                line += (f"; added {p50 - quantile(pool[direct.name], .5):.0f} / "
                         f"{p99 - quantile(pool[direct.name], .99):.0f}; rounds' median "
                         f"{statistics.median(x[0] for x in added):.0f} / "
                         f"{statistics.median(x[1] for x in added):.0f}, p99 from "
                         f"{min(x[1] for x in added):.0f} to {max(x[1] for x in added):.0f}")
            print(line)
        names = [t.name for t in targets if t.pid]
        for j, n in enumerate(names):
            for m in names[j + 1:]:
                wins = sum(1 for x, y in zip(cpu[n], cpu[m]) if x < y)
                print(f"  {n} cheaper than {m} in {wins} of {a.rounds} rounds")
    finally:
        b.stop_all()
        if fd is not None:
            os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
