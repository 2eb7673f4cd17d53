"""The process sandbox (issue #7): after start-up the seccomp allowlist denies execve, ptrace,
mount, fork and friends with EPERM (or kills with SIGSYS in kill mode), while a full gateway
turn -- HTTP to the model via curl, SQLite writes, a tool call to a real stdio MCP server and
that server's restart through the launcher -- still works with action: kill, so any syscall
missing from the allowlist would crash the test.

Loading a filter needs a native kernel: these run on the static x86_64 build (the smoke
stage). Sanitizer builds do not load the filter (the ASan/LSan runtime needs ptrace and clone)
and qemu-user refuses filters; there the rules are exported and compared instead."""
import ctypes
import json
import os
import re
import signal
import struct
import subprocess
import sys
import urllib.request

import pytest

from agent_harness import fake  # noqa: F401
from conftest import BIN, SLOW, argv, clean_env, gateway, http_get, run, to_yaml  # noqa: F401
from fakes.fake_openai import text, tool_calls
from mcp_harness import (CALL_TIMEOUT, NODE_CONNECT_TIMEOUT, children_of, mcp_gateway,  # noqa: F401
                         peers, proc_state, server_children, servers, wait_until)
from router_harness import (UPSTREAM_ENV, UPSTREAM_KEY, deployment, router_config,
                            start_router)  # noqa: F401

API_KEY = "sk-e2e-sandbox-api-SECRET-5d0b"

# What the gateway must never be able to do, and what it needs (each name as the exported
# filter prints it: the kernel's name of the call).
NEVER = ["execve", "execveat", "ptrace", "mount", "umount2", "pivot_root", "kexec_load",
         "kexec_file_load", "bpf", "init_module", "finit_module", "delete_module", "setns",
         "unshare", "keyctl", "add_key", "request_key", "chroot", "reboot", "swapon",
         "perf_event_open", "process_vm_readv", "process_vm_writev", "userfaultfd"]
NEEDED = ["read", "write", "openat", "openat2", "close", "mmap", "munmap", "futex", "clone",
          "epoll_ctl", "epoll_pwait", "ppoll", "socket", "connect", "accept4", "sendto",
          "recvfrom", "sendmsg", "recvmsg", "pread64", "pwrite64", "fsync", "fcntl", "pipe2",
          "getrandom", "exit_group", "rt_sigreturn", "unlinkat", "renameat", "newfstatat",
          "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"]
LEGACY = ["open", "stat", "lstat", "access", "unlink", "rename", "mkdir", "pipe", "poll",
          "epoll_wait"]
PROBES = ["execve", "execve-again", "ptrace", "mount", "fork-clone", "fork-libc", "unshare",
          "setns", "bpf", "keyctl",
          # signals to another process of the same user (kill(2) permission would allow
          # them): children are signalled by the launcher, never by the sealed process
          "kill-other", "tgkill-other", "tkill-other",
          # a setuid bit on a file in home would lend our uid to whoever runs it
          "fchmod-setuid"]


def binary_arch():
    with open(BIN, "rb") as f:
        head = f.read(20)
    return {62: "x86_64", 183: "aarch64"}[struct.unpack_from("<H", head, 18)[0]]


def write_cfg(tmp_path, action, **sections):
    cfg = {"home": str(tmp_path / "home"), "log": {"level": "debug"},
           "guardrails": {"seccomp": {"action": action}}, **sections}
    path = tmp_path / f"sandbox-{action}.yaml"
    path.write_text(to_yaml(cfg))
    return path


def selftest(tmp_path, action):
    return run("sandbox-selftest", "--config", str(write_cfg(tmp_path, action)),
               env=clean_env(), timeout=30)


SEALS = pytest.mark.needs("native", "unsanitized")


