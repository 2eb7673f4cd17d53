#!/usr/bin/python3
"""lint: the checks of `make lint` over hermetic's C sources (STYLE.md, "Habits" and "Layout").

  format   clang-format --dry-run -Werror with the checked-in .clang-format
  banned   strcpy, sprintf, strcat, strtok, atoi, gets: called outside comments and strings
  layers   an include of a src/<layer>/ header must point down: the LAYERS table below, and a
           private header (PRIVATE) is included only by the files of its module

Every finding is one line FILE:LINE: message; the exit status is 1 if there was any.
Usage: scripts/lint.py [--root DIR] [--only format|banned|layers]...  (stdlib only)
"""
import argparse
import os
import re
import subprocess
import sys

# Low to high. A layer may include its own folder and the layers listed for it, nothing else;
# src/main.c ("main") may include every layer. Why each module sits where it does: the README.md
# of its folder and docs/INTERNALS.md.
ORDER = ["core", "net", "sandbox", "router", "mcp", "tools", "agent", "gateway", "cli"]
LAYERS = {
    "core": [],
    "net": ["core"],
    "sandbox": ["core", "net"],
    "router": ["core", "net", "sandbox"],
    "mcp": ["core", "net", "sandbox"],
    "tools": ["core", "net", "sandbox", "mcp"],
    "agent": ["core", "net", "sandbox", "router", "mcp", "tools"],
    "gateway": ["core", "net", "sandbox", "router", "mcp", "tools", "agent"],
    "cli": ["core", "net", "sandbox", "router", "mcp", "tools", "agent", "gateway"],
    "main": ORDER,
}
# Edges allowed against the table, each with the reason: (file, included header) -> why.
# Empty: phase A of issue 15 removed the last two (store.c's schemas, config.c's cron printer).
EXCEPTIONS = {}
# Private headers: header -> the files that may include it (a module split over several files
# shares its internals through one header no other file sees).
PRIVATE = {
    "core/config_int.h": re.compile(r"src/core/config(_[a-z]+)?\.[ch]$"),
}
# Headers made by the build (meson's configure_file and vcs_tag), not under src/<layer>/.
GENERATED = {"config_build.h", "version_git.h"}

BANNED = ["strcpy", "sprintf", "strcat", "strtok", "atoi", "gets"]
BANNED_RE = re.compile(r"\b(%s)\s*\(" % "|".join(BANNED))
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def c_sources(root):
    """src/ at any depth, tests/*.[ch], tests/fuzz/*.c: the files `make format` formats."""
    out = []
    for d, _, names in os.walk(os.path.join(root, "src")):
        out += [os.path.join(d, n) for n in names if n.endswith((".c", ".h"))]
    tests = os.path.join(root, "tests")
    if os.path.isdir(tests):
        out += [os.path.join(tests, n) for n in os.listdir(tests) if n.endswith((".c", ".h"))]
    fuzz = os.path.join(tests, "fuzz")
    if os.path.isdir(fuzz):
        out += [os.path.join(fuzz, n) for n in os.listdir(fuzz) if n.endswith(".c")]
    return sorted(os.path.relpath(p, root) for p in out)


def strip_comments_and_strings(text):
    """text with comments, string and character literals blanked; newlines kept, so line
    numbers stay true."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + (c if j - 1 > i else ""))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check_banned(root, files):
    errs = []
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            code = strip_comments_and_strings(fh.read())
        for no, line in enumerate(code.split("\n"), 1):
            for m in BANNED_RE.finditer(line):
                errs.append("%s:%d: banned function %s() (STYLE.md, \"Habits\": use a bounded, "
                            "checked form such as snprintf, buf_*, strtol)" % (f, no, m.group(1)))
    return errs


def layer_of(f):
    parts = f.split("/")
    if parts[0] != "src":
        return None
    if len(parts) == 2:
        return "main" if parts[1] == "main.c" else "?"
    return parts[1]


def check_private(root, f):
    errs = []
    with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    for no, line in enumerate(lines, 1):
        m = INCLUDE_RE.match(line)
        if m and m.group(1) in PRIVATE and not PRIVATE[m.group(1)].match(f):
            errs.append("%s:%d: #include \"%s\": a private header, only for the files of its "
                        "module" % (f, no, m.group(1)))
    return errs


def check_layers(root, files):
    errs = []
    for f in files:
        errs += check_private(root, f)
        layer = layer_of(f)
        if layer is None:
            continue  # tests may include any layer
        if layer not in LAYERS:
            errs.append("%s:1: %s/ is not a layer of the LAYERS table in scripts/lint.py"
                        % (f, os.path.dirname(f)))
            continue
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            lines = fh.read().split("\n")
        for no, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            inc = m.group(1)
            if "/" not in inc:
                if inc not in GENERATED:
                    errs.append("%s:%d: #include \"%s\" does not name its folder (write "
                                "\"<layer>/%s\")" % (f, no, inc, inc))
                continue
            to = inc.split("/")[0]
            if to not in LAYERS or to == "main":
                errs.append("%s:%d: #include \"%s\": %s/ is not a layer" % (f, no, inc, to))
                continue
            if to == layer or to in LAYERS[layer] or (f, inc) in EXCEPTIONS:
                continue
            errs.append("%s:%d: forbidden edge %s -> %s (#include \"%s\"): %s may include only "
                        "%s" % (f, no, layer, to, inc, layer,
                                ", ".join([layer] + LAYERS[layer])))
    return errs


def check_format(root, files):
    tool = os.environ.get("CLANG_FORMAT", "clang-format")
    try:
        r = subprocess.run([tool, "--dry-run", "-Werror", "--style=file"] + files, cwd=root,
                           capture_output=True, text=True)
    except FileNotFoundError:
        return ["%s: not found (scripts/install-deps.sh installs it)" % tool]
    errs = [l for l in r.stderr.splitlines() if ": error: " in l]
    if r.returncode != 0 and not errs:
        errs = ["clang-format failed: " + r.stderr.strip()]
    return [e.replace(" [-Wclang-format-violations]", " (run `make format`)") for e in errs]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--only", action="append", choices=["format", "banned", "layers"])
    a = ap.parse_args()
    files = c_sources(a.root)
    checks = a.only or ["format", "banned", "layers"]
    errs = []
    for name, fn in (("format", check_format), ("banned", check_banned),
                     ("layers", check_layers)):
        if name in checks:
            errs += fn(a.root, files)
    for e in errs:
        print(e)
    print("lint: %d file(s), %s: %s" % (len(files), "+".join(checks),
                                         "%d finding(s)" % len(errs) if errs else "clean"),
          file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
