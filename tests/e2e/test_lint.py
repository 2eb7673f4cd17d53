"""`make lint` itself (scripts/lint.py): it passes on the tree as committed, and fails, naming
FILE:LINE and the rule, on each kind of planted fault: an upward include, a private header
included outside its module, an include without its folder, a banned function, a JSON parse
that bypasses the one parser, a file of src/ past 1,200 lines, a
line clang-format would change, an include between the front-end rooms (telegram/, ops/,
cockpit/) against their order, and files of one folder calling each other in a circle (issue
50). Each test lints a copy of the C sources, never the checkout."""
import re
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
    shutil.copy(ROOT / "scripts" / "lint-circles.txt", t / "scripts")
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


def test_a_file_of_src_past_1200_lines_is_a_finding(tree):
    """Two concepts in one file show as length first (issue 38, item 11; the limit lowered
    from 1,500 by issue 50, item 5): a file of src/ past 1,200 lines fails lint with its size;
    1,200 lines exactly passes."""
    p = tree / "src" / "core" / "long.c"
    body = "/* long: a file that only grows. */\n" + "".join(
        "int long_%d(void);\n" % i for i in range(1199))
    p.write_text(body)
    assert body.count("\n") == 1200
    assert lint(tree) == (0, [])
    p.write_text(body + "int long_last(void);\n")
    rc, out = lint(tree)
    assert rc == 1
    assert out == ["src/core/long.c:1201: 1201 lines, over 1200: two concepts share this file; "
                   "split it where they separate"]


def plant_include(t, victim, header):
    """Puts #include "header" after victim's first block of includes; returns its line."""
    p = t / victim
    lines = p.read_text().split("\n")
    at = max(i for i, l in enumerate(lines) if l.startswith('#include "')) + 1
    lines[at:at] = ['#include "%s"' % header]
    p.write_text("\n".join(lines))
    return at + 1


@pytest.mark.parametrize("victim,header,edge,allowed", [
    # the bot may not reach up into the cockpit
    ("src/telegram/tg_format.c", "cockpit/ui.h", "telegram -> cockpit",
     "telegram, core, net, sandbox, skills, router, mcp, tools, agent, gateway"),
    # alerts send through the bot, but the bot does not raise alerts by including them
    ("src/telegram/tg_poll.c", "ops/alerts.h", "telegram -> ops",
     "telegram, core, net, sandbox, skills, router, mcp, tools, agent, gateway"),
    # a service of gateway/ (not its wiring) may not include a room
    ("src/gateway/cron.c", "telegram/telegram.h", "gateway -> telegram",
     "gateway, core, net, sandbox, skills, router, mcp, tools, agent"),
])
def test_an_include_against_the_rooms_order_fails(tree, victim, header, edge, allowed):
    line = plant_include(tree, victim, header)
    rc, out = lint(tree)
    assert rc == 1
    assert out == [f'{victim}:{line}: forbidden edge {edge} (#include "{header}"): '
                   f'{edge.split()[0]} may include only {allowed}']


def test_the_wiring_may_include_the_rooms_and_nothing_else_of_gateway_may(tree):
    """gateway.c starts the rooms (WIRING); the same include in hooks.c is refused."""
    gw = (tree / "src/gateway/gateway.c").read_text()
    assert '#include "cockpit/ui.h"' in gw and '#include "telegram/telegram.h"' in gw
    line = plant_include(tree, "src/gateway/hooks.c", "cockpit/ui.h")
    rc, out = lint(tree)
    assert rc == 1
    assert out == [f'src/gateway/hooks.c:{line}: forbidden edge gateway -> cockpit (#include '
                   '"cockpit/ui.h"): gateway may include only gateway, core, net, sandbox, '
                   'skills, router, mcp, tools, agent']


def test_a_rooms_private_header_outside_the_room_fails(tree):
    line = plant_include(tree, "src/ops/alerts.c", "telegram/telegram_int.h")
    rc, out = lint(tree)
    assert rc == 1
    assert out == [f'src/ops/alerts.c:{line}: #include "telegram/telegram_int.h": a private '
                   'header, only for the files of its module']


CIRCLE_TAIL = ("Let one own the state and the others be helpers it calls; a helper that must "
               "reach back does it through a callbacks struct the owner hands it (STYLE.md, "
               "\"Layout\")")


