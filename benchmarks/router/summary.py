"""What bench.py measured, summarised: per-round and pooled latency figures, the budgets as
verdicts (ratios in the same rounds), and the printed table. Standard library only."""
import math
import os
import statistics

CLK_TCK = os.sysconf("SC_CLK_TCK")
BUDGET_RATE = 1000


def mib(kib):
    return None if kib is None else round(kib / 1024.0, 2)



def raw_latencies(path):
    """The latencies (µs, due time to last byte) of a window's answered requests (2xx, no
    transport error), read from loadgen's --raw CSV, which is then removed: the requests
    loadgen's own p50/p99 are taken over."""
    out = []
    try:
        with open(path) as f:
            next(f, None)
            for line in f:
                c = line.split(",")
                if len(c) >= 6 and c[5] == "none" and 200 <= int(c[4]) < 300:
                    out.append(float(c[3]) - float(c[0]))
        os.unlink(path)
    except (OSError, ValueError):
        pass
    return out


def pct(sorted_v, p):
    """Nearest rank, as loadgen computes its percentiles."""
    if not sorted_v:
        return None
    i = min(max(math.ceil(p * len(sorted_v)) - 1, 0), len(sorted_v) - 1)
    return sorted_v[i]


def pooled(samples):
    v = sorted(samples or [])
    return {"p50_us": rnd1(pct(v, 0.50)), "p99_us": rnd1(pct(v, 0.99)), "n": len(v)} if v else None


def pct_summary(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": round(statistics.median(v), 1), "min": round(min(v), 1),
            "max": round(max(v), 1), "n": len(v)}


def summarize(rounds, live, samples):
    """Per target: the per-round figures (median, min, max over the rounds) and the pooled
    latency quantiles (every round's requests together); added = target minus direct."""
    out = {}
    pool = {t.name: pooled(samples.get(t.name)) for t in live}
    for t in live:
        rs = [r.get(t.name, {}) for r in rounds]
        lat = [r.get("latency_us") or {} for r in rs]
        s = {"p50_us": pct_summary([x.get("p50") for x in lat]),
             "p99_us": pct_summary([x.get("p99") for x in lat]),
             "max_us": pct_summary([x.get("max") for x in lat]),
             "errors": sum((r.get("errors") or 0) for r in rs) + sum(1 for r in rs if "error" in r),
             "requests": sum((r.get("requests") or 0) for r in rs),
             "achieved_rate": pct_summary([r.get("achieved_rate") for r in rs]),
             "send_lateness_p99_us": pct_summary([(r.get("send_lateness_us") or {}).get("p99")
                                                  for r in rs]),
             "cpu_us_per_request": pct_summary([r.get("proxy_cpu_us_per_request") for r in rs]),
             "cpu_us_per_request_pooled": rnd1(pooled_cpu_us(rounds, t.name)),
             "upstream_connections_per_1k_requests": pct_summary(
                 [(r.get("upstream") or {}).get("connections_per_1k_requests") for r in rs])}
        shared = [r["upstream_shared"] for r in rs if r.get("upstream_shared")]
        if shared:
            # An interleaved window's upstream counts: the proxies in it together.
            s["upstream_shared"] = {
                "targets": shared[0]["targets"],
                "connections_per_1k_requests": pct_summary(
                    [x.get("connections_per_1k_requests") for x in shared])}
        if any(r.get("truncated") for r in rs):
            s["windows_out_of_time"] = sum(1 for r in rs if r.get("truncated"))
        s["pooled"] = pool[t.name]
        if t.name != "direct" and pool[t.name] and pool.get("direct"):
            s["pooled"]["added_p50_us"] = rnd1(pool[t.name]["p50_us"] - pool["direct"]["p50_us"])
            s["pooled"]["added_p99_us"] = rnd1(pool[t.name]["p99_us"] - pool["direct"]["p99_us"])
        if t.name != "direct":
            d50, d99 = [], []
            for r in rounds:
                a, b = (r.get(t.name) or {}).get("latency_us"), (r.get("direct") or {}).get("latency_us")
                if a and b and a.get("p50") is not None and b.get("p50") is not None:
                    d50.append(a["p50"] - b["p50"])
                    d99.append(a["p99"] - b["p99"])
            s["overhead_p50_us"] = pct_summary(d50)
            s["overhead_p99_us"] = pct_summary(d99)
            if t.name != "nginx":
                # Above the floor: the proxy's latency minus nginx's, same round.
                f50, f99 = [], []
                for r in rounds:
                    a, b = (r.get(t.name) or {}).get("latency_us"), (r.get("nginx") or {}).get("latency_us")
                    if a and b and a.get("p50") is not None and b.get("p50") is not None:
                        f50.append(a["p50"] - b["p50"])
                        f99.append(a["p99"] - b["p99"])
                if f50:
                    s["over_floor_p50_us"] = pct_summary(f50)
                    s["over_floor_p99_us"] = pct_summary(f99)
            hdr = [(r.get("header") or {}) for r in rs]
            if any(h.get("n") for h in hdr):
                s["own_overhead_header"] = {
                    "name": hdr[0].get("name"),
                    "p50_us": pct_summary([h.get("p50_us") for h in hdr]),
                    "p99_us": pct_summary([h.get("p99_us") for h in hdr]),
                    "max_us": pct_summary([h.get("max_us") for h in hdr])}
        out[t.name] = s
    return out


