"""The docs say what is true. Every line of docs/*.md and README.md that says "not built", "not
yet" or "TODO" (any case) must be listed, with the reason it is still true, in
tests/docs-not-yet-allowlist.txt: a feature that got built cannot stay "not built yet" in the
docs. And the aarch64 size budget is one number: README.md's 2.5 MiB is what
cross/build-static.sh warns above and what tests/e2e/test_static_binary.py asserts."""
import re

from conftest import ROOT

ALLOWLIST = ROOT / "tests" / "docs-not-yet-allowlist.txt"
MARKERS = re.compile(r"not built|not yet|todo", re.IGNORECASE)


def allowlist():
    entries = []
    for n, line in enumerate(ALLOWLIST.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ")]
        assert len(parts) == 3 and all(parts), f"{ALLOWLIST.name}:{n}: want FILE | TEXT | REASON"
        entries.append((n, *parts))
    return entries


def marked_lines():
    files = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if MARKERS.search(line):
                yield str(f.relative_to(ROOT)), n, line


def test_every_not_yet_line_in_the_docs_is_allowlisted_with_a_reason():
    entries = allowlist()
    unlisted = [f"{f}:{n}: {line.strip()}" for f, n, line in marked_lines()
                if not any(f == ef and text in line for _, ef, text, _ in entries)]
    assert not unlisted, ("lines saying 'not built' / 'not yet' / 'TODO' that are not in "
                          f"{ALLOWLIST.relative_to(ROOT)} (fix the doc if it is no longer true, "
                          "else list it with the reason):\n" + "\n".join(unlisted))


def test_every_allowlist_entry_still_matches_a_line():
    lines = list(marked_lines())
    stale = [f"{ALLOWLIST.name}:{n}: {f} | {text}" for n, f, text, _ in allowlist()
             if not any(f == lf and text in line for lf, _, line in lines)]
    assert not stale, "allowlist entries that match no line any more (drop them):\n" + "\n".join(stale)


def test_pools_md_no_longer_says_its_built_parts_are_missing():
    pools = (ROOT / "docs" / "pools.md").read_text()
    assert "Not built yet" not in pools
    # what it points to exists
    assert "GET /v1/ui/pools" in (ROOT / "docs" / "cockpit.md").read_text()
    assert '"title": "Rate pools"' in (ROOT / "k8s" / "monitoring" / "dashboard.yaml").read_text()
    assert (ROOT / "benchmarks" / "pools" / "storm.py").exists()


def test_the_aarch64_size_budget_is_one_number():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"<= 2\.5 MiB aarch64 binary", readme)
    script = (ROOT / "cross" / "build-static.sh").read_text()
    budget = int(re.search(r"^AARCH64_BUDGET_BYTES=(\d+)", script, re.M).group(1))
    assert budget == int(2.5 * 1024 * 1024)
    assert "design budget of 2.5 MiB" in script and "2 MiB" not in script
    static = (ROOT / "tests" / "e2e" / "test_static_binary.py").read_text()
    assert "MAX_AARCH64_BYTES = 5 * 1024 * 1024 // 2" in static
