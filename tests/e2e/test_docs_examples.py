"""The docs' examples are fixtures: a config block in docs/ is loaded by a test, a command in
docs/ is checked against the binary:
- every fenced `yaml` block in docs/ is a config that passes `hermetic config check`, with the
  environment variables it references set to placeholders; a block that is not a whole config
  (a Kubernetes manifest, a fragment shown beside its section) says so in a marker on the line
  before it, with the reason: `<!-- not a config: REASON -->`;
- every `hermetic ...` command line in docs/ and README.md (in a code block or a code span)
  names a real command: `hermetic CMD [SUB] --help` answers 0, and each option on the line is
  one that help names;
- every config key docs/configuration.md names in its prose (a dotted path such as
  `telegram.allowed_users`) is a key of the config table (`hermetic config reference`, from
  src/core/config_table.c). The other direction, every key of the table documented, is
  tests/e2e/test_cli.py's check that the page holds the reference as generated."""
import re
import shlex

import pytest

from conftest import ROOT, clean_env, run

DOCS = sorted((ROOT / "docs").rglob("*.md"))
MARKER = re.compile(r"<!--\s*not a config:\s*(.*?)\s*-->")
ENV_REF = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)|\$\{([A-Za-z_][A-Za-z0-9_]*)")


def rel(path):
    return str(path.relative_to(ROOT))


def fenced_blocks(path, marker_re=MARKER):
    """(language, first line number of the body, body, the reason of a marker_re comment on the
    line before the fence, or None) per fence."""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+)(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.groups()
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        body = "\n".join(ln[len(indent):] if ln.startswith(indent) else ln.lstrip()
                         for ln in lines[i + 1:j]) + "\n"
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = marker_re.search(lines[k]) if k >= 0 else None
        yield lang, i + 2, body, (marker.group(1) if marker else None)
        i = j + 1


def yaml_blocks():
    for f in DOCS:
        for lang, line, body, reason in fenced_blocks(f):
            if lang == "yaml":
                yield pytest.param(f, line, body, reason, id=f"{rel(f)}:{line}")


def placeholder(name):
    if "TELEGRAM" in name and "TOKEN" in name:
        return "123456789:docs-placeholder-token"
    if name.endswith("URL"):
        return "https://placeholder.example/docs"
    if name.endswith("HASH"):  # a password hash as `hermetic ui hash-password` prints one
        return ("pbkdf2-sha256$200000$o8LBfKLyzXCKbRVzrBGYHw==$"
                "YzUZHIONozJ9MMzV986E7TD7+QPaE2dr8Eu1wqRtsss=")
    return f"docs-placeholder-{name.lower()}"


@pytest.mark.parametrize("path,line,body,reason", list(yaml_blocks()))
def test_every_yaml_block_in_the_docs_passes_config_check(tmp_path, path, line, body, reason):
    where = f"{rel(path)}:{line}"
    if reason is not None:
        assert len(reason) >= 10, f"{where}: a `not a config:` marker says why the block is exempt"
        return
    cfg = tmp_path / "config.yaml"
    cfg.write_text(body)
    names = {a or b for a, b in ENV_REF.findall(body)}
    env = clean_env(HOME=str(tmp_path), **{n: placeholder(n) for n in names})
    r = run("config", "check", "--config", str(cfg), env=env)
    out = (r.stdout + r.stderr).replace(str(cfg), where)
    assert r.returncode == 0, (
        f"{where}: this yaml block fails `hermetic config check` (fix the example, or put "
        f"`<!-- not a config: REASON -->` on the line before it if it is not a whole config):\n{out}")


def test_a_marked_fragment_is_skipped_and_an_unmarked_broken_block_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n<!-- not a config: a Kubernetes manifest -->\n```yaml\nkind: Pod\n```\n"
                    "\n```yaml\ntelegarm: [\n```\n")
    blocks = [(lang, line, reason) for lang, line, _, reason in fenced_blocks(page)]
    assert blocks == [("yaml", 5, "a Kubernetes manifest"), ("yaml", 9, None)]


# ---- command lines -------------------------------------------------------------------------

PROMPT = re.compile(r"^\s*(?:\$ |# )?")
COMMAND = re.compile(r"^(?:\S*/)?hermetic(?:-(?:x86_64|aarch64))? (?=[a-z-])(.*)$")


def command_lines():
    """(file, line, the words after `hermetic`) for each command line in a code block (a line
    that starts with hermetic, after a shell prompt or `... -- `) or a code span `hermetic ...`."""
    for f in DOCS + [ROOT / "README.md"]:
        text = f.read_text()
        for lang, first, body, _ in fenced_blocks(f):
            if lang in ("yaml", "json", "js", "markdown"):
                continue
            for n, raw in enumerate(body.splitlines()):
                ln = PROMPT.sub("", raw)
                if " -- " in ln and "hermetic " in ln.split(" -- ", 1)[1]:
                    ln = ln.split(" -- ", 1)[1].strip()
                m = COMMAND.match(ln)
                if m:
                    yield f, first + n, m.group(1)
        for m in re.finditer(r"`((?:\S*/)?hermetic(?:-(?:x86_64|aarch64))? [^`\n]+)`", text):
            line = text.count("\n", 0, m.start()) + 1
            c = COMMAND.match(m.group(1))
            if c:
                yield f, line, c.group(1)