# ---- budgets -------------------------------------------------------------------------------
# Issue 51: ratios in the same run (so that the machine cancels out), pooled over the rounds.
# vs_nginx: plain hermetic against the nginx floor; governed: against plain hermetic.
BUDGETS = {"plain_cpu": 1.2, "plain_added": 1.1, "plain_sustained": 0.8,
           "governed_cpu": 1.15, "governed_p99_plus_us": 50, "governed_sustained": 0.85,
           "anthropic_cpu": 1.2, "rss_mib": 8, "streams": 256}
# The earlier router issue's absolute budgets, still printed as context (not checked).
ABSOLUTE = {"p50": 50, "p99": 500}
PLAIN, GOVERNED, PAIRED = "hermetic", "hermetic-governed", "hermetic-paired"


def per_round_ratios(rounds, a, b, get):
    """get(window)[a] / get(window)[b] for every round that has both (b > 0)."""
    out = []
    for r in rounds:
        x, y = get(r.get(a) or {}), get(r.get(b) or {})
        if x is not None and y:
            out.append(x / y)
    return out


def pooled_cpu_us(rounds, name):
    """CPU µs per request of name over all rounds together: the sum of its windows' CPU over
    the sum of their requests. In nanoseconds (schedstat) when every window has them, else in
    10 ms ticks (results from before, or a kernel without schedstat), where pooling gives the
    resolution one window lacks."""
    ws = [r.get(name) or {} for r in rounds]
    ws = [w for w in ws if w.get("proxy_cpu_ticks") is not None]
    sent = sum(w.get("sent_requests") or 0 for w in ws)
    if not sent:
        return None
    if all(w.get("proxy_cpu_ns") is not None for w in ws):
        return sum(w["proxy_cpu_ns"] for w in ws) / 1e3 / sent
    return sum(w["proxy_cpu_ticks"] for w in ws) * 1e6 / CLK_TCK / sent


def rnd1(x):
    return None if x is None else round(x, 1)


def med(s):
    return s["median"] if s else None


def verdict(v, value, reference, kind, k, unit):
    """Fills v for value against reference: kind "max" (value <= k x reference), "min"
    (value >= k x reference) or "plus" (value <= reference + k); "miss" says by how much a
    failed one missed."""
    ratio = round(value / reference, 2) if reference and reference > 0 else None
    if kind == "plus":
        bound = reference + k
        ok = value <= bound
    else:
        bound = k * reference
        ok = value <= bound if kind == "max" else value >= bound
    v.update({"value": rnd1(value), "reference": rnd1(reference), "ratio": ratio,
              "bound": rnd1(bound), "pass": bool(ok and (kind == "plus" or reference > 0)),
              "skipped": False})
    if kind != "plus" and reference <= 0:
        v["why"] += f"; the reference is {reference:.1f} {unit} (<= 0), so no ratio"
    elif not ok:
        gap = abs(value - bound)
        if kind == "plus":
            v["miss"] = f"over by {gap:.0f} {unit}"
        else:
            word = "over" if kind == "max" else "short"
            v["miss"] = (f"{word} by {abs(ratio - k):.2f}x ({gap:.1f} {unit} "
                         f"{'above' if kind == 'max' else 'below'} the limit of {bound:.1f})")
    return v


