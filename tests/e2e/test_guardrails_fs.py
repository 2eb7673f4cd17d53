"""The process sandbox, file-system half: the long-running commands refuse root unless
HERMETIC_ALLOW_ROOT=1 (and then warn), Landlock limits writes to home once the gateway is up
(while a turn that writes memory still works), and every tool that writes refuses a path that
escapes home (.., absolute, a symlink planted in home) without touching anything outside."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from agent_harness import agent, agent_config, fake, tool_results  # noqa: F401
from conftest import SLOW, argv, clean_env, free_port, http_get, run, to_yaml
from fakes.fake_openai import text, tool_calls
from router_harness import UPSTREAM_ENV, UPSTREAM_KEY

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is about running as root")
NOBODY = 65534


def minimal_config(tmp_path, port=None):
    home = tmp_path / "home"
    cfg = tmp_path / "config.yaml"
    port = port or free_port()
    cfg.write_text(f"home: {home}\napi:\n  listen: 127.0.0.1:{port}\n"
                   f"router:\n  listen: 127.0.0.1:{free_port()}\n")
    return cfg, home, port


def landlock_state(config):
    r = run("landlock-probe", "--config", str(config))
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()[0]


def needs_landlock(config):
    state = landlock_state(config)
    if "active" not in state or "not active" in state:
        pytest.skip(state)
    return state


# ---- root ------------------------------------------------------------------------------

@pytest.mark.smoke
@AS_ROOT
@pytest.mark.parametrize("allow", ["", "0", "yes"])
def test_long_running_commands_refuse_root_without_the_variable(tmp_path, allow):
    cfg, home, _ = minimal_config(tmp_path)
    env = clean_env(HERMETIC_ALLOW_ROOT=allow)
    for cmd in (["gateway"], ["router"], ["chat", "-q", "hi"]):
        r = run(*cmd, "--config", str(cfg), env=env)
        assert r.returncode == 1, (cmd, r.stderr)
        assert f"hermetic {cmd[0]}: refusing to run as root" in r.stderr
        assert "HERMETIC_ALLOW_ROOT=1" in r.stderr and "unprivileged user" in r.stderr
        assert not home.exists()  # refused before anything started
    # Commands that only read or report still run as root.
    assert run("--version", env=env).returncode == 0
    assert run("config", "check", "--config", str(cfg), env=env).returncode == 0


@AS_ROOT
def test_root_with_the_variable_runs_and_warns(gateway):
    g = gateway("home: {home}\napi:\n  listen: 127.0.0.1:{port}\n",
                env={"HERMETIC_ALLOW_ROOT": "1"})
    assert http_get(g.url + "/healthz")[0] == 200
    err = g.stderr()
    assert "RUNNING AS ROOT (uid 0, euid 0) because HERMETIC_ALLOW_ROOT=1" in err
    assert "run hermetic gateway as an unprivileged user instead" in err


def test_non_root_user_runs_without_the_variable(tmp_path):
    """As an unprivileged user no variable is needed and nothing warns about root."""
    prefix, uid = [], os.geteuid()
    # pytest's tmp_path is private to root; the unprivileged user needs to reach the config.
    base = Path(tempfile.mkdtemp(prefix="hm-nonroot-"))
    try:
        os.chmod(base, 0o755)
        cfg, home, port = minimal_config(base)
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if not setpriv:
                pytest.skip("setpriv (util-linux) is needed to drop to an unprivileged user")
            os.mkdir(home, 0o700)
            os.chown(home, NOBODY, NOBODY)
            prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
            uid = NOBODY
        env = clean_env()
        env.pop("HERMETIC_ALLOW_ROOT", None)
        err_path = base / "stderr.log"
        with open(err_path, "w") as err:
            p = subprocess.Popen(prefix + argv("gateway", "--config", str(cfg)), env=env,
                                 stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 20 * SLOW
            while time.monotonic() < deadline:
                assert p.poll() is None, open(err_path).read()
                try:
                    if http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            else:
                raise AssertionError("not healthy:\n" + open(err_path).read())
            assert os.stat(home / "state.db").st_uid == uid
        finally:
            p.terminate()
            p.wait(timeout=20 * SLOW)
        err = open(err_path).read()
        assert "refusing to run as root" not in err and "RUNNING AS ROOT" not in err
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---- Landlock --------------------------------------------------------------------------

@pytest.mark.smoke
@pytest.mark.needs("native")  # qemu-user has no Landlock; test_vm_arm64.py proves it on arm64
def test_landlock_denies_writes_outside_home_and_keeps_reads_it_needs(tmp_path):
    cfg, home, _ = minimal_config(tmp_path)
    needs_landlock(cfg)
    outside = tmp_path / "outside.txt"
    r = run("landlock-probe", "--config", str(cfg), f"w:{home}/inside.txt", f"w:{outside}",
            f"w:/tmp/hm-landlock-{os.getpid()}", f"r:{cfg}", "r:/etc/hosts", "r:/etc/shadow",
            "r:/proc/self/status", "w:/dev/null")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.match(r"Landlock: active \(ABI \d+\): writes only under " + re.escape(str(home)),
                    lines[0])
    got = dict(line.rsplit(" ", 1) if line.endswith(" ok") else line.split(" ", 1)
               for line in lines[1:])
    assert got[f"w:{home}/inside.txt"] == "ok"
    assert got[f"w:{outside}"] == "Permission denied"
    assert got[f"w:/tmp/hm-landlock-{os.getpid()}"] == "Permission denied"
    assert got[f"r:{cfg}"] == "ok"
    assert got["r:/etc/hosts"] == "ok"
    assert got["r:/proc/self/status"] == "ok"
    assert got["w:/dev/null"] == "ok"
    assert (home / "inside.txt").read_text() == "probe\n"
    assert not outside.exists()
    assert not os.path.exists(f"/tmp/hm-landlock-{os.getpid()}")


def open_writer(fifo, proc, deadline_s=10):
    """Opens fifo for writing once the probe has opened it for reading (it is then past the
    seal and blocked in that open); fails the test if the probe exits or never gets there."""
    end = time.monotonic() + deadline_s * SLOW
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != 6:  # ENXIO: no reader yet
                raise
        if proc.poll() is not None or time.monotonic() > end:
            out, err = proc.communicate()
            pytest.fail(f"the probe never opened {fifo}: {out}{err}")
        time.sleep(0.01)


def probe_across_replace(home, cfg, paths, replace, prefix=(), env=None):
    """landlock-probe reads paths after the seal, then blocks on a FIFO in home while replace()
    runs, then reads them again. Returns ({path: before}, {path: after}) ("ok" or the
    error)."""
    home.mkdir(exist_ok=True)
    sealed, go = home / "sealed.fifo", home / "go.fifo"
    os.mkfifo(sealed)
    os.mkfifo(go)
    ops = [f"r:{p}" for p in paths] + [f"r:{sealed}", f"r:{go}"] + [f"r:{p}" for p in paths]
    proc = subprocess.Popen([*prefix, *argv("landlock-probe", "--config", str(cfg), *ops)],
                            env=env or clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        os.close(open_writer(sealed, proc))
        replace()
        os.close(open_writer(go, proc))
        out, err = proc.communicate(timeout=20 * SLOW)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    assert re.match(r"Landlock: active \(ABI \d+\)", lines[0]), out + err
    results = [line.split(" ", 1) for line in lines[1:]]
    n = len(paths)
    assert [r[0] for r in results] == ops, out
    before = {p: r[1] for p, r in zip(paths, results[:n])}
    after = {p: r[1] for p, r in zip(paths, results[n + 2:])}
    return before, after


def replace_by_rename(path):
    """A byte-identical copy renamed over path: a new inode, as update-ca-certificates and
    resolvers write."""
    tmp = path.parent / f".{path.name}.new"
    shutil.copyfile(path, tmp)
    os.rename(tmp, path)
    return path


def k8s_mount(d, name, text):
    """A Kubernetes ConfigMap/Secret volume: d/name -> ..data/name, ..data -> ..<timestamp>."""
    d.mkdir()
    (d / "..2026_11_22_1").mkdir()
    (d / "..2026_11_22_1" / name).write_text(text)
    os.symlink("..2026_11_22_1", d / "..data")
    os.symlink(f"..data/{name}", d / name)
    return d / name


def k8s_update(d, name):
    """The kubelet's atomic writer: a new timestamped directory, ..data swapped to it by
    rename, the old directory removed."""
    (d / "..2026_11_22_2").mkdir()
    shutil.copyfile(d / "..2026_11_22_1" / name, d / "..2026_11_22_2" / name)
    os.symlink("..2026_11_22_2", d / "..data_tmp")
    os.rename(d / "..data_tmp", d / "..data")
    shutil.rmtree(d / "..2026_11_22_1")


def test_landlock_keeps_a_renamed_ca_bundle_and_a_swapped_config_mount_readable(tmp_path):
    """Rules bind inodes: a CA bundle (SSL_CERT_FILE) replaced by rename and a config file
    whose Kubernetes mount swapped its ..data link stay readable after the seal, because their
    directories are granted, not the files. Each lives in a directory of its own, outside
    anything else granted."""
    home = tmp_path / "home"
    cfg = k8s_mount(tmp_path / "conf", "config.yaml", f"home: {home}\n")
    needs_landlock(cfg)
    (tmp_path / "ca").mkdir()
    bundle = tmp_path / "ca" / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    unrelated = tmp_path / "ca2"
    unrelated.mkdir()
    (unrelated / "other.pem").write_text("x\n")

    def replace():
        replace_by_rename(bundle)
        k8s_update(tmp_path / "conf", "config.yaml")

    before, after = probe_across_replace(
        home, cfg, [str(bundle), str(cfg), str(unrelated / "other.pem")], replace,
        env=clean_env(SSL_CERT_FILE=str(bundle)))
    assert before == {str(bundle): "ok", str(cfg): "ok",
                      str(unrelated / "other.pem"): "Permission denied"}
    assert after == before


@pytest.mark.needs("native")  # qemu-user: the probe runs in a mount namespace of the host kernel
def test_landlock_keeps_resolver_files_replaced_by_rename_readable(tmp_path):
    """/etc/hosts and /etc/resolv.conf replaced by rename (resolvconf, NetworkManager,
    systemd-resolved) stay readable: /etc is granted, not their inodes. The probe runs in a
    mount namespace where a copy of /etc is bind-mounted over /etc, so the test can replace
    them without touching the machine's."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a mount namespace")
    cfg, home, _ = minimal_config(tmp_path)
    needs_landlock(cfg)
    etc = tmp_path / "etc"
    subprocess.run(["cp", "-a", "/etc/.", str(etc)], check=True)
    for name in ("hosts", "resolv.conf"):
        if not (etc / name).exists():
            (etc / name).write_text("# test\n")
    prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c",
              f'mount --bind "{etc}" /etc && exec "$@"', "sh"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespace here (unshare -m or mount --bind refused)")

    def replace():
        replace_by_rename(etc / "hosts")
        replace_by_rename(etc / "resolv.conf")

    before, after = probe_across_replace(home, cfg, ["/etc/hosts", "/etc/resolv.conf"], replace,
                                         prefix=prefix)
    assert before == {"/etc/hosts": "ok", "/etc/resolv.conf": "ok"}
    assert after == before