def test_a_planted_circle_fails_naming_the_calls(tree):
    """fileio.c calls util.c (xstrdup, buf_*); util.c calling fileio_read closes a circle."""
    plant_at_end(tree, "\nint lint_probe(void);\nint lint_probe(void)\n{\n"
                       "\treturn fileio_read(\"x\", 1, NULL);\n}\n")
    rc, out = lint(tree)
    assert rc == 1
    assert len(out) == 1, out
    assert re.fullmatch(r"src/core/fileio\.c:1: files call each other in a circle: fileio\.c "
                        r"-\(\w+\)-> util\.c -\(fileio_read\)-> fileio\.c \(2 files: fileio\.c "
                        r"util\.c\)\. " + re.escape(CIRCLE_TAIL), out[0]), out[0]


def test_a_call_back_through_a_callbacks_struct_is_no_circle(tree):
    """The same call made through a struct of function pointers that fileio.c hands util.c is
    the allowed way back: no finding."""
    plant_at_end(tree, "\nstruct lint_probe_cbs {\n\tint (*read)(const char *path, size_t cap, "
                       "struct buf *out);\n};\n"
                       "int lint_probe(const struct lint_probe_cbs *cbs);\n"
                       "int lint_probe(const struct lint_probe_cbs *cbs)\n{\n"
                       "\treturn cbs->read(\"x\", 1, NULL);\n}\n")
    p = tree / "src/core/fileio.c"
    p.write_text(p.read_text() + "\nint fileio_probe(void);\nint fileio_probe(void)\n{\n"
                 "\tstruct lint_probe_cbs cbs = {.read = fileio_read};\n\n"
                 "\treturn lint_probe(&cbs);\n}\n")
    assert lint(tree) == (0, [])


def plant_circle(t, rel, name, callee):
    """Appends to t/rel a function `name` calling `callee`, which another file of its folder
    defines: with the calls back that file already makes, a circle."""
    p = t / rel
    p.write_text(p.read_text() + "\nint %s(void);\nint %s(void)\n{\n\treturn %s != NULL;\n}\n"
                 % (name, name, callee))


def list_circle(t, line):
    """Appends line to the copy's circle list; returns its line number."""
    base = t / "scripts" / "lint-circles.txt"
    lines = base.read_text().rstrip("\n").split("\n") + [line]
    base.write_text("\n".join(lines) + "\n")
    return len(lines)


def test_a_file_joining_a_listed_circle_fails(tree):
    """json.c calls json_exact.c; json_exact.c calling json_parse back makes a circle, listed
    here; util.c calling json_parse (json.c calls util.c) makes it three files, which the list
    does not allow."""
    plant_circle(tree, "src/core/json_exact.c", "json_exact_probe",
                 "json_parse(\"1\", 1, 0, NULL)")
    list_circle(tree, "src/core | json.c json_exact.c | planted: the listed circle")
    assert lint(tree) == (0, [])
    plant_at_end(tree, "\nvoid *lint_probe(void);\nvoid *lint_probe(void)\n{\n"
                       "\treturn json_parse(\"1\", 1, 0, NULL);\n}\n")
    rc, out = lint(tree)
    assert rc == 1
    assert len(out) == 1, out
    assert out[0].startswith("src/core/json.c:1: files call each other in a circle: "), out[0]
    assert "(3 files: json.c json_exact.c util.c)" in out[0]


def test_the_circle_list_only_shrinks(tree):
    """An entry wider than its circle must be narrowed, an entry with no circle deleted, and a
    circle with no entry is reported as new. The circles are planted: sandbox.c calls
    landlock.c and loop.c calls offload.c, so a call back from each closes one."""
    plant_circle(tree, "src/sandbox/landlock.c", "landlock_probe_back", "sandbox_status()")
    plant_circle(tree, "src/core/offload.c", "offload_probe_back", "loop_base(NULL)")
    no = list_circle(tree, "src/sandbox | landlock.c sandbox.c spawn.c | planted: one file too "
                           "many")
    last = list_circle(tree, "src/skills | skill_md.c skill_set.c | planted: no such circle")
    rc, out = lint(tree)
    assert rc == 1
    assert out[0].startswith("src/core/loop.c:1: files call each other in a circle: loop.c "), out
    assert out[1:] == [
        f"scripts/lint-circles.txt:{no}: the circle in src/sandbox is down to landlock.c "
        "sandbox.c: narrow the entry to those files",
        f"scripts/lint-circles.txt:{last}: src/skills no longer has a circle among "
        "skill_md.c skill_set.c: delete the entry"]