def evaluate_budgets(res):
    """The budgets as a list of verdicts: {"budget", "measures", "value", "reference",
    "reference_is", "ratio", "limit", "pass" (True, False, or None = not evaluated), "miss"
    (when failed: by how much), "why", "skipped"}; skipped = left out by the run's parameters
    (not by a failed measurement)."""
    p = res["meta"]["params"]
    rate = str(BUDGET_RATE)
    have_rate = BUDGET_RATE in p["rates"]
    block = res.get("rates", {}).get(rate, {})
    summ, rounds = block.get("summary", {}), block.get("rounds", [])
    targets = res.get("targets", {})
    sus = (res.get("sustained") or {}).get("targets", {})
    out = []

    def missing(*names):
        for n in names:
            t = targets.get(n) or {}
            if not t.get("ok"):
                return n, t.get("why") or "not measured", "left out" in (t.get("why") or "")
        return None

    def new(measures, what, ref_is, limit_text, k, unit):
        return {"budget": f"{measures}: {what} {limit_text}", "measures": measures,
                "reference_is": ref_is, "limit": k, "unit": unit, "why": ""}

    def unavailable(v, miss, skipped_too=False):
        v.update({"pass": None, "skipped": skipped_too or bool(miss and miss[2]),
                  "why": f"{miss[0]}: {miss[1]}" if miss else v["why"]})
        return v

    segs = p.get("budget_segments", 1)
    tail = BUDGET_RATE * p.get("budget_window_s", p["window_s"]) / segs * 0.01
    shared = p.get("interleaved") or []

    def together(*names):
        """How the compared targets were measured: in one window or in windows of their own."""
        if all(n in shared for n in names):
            return (f"; {', '.join(names)} measured side by side in one window of each "
                    "round (one loadgen sending to them request by request in turn, each at "
                    "the rate), so any stall of the machine lands on both")
        return "; measured in windows one after the other"

    def added(name, ref, q, kind, k, limit_text, ref_is):
        v = new("plain" if name == PLAIN else "governed", f"added {q} at {BUDGET_RATE} req/s",
                ref_is, limit_text, k, "µs")
        miss = missing(name, ref)
        if not have_rate or miss:
            v["why"] = f"no {BUDGET_RATE} req/s phase"
            return unavailable(v, miss, not have_rate)
        a, b = summ[name].get("pooled") or {}, summ[ref].get("pooled") or {}
        x, y = a.get(f"added_{q}_us"), b.get(f"added_{q}_us")
        part = "segment" if segs > 1 else "round"
        v["why"] = (f"added {q} = the target's {q} minus direct's, each over every round's "
                    f"requests pooled (a {part}'s p99 rests on its {tail:.0f} slowest requests, "
                    f"pooled on {tail * len(rounds):.0f}); per-{part} medians for the spread"
                    + (f"; each round's window cut into {segs} segments, the targets taking "
                       "turns segment by segment" if segs > 1 else "")
                    + together(name, ref, "direct"))
        v["per_round"] = {name: summ[name].get(f"overhead_{q}_us"),
                          ref: summ[ref].get(f"overhead_{q}_us")}
        if x is None or y is None:
            v["why"] = "no pooled latencies"
            return unavailable(v, None)
        return verdict(v, x, y, kind, k, "µs")

    def cpu(name, ref, k, limit_text, ref_is, how):
        measures = {PLAIN: "plain", GOVERNED: "governed"}.get(name, name)
        v = new(measures, f"CPU per request at {BUDGET_RATE} req/s", ref_is, limit_text, k,
                "µs/request")
        miss = missing(name, ref)
        a, b = (pooled_cpu_us(rounds, name), pooled_cpu_us(rounds, ref)) if not miss else (None, None)
        if not have_rate or miss or not a or not b:
            v["why"] = "no CPU figures" if have_rate else f"no {BUDGET_RATE} req/s phase"
            return unavailable(v, miss, not have_rate)
        rr = per_round_ratios(rounds, name, ref, lambda w: w.get("proxy_cpu_us_per_request"))
        v["ratio_per_round"] = ({"median": round(statistics.median(rr), 2), "min": round(min(rr), 2),
                                 "max": round(max(rr), 2), "n": len(rr)} if rr else None)
        v["why"] = (how + "; CPU = utime+stime of the process in the target's windows (warm-up "
                    "included) over the requests sent in them, pooled over the rounds"
                    + together(name, ref))
        return verdict(v, a, b, "max", k, "µs/request")

    def sustained(name, ref, k, ref_is):
        v = new("plain" if name == PLAIN else "governed", "sustained rate", ref_is,
                f">= {k}x {ref_is}", k, "req/s")
        miss = missing(name, ref)
        x, y = (sus.get(name) or {}), (sus.get(ref) or {})
        if miss or not sus:
            v["why"] = "no sustained-rate search in this run"
            return unavailable(v, miss, not sus)
        v["why"] = (f"the highest rate held with p99 < {res['sustained']['max_p99_ms']:.0f} ms and "
                    f"<= {res['sustained']['max_error_ratio']:.1%} errors ({res['sustained']['method']})")
        if not x.get("rate") or not y.get("rate"):
            v["why"] = f"{name if not x.get('rate') else ref} held no rate of the ladder"
            return unavailable(v, None)
        if x.get("bounded") or y.get("bounded"):
            v["why"] += "; bounded (held the top of the ladder or ran out of time): a lower bound"
        return verdict(v, x["rate"], y["rate"], "min", k, "req/s")

    k = BUDGETS["plain_cpu"]
    out.append(cpu(PLAIN, "nginx", k, f"<= {k}x nginx's", "nginx's",
                   "each process measured alike (nginx runs as one process)"))
    k = BUDGETS["plain_added"]
    for q in ("p50", "p99"):
        out.append(added(PLAIN, "nginx", q, "max", k, f"<= {k}x nginx's", "nginx's"))
    out.append(sustained(PLAIN, "nginx", BUDGETS["plain_sustained"], "nginx's"))
    k = BUDGETS["governed_cpu"]
    # The governed budgets' reference: the plain process loaded beside the governed one
    # (hermetic-paired), when the run paired them; else plain's own windows.
    ref = PAIRED if (targets.get(PAIRED) or {}).get("ok") else PLAIN
    ref_is = "plain hermetic's, side by side" if ref == PAIRED else "plain hermetic's"
    out.append(cpu(GOVERNED, ref, k, f"<= {k}x plain's", ref_is,
                   "two hermetic processes, one per config, measured alike"))
    k = BUDGETS["governed_p99_plus_us"]
    out.append(added(GOVERNED, ref, "p99", "plus", k, f"<= plain's + {k} µs", ref_is))
    out.append(sustained(GOVERNED, PLAIN, BUDGETS["governed_sustained"], "plain hermetic's"))
    k = BUDGETS["anthropic_cpu"]
    v = cpu("hermetic-anthropic", PLAIN, k, f"<= {k}x pass-through", "pass-through's (bench)",
            "the same hermetic process, one window per model group per round")
    v["budget"] = f"anthropic translation: CPU per request at {BUDGET_RATE} req/s <= {k}x pass-through"
    if v["pass"] is None and "hermetic-anthropic" in (v.get("why") or ""):
        v["skipped"] = False
    out.append(v)

    gov = res.get("governance")
    v = {"budget": "governed: governance ran (ledger rows, audit lines in the lane, pool "
                   "admissions, the key's budget, the redaction check)", "measures": "governed",
         "limit": None, "unit": ""}
    miss = missing(GOVERNED)
    if miss or not gov:
        v.update({"pass": None, "skipped": bool(miss and miss[2]),
                  "why": f"{miss[0]}: {miss[1]}" if miss else "no proof collected"})
    else:
        v.update({"pass": gov["ok"], "skipped": False, "value": gov.get("ledger_rows"),
                  "why": "; ".join(gov["why"]) or
                  f"{gov['ledger_rows']} ledger rows, {gov['audit_attempts']} audited attempts, "
                  f"{(gov.get('metrics') or {}).get('pool_admitted')} pool admissions, "
                  f"{gov['client_2xx_counted']} answers counted by the client"})
    out.append(v)

    hs = res.get("streams", {}).get(PLAIN)
    v = {"budget": f"plain: <= {BUDGETS['rss_mib']} MiB resident with {BUDGETS['streams']} open "
                   "streams", "measures": "plain", "limit": BUDGETS["rss_mib"], "unit": "MiB"}
    if p["streams"] < BUDGETS["streams"]:
        v.update({"pass": None, "skipped": True,
                  "why": f"this run opened {p['streams']} streams"})
    elif not hs or not hs.get("rss_max_sampled_kib"):
        v.update({"pass": None, "skipped": False, "why": "hermetic not measured"})
    else:
        val = mib(max(hs["rss_max_sampled_kib"], hs.get("rss_after_kib") or 0))
        v.update({"value": val, "pass": bool(val <= BUDGETS["rss_mib"] and hs.get("all_open_at_once")),
                  "skipped": False, "all_open_at_once": hs.get("all_open_at_once"),
                  "why": "the sampled maximum of VmRSS while the streams are open"})
        if val > BUDGETS["rss_mib"]:
            v["miss"] = f"over by {val - BUDGETS['rss_mib']:.2f} MiB"
    out.append(v)
    return out


