"""A real arm64 kernel for the static aarch64 binary: Debian bookworm's kernel, or the newest
one of bookworm-backports, under qemu-system-aarch64 (-M virt -cpu cortex-a72, the CM4's core,
TCG: no KVM needed), booted straight into an initramfs of busybox-static:arm64, the binary and
the files a test gives.

Inputs are Debian's own packages, fetched with `apt-get download` into a cache outside the repo
($HERMETIC_CACHE or ~/.cache/hermetic, under vm-arm64/) and checked by apt against the signed
archive index; nothing is committed. The backports kernel comes through a private apt
configuration under that cache (its own sources list, package lists and apt cache, the
machine's keyring), so the machine's apt sources are never changed. The guest reaches the
host's 127.0.0.1 as 10.0.2.2 (qemu's user networking; DNS at 10.0.2.3), and host ports can be
forwarded into the guest.

    vm = ArmVM(binary, workdir, kernel="bookworm")   # fetches and unpacks once
    vm.add_file("/etc/hermetic/config.yaml", text)
    proc = vm.boot(script, forward={host_port: guest_port})   # a Popen, console on stdout
"""
import glob
import io
import lzma
import os
import shutil
import stat
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("HERMETIC_CACHE", Path.home() / ".cache" / "hermetic")) / "vm-arm64"
KERNEL_META = "linux-image-arm64:arm64"
BUSYBOX = "busybox-static:arm64"
# The kernels a test may boot: the suite its linux-image-arm64 comes from.
KERNELS = ("bookworm", "bookworm-backports")
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# virtio-net and the RNG are modules in Debian's arm64 kernel (6.12 builds virtio_pci in);
# insmod'ed in this order, those the kernel has built in skipped.
MODULES = ["virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "failover",
           "net_failover", "virtio_net", "virtio-rng"]
QEMU = "qemu-system-aarch64"

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs -o mode=1777 tmp /tmp
for m in %(modules)s; do insmod /lib/vm/$m.ko || echo "vm: insmod $m failed"; done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo "nameserver 10.0.2.3" > /etc/resolv.conf
# seccomp kills go to the kernel log (audit type=1326) as well as killing the process
echo "HERMETIC-VM-UP $(uname -r) $(uname -m)"
cd /
sh /vm/guest.sh 2>&1
echo "HERMETIC-VM-DMESG-BEGIN"
dmesg | grep -E 'audit|seccomp|landlock|Landlock' || true
echo "HERMETIC-VM-DMESG-END"
echo "HERMETIC-VM-DONE"
sync
poweroff -f
"""


def _run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def _cache(kernel):
    """bookworm's files stay where the first version of this module put them."""
    return CACHE if kernel == "bookworm" else CACHE / kernel


def _apt(kernel):
    """apt options for the kernel's suite: none for bookworm (the machine's sources), else a
    private configuration under the cache that knows only that suite."""
    if kernel == "bookworm":
        return []
    d = _cache(kernel) / "apt"
    return ["-o", f"Dir::Etc::SourceList={d / 'sources.list'}",
            "-o", f"Dir::Etc::SourceParts={d / 'sources.list.d'}",
            "-o", f"Dir::State::Lists={d / 'lists'}",
            "-o", f"Dir::Cache={d / 'cache'}",
            "-o", "Debug::NoLocking=1"]


def _apt_update(kernel):
    d = _cache(kernel) / "apt"
    for sub in ("sources.list.d", "lists/partial", "cache/archives/partial"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "sources.list").write_text(
        f"deb [arch=arm64 signed-by={KEYRING}] {MIRROR} {kernel} main\n")
    _run("apt-get", *_apt(kernel), "update")


def available(kernel="bookworm"):
    """None when the VM can run here, else why not."""
    if not shutil.which(QEMU):
        return f"{QEMU} not found (Debian package qemu-system-arm)"
    if not (_cache(kernel) / "unpacked.ok").exists():
        if kernel != "bookworm":
            try:
                _apt_update(kernel)
            except subprocess.CalledProcessError as e:
                return f"apt-get update of {kernel} failed: {e.stderr.strip()[-300:]}"
        r = subprocess.run(["apt-cache", *_apt(kernel), "policy", KERNEL_META],
                           capture_output=True, text=True)
        if "Candidate:" not in r.stdout or "Candidate: (none)" in r.stdout:
            return (f"apt knows no {KERNEL_META} in {kernel} (the arm64 architecture is "
                    "added by cross/toolchain.sh: dpkg --add-architecture arm64 && "
                    "apt-get update)")
    return None