@pytest.fixture
def sealable(tmp_path):
    """The errno-mode selftest of a binary that loads the filter. A test that uses it also
    carries SEALS: qemu-user cannot load seccomp filters (the rules test covers that arch) and
    sanitizer builds do not seal. Skips only when the kernel itself has no seccomp."""
    r = selftest(tmp_path, "errno")
    if r.returncode == 3:
        pytest.skip(f"seccomp is not active in this kernel: {r.stdout.splitlines()[0]}")
    return r


def filter_blocks(pfc):
    """{syscall name: [actions]} from the pseudo filter code (libseccomp's layout)."""
    blocks, cur = {}, None
    for line in pfc.splitlines():
        m = re.match(r'\s*# filter for syscall "([^"]+)"', line)
        if m:
            cur = blocks.setdefault(m.group(1), [])
            continue
        m = re.match(r"\s*action (\S+);", line)
        if m and cur is not None:
            cur.append(m.group(1))
        if re.match(r"\s*# default action", line):
            cur = None
    return blocks


@pytest.mark.smoke
def landlock_abi():
    """The kernel's Landlock ABI version (landlock_create_ruleset(NULL, 0, VERSION)), or -1."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(444, None, 0, 1)


@SEALS
def test_selftest_denials_fail_with_eperm_and_are_logged_once(sealable):
    r = sealable
    assert r.returncode == 0, r
    lines = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert lines["seccomp"] == "active (errno)"
    assert re.search(r"^Seccomp:\s+2$", r.stdout, re.M), r.stdout
    assert re.search(r"^NoNewPrivs:\s+1$", r.stdout, re.M), r.stdout
    for probe in PROBES:
        assert lines[probe].startswith("errno=1 "), (probe, r.stdout)
    # What must keep working under the filter: a thread (curl's resolver), a child through
    # the launcher (stdio MCP servers).
    assert lines["signal-self"] == "ok"  # raise()/abort() still reach ourselves
    assert lines["thread"] == "ok"
    assert lines["launcher"] == "child exited with status 0"
    assert lines["selftest"] == "ok"
    # One line per denied syscall, not per call: execve was tried twice.
    assert r.stderr.count("denied syscall execve ") == 1, r.stderr
    assert "denied syscall ptrace " in r.stderr and "denied syscall mount " in r.stderr


@pytest.mark.needs("native")  # qemu-user: the selftest seals a native process
def test_the_launcher_refuses_forged_requests_and_runs_nothing(tmp_path):
    """A compromised sealed process can write anything to the launcher's socket. The launcher
    runs only the programs of the table it was forked with, by index: an exec of /bin/sh with
    its own argv and environment (the old request format) and an index outside the table are
    refused, and the shell never runs. Holds in every build: the launcher is outside the
    filter, so sanitizer builds (no seccomp) check it too."""
    r = selftest(tmp_path, "errno")
    assert r.returncode in (0, 3), r
    lines = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert lines.get("launcher-forged-exec", "").startswith("refused ("), r.stdout
    assert lines.get("launcher-index-out-of-range") == "refused (Operation not permitted)", \
        r.stdout
    assert lines.get("launcher-forged-ran") == "no", r.stdout
    assert not (tmp_path / "home" / ".selftest-forged").exists()


@pytest.mark.smoke
@SEALS
def test_kill_mode_kills_with_sigsys_at_the_first_denied_call(sealable, tmp_path):
    r = selftest(tmp_path, "kill")
    assert r.returncode == -signal.SIGSYS, r
    assert "seccomp: active (kill)" in r.stdout
    assert r.stdout.rstrip().endswith("execve:"), r.stdout


@pytest.mark.smoke
def test_exported_rules_match_the_allowlist_for_this_arch():
    """Runs everywhere, qemu included: the filter is built and printed, never loaded."""
    arch = binary_arch()
    r = run("sandbox-rules", timeout=30)
    assert r.returncode == 0, r
    pfc = r.stdout
    assert f"# filter for arch {arch} " in pfc, pfc[:400]
    blocks = filter_blocks(pfc)
    for name in NEEDED:
        assert "ALLOW" in blocks.get(name, []), (arch, name)
    for name in NEVER:
        assert "ALLOW" not in blocks.get(name, []), (arch, name)
    # fork: never allowed; clone only with CLONE_THREAD (0x00010000) in the flags.
    for name in ("fork", "vfork"):
        assert "ALLOW" not in blocks.get(name, []), (arch, name)
    clone = pfc.split('# filter for syscall "clone"', 1)[1].split("# filter for syscall", 1)[0]
    assert re.search(r"\$a0\.lo32 & 0x00010000 == 65536\)\s+action ALLOW;", clone), clone
    assert re.search(r"\$a0\.lo32 & 0x00010000 == 0\)\s+action ERRNO\(1\);", clone), clone
    assert blocks["clone3"] == ["ERRNO(38)"]  # ENOSYS: libcs fall back to clone
    # Signals: only to our own pid (a condition on the first argument), never to any pid.
    for name in ("kill", "tgkill", "tkill"):
        body = pfc.split(f'# filter for syscall "{name}"', 1)[1].split("# filter for syscall", 1)[0]
        assert re.search(r"\$a0\.lo32 & 0xffffffff == [1-9]\d*\)\s+action ALLOW;", body), body
    # fchmod: never the setuid, setgid or sticky bit (07000) in the mode.
    fchmod = pfc.split('# filter for syscall "fchmod"', 1)[1].split("# filter for syscall", 1)[0]
    assert re.search(r"\$a1\.lo32 & 0x00000e00 == 0\)\s+action ALLOW;", fchmod), fchmod
    # aarch64 has no legacy calls; x86_64 needs them (musl and glibc still use some).
    for name in LEGACY:
        if arch == "aarch64":
            assert name not in blocks, name
        else:
            assert "ALLOW" in blocks[name], name
    assert re.search(r"# default action\s+action TRAP;", pfc), pfc[-400:]
    kill = run("sandbox-rules", "--kill", timeout=30)
    assert kill.returncode == 0, kill
    assert re.search(r"# default action\s+action KILL_PROCESS;", kill.stdout), kill.stdout[-400:]
    assert "ERRNO(1)" not in kill.stdout  # in kill mode a fork attempt kills too


@pytest.mark.smoke
@SEALS
def test_a_sigsys_sent_by_another_process_is_not_taken_for_a_denied_syscall(sealable, gateway):
    """The errno mode's SIGSYS handler fails the trapped syscall by rewriting its return
    register. A SIGSYS sent with kill(2) (si_code SI_USER) interrupts whatever runs: here the
    loop's epoll_wait, which must see EINTR and carry on, not EPERM (that would end the loop
    and with it the gateway); nor may a bogus "denied syscall" line be logged."""
    g = gateway("home: {home}\napi:\n  listen: 127.0.0.1:{port}\n"
                "guardrails:\n  seccomp:\n    action: errno\n")
    assert status_field(g.proc.pid, "Seccomp") == "2"
    for _ in range(3):
        os.kill(g.proc.pid, signal.SIGSYS)
        assert http_get(g.url + "/healthz")[0] == 200
    assert g.proc.poll() is None, g.stderr()
    assert "denied syscall" not in g.stderr(), g.stderr()
    assert g.stop() == 0, g.stderr()


@pytest.mark.smoke
@SEALS
def test_every_thread_of_the_sealed_gateway_is_filtered(sealable, gateway):
    """seccomp(2) binds the calling thread and the threads it starts later; threads already
    running at the seal (the store's checkpointer) must be put under the filter and
    no_new_privs too, or code running there could still execve, ptrace and mount."""
    g = gateway("home: {home}\napi:\n  listen: 127.0.0.1:{port}\n"
                "guardrails:\n  seccomp:\n    action: errno\n")
    tasks = os.listdir(f"/proc/{g.proc.pid}/task")
    assert len(tasks) >= 2, tasks  # the main thread and the checkpointer at least
    for tid in tasks:
        with open(f"/proc/{g.proc.pid}/task/{tid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        assert status["Seccomp"].strip() == "2", (tid, status["Name"])
        assert status["NoNewPrivs"].strip() == "1", (tid, status["Name"])
    assert g.stop() == 0, g.stderr()


def post_chat(g, content, user):
    body = {"model": "hermetic-agent", "user": user,
            "messages": [{"role": "user", "content": content}]}
    req = urllib.request.Request(g.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {API_KEY}"}, method="POST")
    with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
        return r.status, json.loads(r.read())


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None


@pytest.mark.smoke
@SEALS
def test_sealed_gateway_full_turn_with_stdio_mcp_restart_in_kill_mode(sealable, fake, servers,
                                                                      mcp_gateway):
    entry = servers.everything_stdio_entry(timeout=CALL_TIMEOUT, connect_timeout=NODE_CONNECT_TIMEOUT)
    model = deployment("free", "test/free", fake)
    # A host name, not an address: curl resolves it on its resolver thread (clone, futex).
    base = model["litellm_params"]["api_base"]
    assert "127.0.0.1" in base, base
    model["litellm_params"]["api_base"] = base.replace("127.0.0.1", "localhost")
    g = mcp_gateway({"everything": entry}, api_key=API_KEY, env={UPSTREAM_ENV: UPSTREAM_KEY},
                    guardrails={"seccomp": {"action": "kill"}}, timezone="UTC", model="free",
                    model_list=[model],
                    router_settings={"num_retries": 0, "timeout": 20})
    g.wait_tools("everything")
    # The filter is really on, in kill mode: any syscall missing below would end the process.
    assert status_field(g.proc.pid, "Seccomp") == "2"
    assert status_field(g.proc.pid, "NoNewPrivs") == "1"
    assert "seccomp: active, other syscalls kill the process" in g.stderr()
    # Landlock is applied first in the same seal; the stdio server below still executes its
    # program, because the launcher was forked before either.
    if landlock_abi() > 0:
        assert "Landlock: active (ABI" in g.stderr(), g.stderr()

    def turn(word, user):
        fake.script_for("test/free",
                        tool_calls(("c1", "mcp_everything_echo", json.dumps({"message": word}))),
                        text(f"echoed {word}"))
        status, r = post_chat(g, f"echo {word}", user)
        assert status == 200, r
        assert r["choices"][0]["message"]["content"] == f"echoed {word}"
        tool_msgs = [m for m in fake.chat_requests[-1]["body"]["messages"] if m["role"] == "tool"]
        assert tool_msgs[-1]["content"] == f"Echo: {word}"

    turn("before", "alice")
    kids = [p for p in server_children(g.proc.pid) if proc_state(p) not in (None, "Z")]
    assert len(kids) == 1, kids
    # The server runs outside the filter (started by the launcher before it closed).
    assert status_field(kids[0], "Seccomp") == "0"
    os.kill(kids[0], signal.SIGKILL)
    wait_until(lambda: proc_state(kids[0]) is None, timeout=10, what="dead server reaped")

    def respawned():
        now = [p for p in server_children(g.proc.pid) if proc_state(p) not in (None, "Z")]
        return now and now[0] != kids[0]
    wait_until(respawned, timeout=30 * SLOW, what="server restarted through the launcher")
    g.wait_tools("everything", timeout=30 * SLOW)
    turn("after", "bob")  # a second session: more SQLite writes
    assert g.proc.poll() is None, g.stderr()
    assert "denied syscall" not in g.stderr()
    # A clean stop under the filter: exit 0, servers and launcher gone.
    launcher = children_of(g.proc.pid)
    assert len(launcher) == 1, launcher
    assert g.stop() == 0, g.stderr()
    # It exits on EOF (reaped by whoever adopted it: a zombie counts as gone).
    wait_until(lambda: proc_state(launcher[0]) in (None, "Z"), timeout=10, what="launcher gone")


def test_launcher_and_servers_go_when_the_gateway_is_killed(servers, mcp_gateway):
    """PR_SET_PDEATHSIG and EOF: a SIGKILLed gateway leaves no launcher behind, and its stdio
    servers see EOF on stdin and exit as before. Runs in every build (the launcher is always
    used, sealed or not)."""
    entry = servers.everything_stdio_entry(timeout=CALL_TIMEOUT, connect_timeout=NODE_CONNECT_TIMEOUT)
    g = mcp_gateway({"everything": entry})
    g.wait_tools("everything")
    launcher = children_of(g.proc.pid)
    kids = server_children(g.proc.pid)
    assert len(launcher) == 1 and len(kids) == 1, (launcher, kids)
    # Nothing but stdio and its socket: the launcher holds none of hermetic's descriptors.
    fds = sorted(int(fd) for fd in os.listdir(f"/proc/{launcher[0]}/fd"))
    assert fds[:3] == [0, 1, 2] and len(fds) <= 5, [
        (fd, os.readlink(f"/proc/{launcher[0]}/fd/{fd}")) for fd in fds]
    g.proc.kill()
    g.proc.wait()
    wait_until(lambda: proc_state(launcher[0]) in (None, "Z"), timeout=10 * SLOW,
               what="launcher gone after the gateway died")
    wait_until(lambda: proc_state(kids[0]) in (None, "Z"), timeout=20 * SLOW,
               what="stdio server gone after the gateway died")


@pytest.mark.smoke
@SEALS
def test_router_is_sealed_in_kill_mode_and_starts_no_launcher(sealable, fake, start_router):
    """`hermetic router` seals too; with no stdio MCP server there is nothing to start, so
    there is no launcher process at all."""
    fake.script_for("test/free", text("routed"))
    r = start_router(router_config(fake, guardrails={"seccomp": {"action": "kill"}}))
    assert status_field(r.proc.pid, "Seccomp") == "2"
    assert children_of(r.proc.pid) == []
    resp = r.chat("free")
    assert resp.status == 200, resp
    assert resp.json()["choices"][0]["message"]["content"] == "routed"
    assert r.proc.poll() is None


def stat_field(pid, tid, n):
    """Field n of /proc/PID/task/TID/stat, counted after the command name, which may hold
    spaces."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[n - 3])


def sched_policy(pid, tid):
    """The scheduling policy of a thread: field 41 (0 SCHED_OTHER, 3 SCHED_BATCH)."""
    return stat_field(pid, tid, 41)


def nice_value(pid, tid):
    """The nice value of a thread: field 19."""
    return stat_field(pid, tid, 19)


def thread_nices(pid):
    """{tid: nice value} of the process's threads; a thread that ends between the listing and
    the read is left out."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            out[int(t)] = nice_value(pid, t)
        except OSError:
            pass
    return out


def store_threads_at_10(pid):
    """The threads' nice values when at least two workers (the store's) are at nice 10."""
    n = thread_nices(pid)
    return n if sum(1 for t, v in n.items() if t != pid and v == 10) >= 2 else None


@pytest.mark.smoke
@SEALS
def test_the_sealed_routers_worker_threads_run_as_sched_batch(sealable, fake, start_router):
    """The store's committer is woken by the loop ten times a second under load; as
    SCHED_OTHER it preempted the loop on its CPU for its whole commit (the batch window's
    callback took a median 157 µs at 1,000 req/s). Every worker thread takes SCHED_BATCH
    (offload_thread_init), which the filter allows and nothing else of sched_setscheduler: in
    kill mode a denied call would have killed the router. The store's committer and
    checkpointer also raise their nice value to 10 (offload_thread_background: a
    setpriority the filter allows for PRIO_PROCESS only); the loop stays at 0."""
    fake.script_for("test/free", text("routed"))
    r = start_router(router_config(fake, guardrails={"seccomp": {"action": "kill"}}))
    resp = r.chat("free")  # a ledger row: the committer has had a batch
    assert resp.status == 200, resp
    pid = r.proc.pid

    def worker_policies():
        # a thread that is ending is gone from the listing, or its stat unreadable: read again
        workers = [t for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
        return {t: sched_policy(pid, t) for t in workers}

    def all_batch():
        # a thread caught between its start and offload_thread_init is read again
        p = worker_policies()
        return p if len(p) >= 2 and set(p.values()) == {3} else None

    assert sched_policy(pid, pid) == 0
    try:  # at least the store's checkpointer and committer
        wait_until(all_batch, timeout=2, what="every worker under SCHED_BATCH")
    except AssertionError:
        raise AssertionError(f"worker threads' policies (3 is SCHED_BATCH): {worker_policies()}")
    try:
        wait_until(lambda: store_threads_at_10(pid), timeout=2,
                   what="the store's two threads at nice 10")
    except AssertionError:
        raise AssertionError(f"threads' nice values: {thread_nices(pid)}")
    assert nice_value(pid, pid) == 0
    assert r.proc.poll() is None


def test_the_ledger_commits_while_every_cpu_is_busy(fake, start_router):
    """The store's committer and checkpointer run at nice 10 (offload_thread_background), a
    tenth of the share of a busy nice-0 thread: the router's tail no longer waits behind a
    commit, and the commit still happens when a build or a backup keeps every CPU busy. With
    two busy nice-0 processes a CPU the router answers every call, and the calls' ledger rows,
    written in batches by the committer, reach state.db within the wait's bound."""
    n = 40
    fake.script_for("test/free", *[text("routed")] * n)
    r = start_router(router_config(fake))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(2 * (os.cpu_count() or 1))]
    try:
        for _ in range(n):
            resp = r.chat("free")
            assert resp.status == 200, resp
        rows = r.wait_spend_rows(n, timeout=15)
        assert len(rows) == n, f"{len(rows)} of {n} ledger rows written while the CPUs were busy"
        assert store_threads_at_10(r.proc.pid), thread_nices(r.proc.pid)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert r.proc.poll() is None


