"""The release image in a real container runtime, run the way k8s/deployment.yaml runs it.

The image: scripts/image-rootfs.sh's tree around the static x86_64 binary, built with buildah
from kaniko/Dockerfile's own final stage (`FROM scratch` onwards; only `--from=builder
/rootfs/` becomes the tree on disk), so User, WorkingDir, Env and Entrypoint are the
Dockerfile's. The container: podman with runc, and every setting read from the manifests:
the Deployment's uid, gid and fsGroup, read-only root filesystem, all capabilities dropped, no
privilege escalation, the runtime's default seccomp profile, its memory and CPU limits, its
command and args, the Secret as environment (envFrom), the ConfigMap mounted read-only at
/etc/hermetic in the layout the kubelet writes (a timestamped directory, `..data` pointing to
it, each key a symlink `key -> ..data/key`), the data volume owned by 10001 and an emptyDir
at /tmp. The shipped ConfigMap's config.yaml is used as it is, with only the addresses and
the Telegram user changed: the model, the kubernetes-mcp-server sidecar and Telegram are fakes
on the host's loopback, which the container reaches through slirp4netns (10.0.2.2).

It proves: the probes answer; an API turn calls a built-in tool and the sidecar's MCP tool;
Telegram replies; the sandbox is what the log and `doctor` say (Landlock's effect checked with
`landlock-probe` inside the container, the filters counted in /proc); after the kubelet's
atomic `..data` swap the new persona is read by the next turn under Landlock, while
config.yaml and the Secret take effect at the restart the deploy does (docs/deploy-k3s.md);
SIGTERM (`podman stop`) ends it with status 0 within the grace period; the memory cgroup
never reached its limit. A second run under the default profile without the landlock
syscalls (what containerd shipped before 1.6) must say that Landlock is not active and why.

Runs in `make test`'s x86_64 stage (HERMETIC_CONTAINER_BIN=dist/hermetic-x86_64).
"""
import ctypes
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, clean_env, free_port, to_yaml
from fakes.fake_mcp import FakeMcp, text_result, tool
from fakes.fake_openai import FakeOpenAI, text, tool_calls
from fakes.fake_telegram import FakeTelegram
from router_harness import UPSTREAM_KEY

# make test's x86_64 stage: HERMETIC_CONTAINER_BIN=dist/hermetic-x86_64
pytestmark = [pytest.mark.container, pytest.mark.needs("container")]

CTR_BIN = os.environ.get("HERMETIC_CONTAINER_BIN")
IMAGE = "localhost/hermetic-container-test:latest"
HOST = "10.0.2.2"  # the host's loopback as slirp4netns shows it to the container
USER = 1001  # the Telegram user the test writes as
TOKEN = "123456:CTR-e2e-SECRET-token"
API_KEY = "ctr-api-key-0d6f2b91"
API_KEY_2 = "ctr-api-key-rotated-7c1e44"
SECCOMP_DEFAULT = Path("/usr/share/containers/seccomp.json")
LANDLOCK_CALLS = ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self")


# ---- the manifests -------------------------------------------------------------------------

def manifests():
    """(the hermetic container, its pod spec, the ConfigMap's data) as shipped."""
    dep = yaml.safe_load((ROOT / "k8s" / "deployment.yaml").read_text())
    pod = dep["spec"]["template"]["spec"]
    ctr = next(c for c in pod["containers"] if c["name"] == "hermetic")
    data = yaml.safe_load((ROOT / "k8s" / "configmap.yaml").read_text())["data"]
    return ctr, pod, data


