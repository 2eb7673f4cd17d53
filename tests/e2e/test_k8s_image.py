"""The FROM-scratch image's file tree, built without Docker by scripts/image-rootfs.sh from the
static aarch64 binary (the same script kaniko/Dockerfile's builder stage runs), and the
Dockerfile around it.

The binary is HERMETIC_BIN when that is the static aarch64 build (the aarch64 smoke run),
else dist/hermetic-aarch64; without one the tree tests are skipped (make static-aarch64).
"""
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import ROOT, clean_env

pytestmark = pytest.mark.smoke

MAX_BYTES = 4 * 1024 * 1024
SCRIPT = ROOT / "scripts" / "image-rootfs.sh"
DOCKERFILE = ROOT / "kaniko" / "Dockerfile"


def is_static_aarch64(path):
    if not path or not os.path.isfile(path):
        return False
    r = subprocess.run(["readelf", "-h", path], capture_output=True, text=True)
    return r.returncode == 0 and "AArch64" in r.stdout


def aarch64_binary():
    env_bin = os.environ.get("HERMETIC_BIN", "")
    if is_static_aarch64(env_bin):
        return env_bin
    dist = ROOT / "dist" / "hermetic-aarch64"
    return str(dist) if is_static_aarch64(str(dist)) else None


def run_aarch64(*args, env=None):
    """The aarch64 binary: natively on an arm64 host, else under qemu-aarch64-static."""
    wrapper = [] if platform.machine() == "aarch64" else ["qemu-aarch64-static"]
    if wrapper and not shutil.which(wrapper[0]):
        pytest.skip("qemu-aarch64-static not installed")
    return subprocess.run(wrapper + list(args), capture_output=True, text=True, env=env or clean_env(),
                          timeout=120)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    binary = aarch64_binary()
    if not binary:
        pytest.skip("no static aarch64 binary (make static-aarch64)")
    out = tmp_path_factory.mktemp("image")
    r = subprocess.run([str(SCRIPT), "--bin", binary, "--out", str(out / "rootfs"),
                        "--tar", str(out / "rootfs.tar")], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    print(r.stderr)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == str(out / "rootfs")
    return {"root": out / "rootfs", "tar": out / "rootfs.tar", "report": r.stderr, "bin": binary,
            "dir": out}


def tree_files(root):
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            yield Path(d) / name


def readelf(*args):
    return subprocess.run(["readelf", *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_binary_is_static_aarch64_without_interpreter(image):
    b = str(image["root"] / "hermetic")
    assert "AArch64" in readelf("-h", b)
    assert "INTERP" not in readelf("-lW", b)
    assert "There is no dynamic section" in readelf("-d", b)
    assert os.stat(b).st_mode & 0o777 == 0o755


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_no_shell_and_no_other_program(image):
    root = image["root"]
    for p in ("bin", "sbin", "usr/bin", "usr/sbin", "bin/sh", "usr/lib", "lib"):
        assert not (root / p).exists(), f"/{p} must not be in a FROM-scratch image"
    programs = []
    for p in tree_files(root):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as f:
                magic = f.read(4)
            if magic == b"\x7fELF" or magic[:2] == b"#!":
                programs.append(str(p.relative_to(root)))
    assert programs == ["hermetic"]


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_ca_bundle(image):
    crt = (image["root"] / "etc/ssl/certs/ca-certificates.crt").read_text()
    n = crt.count("-----BEGIN CERTIFICATE-----")
    print(f"{n} CA certificates")
    assert n > 100


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_zoneinfo_has_every_zone_name_and_no_leap_second_copies(image):
    zi = image["root"] / "usr/share/zoneinfo"
    for name in ("Asia/Manila", "UTC", "Europe/Berlin", "America/New_York", "US/Eastern", "Etc/UTC"):
        p = zi / name
        assert p.exists(), name
        assert p.read_bytes()[:4] == b"TZif", name
    for gone in ("right", "posix", "localtime", "tzdata.zi"):
        assert not (zi / gone).exists() and not (zi / gone).is_symlink(), gone
    dangling = [str(p) for p in tree_files(zi) if p.is_symlink() and not p.exists()]
    assert dangling == []


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_passwd_and_group_have_the_unprivileged_user(image):
    passwd = (image["root"] / "etc/passwd").read_text().splitlines()
    users = {line.split(":")[0]: line.split(":") for line in passwd}
    assert users["hermetic"][2:4] == ["10001", "10001"]
    assert users["hermetic"][5] == "/opt/data"
    assert users["hermetic"][6] == "/sbin/nologin"
    assert all(u[6] == "/sbin/nologin" for u in users.values())
    assert "hermetic:x:10001:" in (image["root"] / "etc/group").read_text()


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_size_within_budget(image):
    files = 0
    seen = set()
    for p in tree_files(image["root"]):
        st = p.lstat()
        if p.is_file() and not p.is_symlink() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            files += st.st_size
    tar = image["tar"].stat().st_size
    print(f"tree: {files} bytes of files ({files / 1048576:.2f} MiB), layer tar {tar} bytes "
          f"({tar / 1048576:.2f} MiB), budget {MAX_BYTES}")
    assert files <= MAX_BYTES
    assert tar <= MAX_BYTES
    assert "budget" in image["report"] and ": ok" in image["report"]


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_layer_tar_owners_modes_and_reproducibility(image, tmp_path):
    with tarfile.open(image["tar"]) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert members["hermetic"].uid == 0 and members["hermetic"].mode == 0o755
    assert members["opt/data"].isdir() and members["opt/data"].uid == 10001
    assert members["opt/data"].mode == 0o700
    assert members["tmp"].mode == 0o1777
    assert members["etc/hermetic"].isdir()
    assert {m.mtime for m in members.values()} == {1700000000}
    assert all(m.uid == 0 for n, m in members.items() if not n.startswith("opt/data"))
    # the same inputs give the same bytes
    r = subprocess.run([str(SCRIPT), "--bin", image["bin"], "--out", str(tmp_path / "again"),
                        "--tar", str(tmp_path / "again.tar")], capture_output=True, text=True,
                       env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0, r.stderr
    digest = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
    assert digest(tmp_path / "again.tar") == digest(image["tar"])


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_binary_in_the_tree_runs(image):
    r = run_aarch64(str(image["root"] / "hermetic"), "--version")
    print(r.stdout)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hermetic ")
    assert "mbedTLS" in r.stdout


def configmap_block(path, key):
    """The text of a `key: |` block scalar under data: (no YAML library needed)."""
    lines = path.read_text().splitlines()
    start = lines.index(f"  {key}: |") + 1
    out = []
    for line in lines[start:]:
        if line.strip() and not line.startswith("    "):
            break
        out.append(line[4:])
    return "\n".join(out).rstrip() + "\n"


@pytest.mark.needs("aarch64")  # the image is built around the shipped binary
def test_deployed_config_checks_against_the_image_zoneinfo(image, tmp_path):
    """The ConfigMap's config (timezone Asia/Manila) loads with only the image's zoneinfo."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(configmap_block(ROOT / "k8s" / "configmap.yaml", "config.yaml"))
    env = clean_env(TZDIR=str(image["root"] / "usr/share/zoneinfo"), OPENROUTER_API_KEY="x",
                    TELEGRAM_BOT_TOKEN="1:x", API_SERVER_KEY="k")
    r = run_aarch64(str(image["root"] / "hermetic"), "config", "check", "--config", str(cfg), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "timezone:    Asia/Manila" in r.stdout


def test_missing_binary_is_a_clear_error(tmp_path):
    r = subprocess.run([str(SCRIPT), "--bin", str(tmp_path / "nope"), "--out", str(tmp_path / "r")],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "make static-aarch64" in r.stderr


def test_dynamic_binary_is_refused(tmp_path):
    r = subprocess.run([str(SCRIPT), "--bin", "/bin/ls", "--out", str(tmp_path / "r")],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "static binary" in r.stderr


# ---- kaniko/Dockerfile: the final stage is the tree above -----------------------------------

def dockerfile_stages():
    stages, cur = [], None
    lines = DOCKERFILE.read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            cur = {"from": rest.strip(), "steps": []}
            stages.append(cur)
        elif cur is not None:
            cur["steps"].append((word.upper(), rest.strip()))
    return stages


def test_dockerfile_builder_runs_the_same_scripts():
    builder, final = dockerfile_stages()
    assert builder["from"] == "${DEBIAN_IMAGE} AS builder"
    assert "ARG DEBIAN_IMAGE=debian:bookworm-slim" in DOCKERFILE.read_text()
    runs = " ".join(r for k, r in builder["steps"] if k == "RUN")
    # the build machine's own architecture: aarch64 on the cluster's arm64 node, x86_64 under
    # `make image`; no cross toolchain in the image
    assert runs.count('cross/build-static.sh "$(uname -m)"') == 2  # sysroot layer, then hermetic
    assert 'scripts/image-rootfs.sh --bin "dist/hermetic-$(uname -m)" --out /rootfs' in runs
    assert "aarch64" not in runs and "x86_64" not in runs
    env = " ".join(r for k, r in builder["steps"] if k == "ENV")
    assert "HERMETIC_NATIVE_ONLY=1" in env
    assert "ca-certificates" in runs and "tzdata" in runs
    # the sysroot layer only sees cross/, so source changes keep it cached
    copies = [r for k, r in builder["steps"] if k == "COPY"]
    assert copies[0] == "cross/ cross/"


def test_dockerfile_final_stage_is_scratch_with_uid_10001():
    _, final = dockerfile_stages()
    assert final["from"] == "scratch"
    steps = final["steps"]
    assert ("COPY", "--from=builder /rootfs/ /") in steps
    assert ("USER", "10001:10001") in steps
    assert ("ENTRYPOINT", '["/hermetic", "gateway"]') in steps
    env = " ".join(r for k, r in steps if k == "ENV")
    assert "HERMETIC_CONFIG=/etc/hermetic/config.yaml" in env
    assert not [k for k, _ in steps if k == "RUN"], "a FROM-scratch stage cannot RUN anything"


def test_make_image_builds_this_dockerfile_from_its_base_without_a_registry():
    """`make image` (scripts/image-build.sh) tags its debootstrapped base as the image the
    Dockerfile's ARG names, builds with --pull=never, and is listed by `make help` but is not
    part of `make test` (tests/run-all.sh)."""
    arg = re.search(r"^ARG DEBIAN_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M).group(1)
    script = (ROOT / "scripts" / "image-build.sh").read_text()
    default = re.search(r"^DEFAULT_BASE=(\S+)", script, re.M).group(1)
    assert default == "docker.io/library/" + arg  # what a short name means to buildah and kaniko
    assert "--pull=never" in script and "-f \"$CTX/kaniko/Dockerfile\"" in script
    assert "--ignorefile \"$CTX/kaniko/Dockerfile.dockerignore\"" in script
    assert "debootstrap --variant=minbase" in script and "setpriv --no-new-privs buildah bud" in script
    r = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True)
    assert re.search(r"^  image +\S", r.stdout, re.M), r.stdout
    assert "image-build" not in (ROOT / "tests" / "run-all.sh").read_text()
    r = subprocess.run(["make", "-n", "image"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "scripts/image-build.sh" in r.stdout


def dockerignore_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "(?:/.*)?$")  # a matching directory excludes everything below it


def test_dockerignore_excludes_no_tracked_file():
    """A tracked file left out of the build context makes the checkout look modified, so
    `hermetic --version` would end in -dirty."""
    ignore = ROOT / "kaniko" / "Dockerfile.dockerignore"
    patterns = [line.strip().lstrip("/") for line in ignore.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")]
    regs = [dockerignore_regex(p) for p in patterns]
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    files = tracked.stdout.split()
    assert len(files) > 50
    hit = [f for f in files if any(r.match(f) for r in regs)]
    assert hit == []
    # and it does keep the secrets file and the build outputs out
    for path in ("k8s/secret.env", "dist/hermetic-aarch64", "build/hermetic", "build-asan/x",
                 "node_modules/x/y.js", "tests/e2e/__pycache__/a.pyc"):
        assert any(r.match(path) for r in regs), path
    assert not any(r.match(".git/HEAD") for r in regs), ".git must stay: meson names the commit"


@pytest.mark.needs("static", "native")
def test_the_tree_alone_runs_the_gateway_as_uid_10001(tmp_path):
    """The same tree around the static binary of this machine's architecture, chrooted as
    uid 10001: no shell, no libraries, nothing from the host. It serves /healthz, /readyz and
    /metrics from the ConfigMap's config and stops cleanly on SIGTERM."""
    import signal
    import time
    from conftest import free_port, http_get
    native = ROOT / "dist" / f"hermetic-{platform.machine()}"
    if os.geteuid() != 0 or not shutil.which("chroot"):
        pytest.skip("needs root and chroot(8)")
    if not native.is_file():
        pytest.skip(f"no {native.name} (make static)")
    root = tmp_path / "rootfs"
    r = subprocess.run([str(SCRIPT), "--bin", str(native), "--out", str(root), "--tar", ""],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.chown(root / "opt/data", 10001, 10001)  # what the Dockerfile's COPY --chown does
    port = free_port()
    cfg = configmap_block(ROOT / "k8s" / "configmap.yaml", "config.yaml")
    cfg = cfg.replace('listen: "0.0.0.0:8642"', f'listen: "127.0.0.1:{port}"')
    (root / "etc/hermetic/config.yaml").write_text(cfg)
    (root / "etc/hermetic/SOUL.md").write_text(configmap_block(ROOT / "k8s" / "configmap.yaml", "SOUL.md"))
    env = {"OPENROUTER_API_KEY": "x", "TELEGRAM_BOT_TOKEN": "1:x", "API_SERVER_KEY": "k"}
    log = open(tmp_path / "log", "w")
    proc = subprocess.Popen([shutil.which("chroot"), "--userspec=10001:10001", str(root), "/hermetic",
                             "gateway", "--config", "/etc/hermetic/config.yaml"],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "log").read_text()
            try:
                if http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        status, _, body = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "hermetic_mcp_server_up" in body
        status, _, _ = http_get(f"http://127.0.0.1:{port}/v1/tools")
        assert status == 401  # the API beyond health and metrics needs api.key
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    data = root / "opt/data"
    assert (data / "state.db").stat().st_uid == 10001
    assert "stopped cleanly" in (tmp_path / "log").read_text()