# ---- report --------------------------------------------------------------------------------
def fmt_range(s, sign=False):
    if not s:
        return "-"
    f = (lambda x: f"{x:+.0f}") if sign else (lambda x: f"{x:.0f}")
    return f"{f(s['median'])} [{f(s['min'])}..{f(s['max'])}]"


def fmt_added(pl):
    """The pooled added p50/p99 of a target ("-" for direct and for a target without samples)."""
    if not pl or pl.get("added_p50_us") is None:
        return "-"
    return f"{pl['added_p50_us']:+.0f} / {pl['added_p99_us']:+.0f}"


def columns(rows):
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)).rstrip()
            for r in rows]


def fmt_num(v, unit=""):
    if v is None:
        return "-"
    return f"{v:.2f}{unit}" if abs(v) < 10 else f"{v:.0f}{unit}"


def side_by_side(res):
    """Plain and governed against nginx: each figure and its ratio to nginx's, the sustained
    rates and the callgrind counts; res["side_by_side"] holds the same."""
    names = ("nginx", PLAIN, GOVERNED)
    rows, table = [["figure", "nginx", "plain hermetic (x nginx)", "governed (x nginx)"]], {}

    def add(label, vals, unit):
        ref = vals.get("nginx")
        cells, entry = [label], {"unit": unit}
        for n in names:
            x = vals.get(n)
            entry[n] = x
            if n == "nginx" or x is None:
                cells.append(fmt_num(x))
            else:
                cells.append(f"{fmt_num(x)} ({x / ref:.2f}x)" if ref and ref > 0 else fmt_num(x))
        rows.append(cells)
        table[label] = entry

    for rate, block in res.get("rates", {}).items():
        s, rounds = block["summary"], block["rounds"]
        add(f"CPU µs/request at {rate} req/s (pooled)",
            {n: pooled_cpu_us(rounds, n) for n in names if n in s}, "µs")
        for q in ("p50", "p99"):
            add(f"added {q} µs at {rate} req/s (pooled)",
                {n: (s[n].get("pooled") or {}).get(f"added_{q}_us") for n in names if n in s}, "µs")
    c1 = (res.get("concurrency1") or {}).get("summary") or {}
    if c1:
        for q in ("p50", "p99"):
            add(f"added {q} µs at concurrency 1 (pooled)",
                {n: (c1[n].get("pooled") or {}).get(f"added_{q}_us") for n in names if n in c1}, "µs")
    sus = (res.get("sustained") or {}).get("targets") or {}
    if sus:
        add("sustained rate, req/s (p99 < 1 s, < 0.1% errors)",
            {n: (sus.get(n) or {}).get("rate") for n in names}, "req/s")
    cg = res.get("callgrind") or {}
    if cg:
        add("instructions per request (callgrind)",
            {n: (cg.get(n) or {}).get("ir_per_request") for n in names}, "Ir")
    res["side_by_side"] = table
    if len(rows) == 1:
        return []
    out = ["", "plain and governed hermetic against the nginx floor, same run (ratios to nginx's):"]
    out.extend(columns(rows))
    if sus:
        d = (sus.get("direct") or {}).get("rate")
        if d:
            out.append(f"  sustained: direct (no proxy) held {d} req/s; a proxy's figure at or "
                       "near direct's is the harness's limit, not the proxy's")
        for n, x in sus.items():
            if x.get("bounded"):
                out.append(f"  sustained: {n} bounded (held the ladder's top or the search ran "
                           "out of time): a lower bound")
    gov = res.get("governance")
    if gov:
        m = gov.get("metrics") or {}
        out.append(f"  governance: {gov['ledger_rows']} ledger rows under the virtual key, "
                   f"{gov['audit_attempts']} audited attempts in lane bench-lane "
                   f"({gov['audit_billed']} billed), {m.get('pool_admitted')} pool admissions, "
                   f"{gov['client_2xx_counted']} answers counted by the client: "
                   f"{'consistent' if gov['ok'] else 'NOT CONSISTENT: ' + '; '.join(gov['why'])}")
    red = ((res.get("checks") or {}).get(GOVERNED) or {}).get("redaction")
    if red:
        out.append(f"  redaction check: the upstream saw the placeholder {red['upstream_saw_placeholder']}"
                   f" time(s), the address {red['upstream_saw_address']} time(s)")
    for n in names:
        if (cg.get(n) or {}).get("error"):
            out.append(f"  callgrind {n}: {cg[n]['error'][:200]}")
    return out