def test_landlock_off_switch_and_reason(tmp_path):
    cfg, _, _ = minimal_config(tmp_path)
    r = run("landlock-probe", "--config", str(cfg), env=clean_env(HERMETIC_LANDLOCK="0"))
    assert r.stdout.splitlines()[0] == "Landlock: not active (HERMETIC_LANDLOCK=0)"


def test_doctor_reports_landlock(tmp_path):
    cfg, home, _ = minimal_config(tmp_path)
    home.mkdir()
    state = landlock_state(cfg)
    r = run("doctor", "--config", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    if "not active" in state:
        assert state in lines, r.stdout
    else:
        assert re.match(r"landlock: available \(ABI \d+\)$", lines[2]), r.stdout
        assert lines[3] == ("landlock: would be active: gateway, router and chat write only "
                            f"under {home}")
    r = run("doctor", "--config", str(cfg), env=clean_env(HERMETIC_LANDLOCK="0"))
    assert "Landlock: not active (HERMETIC_LANDLOCK=0)" in r.stdout.splitlines()
    if os.geteuid() == 0:
        assert "user: root; gateway, router and chat refuse that unless HERMETIC_ALLOW_ROOT=1" \
            in r.stdout.splitlines()
    # stdio MCP servers are executed by the launcher, forked before the seal: they do not
    # switch Landlock off (test_sandbox.py runs a sealed gateway with one).
    stdio = tmp_path / "stdio.yaml"
    stdio.write_text(cfg.read_text() + "mcp_servers:\n  s:\n    command: /bin/false\n")
    assert landlock_state(stdio) == state


def post_chat(url, body):
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
        return r.status, r.read().decode()


def test_gateway_seals_and_a_turn_still_writes_inside_home(gateway, fake, tmp_path):
    cfg = agent_config(fake, "{home}", api={"listen": "127.0.0.1:{port}"},
                       log={"file": True})
    text_ = to_yaml(cfg).replace("{", "{{").replace("}", "}}")
    text_ = text_.replace("{{home}}", "{home}").replace("{{port}}", "{port}")
    (tmp_path / "probe").mkdir()
    needs_landlock(minimal_config(tmp_path / "probe")[0])
    g = gateway(text_, env={UPSTREAM_ENV: UPSTREAM_KEY})
    assert re.search(r"Landlock: active \(ABI \d+\): writes only under " + re.escape(str(g.home)),
                     g.stderr())
    with open(f"/proc/{g.proc.pid}/status") as f:
        assert "NoNewPrivs:\t1" in f.read()
    fake.script_for("test/free",
                    tool_calls(("m1", "memory", json.dumps({"action": "add", "target": "user",
                                                            "content": "Sealed but writing."}))),
                    text("noted"))
    status, body = post_chat(g.url, {"messages": [{"role": "user", "content": "remember"}]})
    assert status == 200, body
    assert "Sealed but writing." in (g.home / "memories" / "USER.md").read_text()
    assert http_get(g.url + "/metrics")[2].count("process_resident_memory_bytes") >= 1
    assert "Landlock: active" in (g.home / "logs" / "hermetic.log").read_text()


# ---- every writing tool refuses escapes ------------------------------------------------

def call(agent, fake, *calls_):
    """Scripts one round of tool calls (name, args), ... and a final answer; returns results."""
    calls = [(f"c{i}", n, json.dumps(a)) for i, (n, a) in enumerate(calls_)]
    fake.script_for("test/free", tool_calls(*calls), text("ok"))
    before = len(fake.chat_requests)
    r = agent.chat("do it")
    assert r.returncode == 0, r.stderr
    return tool_results(fake.chat_requests[before + 1])


def snapshot(d):
    """Every file below d with its content (symlinks as their target)."""
    out = {}
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(root, n)
            if os.path.islink(p):
                out[p] = "-> " + os.readlink(p)
            elif os.path.isfile(p):
                out[p] = open(p, "rb").read()
    return out


@pytest.mark.smoke
def test_memory_refuses_symlinks_planted_in_home(agent, fake, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "USER.md").write_text("theirs\n")
    agent.home.mkdir(parents=True)
    # The memories directory itself is a symlink out of home.
    os.symlink(outside, agent.home / "memories")
    before = snapshot(outside)
    res = call(agent, fake, ("memory", {"action": "add", "target": "memory", "content": "x"}),
               ("memory", {"action": "add", "target": "user", "content": "y"}),
               ("memory", {"action": "read", "target": "user"}))
    for r in res:
        assert r.startswith("Error") and "symlink" in r and "refused" in r, r
        assert "theirs" not in r
    assert snapshot(outside) == before
    # The final component is a symlink to a file outside.
    os.unlink(agent.home / "memories")
    (agent.home / "memories").mkdir()
    os.symlink(outside / "USER.md", agent.home / "memories" / "USER.md")
    res = call(agent, fake, ("memory", {"action": "add", "target": "user", "content": "y"}))
    assert res[0].startswith("Error") and "symlink" in res[0], res[0]
    assert snapshot(outside) == before
    assert os.path.islink(agent.home / "memories" / "USER.md")


def test_skill_manage_refuses_every_escape(agent, fake, tmp_path):
    outside = tmp_path / "outside"
    (outside / "theirs").mkdir(parents=True)
    skill = "---\nname: {n}\ndescription: d\n---\nbody\n"
    (outside / "theirs" / "SKILL.md").write_text(skill.format(n="theirs"))
    agent.home.mkdir(parents=True)
    before = snapshot(outside)
    # Names that are paths never become one.
    for bad in ("../escape", str(outside / "abs"), "a/b", ".."):
        res = call(agent, fake, ("skill_manage", {"action": "create", "name": bad,
                                                  "content": skill.format(n=bad)}))
        assert res[0].startswith("Error") and "invalid name" in res[0], res[0]
    # home/skills is a symlink out of home: create is refused, nothing lands outside.
    os.symlink(outside, agent.home / "skills")
    res = call(agent, fake, ("skill_manage", {"action": "create", "name": "mine",
                                              "content": skill.format(n="mine")}),
               ("skill_manage", {"action": "patch", "name": "theirs", "old_text": "body",
                                 "new_text": "pwned"}),
               ("skill_manage", {"action": "delete", "name": "theirs"}))
    for r in res:
        assert r.startswith("Error") and "symlink" in r, r
    assert snapshot(outside) == before
    # A real home/skills with one skill directory that is a symlink out of home.
    os.unlink(agent.home / "skills")
    (agent.home / "skills").mkdir()
    os.symlink(outside / "theirs", agent.home / "skills" / "theirs")
    res = call(agent, fake, ("skill_manage", {"action": "patch", "name": "theirs",
                                              "old_text": "body", "new_text": "pwned"}),
               ("skill_manage", {"action": "delete", "name": "theirs"}),
               ("skill_manage", {"action": "create", "name": "theirs",
                                 "content": skill.format(n="theirs")}))
    for r in res:
        assert r.startswith("Error") and ("symlink" in r or "already exists" in r), r
    assert snapshot(outside) == before
    assert os.path.islink(agent.home / "skills" / "theirs")
    # SKILL.md itself a symlink to a file outside, inside a real skill directory.
    (agent.home / "skills" / "real").mkdir()
    os.symlink(outside / "theirs" / "SKILL.md", agent.home / "skills" / "real" / "SKILL.md")
    res = call(agent, fake, ("skill_manage", {"action": "patch", "name": "real",
                                              "old_text": "body", "new_text": "pwned"}))
    assert res[0].startswith("Error") and "symlink" in res[0], res[0]
    assert snapshot(outside) == before
