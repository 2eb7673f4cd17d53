"""make test's skip gate: a skipped test is a failure unless tests/skip-allowlist.txt names it.

A test that does not belong to a stage is not collected there (tests/e2e/conftest.py, the
`needs` marker), so what is left as a skip means this machine lacked something the test needs.
The allowlist may only name what hardware or kernel the machine lacks; a skip because setup
failed to provide something (a package, a schema, a browser) must fail, and does, because it
is not listed.

Usage: skips.py STAGE RESULT...   RESULT is a pytest JUnit XML or a meson testlog.json.
Prints one line per skip (allowed or not) and exits 1 if any skip is not allowed.
Allowlist lines: `STAGE-GLOB  TEST-GLOB  what the machine lacks`; `#` starts a comment.
"""
import fnmatch
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ALLOWLIST = Path(__file__).resolve().parent / "skip-allowlist.txt"


def allowlist():
    rules = []
    for n, line in enumerate(ALLOWLIST.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            sys.exit(f"{ALLOWLIST}:{n}: want `STAGE-GLOB TEST-GLOB what the machine lacks`")
        rules.append(tuple(parts))
    return rules


def skipped(path):
    """(test id, reason) of every skipped test in one result file."""
    if path.endswith(".json"):
        try:
            lines = open(path).read().splitlines()
        except OSError:
            return
        for line in lines:
            r = json.loads(line)
            if r.get("result") == "SKIP":
                yield r.get("name", "?"), (r.get("stdout") or "").strip()[-200:]
        return
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return
    for case in root.iter("testcase"):
        for s in case.findall("skipped"):
            cls = case.get("classname", "")
            test_id = cls.replace(".", "/") + ".py::" + case.get("name", "?")
            yield test_id, (s.get("message") or s.text or "").strip()


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    stage, results = argv[1], argv[2:]
    rules = allowlist()
    bad = 0
    for path in results:
        for test_id, why in skipped(path):
            ok = any(fnmatch.fnmatch(stage, s) and fnmatch.fnmatch(test_id, t) for s, t, _ in rules)
            print(f"{'skip (allowed)' if ok else 'SKIP NOT ALLOWED'} {stage} {test_id}: {why}")
            bad += not ok
    if bad:
        print(f"{bad} skip(s) in {stage} not named in {ALLOWLIST.name}: a skip means the machine "
              "lacks something; fix the setup or the test")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
