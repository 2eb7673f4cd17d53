#!/usr/bin/env python3
"""Memory under 50 MB outputs: the gateway's peak and resident memory, case by case.

Runs tests/e2e/test_memory_flat.py (the test in `make test`: one Telegram chat, the fake model,
fake_mcp.py over stdio and HTTP, a 50 MB page, a 50 MB streamed answer, 50 MB hook payloads)
against a static binary, collects the figures it records for each case (VmRSS before the
turn, VmRSS 5 s after it, VmHWM of the process so far, from /proc/PID/status), prints a table
and writes benchmarks/results/<date>-<rev>-memory.json. Standard library and pytest only.

    benchmarks/memory/bench.py --hermetic dist/hermetic-x86_64
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

from benchlib import log, machine  # noqa: E402

TEST = os.path.join(REPO, "tests", "e2e", "test_memory_flat.py")


def run_test(binary, figures, timeout_s):
    env = dict(os.environ, HERMETIC_BIN=os.path.abspath(binary), HERMETIC_STATIC="1",
               HERMETIC_MEMORY_FLAT_OUT=figures)
    cmd = ["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s", TEST]
    log(" ".join(cmd))
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=timeout_s)
    return r.returncode, r.stdout[-4000:]


def table(rows):
    out = [f"{'case':<46} {'RSS before':>11} {'RSS +5 s':>10} {'drift':>7} {'VmHWM':>9}"]
    for r in rows:
        out.append(f"{r['case']:<46} {r['rss_before_kib']:>7} KiB {r['rss_after_kib']:>6} KiB "
                   f"{r['rss_after_kib'] - r['rss_before_kib']:>+5}  {r['hwm_kib']:>5} KiB")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description="gateway memory under 50 MB outputs")
    ap.add_argument("--hermetic", default=os.path.join(REPO, "dist", "hermetic-x86_64"),
                    help="the static x86_64 binary")
    ap.add_argument("--timeout", type=int, default=900, help="seconds for the whole run")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    a = ap.parse_args()
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    started = datetime.datetime.now(datetime.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="hermetic-bench-mem-") as work:
        figures = os.path.join(work, "figures.jsonl")
        rc, tail = run_test(a.hermetic, figures, a.timeout)
        rows = []
        if os.path.exists(figures):
            with open(figures) as f:
                rows = [json.loads(line) for line in f if line.strip()]
    result = {"benchmark": "memory", "revision": rev, "started": started.isoformat(),
              "binary": os.path.relpath(os.path.abspath(a.hermetic), REPO),
              "method": "tests/e2e/test_memory_flat.py; VmRSS before each Telegram turn and "
                        "5 s after it, VmHWM of the gateway so far, /proc/PID/status",
              "test_passed": rc == 0, "cases": rows, "machine": machine()}
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f"{started:%Y-%m-%dT%H%M%S}-{rev}-memory.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(table(rows))
    print(f"\ntest {'passed' if rc == 0 else 'FAILED'}; results: {os.path.relpath(path, REPO)}")
    if rc != 0:
        print(tail)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