def quantity(q):
    """A Kubernetes memory quantity (64Mi, 128M, 1Gi, bytes) in bytes."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|K|M|G)?", str(q))
    assert m, f"unexpected quantity {q!r}"
    mult = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "K": 10**3, "M": 10**6,
            "G": 10**9}[m.group(2)]
    return int(m.group(1)) * mult


def ulimits():
    """podman's default limits (1048576 open files) exceed this VM's hard limits, which root
    without CAP_SYS_RESOURCE cannot raise: explicit ones below them."""
    _, hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    _, hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    nofile = min(hard_nofile, 65536)
    nproc = min(hard_nproc, 4096)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def pod_flags(ctr, pod):
    """podman run flags for what the Deployment sets on the hermetic container. Every setting
    is asserted to be one this translation knows, so a changed manifest fails here, not
    silently."""
    psc, csc = pod["securityContext"], ctr["securityContext"]
    uid, gid, fsgroup = psc["runAsUser"], psc["runAsGroup"], psc["fsGroup"]
    assert psc["runAsNonRoot"] and csc["runAsNonRoot"] and uid != 0
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"} == csc["seccompProfile"]
    lim = ctr["resources"]["limits"]
    mem = quantity(lim["memory"])
    flags = ["--user", f"{uid}:{gid}", "--group-add", str(fsgroup),
             "--read-only", "--read-only-tmpfs=false",
             "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
             "--memory", str(mem), "--memory-swap", str(mem), "--cpus", str(lim["cpu"]),
             *ulimits(),
             "--stop-timeout", str(pod["terminationGracePeriodSeconds"])]
    return flags, mem


# ---- the kubelet's configMap volume ---------------------------------------------------------

class ConfigMapVolume:
    """A configMap volume as the kubelet's atomic writer keeps it: the files in a timestamped
    directory `..YYYY_MM_DD_HH_MM_SS.N`, `..data` a symlink to it, each key `key -> ..data/key`;
    an update writes a new directory, renames a new `..data` over the old one and removes the
    old directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir(mode=0o777)
        self.path.chmod(0o777)  # as the kubelet leaves the volume root
        self.n = 0

    def write(self, files):
        self.n += 1
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{os.getpid()}{self.n}"
        new = self.path / stamp
        new.mkdir(mode=0o755)
        for k, v in files.items():
            (new / k).write_text(v)
            (new / k).chmod(0o644)
        data = self.path / "..data"
        old = os.readlink(data) if data.is_symlink() else None
        tmp = self.path / "..data_tmp"
        os.symlink(stamp, tmp)
        os.replace(tmp, data)
        for k in files:
            if not (self.path / k).is_symlink():
                os.symlink(f"..data/{k}", self.path / k)
        if old:
            shutil.rmtree(self.path / old)
        return stamp


# ---- podman and buildah with a storage of their own ----------------------------------------