def test_a_dead_launcher_fails_stdio_servers_cleanly_and_is_reaped(servers, mcp_gateway):
    """The launcher killed under a running gateway: its server is reported gone (exactly
    once, from the loop), a restart fails with a clear error instead of hanging, the orphaned
    server sees EOF and exits, the dead launcher does not stay a zombie, and the gateway keeps
    serving and stops cleanly. Runs in every build (the launcher is always used)."""
    entry = servers.everything_stdio_entry(timeout=CALL_TIMEOUT, connect_timeout=NODE_CONNECT_TIMEOUT)
    g = mcp_gateway({"everything": entry})
    g.wait_tools("everything")
    launcher = children_of(g.proc.pid)
    kids = server_children(g.proc.pid)
    assert len(launcher) == 1 and len(kids) == 1, (launcher, kids)
    os.kill(launcher[0], signal.SIGKILL)
    wait_until(lambda: "the process launcher exited" in g.stderr(), timeout=10 * SLOW,
               what="launcher loss noticed")
    g.wait_tools("everything", present=False, timeout=10 * SLOW)
    wait_until(lambda: "the process launcher has exited; restart hermetic" in g.stderr(),
               timeout=30 * SLOW, what="restart refused with a clear error")
    r = g.call("mcp_everything_echo", {"message": "x"}, timeout=CALL_TIMEOUT + 10)
    assert r.status != 200 or "error" in r.text.lower(), r
    wait_until(lambda: proc_state(kids[0]) in (None, "Z"), timeout=20 * SLOW,
               what="orphaned server gone (EOF on stdin)")
    wait_until(lambda: proc_state(launcher[0]) is None, timeout=10 * SLOW,
               what="dead launcher reaped, not left a zombie")
    assert g.stderr().count("the process launcher exited") == 1, g.stderr()
    assert g.request("GET", "/healthz").status == 200
    assert g.stop() == 0, g.stderr()
