"""`make lint` itself (scripts/lint.py): it passes on the tree as committed, and fails, naming
FILE:LINE and the rule, on each kind of planted fault: an upward include, a private header
included outside its module, an include without its folder, a banned function, a JSON parse
that bypasses the one parser, a file of src/ past 1,500 lines, and a
line clang-format would change. Each test lints a copy of the C sources, never the checkout."""
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

PY = sys.executable or "/usr/bin/python3"
VICTIM = "src/core/util.c"


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "tree"
    shutil.copytree(ROOT / "src", t / "src")
    (t / "tests" / "fuzz").mkdir(parents=True)
    for p in (ROOT / "tests").glob("*.[ch]"):
        shutil.copy(p, t / "tests")
    for p in (ROOT / "tests" / "fuzz").glob("*.c"):
        shutil.copy(p, t / "tests" / "fuzz")
    shutil.copy(ROOT / ".clang-format", t)
    (t / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lint.py", t / "scripts")
    return t


def lint(t):
    r = subprocess.run([PY, str(t / "scripts" / "lint.py"), "--root", str(t)],
                       capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout.splitlines()


def plant_after_includes(t, text):
    """Puts text after the victim's first block of includes; returns its first line number."""
    p = t / VICTIM
    lines = p.read_text().split("\n")
    at = max(i for i, l in enumerate(lines) if l.startswith('#include "')) + 1
    lines[at:at] = text.split("\n")
    p.write_text("\n".join(lines))
    return at + 1


def plant_at_end(t, text):
    p = t / VICTIM
    old = p.read_text()
    p.write_text(old + text)
    return old.count("\n") + 1


def test_clean_tree_passes(tree):
    rc, out = lint(tree)
    assert (rc, out) == (0, [])


def test_upward_include_fails_naming_the_edge(tree):
    line = plant_after_includes(tree, '#include "gateway/cron.h"')
    rc, out = lint(tree)
    assert rc == 1
    assert out == [f'{VICTIM}:{line}: forbidden edge core -> gateway (#include "gateway/cron.h"): '
                   'core may include only core']


def test_private_header_outside_its_module_fails(tree):
    line = plant_after_includes(tree, '#include "core/config_int.h"')
    rc, out = lint(tree)
    assert rc == 1
    assert out == [f'{VICTIM}:{line}: #include "core/config_int.h": a private header, only for '
                   'the files of its module']


def test_include_without_its_folder_fails(tree):
    line = plant_after_includes(tree, '#include "store.h"')
    rc, out = lint(tree)
    assert rc == 1
    assert out == [f'{VICTIM}:{line}: #include "store.h" does not name its folder '
                   '(write "<layer>/store.h")']


def test_sprintf_fails_but_not_in_comments_or_strings(tree):
    line = plant_at_end(tree, "\n/* sprintf(b, ...) in a comment is fine */\n"
                              "const char *lint_probe_text = \"sprintf(\";\n"
                              "void lint_probe(char *b);\n"
                              "void lint_probe(char *b)\n{\n\tsprintf(b, \"x\");\n}\n")
    rc, out = lint(tree)
    assert rc == 1
    assert out == [f"{VICTIM}:{line + 6}: banned function sprintf() (STYLE.md, \"Habits\": use a "
                   "bounded, checked form such as snprintf, buf_*, strtol)"]


def test_cjson_parse_outside_the_json_module_fails(tree):
    """Only src/core/json.c may call cJSON_Parse*: elsewhere a call would keep a repeated
    member name that json_parse refuses (issue 38). Tests may parse as they like."""
    line = plant_at_end(tree, "\ncJSON *lint_probe(const char *s);\n"
                              "cJSON *lint_probe(const char *s)\n{\n"
                              "\treturn cJSON_ParseWithLength(s, 1);\n}\n")
    (tree / "tests" / "test_probe.c").write_text(
        "void probe(void);\nvoid probe(void)\n{\n\tcJSON_Delete(cJSON_Parse(\"1\"));\n}\n")
    rc, out = lint(tree)
    assert rc == 1
    assert out == [f"{VICTIM}:{line + 4}: cJSON_ParseWithLength() outside src/core/json.c: call "
                   "json_parse (core/json.h), which refuses a repeated member name that cJSON "
                   "would keep"]


def test_misformatted_line_fails(tree):
    line = plant_at_end(tree, "\nint  lint_probe_count;\n")
    rc, out = lint(tree)
    assert rc == 1
    assert len(out) == 1 and out[0].startswith(f"{VICTIM}:{line + 1}:"), out
    assert "code should be clang-formatted (run `make format`)" in out[0]


def test_a_file_of_src_past_1500_lines_is_a_finding(tree):
    """Two concepts in one file show as length first (issue 38, item 11): a file of src/ past
    1,500 lines fails lint with its size; 1,500 lines exactly passes."""
    p = tree / "src" / "core" / "long.c"
    body = "/* long: a file that only grows. */\n" + "".join(
        "int long_%d(void);\n" % i for i in range(1499))
    p.write_text(body)
    assert body.count("\n") == 1500
    assert lint(tree) == (0, [])
    p.write_text(body + "int long_last(void);\n")
    rc, out = lint(tree)
    assert rc == 1
    assert out == ["src/core/long.c:1501: 1501 lines, over 1500: two concepts share this file; "
                   "split it where they separate"]