class Runtime:
    def __init__(self, base):
        self.base = Path(base)
        self.store = ["--root", str(self.base / "storage"), "--runroot", str(self.base / "run"),
                      "--storage-driver", "vfs"]
        # crun refuses this VM's cgroup v1 layout; Debian's runc works
        self.engine = ["--runtime", "runc", "--cgroup-manager", "cgroupfs",
                       "--events-backend", "file", "--tmpdir", str(self.base / "tmp")]

    def podman(self, *args, check=True, timeout=120):
        r = subprocess.run(["podman", *self.store, *self.engine, *map(str, args)],
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"podman {' '.join(map(str, args))}: {r.stderr}{r.stdout}"
        return r

    def buildah(self, *args, cwd=None):
        r = subprocess.run(["buildah", *self.store, *map(str, args)], cwd=cwd,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"buildah {' '.join(map(str, args))}: {r.stderr}{r.stdout}"
        return r

    def inspect(self, name, fmt):
        return self.podman("inspect", "--format", fmt, name).stdout.strip()


def final_stage():
    """kaniko/Dockerfile from `FROM scratch` on, copying from the tree on disk."""
    text_ = (ROOT / "kaniko" / "Dockerfile").read_text()
    stage = text_[text_.index("\nFROM scratch") + 1:]
    out = []
    for line in stage.splitlines():
        if line.startswith("COPY"):
            line = line.replace(" --from=builder", "").replace(" /rootfs/", " rootfs/")
            assert "--from=" not in line, line
        out.append(line)
    return "\n".join(out) + "\n"


def unavailable():
    """Why this machine cannot run the test, or None. Missing packages are not a reason
    (scripts/install-deps.sh installs them)."""
    if os.geteuid() != 0:
        return "rootful podman needs root (this test does not set up rootless podman)"
    if not os.path.exists("/proc/self/ns/user"):
        return "the kernel has no namespaces"
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    if not (os.path.isdir("/sys/fs/cgroup/memory") or
            (v2.exists() and "memory" in v2.read_text().split())):
        return "no memory cgroup controller: the Deployment's memory limit cannot be applied"
    return None


@pytest.fixture(scope="module")
def image():
    why = unavailable()
    if why:
        pytest.skip(why)
    for cmd in ("podman", "buildah", "runc", "slirp4netns"):
        assert shutil.which(cmd), f"{cmd} missing: scripts/install-deps.sh installs it"
    # short paths: conmon's attach socket lives under the runroot (108-byte socket paths)
    base = tempfile.mkdtemp(prefix="hctr-", dir="/tmp")
    rt = Runtime(base)
    try:
        ctx = Path(base) / "context"
        ctx.mkdir()
        r = subprocess.run([str(ROOT / "scripts" / "image-rootfs.sh"), "--bin", CTR_BIN,
                            "--out", str(ctx / "rootfs"), "--tar", ""],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        (ctx / "Containerfile").write_text(final_stage())
        rt.buildah("bud", "--quiet", "--layers=false", "-f", ctx / "Containerfile", "-t", IMAGE,
                   ctx)
        yield rt
    finally:
        rt.podman("rm", "--force", "--all", check=False)
        rt.podman("rmi", "--force", "--all", check=False)
        shutil.rmtree(base, ignore_errors=True)


# ---- helpers --------------------------------------------------------------------------------

def host_landlock_abi():
    """The Landlock ABI this kernel offers to a process outside any container, or -errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    r = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint(1))
    return r if r >= 0 else -ctypes.get_errno()


def profile_allows(profile, names):
    """True when the seccomp profile (OCI JSON) allows every syscall of names unconditionally."""
    allowed = set()
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args") and \
                not rule.get("includes") and not rule.get("excludes"):
            allowed.update(rule.get("names", []))
    return all(n in allowed for n in names)


def proc_status(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def memory_cgroup(pid):
    """(limit, peak, times the limit was hit) of the memory cgroup of pid, v1 or v2."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            d = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            return (int((d / "memory.limit_in_bytes").read_text()),
                    int((d / "memory.max_usage_in_bytes").read_text()),
                    int((d / "memory.failcnt").read_text()))
    d = Path("/sys/fs/cgroup") / path.lstrip("/")  # v2: the one "0::" line
    events = dict(line.split() for line in (d / "memory.events").read_text().splitlines())
    return (int((d / "memory.max").read_text()), int((d / "memory.peak").read_text()),
            int(events["max"]))


def request(url, body=None, headers=None, timeout=30):
    """(status, body text); HTTP errors are answers."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json",
                                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_probe(url, timeout, rt, name):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rt.inspect(name, "{{.State.Running}}") != "true":
            raise AssertionError("the container exited:\n" + rt.podman("logs", name).stderr)
        try:
            if request(url, timeout=3)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not 200 after {timeout}s:\n" + rt.podman("logs", name).stderr)


def seeded_config(data, fake, mcp, tg, model_suffix=""):
    """The shipped config.yaml with the fakes' addresses: every model group goes to the fake
    model as test/<group><suffix>, the sidecar's URL to the fake MCP server, Telegram's API to
    the fake and its allowed user to the test's."""
    cfg = yaml.safe_load(data["config.yaml"])
    for m in cfg["model_list"]:
        m["litellm_params"]["model"] = f"openrouter/test/{m['model_name']}{model_suffix}"
        m["litellm_params"]["api_base"] = fake.url.replace("127.0.0.1", HOST)
    cfg["mcp_servers"]["kubernetes"]["url"] = mcp.url.replace("127.0.0.1", HOST)
    cfg["telegram"].update(api_base=tg.url.replace("127.0.0.1", HOST), allowed_users=[USER],
                           stream="off", progress="off", poll_timeout_s=1)
    return to_yaml(cfg)


# ---- the tests ------------------------------------------------------------------------------

def test_the_image_is_the_dockerfiles_final_stage(image):
    """What buildah made of the final stage: the Dockerfile's user, workdir, env, entrypoint."""
    cfg = json.loads(image.podman("image", "inspect", "--format", "{{json .Config}}",
                                  IMAGE).stdout)
    stage = final_stage()
    user = re.search(r"^USER (\S+)", stage, re.M).group(1)
    workdir = re.search(r"^WORKDIR (\S+)", stage, re.M).group(1)
    entry = json.loads(re.search(r"^ENTRYPOINT (.+)$", stage, re.M).group(1))
    env = re.search(r"^ENV (.+)$", stage, re.M).group(1).split()
    assert (cfg["User"], cfg["WorkingDir"], cfg["Entrypoint"]) == (user, workdir, entry)
    assert set(env) <= set(cfg["Env"]), cfg["Env"]
    assert (user, workdir, entry) == ("10001:10001", "/opt/data", ["/hermetic", "gateway"])
    r = image.podman("run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
                     "--security-opt", "no-new-privileges", *ulimits(),
                     "--entrypoint", "/hermetic", IMAGE, "--version")
    assert r.stdout.startswith("hermetic "), r.stdout


class Pod:
    """The hermetic container of the Deployment, run with podman: the ConfigMap volume at
    config_mount (the manifest's mountPath unless given), the data volume, the emptyDir, the
    Secret as an env file, the fakes on the host."""

    def __init__(self, image, tmp_path, config_mount=None):
        self.rt, self.tmp = image, tmp_path
        self.ctr, self.pod, self.data = manifests()
        self.flags, self.mem_limit = pod_flags(self.ctr, self.pod)
        self.mounts = {m["name"]: m["mountPath"] for m in self.ctr["volumeMounts"]}
        self.config_mount = config_mount or self.mounts["config"]
        self.port = self.ctr["ports"][0]["containerPort"]
        self.fake = FakeOpenAI(api_key=UPSTREAM_KEY).start()
        self.mcp = FakeMcp(tools=[tool("pods_list", "fixed", description="Lists pods",
                                       result=text_result("pod hermetic-0 Running"))]).start()
        self.tg = FakeTelegram(token=TOKEN).start()
        self.cfgdir = ConfigMapVolume(tmp_path / "configmap")
        self.datadir = tmp_path / "data"  # the PVC: owned by the pod's user and fsGroup
        self.datadir.mkdir(mode=0o2770)
        os.chown(self.datadir, self.pod["securityContext"]["runAsUser"],
                 self.pod["securityContext"]["fsGroup"])
        self.tmpdir = tmp_path / "emptydir-tmp"
        self.tmpdir.mkdir()
        self.tmpdir.chmod(0o777)
        self.hp = free_port()
        self.base = f"http://127.0.0.1:{self.hp}"
        self.logs = tmp_path / "stderr.log"  # checked for leaked secrets by conftest
        self.names = []

    def write_config(self, soul, model_suffix=""):
        """The kubelet's (atomic) update of the ConfigMap volume."""
        cfg = seeded_config(self.data, self.fake, self.mcp, self.tg, model_suffix)
        cfg = cfg.replace(self.mounts["config"] + "/", self.config_mount + "/")
        self.cfgdir.write({"config.yaml": cfg, "SOUL.md": soul})

    def secret(self, api_key):
        env = {"OPENROUTER_API_KEY": UPSTREAM_KEY, "TELEGRAM_BOT_TOKEN": TOKEN,
               "API_SERVER_KEY": api_key}
        clean_env(**env)  # registers them with conftest's no-secret-in-output check
        f = self.tmp / "secret.env"
        f.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        return f

    def start(self, name, api_key):
        args = [a.replace(self.mounts["config"] + "/", self.config_mount + "/")
                for a in self.ctr["args"]]
        self.names.append(name)
        self.rt.podman("run", *self.flags, "--detach", "--name", name,
                       "--network", "slirp4netns:allow_host_loopback=true",
                       "--publish", f"127.0.0.1:{self.hp}:{self.port}",
                       "--env-file", self.secret(api_key),
                       "--volume", f"{self.cfgdir.path}:{self.config_mount}:ro",
                       "--volume", f"{self.datadir}:{self.mounts['data']}",
                       "--volume", f"{self.tmpdir}:{self.mounts['tmp']}",
                       "--entrypoint", self.ctr["command"][0], IMAGE, *args)
        for probe in ("livenessProbe", "readinessProbe"):
            wait_probe(self.base + self.ctr[probe]["httpGet"]["path"], 30, self.rt, name)
        return self.rt.inspect(name, "{{.State.Pid}}")

    def turn(self, key, prompt="go"):
        return request(self.base + "/v1/chat/completions",
                       {"messages": [{"role": "user", "content": prompt}]},
                       {"Authorization": f"Bearer {key}", "Host": "hermetic.ai.svc"},
                       timeout=60)

    def stop(self, name):
        """(exit status, seconds podman stop took, the container's log)."""
        t0 = time.monotonic()
        self.rt.podman("stop", name, timeout=60)
        took = time.monotonic() - t0
        out = self.rt.podman("logs", name).stderr
        with open(self.logs, "a") as f:
            f.write(out)
        return int(self.rt.inspect(name, "{{.State.ExitCode}}")), took, out

    def close(self):
        if self.names:
            self.rt.podman("rm", "--force", *self.names, check=False)
        self.tg.close()
        self.mcp.close()
        self.fake.close()


@pytest.fixture
def make_pod(image, tmp_path):
    pods = []

    def make(**kw):
        pods.append(Pod(image, tmp_path, **kw))
        return pods[-1]

    yield make
    for p in pods:
        p.close()


def test_the_deployment_runs_in_a_real_container_runtime(image, make_pod):
    p = make_pod()
    ctr, pod, data, fake, tg = p.ctr, p.pod, p.data, p.fake, p.tg
    mem_limit, datadir, turn, stop = p.mem_limit, p.datadir, p.turn, p.stop
    profile = json.loads(SECCOMP_DEFAULT.read_text())
    info = json.loads(image.podman("info", "--format", "json").stdout)
    assert info["host"]["security"]["seccompProfilePath"] == str(SECCOMP_DEFAULT)
    assert info["host"]["security"]["seccompEnabled"]
    abi = host_landlock_abi()
    # What the log must say follows from the kernel and the runtime's default profile.
    landlock_expected = abi > 0 and profile_allows(profile, LANDLOCK_CALLS)

    mounts = {m["name"]: m for m in ctr["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["config"]["configMap"]["name"] == "hermetic-config" and mounts["config"]["readOnly"]
    assert "persistentVolumeClaim" in vols["data"] and "emptyDir" in vols["tmp"]
    assert ctr["envFrom"] == [{"secretRef": {"name": "hermetic-secrets"}}]

    p.write_config(data["SOUL.md"])
    pid = p.start("hermetic-1", API_KEY)

    # The process is what the Deployment asks for, with the runtime's filter and its own.
    st = proc_status(pid)
    assert st["Uid"].split()[:2] == ["10001", "10001"] and st["Gid"].split()[0] == "10001", st
    assert "10001" in st["Groups"].split(), st["Groups"]
    assert st["CapEff"] == st["CapPrm"] == st["CapBnd"] == "0000000000000000", st
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
    assert st["Seccomp_filters"] == "2", st  # the runtime's default profile + hermetic's
    assert memory_cgroup(pid)[0] == mem_limit

    log = image.podman("logs", "hermetic-1").stderr
    assert "seccomp: active, other syscalls fail with EPERM" in log, log
    if landlock_expected:
        assert f"Landlock: active (ABI {abi}): writes only under /opt/data" in log, log
    else:
        assert "Landlock: not active" in log, log
    doctor = image.podman("exec", "hermetic-1", "/hermetic", "doctor", "--config",
                          "/etc/hermetic/config.yaml", check=False).stdout
    assert (f"landlock: available (ABI {abi})" in doctor) == landlock_expected, doctor
    assert "seccomp: this process runs under 1 filter it did not load" in doctor, doctor
    # Landlock's effect, checked inside the container: writes only under home.
    probe = image.podman("exec", "hermetic-1", "/hermetic", "landlock-probe", "--config",
                         "/etc/hermetic/config.yaml", "w:/opt/data/probe", "w:/tmp/probe",
                         "r:/etc/hermetic/SOUL.md", "r:/hermetic").stdout
    lines = probe.splitlines()
    got = dict(line.split(" ", 1) for line in lines[1:])
    assert got["w:/opt/data/probe"] == "ok" and got["r:/etc/hermetic/SOUL.md"] == "ok", probe
    denied = "Permission denied" if landlock_expected else "ok"
    assert got["w:/tmp/probe"] == denied and got["r:/hermetic"] == denied, probe
    assert lines[0] in log, (lines[0], log)  # the same state as the gateway's

    # An API turn through the Service's name: a built-in tool and the sidecar's tool.
    fake.script_for("test/free", tool_calls(("c1", "time", "{}")),
                    tool_calls(("c2", "mcp_kubernetes_pods_list", "{}")), text("all good"))
    status, body = turn(API_KEY)
    assert status == 200 and "all good" in body, (status, body)
    req = fake.chat_requests[-1]["body"]
    results = [m["content"] for m in req["messages"] if m["role"] == "tool"]
    assert "Asia/Manila" in results[0] or "+08" in results[0], results  # zoneinfo read
    assert "pod hermetic-0 Running" in results[1], results
    assert "You are Donna" in req["messages"][0]["content"]  # SOUL.md via ..data

    # Telegram: a message in, the answer out.
    fake.script_for("test/free", text("hello from the container"))
    tg.push_text("hi", chat_id=USER)
    assert tg.wait_sent(USER, 1, timeout=30)[-1] == "hello from the container"

    # The kubelet updates the ConfigMap: a new persona and a config.yaml that names other
    # models. The persona is read for each new session, through ..data, under Landlock;
    # config.yaml only at start.
    soul2 = data["SOUL.md"].replace("You are Donna", "You are Rosa")
    p.write_config(soul2, model_suffix="-v2")
    fake.script_for("test/free", text("after the swap"))
    status, body = turn(API_KEY, "again")
    assert status == 200 and "after the swap" in body, (status, body)
    req = fake.chat_requests[-1]
    assert "You are Rosa" in req["body"]["messages"][0]["content"]
    assert req["body"]["model"] == "test/free", req["body"]["model"]  # config: at start

    # Memory: the cgroup never hit the Deployment's limit.
    _, peak, failcnt = memory_cgroup(pid)
    hwm_kib = int(proc_status(pid)["VmHWM"].split()[0])
    print(f"\nmemory: cgroup peak {peak / 1048576:.1f} MiB, process VmHWM "
          f"{hwm_kib / 1024:.1f} MiB, limit {mem_limit / 1048576:.0f} MiB")
    assert failcnt == 0 and peak < mem_limit, (peak, failcnt)

    # SIGTERM within the grace period, exit 0.
    rc, took, out = stop("hermetic-1")
    print(f"podman stop (SIGTERM): exit {rc} after {took:.2f}s")
    assert rc == 0 and took < int(pod["terminationGracePeriodSeconds"]), (rc, took, out)
    assert image.inspect("hermetic-1", "{{.State.OOMKilled}}") == "false"
    for bad in ("denied syscall", "Permission denied", "unreadable"):
        assert bad not in out, out

    # The restart the deploy does after a ConfigMap or Secret change (a new container, the
    # same volume): the new config.yaml and the rotated API key now count.
    p.start("hermetic-2", API_KEY_2)
    assert turn(API_KEY)[0] == 401
    fake.script_for("test/free-v2", text("restarted"))
    status, body = turn(API_KEY_2)
    assert status == 200 and "restarted" in body, (status, body)
    assert fake.chat_requests[-1]["body"]["model"] == "test/free-v2"
    rc, took, out = stop("hermetic-2")
    assert rc == 0 and took < int(pod["terminationGracePeriodSeconds"]), (rc, took, out)
    assert (datadir / "state.db").stat().st_uid == 10001


def test_a_profile_without_landlock_is_reported_truthfully(image, tmp_path):
    """The runtime's default profile less the three landlock syscalls, which is what
    containerd's default profile was before 1.6: the log and doctor must say Landlock is not
    active and name the seccomp filter as the likely cause; seccomp itself stays active."""
    ctr, pod, data = manifests()
    flags, _ = pod_flags(ctr, pod)
    profile = json.loads(SECCOMP_DEFAULT.read_text())
    for rule in profile["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in LANDLOCK_CALLS]
    prof = tmp_path / "seccomp-no-landlock.json"
    prof.write_text(json.dumps(profile))
    home = tmp_path / "data"
    home.mkdir()
    os.chown(home, 10001, 10001)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text(to_yaml({"home": "/opt/data", "timezone": "UTC"}))
    common = [*flags, "--rm", "--network", "none", "--security-opt", f"seccomp={prof}",
              "--volume", f"{conf}:/etc/hermetic:ro", "--volume", f"{home}:/opt/data",
              "--entrypoint", "/hermetic", IMAGE]
    probe = image.podman("run", *common, "landlock-probe", "--config",
                         "/etc/hermetic/config.yaml", check=False)
    out = probe.stdout + probe.stderr
    assert "Landlock: not active" in out and "seccomp filter" in out, out
    doctor = image.podman("run", *common, "doctor", "--config", "/etc/hermetic/config.yaml",
                          check=False).stdout
    assert "landlock: available" not in doctor and "seccomp filter" in doctor, doctor


def test_a_configmap_swap_outside_etc_stays_readable_under_landlock(make_pod):
    """/etc is readable to the sealed process anyway (the resolver's files live there), so the
    manifests' mount at /etc/hermetic never needs the grant through the config's directory:
    the same ConfigMap mounted at /srv/hermetic does. The kubelet's swap removes the
    timestamped directory the config's symlinks pointed to when the rules were made; the next
    session must still read the new persona."""
    p = make_pod(config_mount="/srv/hermetic")
    p.write_config(p.data["SOUL.md"])
    p.start("hermetic-srv", API_KEY)
    p.fake.script_for("test/free", text("before"))
    assert p.turn(API_KEY)[0] == 200
    assert "You are Donna" in p.fake.chat_requests[-1]["body"]["messages"][0]["content"]
    p.write_config(p.data["SOUL.md"].replace("You are Donna", "You are Rosa"))
    p.fake.script_for("test/free", text("after"))
    status, body = p.turn(API_KEY, "again")
    assert status == 200 and "after" in body, (status, body)
    assert "You are Rosa" in p.fake.chat_requests[-1]["body"]["messages"][0]["content"]
    rc, _, out = p.stop("hermetic-srv")
    assert rc == 0 and "Landlock: active" in out and "unreadable" not in out, out