def words_of(rest):
    """The words of a command line before a comment or a pipe, shell-quoted when it parses."""
    rest = re.split(r"\s+#|\s\|\s|\s(?:&&|;|>|<<?)\s?", rest, maxsplit=1)[0]
    try:
        return shlex.split(rest)
    except ValueError:
        return rest.split()


_helps = {}


def help_of(cmd, sub):
    key = (cmd, sub)
    if key not in _helps:
        r = run(*[w for w in (cmd, sub) if w], "--help", env=clean_env())
        _helps[key] = (r.returncode, r.stdout + r.stderr)
    return _helps[key]


def placeholder_word(w):
    """A word that stands for something in a synopsis: COMMAND, [--config FILE], a|b, ..."""
    return (w.isupper() or w.startswith("[") or "|" in w or w in ("...", "…")
            or w.startswith("<") or w.startswith("'") or w.startswith('"'))


def test_every_hermetic_command_in_the_docs_is_a_real_command_with_real_options():
    wrong = []
    seen = 0
    for f, line, rest in command_lines():
        words = words_of(rest)
        if not words or placeholder_word(words[0]):
            continue
        where = f"{rel(f)}:{line}: hermetic {rest.strip()}"
        if words[0] in ("--version", "--help", "-h", "version"):
            continue
        seen += 1
        sub = words[1] if len(words) > 1 and re.fullmatch(r"[a-z][a-z-]*", words[1]) else None
        rc, text = help_of(words[0], sub)
        name = f"{words[0]} {sub}" if sub else words[0]
        if rc != 0:
            rc, text = help_of(words[0], None)
            name = words[0]
        if rc != 0:
            wrong.append(f"{where}\n    `hermetic {words[0]} --help` exits {rc}: no such command")
            continue
        known = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", text)) | {"--help", "-h", "-c"}
        for w in words[1:]:
            if not w.startswith("-") or w == "-" or re.fullmatch(r"-\d.*", w):
                continue
            opt = w.split("=", 1)[0]
            for o in re.findall(r"--?[a-zA-Z][\w-]*", opt) if placeholder_word(opt) else [opt]:
                if o not in known:
                    wrong.append(f"{where}\n    {o}: not an option of `hermetic {name}` "
                                 f"(its --help names {', '.join(sorted(known)) or 'none'})")
    assert seen > 30, f"only {seen} command lines found in the docs: is the extraction broken?"
    assert not wrong, "command lines in the docs that hermetic does not have:\n" + "\n".join(wrong)


def test_a_misspelt_option_or_command_in_the_docs_would_be_found():
    rc, text = help_of("config", "check")
    assert rc == 0 and "--strict" in text and "--stritc" not in text
    assert help_of("confgi", None)[0] != 0
    assert words_of("config check --config config.yaml   # validate | x") == \
        ["config", "check", "--config", "config.yaml"]


# ---- docs/configuration.md's keys ----------------------------------------------------------

def table_paths(reference):
    """Every key path of `hermetic config reference`: its own keys and the ignored ones."""
    paths, prefix, ignored = set(), "", False
    for line in reference.splitlines():
        if line.startswith("### "):
            m = re.match(r"### `([^`]+)`", line)
            if line.startswith("### Providers"):
                break
            ignored = "accepted and ignored" in line
            prefix = m.group(1) if m else ""
            continue
        if ignored:
            m = re.match(r"\| `([^`]+)` \| `([^`]+)` \|", line)
            if m:
                section = "" if m.group(1) == "top level" else m.group(1)
                paths.add(f"{section}.{m.group(2)}".strip("."))
            continue
        m = re.match(r"\| `([^`]+)` \|", line)
        if m:
            paths.add(f"{prefix}.{m.group(1)}".strip("."))
    return paths


def segments(path):
    return [s for s in re.sub(r"\[[^\]]*\]", "", path).split(".") if s and s != "NAME"]


def test_every_key_docs_configuration_names_is_in_the_config_table():
    r = run("config", "reference")
    assert r.returncode == 0, r.stderr
    paths = [segments(p) for p in table_paths(r.stdout)]
    assert len(paths) > 300
    names = {s for p in paths for s in p}
    doc = (ROOT / "docs" / "configuration.md").read_text().replace(r.stdout.strip(), "")
    unknown = set()
    key = r"[a-z_][a-z0-9_]*(?:\[[^\]]*\])?"
    for m in re.finditer(rf"`({key}(?:\.(?:{key}|NAME|\*))+)(?::[^`]*)?`", doc):
        segs = segments(m.group(1).replace(".*", ""))
        if segs[0] not in names:  # config.yaml, os.environ/...: not a key path
            continue
        if not any(p[-len(segs):] == segs or ("*" in m.group(1) and p[:len(segs)] == segs)
                   for p in paths if len(p) >= len(segs)):
            unknown.add(m.group(1))
    assert not unknown, ("docs/configuration.md names keys the config table does not have "
                         "(src/core/config_table.c; fix the doc or add the key): " +
                         ", ".join(sorted(unknown)))
