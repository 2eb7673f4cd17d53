#!/usr/bin/python3
"""Run `hermetic config check` on a recorded sample of public LiteLLM configs and tally it.

The sample is a sources.tsv (tests/data/litellm-survey-2/): one row per config with the
repository, the path, the commit and where the config sits in that file (`extract`). The
configs' text is never kept in this repository: each is read from a local snapshot of its
repository (a bare git directory, MIRROR/OWNER+NAME/repo, as the session's `fetch` leaves it),
at the recorded commit, into a temporary directory outside the repository.

  litellm-survey.py discover MIRROR OWNER/NAME...   candidate rows for sources.tsv
  litellm-survey.py check SOURCES.TSV --bin HERMETIC [--mirror DIR] [--json OUT]

`extract` is `-` when the whole file is the config, else the key path to it inside the
YAML document (`doc0:data/config.yaml`): a string holding the config (a ConfigMap's
`config.yaml: |`) or a mapping holding it (Helm's `proxy_config:`).
The check runs twice per config: with an empty environment (PATH and a temporary HOME
only), what a new user sees before exporting anything; and with every variable the config
names (`os.environ/NAME`, `${NAME}`) set to a placeholder (a loopback URL when the name says
BASE, URL, ENDPOINT or HOST; `openai/placeholder` when it says MODEL; else a dummy string),
what a user who exported them sees. A config loads when `config check` exits 0.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

MIRROR = "/work/.mirror"


def git(repo_dir, *args):
    return subprocess.run(["git", "--git-dir", repo_dir, *args], check=True,
                          capture_output=True).stdout


def mirror_dir(mirror, repo):
    return os.path.join(mirror, repo.replace("/", "+"), "repo")


def is_config(v):
    return isinstance(v, dict) and "model_list" in v


def locate(docs):
    """(extract, config_text) of the first config in a parsed YAML stream, or None."""
    def walk(node, path):
        if is_config(node):
            return path, node
        if isinstance(node, str) and "model_list" in node and "\n" in node:
            try:
                inner = yaml.safe_load(node)
            except yaml.YAMLError:
                return None
            if is_config(inner):
                return path, node
            return None
        kids = node.items() if isinstance(node, dict) else (
            enumerate(node) if isinstance(node, list) else ())
        for k, v in kids:
            hit = walk(v, path + [str(k)])
            if hit:
                return hit
        return None

    for i, doc in enumerate(docs):
        hit = walk(doc, [])
        if not hit:
            continue
        path, node = hit
        if i == 0 and not path:
            return "-", None
        text = node if isinstance(node, str) else yaml.safe_dump(node, sort_keys=False)
        return "doc%d:%s" % (i, "/".join(path)), text
    return None


def load_docs(raw):
    return [d for d in yaml.safe_load_all(raw)]


def config_text(raw, extract):
    if extract == "-":
        return raw.decode("utf-8", "replace")
    hit = locate(load_docs(raw))
    if not hit or hit[0] != extract:
        raise ValueError("config not found at %s" % extract)
    return hit[1]


def discover(mirror, repos):
    for repo in repos:
        d = mirror_dir(mirror, repo)
        if not os.path.isdir(d):
            print("# %s: no snapshot" % repo, file=sys.stderr)
            continue
        commit = git(d, "rev-parse", "HEAD").decode().strip()
        files = git(d, "ls-tree", "-r", "--name-only", commit).decode().splitlines()
        files = [f for f in files if re.search(r"\.ya?ml$", f)]
        found = []
        for f in files:
            raw = git(d, "show", "%s:%s" % (commit, f))
            if b"model_list" not in raw or b"litellm_params" not in raw:
                continue
            try:
                hit = locate(load_docs(raw))
            except yaml.YAMLError:
                continue
            if hit:
                found.append((f, hit[0]))
        if not found:
            print("# %s: no config" % repo, file=sys.stderr)
            continue
        # one config per repository: the one under a path naming litellm, shortest first
        found.sort(key=lambda x: ("litellm" not in x[0].lower(), "test" in x[0].lower(),
                                  len(x[0]), x[0]))
        f, extract = found[0]
        print("%s\t%s\t%s\t%s" % (repo, f, commit, extract))


SUMMARY_RE = re.compile(r"deployments: (\d+) active, (\d+) inactive")
INACTIVE_RE = re.compile(r"^  inactive: (.*)$")
ERROR_RE = re.compile(r"^\S+?:\d+:\d+: error: (.*)$|^[^:]+: error: (.*)$", re.M)


VAR_RE = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)|\$\{([A-Za-z_][A-Za-z0-9_]*)")


def placeholder_env(text):
    env = {}
    for m in VAR_RE.finditer(text):
        name = m.group(1) or m.group(2)
        up = name.upper()
        if re.search(r"BASE|URL|ENDPOINT|HOST", up):
            env[name] = "http://127.0.0.1:9"
        elif "MODEL" in up:
            env[name] = "openai/placeholder"
        elif re.search(r"PORT", up):
            env[name] = "4000"
        else:
            env[name] = "placeholder-value"
    return env


def reason_key(r):
    """An inactive line without the deployment's own name: `NAME (MODEL): why` -> why."""
    return re.sub(r"^.*?\): ", "", r)[:120]