def _fetch(kernel="bookworm"):
    """Unpacks the kernel and busybox into the cache once; returns (kernel, modules dir,
    busybox)."""
    cache = _cache(kernel)
    done = cache / "unpacked.ok"
    if not done.exists():
        cache.mkdir(parents=True, exist_ok=True)
        if kernel != "bookworm":
            _apt_update(kernel)
        dl = cache / "debs"
        shutil.rmtree(dl, ignore_errors=True)
        dl.mkdir()
        dep = _run("apt-cache", *_apt(kernel), "depends", KERNEL_META).stdout
        image = [l.split(":", 1)[1].strip() for l in dep.splitlines()
                 if l.strip().startswith("Depends:") and "linux-image-" in l][0]
        _run("apt-get", *_apt(kernel), "download", image, cwd=dl)
        _run("apt-get", "download", BUSYBOX, cwd=dl)  # bookworm's, for every kernel
        root = cache / "root"
        shutil.rmtree(root, ignore_errors=True)
        for deb in dl.glob("*.deb"):
            _run("dpkg-deb", "-x", str(deb), str(root))
        done.write_text(image + "\n")
    root = cache / "root"
    vmlinuz = sorted(glob.glob(str(root / "boot" / "vmlinuz-*")))[-1]
    mods = sorted(glob.glob(str(root / "lib" / "modules" / "*")))[-1]
    return Path(vmlinuz), Path(mods), root / "bin" / "busybox"


def _module(mods, name):
    """The module's bytes (bookworm's are plain .ko, 6.12's .ko.xz), or None when the kernel
    has it built in."""
    for ko in mods.rglob(name + ".ko*"):
        if ko.name == name + ".ko":
            return ko.read_bytes()
        if ko.name == name + ".ko.xz":
            return lzma.decompress(ko.read_bytes())
    builtin = (mods / "modules.builtin").read_text().splitlines()
    assert any(l.endswith(f"/{name}.ko") for l in builtin), f"{name}.ko is not in {mods}"
    return None


class _Cpio:
    """newc archive writer (what the kernel unpacks as an initramfs)."""

    def __init__(self):
        self.out = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b"", uid=0, gid=0):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, uid, gid, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.out.write(hdr.encode() + name_b)
        self.out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
        self.out.write(data)
        self.out.write(b"\0" * ((4 - len(data) % 4) % 4))

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self._entry(name, stat.S_IFDIR | mode, uid=uid, gid=gid)

    def file(self, name, data, mode=0o644, uid=0, gid=0):
        self._entry(name, stat.S_IFREG | mode, data, uid, gid)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.out.getvalue()


class ArmVM:
    def __init__(self, binary, workdir, kernel="bookworm"):
        self.kernel, self.modules, self.busybox = _fetch(kernel)
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.files = {}  # guest path -> (bytes, mode, uid)

    def add_file(self, path, data, mode=0o644, uid=0):
        self.files[path] = (data.encode() if isinstance(data, str) else data, mode, uid)

    def initramfs(self, script):
        c = _Cpio()
        for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "lib", "lib/vm", "vm", "root",
                  "usr", "usr/bin"):
            c.dir(d)
        c.file("bin/busybox", self.busybox.read_bytes(), 0o755)
        c.symlink("bin/sh", "busybox")
        mods = [(m, _module(self.modules, m)) for m in MODULES]
        mods = [(m, data) for m, data in mods if data is not None]
        c.file("init", (INIT % {"modules": " ".join(m for m, _ in mods)}).encode(), 0o755)
        for m, data in mods:
            c.file(f"lib/vm/{m}.ko", data)
        c.file("usr/bin/hermetic", self.binary.read_bytes(), 0o755)
        c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                             b"hermetic:x:10001:10001:hermetic:/home/hermetic:/bin/sh\n")
        c.file("etc/group", b"root:x:0:\nhermetic:x:10001:\n")
        c.file("vm/guest.sh", script.encode(), 0o755)
        made = {"bin", "dev", "proc", "sys", "tmp", "etc", "lib", "lib/vm", "vm", "root", "usr",
                "usr/bin"}
        for path, (data, mode, uid) in sorted(self.files.items()):
            rel = path.lstrip("/")
            parts = rel.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    c.dir(d, 0o755, uid, uid)
                    made.add(d)
            c.file(rel, data, mode, uid, uid)
        out = self.workdir / "initramfs.cpio"
        out.write_bytes(c.finish())
        return out

    def boot(self, script, forward=None, memory_mb=512):
        initrd = self.initramfs(script)
        net = "user,id=n0"
        for host, guest in (forward or {}).items():
            net += f",hostfwd=tcp:127.0.0.1:{host}-:{guest}"
        cmd = [QEMU, "-M", "virt", "-cpu", "cortex-a72", "-smp", "1", "-m", str(memory_mb),
               "-nographic", "-no-reboot", "-kernel", str(self.kernel), "-initrd", str(initrd),
               "-append", "console=ttyAMA0 panic=-1 quiet loglevel=4",
               "-netdev", net, "-device", "virtio-net-pci,netdev=n0,romfile=",  # no PXE boot
               "-device", "virtio-rng-pci"]
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
