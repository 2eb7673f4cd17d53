"""The docs say what is true. Every line of docs/*.md and README.md that says "not built", "not
yet" or "TODO" (any case) must be listed, with the reason it is still true, in
tests/docs-not-yet-allowlist.txt: a feature that got built cannot stay "not built yet" in the
docs. And the aarch64 size budget is one number: README.md's 2.5 MiB is what
cross/build-static.sh warns above and what tests/e2e/test_static_binary.py asserts."""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import ROOT, run

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


# ---- the allowlist names the issue each line waits for -------------------------------------

def test_every_allowlist_entry_names_the_issue_it_waits_for():
    """A "not yet" is a promise: its reason names the issue that will keep it (`issue N` or
    `#N`), so the line can be found and dropped when that issue closes."""
    missing = [f"{ALLOWLIST.name}:{n}: {f} | {text} | {reason}" for n, f, text, reason in allowlist()
               if not re.search(r"\bissue \d+|#\d+", reason)]
    assert not missing, "allowlist reasons that name no issue:\n" + "\n".join(missing)


# ---- the picture of the parts --------------------------------------------------------------

DOT = ROOT / "docs" / "parts.dot"
SVG = ROOT / "docs" / "parts.svg"


def test_the_parts_picture_is_rendered_from_its_dot_file():
    """docs/parts.svg is what Graphviz draws from docs/parts.dot today (`make picture`): an
    edit of the .dot without rendering it again fails here."""
    dot = shutil.which("dot")
    assert dot, "dot is missing: scripts/install-deps.sh installs Debian's graphviz"
    r = subprocess.run([dot, "-Tsvg", str(DOT)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    version = subprocess.run([dot, "-V"], capture_output=True, text=True).stderr.strip()
    assert r.stdout == SVG.read_text(), (
        f"docs/parts.svg is not what {version} draws from docs/parts.dot: run `make picture` "
        "and commit docs/parts.svg (it is drawn by Debian bookworm's graphviz)")


def test_the_picture_has_a_box_for_every_folder_of_src_and_is_shown():
    nodes = set(re.findall(r"^\s*([a-z]+)\s+\[label=", DOT.read_text(), re.M))
    folders = {p.name for p in (ROOT / "src").iterdir() if p.is_dir()}
    assert folders <= nodes, f"folders of src/ without a box in docs/parts.dot: {folders - nodes}"
    assert "](docs/parts.svg)" in (ROOT / "README.md").read_text()
    assert "](parts.svg)" in (ROOT / "docs" / "INTERNALS.md").read_text()


# ---- the README is a front door ------------------------------------------------------------

def test_the_readme_is_a_front_door():
    """Under 100 lines: what hermetic is, the picture, the two commands, one status line per
    capability (a few words, a state, a link; no paragraphs, no issue numbers), links into
    docs/ that lead somewhere."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 100
    assert "make demo" in readme and "make test" in readme
    table = re.search(r"^## Status\n\n(\|.*?\n)\n", readme, re.S | re.M)
    assert table, "README.md has no status table under ## Status"
    rows = table.group(1).splitlines()[2:]
    assert len(rows) >= 10
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 3, row
        capability, state, link = cells
        assert len(capability.split()) <= 3 and len(state.split()) <= 2, f"not one line: {row}"
        assert re.fullmatch(r"\[[\w-]+\]\(docs/[\w./-]+(#[\w-]+)?\)", link), row
        assert not re.search(r"#\d|issue \d", row), f"an issue number in the status table: {row}"
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+)(?:#[\w-]+)?\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


FIGURE = re.compile(r"(\d[\d,]*(?:\.\d+)?) ?(MiB|KiB|MB|KB|bytes)\b")


def cockpit_gz_bytes():
    """The cockpit's assets gzipped, as the build computes them: scripts/embed-assets.py over
    meson.build's ui_files."""
    meson = (ROOT / "meson.build").read_text()
    listed = re.search(r"ui_files = files\((.*?)\)", meson, re.S)
    assert listed, "meson.build has no `ui_files = files(...)`: tell this test where the cockpit is"
    files = re.findall(r"'([^']+)'", listed.group(1))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ui_assets.c"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "embed-assets.py"), str(out)] +
                       [str(ROOT / f) for f in files], check=True, timeout=60)
        total = re.search(r"ui_assets_gz_bytes = (\d+);", out.read_text())
        assert total, "scripts/embed-assets.py no longer writes ui_assets_gz_bytes"
        return int(total.group(1))


def test_every_figure_the_readme_quotes_is_measured():
    """A size the README quotes is the build's (the cockpit's gzipped assets, computed here the
    way the build does) or a figure of docs/numbers.md, where each has its method: the README
    cannot keep a number that was true three merges ago."""
    readme = (ROOT / "README.md").read_text()
    numbers = (ROOT / "docs" / "numbers.md").read_text()
    sentences = re.split(r"(?<=[.:;)])\s+(?=[A-Za-z(])", readme.replace("\n", " "))
    wrong, quoted = [], 0
    for s in sentences:
        for m in FIGURE.finditer(s):
            quoted += 1
            value, unit = m.groups()
            if "cockpit" in s[max(0, m.start() - 60):m.end() + 40]:
                built = cockpit_gz_bytes()
                want = {"KiB": round(built / 1024), "bytes": built}.get(unit)
                if want is None or float(value.replace(",", "")) != want:
                    wrong.append(f"the cockpit's assets: README says {m.group(0)}, the build "
                                 f"makes {built:,} bytes ({built / 1024:.0f} KiB) gzipped")
            elif not re.search(rf"(?<![\d.,]){re.escape(m.group(0))}", numbers):
                wrong.append(f"{m.group(0)} ({s.strip()[:80]}...) is not a figure of docs/numbers.md")
    assert quoted >= 4, "the README quotes the binary size, RSS and the cockpit's bytes"
    assert not wrong, "figures in README.md that nothing measured:\n" + "\n".join(wrong)


# ---- one fact, one wording -----------------------------------------------------------------

def test_the_reaction_emojis_in_the_docs_are_the_ones_the_bot_sends():
    src = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.c") if "tg_react(" in p.read_text())

    def sent(pattern, what):
        m = re.search(pattern, src)
        assert m, f"the emoji the bot sends when {what} is no longer found by /{pattern}/"
        return m.group(1)

    failed = sent(r'AGENT_FAILED\s*\?\s*"([^"]+)"', "a turn failed")
    stopped = sent(r'AGENT_CANCELLED\s*\?\s*"([^"]+)"', "a turn was stopped")
    taken = sent(r'tg_react\(c, c->msg_id, "([^"]+)"\)', "a message is taken")
    gateway = (ROOT / "docs" / "gateway.md").read_text().replace("\n", " ")
    assert f"{taken} when it is taken" in gateway
    assert f"{failed} when the turn failed, {stopped} when stopped" in gateway
    r = run("config", "reference")
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("| `reactions` |"))
    assert f"{taken} taken" in line and f"{failed} failed" in line and f"{stopped} stopped" in line
    assert line in (ROOT / "docs" / "configuration.md").read_text()


def test_no_doc_names_a_developers_machine():
    """Paths of one machine (a worktree, a build folder under it, a mirror) mean nothing to a
    reader: the docs say which command or build, not where it lay."""
    found = []
    for f in sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(r"(?<![\w.])/(?:work|root|home/[a-z]+/src)/|/tmp/pytest|\.mirror/", line):
                found.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not found, "docs naming a developer's paths:\n" + "\n".join(found)


def heading_anchors(page):
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to '-',
    a repeated heading numbered."""
    anchors, seen, fenced = set(), {}, False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"#+ (.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def test_every_link_in_the_docs_leads_somewhere():
    """A relative link of docs/ or README.md names a file that exists and, with #anchor, a
    heading of it: a page or a section renamed or moved without its links fails here."""
    broken = []
    for f in sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]:
        for m in re.finditer(r"\]\(([^)\s]+)\)", f.read_text()):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            page = (f.parent / path) if path else f
            if not page.exists():
                broken.append(f"{f.relative_to(ROOT)}: {target}: no such file")
            elif anchor and page.suffix == ".md" and anchor not in heading_anchors(page):
                broken.append(f"{f.relative_to(ROOT)}: {target}: no such heading")
    assert not broken, "links in the docs that lead nowhere:\n" + "\n".join(broken)