def check_one(binary, text, tmp, set_vars):
    path = os.path.join(tmp, "config.yaml")
    with open(path, "w") as f:
        f.write(text)
    home = os.path.join(tmp, "home")
    os.makedirs(home, exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "HERMETIC_HOME": home}
    if set_vars:
        env.update(placeholder_env(text))
    p = subprocess.run([binary, "config", "check", "--config", path], env=env, cwd=tmp,
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    res = {"loads": p.returncode == 0, "active": 0, "inactive": 0, "error": None,
           "inactive_reasons": []}
    m = SUMMARY_RE.search(out)
    if m:
        res["active"], res["inactive"] = int(m.group(1)), int(m.group(2))
    for line in out.splitlines():
        im = INACTIVE_RE.match(line)
        if im:  # without the deployment's name and model: no config text is kept
            res["inactive_reasons"].append(reason_key(im.group(1)))
    if not res["loads"]:
        em = ERROR_RE.search(out)
        res["error"] = (em.group(1) or em.group(2)) if em else out.strip()[-200:]
    return res


def check(args):
    rows = []
    with open(args.sources) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.strip():
                rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
    results = {}
    with tempfile.TemporaryDirectory(prefix="litellm-survey-") as tmp:
        for r in rows:
            d = mirror_dir(args.mirror, r["repo"])
            try:
                raw = git(d, "show", "%s:%s" % (r["commit"], r["path"]))
                text = config_text(raw, r["extract"])
            except (subprocess.CalledProcessError, ValueError, yaml.YAMLError) as e:
                results[r["id"]] = {"missing": str(e)[:200]}
                continue
            sub = os.path.join(tmp, r["id"])
            os.makedirs(sub)
            results[r["id"]] = check_one(args.bin, text, sub, args.env == "set")
    ok = {k: v for k, v in results.items() if "missing" not in v}
    loading = [v for v in ok.values() if v["loads"]]
    active = sum(v["active"] for v in loading)
    total = sum(v["active"] + v["inactive"] for v in loading)
    device = sum(1 for v in loading for x in v["inactive_reasons"] if "device-login" in x)
    errors = collections.Counter(v["error"] for v in ok.values() if not v["loads"])
    reasons = collections.Counter(reason_key(x) for v in loading for x in v["inactive_reasons"])
    tally = {
        "environment": args.env,
        "configs": len(ok),
        "missing": sorted(k for k, v in results.items() if "missing" in v),
        "load": len(loading),
        "load_rate": round(len(loading) / len(ok), 3) if ok else 0,
        "deployments_in_loading": total,
        "active": active,
        "active_share": round(active / total, 3) if total else 0,
        "inactive_device_login": device,
        "active_share_device_login_aside": round(active / (total - device), 3)
        if total > device else 0,
        "first_errors": errors.most_common(),
        "inactive_reasons": reasons.most_common(),
        "per_config": results,
    }
    text = json.dumps(tally, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print("configs %d, load %d (%.1f%%); deployments in loading configs %d, active %d (%.1f%%)"
          % (len(ok), len(loading), 100 * tally["load_rate"], total, active,
             100 * tally["active_share"]))
    print("  device-login providers aside: %d of %d active (%.1f%%)"
          % (active, total - device, 100 * tally["active_share_device_login_aside"]))
    for e, n in errors.most_common():
        print("  refused x%d: %s" % (n, e))
    for e, n in reasons.most_common():
        print("  inactive x%d: %s" % (n, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("discover")
    d.add_argument("mirror")
    d.add_argument("repos", nargs="+")
    c = sub.add_parser("check")
    c.add_argument("sources")
    c.add_argument("--bin", required=True)
    c.add_argument("--mirror", default=MIRROR)
    c.add_argument("--json")
    c.add_argument("--env", choices=("empty", "set"), default="set",
                   help="run with no variables, or with the config's variables set")
    a = ap.parse_args()
    if a.cmd == "discover":
        discover(a.mirror, a.repos)
    else:
        a.bin = os.path.abspath(a.bin)
        check(a)


if __name__ == "__main__":
    main()