def report(res):
    m = res["meta"]
    lines = []
    p = m["params"]
    lines.append(f"hermetic router benchmark: rev {m['git_rev']}{' (src dirty)' if m['git_dirty'] else ''}, "
                 f"{m['cpus']} CPUs ({m['cpu']}), {m['os']}, {m['date']}")
    if m.get("cpu_steal_pct") is not None:
        lines.append(f"machine during the run: {m['cpu_busy_pct']}% CPU busy, {m['cpu_steal_pct']}% stolen "
                     f"by the hypervisor; load average at start {' '.join(m['loadavg_start'])}")
    if m.get("cpu_idle"):
        lines.append(f"CPU idle states: {m['cpu_idle']}")
    lines.append(f"fake upstream: fixed {p['delay_ms']} ms; {p['rounds']} rounds, each with every phase "
                 f"for every target (order rotated per round): open-loop load for {p['window_s']} s "
                 + (f"({p['budget_window_s']} s at {BUDGET_RATE} req/s) "
                    if p.get("budget_window_s", p["window_s"]) != p["window_s"] else "")
                 + (f"(cut into {p['budget_segments']} segments at {BUDGET_RATE} req/s, the "
                    "targets taking turns segment by segment, each segment after its own "
                    "warm-up) " if p.get("budget_segments", 1) > 1 else "")
                 + f"(after {p['warmup_s']} s warm-up) per rate, then concurrency 1")
    shared = p.get("interleaved") or []
    if len(shared) > 1:
        lines.append(f"at a rate {' and '.join(shared)} (the plain process again) share one "
                     "window per round, side by side, each at the rate, one loadgen sending to "
                     "them request by request in turn, so that any stall lands on both: the "
                     "governed budgets compare these two; every other target has windows of "
                     "its own")
    h = res.get("hermetic", {})
    if h.get("version"):
        lines.append(f"hermetic: {h.get('binary')} ({h.get('size_bytes', 0)} bytes) {h['version']}")
    pk = res.get("portkey", {})
    if pk.get("version"):
        lines.append(f"portkey: @portkey-ai/gateway {pk['version']} on node {pk.get('node')}")
    for name, why in ((n, t["why"]) for n, t in res.get("targets", {}).items() if not t["ok"]):
        lines.append(f"NOT MEASURED: {name}: {why}")
    for rate, block in res.get("rates", {}).items():
        s = block["summary"]
        lines.append("")
        nrec = len(block["rounds"])
        unit = "rounds" if nrec == p["rounds"] else "segments"
        lines.append(f"{rate} req/s: latency and overhead in µs, median of {nrec} {unit} [min..max]; "
                     "pooled: over every round's requests together")
        rows = [["target", "latency p50", "latency p99", "overhead p50", "overhead p99",
                 "pooled added p50/p99", "errors", "CPU µs/req", "upstream conns/1k req"]]
        notes = []
        for name, x in s.items():
            proxy = name != "direct"
            rows.append([name, fmt_range(x["p50_us"]), fmt_range(x["p99_us"]),
                         fmt_range(x.get("overhead_p50_us"), True) if proxy else "-",
                         fmt_range(x.get("overhead_p99_us"), True) if proxy else "-",
                         fmt_added(x.get("pooled")),
                         str(x["errors"]),
                         fmt_range(x.get("cpu_us_per_request")) if proxy else "-",
                         fmt_range(x.get("upstream_connections_per_1k_requests"))])
            oh = x.get("own_overhead_header")
            if oh:
                notes.append(f"  {name} own {oh['name']}: p50 {fmt_range(oh['p50_us'])} µs, "
                             f"p99 {fmt_range(oh['p99_us'])} µs")
            if x.get("over_floor_p50_us"):
                notes.append(f"  {name} above the nginx floor (same round): p50 "
                             f"{fmt_range(x['over_floor_p50_us'], True)} µs, p99 "
                             f"{fmt_range(x['over_floor_p99_us'], True)} µs")
            us = x.get("upstream_shared")
            if us and name == us["targets"][0]:
                notes.append(f"  upstream conns/1k req of {', '.join(us['targets'])} together "
                             "(one interleaved window: the upstream cannot tell whose): "
                             f"{fmt_range(us['connections_per_1k_requests'])}")
            ar = x.get("achieved_rate")
            if ar and ar["min"] < 0.97 * float(rate):
                notes.append(f"  {name}: the load generator could only send {ar['min']:.0f} req/s in "
                             f"some rounds (all connections busy): the target fell behind the rate")
        lines.extend(columns(rows))
        lines.extend(notes)
    c1 = res.get("concurrency1")
    if c1:
        s = c1["summary"]
        lines.append("")
        lines.append(f"concurrency 1 (one request at a time, {c1['requests_per_round']} per target and "
                     f"round after {c1['warmup_requests']} warm-up, upstream {c1['upstream_delay_ms']} ms): "
                     f"µs, median of {p['rounds']} rounds [min..max]; added = target minus direct, same round")
        rows = [["target", "latency p50", "latency p99", "added p50", "added p99",
                 "pooled added p50/p99", "errors", "CPU µs/req (pooled)", "req/s"]]
        notes = []
        for name, x in s.items():
            proxy = name != "direct"
            rows.append([name, fmt_range(x["p50_us"]), fmt_range(x["p99_us"]),
                         fmt_range(x.get("overhead_p50_us"), True) if proxy else "-",
                         fmt_range(x.get("overhead_p99_us"), True) if proxy else "-",
                         fmt_added(x.get("pooled")),
                         str(x["errors"]),
                         fmt_num(x.get("cpu_us_per_request_pooled")) if proxy else "-",
                         fmt_range(x.get("achieved_rate"))])
            oh = x.get("own_overhead_header")
            if oh:
                notes.append(f"  {name} own {oh['name']}: p50 {fmt_range(oh['p50_us'])} µs, "
                             f"p99 {fmt_range(oh['p99_us'])} µs")
            if x.get("windows_out_of_time"):
                notes.append(f"  {name}: {x['windows_out_of_time']} window(s) hit the "
                             f"{c1['max_seconds_per_window']} s bound before all requests were sent")
        lines.extend(columns(rows))
        lines.extend(notes)
        lines.append("  anchors (measured elsewhere by the public AI-gateway benchmark harness at "
                     "concurrency 1 on 4 Graviton cores; context, not a comparison): added p99 " +
                     ", ".join(f"{a['gateway']} +{a['added_p99_us']:,} µs"
                               for a in c1["anchors_added_p99_us"]))
    mem = res.get("memory_kib", {})
    st = res.get("streams", {})
    if mem or st:
        lines.append("")
        lines.append(f"resident memory in MiB; {p['streams']} concurrent streams of {p['stream_seconds']} s each")
        rows = [["target", "idle", "after load", "streams: max VmRSS", "VmHWM at end",
                 "streams ok", "[DONE] seen", "open at once (upstream)", "CPU µs/stream"]]
        for name in ("hermetic", "hermetic-governed", "hermetic-anthropic", "hermetic-base", "nginx",
                     "portkey", "direct"):
            x = mem.get(name, {})
            s = st.get(name, {})
            if not x and not s:
                continue
            after = [v for k, v in x.items() if k.startswith("after_")]
            after_rss = max((v.get("VmRSS", 0) for v in after), default=None)
            lg = s.get("loadgen") or {}
            rows.append([name, str(mib(x.get("idle", {}).get("VmRSS")) or "-"),
                         str(mib(after_rss) or "-"), str(mib(s.get("rss_max_sampled_kib")) or "-"),
                         str(mib(x.get("end", {}).get("VmHWM")) or "-"),
                         f"{lg.get('ok')}/{s.get('streams')}", str(lg.get("done_markers")),
                         str(s.get("upstream_max_open_streams")),
                         fmt_num(s.get("proxy_cpu_us_per_stream"))])
        lines.extend(columns(rows))
        if "hermetic-anthropic" in st:
            lines.append("  hermetic-anthropic is the hermetic process again (bench-anthropic group): "
                         "no memory figures of its own")
    lines.extend(side_by_side(res))
    # budgets
    lines.append("")
    verdicts = evaluate_budgets(res)
    part = "segment" if p.get("budget_segments", 1) > 1 else "round"
    for v in verdicts:
        if v["pass"] is None:
            lines.append(f"budget {v['budget']}: NOT EVALUATED ({v['why']})")
            continue
        verdict_word = "PASS" if v["pass"] else "FAIL, " + v.get("miss", "missed")
        if v.get("reference") is not None:
            ratio = f"{v['ratio']:.2f}x" if v.get("ratio") is not None else "no ratio"
            rr = v.get("ratio_per_round")
            rr = f" (per {part} {rr['min']:.2f}..{rr['max']:.2f})" if rr else ""
            pr = [x for x in (v.get("per_round") or {}).values() if x]
            if len(pr) == 2:
                rr = (f" pooled (medians of the {part}s: {pr[0]['median']:+.0f} vs "
                      f"{pr[1]['median']:+.0f})")
            lines.append(f"budget {v['budget']}: {fmt_num(v['value'])} vs {v['reference_is']} "
                         f"{fmt_num(v['reference'])} {v['unit']} = {ratio}{rr} -> {verdict_word}")
        elif v.get("unit"):
            lines.append(f"budget {v['budget']}: {v['value']} {v['unit']} -> {verdict_word}")
        else:
            lines.append(f"budget {v['budget']}: {v['why']} -> {verdict_word}")
    r1k = res.get("rates", {}).get(str(BUDGET_RATE), {}).get("summary", {})
    fl, hm = r1k.get("nginx"), r1k.get("hermetic")
    if fl and fl.get("overhead_p50_us"):
        f50, f99 = fl["overhead_p50_us"]["median"], fl["overhead_p99_us"]["median"]
        lines.append(f"floor (nginx forwarding only, one extra loopback hop) at {BUDGET_RATE} req/s: "
                     f"p50 {f50:+.0f} µs, p99 {f99:+.0f} µs")
        res["floor"] = {"overhead_p50_us": f50, "overhead_p99_us": f99}
    if hm and hm.get("overhead_p50_us"):
        h50, h99 = hm["overhead_p50_us"]["median"], hm["overhead_p99_us"]["median"]
        lines.append(f"context, the earlier absolute budgets (not checked): hermetic overhead at "
                     f"{BUDGET_RATE} req/s p50 {h50:+.0f} µs (was <= {ABSOLUTE['p50']}), p99 "
                     f"{h99:+.0f} µs (was <= {ABSOLUTE['p99']})")
        res["absolute_context"] = {"overhead_p50_us": h50, "overhead_p99_us": h99,
                                   "old_budget_p50_us": ABSOLUTE["p50"],
                                   "old_budget_p99_us": ABSOLUTE["p99"]}
    res["budgets"] = verdicts
    return "\n".join(lines)
