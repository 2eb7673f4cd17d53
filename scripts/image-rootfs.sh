#!/usr/bin/env bash
# The file tree of hermetic's FROM-scratch image, built without Docker, plus a deterministic tar
# of it (the image's one layer) and its size against the 4 MiB budget.
#
# The kaniko build runs this same script in its builder stage and copies the result into the
# final stage (kaniko/Dockerfile), so what this script builds and measures is what ships:
#
#   /hermetic                              the static binary (dist/hermetic-aarch64)
#   /etc/ssl/certs/ca-certificates.crt     Debian's ca-certificates bundle (curl's CA file)
#   /usr/share/zoneinfo/                   Debian's tzdata, trimmed (rule below)
#   /etc/passwd, /etc/group                root and hermetic (uid/gid 10001), no shell
#   /etc/hermetic/                         mount point of the config (ConfigMap)
#   /opt/data/                             data directory (uid 10001, 0700), a PVC in K3s
#   /tmp/                                  1777 (an emptyDir in K3s)
#
# zoneinfo rule: everything Debian's tzdata installs except right/ (leap-second variants of
# every zone: TZ=right/... makes clocks 27 s off civil time), posix/ (a second name for every
# zone), localtime (a link to /etc/localtime, dangling in the image) and the files that are
# not TZif data or the .tab tables (tzdata.zi, leapseconds, leap-seconds.list). Every IANA
# name that `timezone:` accepts (Asia/Manila, UTC, US/Eastern, ...) stays.
#
# Usage: scripts/image-rootfs.sh [--bin FILE] [--out DIR] [--tar FILE] [--max-bytes N]
#   --bin        the static binary (default dist/hermetic-aarch64)
#   --out        the tree (default build-image/rootfs; replaced)
#   --tar        the layer tar (default <out>.tar; "" = none)
#   --max-bytes  fail above this many bytes (default 4194304), for the files and for the tar
# Env: CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt), ZONEINFO (/usr/share/zoneinfo),
#      SOURCE_DATE_EPOCH (mtime inside the tar; default the last commit's time, else 0).
# The last line of stdout is the tree's path.
set -euo pipefail
export LC_ALL=C

die() { echo "image-rootfs.sh: error: $*" >&2; exit 1; }
log() { echo "image-rootfs.sh: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/dist/hermetic-aarch64
OUT=$REPO/build-image/rootfs
TAR="<unset>"
MAX=$((4 * 1024 * 1024))
CA=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
ZI=${ZONEINFO:-/usr/share/zoneinfo}
UID_=10001

while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --tar) TAR=$2; shift 2 ;;
    --max-bytes) MAX=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ "$TAR" = "<unset>" ] && TAR=$OUT.tar
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT ;; esac
case "$TAR" in ''|/*) ;; *) TAR=$PWD/$TAR ;; esac

# --- inputs
[ -f "$BIN" ] || die "$BIN missing: run 'make static-aarch64' (cross/build-static.sh aarch64) first"
command -v readelf >/dev/null || die "readelf missing (apt-get install binutils)"
readelf -h "$BIN" >/dev/null 2>&1 || die "$BIN is not an ELF file"
if readelf -lW "$BIN" | grep -qE '^\s*(INTERP|DYNAMIC)\b'; then
  die "$BIN has an INTERP/DYNAMIC program header: a FROM-scratch image needs a static binary"
fi
[ -s "$CA" ] || die "$CA missing (apt-get install ca-certificates)"
[ -f "$ZI/Asia/Manila" ] || die "$ZI missing or incomplete (apt-get install tzdata)"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

# --- the tree, built next to OUT and moved into place
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp -d "$(dirname "$OUT")/.rootfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
install -d -m 0755 "$tmp/etc/ssl/certs" "$tmp/etc/hermetic" "$tmp/usr/share" "$tmp/opt"
install -d -m 0700 "$tmp/opt/data"
install -d -m 1777 "$tmp/tmp"
install -m 0755 "$BIN" "$tmp/hermetic"
install -m 0644 "$CA" "$tmp/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nhermetic:x:%s:%s:hermetic:/opt/data:/sbin/nologin\n' \
  "$UID_" "$UID_" > "$tmp/etc/passwd"
printf 'root:x:0:\nhermetic:x:%s:\n' "$UID_" > "$tmp/etc/group"
chmod 0644 "$tmp/etc/passwd" "$tmp/etc/group"

cp -a "$ZI" "$tmp/usr/share/zoneinfo"
z=$tmp/usr/share/zoneinfo
rm -rf "$z/right" "$z/posix" "$z/localtime" "$z/tzdata.zi" "$z/leapseconds" "$z/leap-seconds.list"
# what is left must be TZif data, the .tab tables, or symlinks that resolve inside the tree
python3 - "$z" <<'PY' || die "zoneinfo check failed"
import os, sys
root = sys.argv[1]
bad = []
for d, dirs, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)
        if os.path.islink(p):
            t = os.path.realpath(p)
            if not t.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(t):
                bad.append(f"{rel}: symlink leaves the tree or dangles ({os.readlink(p)})")
        elif f.endswith(".tab"):
            continue
        else:
            with open(p, "rb") as fh:
                if fh.read(4) != b"TZif":
                    bad.append(f"{rel}: not TZif data")
for b in bad:
    print("image-rootfs.sh: zoneinfo:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
# Timestamps do not matter to the image but make the tree reproducible.
find "$tmp" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

rm -rf "$OUT"
mv "$tmp" "$OUT"
trap - EXIT

# --- the layer tar (deterministic: sorted, fixed mtime, numeric owners) and the report
python3 - "$OUT" "$TAR" "$MAX" "$UID_" "$SOURCE_DATE_EPOCH" <<'PY'
import gzip, io, os, sys, tarfile
root, tar_path, limit, uid, mtime = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

entries = []
for d, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        entries.append(os.path.join(d, name))
entries.sort(key=lambda p: os.path.relpath(p, root))

seen = {}            # (dev, ino) -> first name: hardlinks are stored once, like an image layer
file_bytes = 0
groups = {"hermetic": 0, "ca": 0, "zoneinfo": 0, "other": 0}
counts = {"files": 0, "symlinks": 0, "hardlinks": 0, "dirs": 0}

def owner(rel):
    return uid if rel == "opt/data" or rel.startswith("opt/data/") else 0

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
    for p in entries:
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        ti = tarfile.TarInfo(rel)
        ti.mtime = mtime
        ti.uid = ti.gid = owner(rel)
        ti.uname = ti.gname = ""
        ti.mode = st.st_mode & 0o7777
        if os.path.islink(p):
            ti.type = tarfile.SYMTYPE
            ti.linkname = os.readlink(p)
            counts["symlinks"] += 1
            tf.addfile(ti)
        elif os.path.isdir(p):
            ti.type = tarfile.DIRTYPE
            counts["dirs"] += 1
            tf.addfile(ti)
        else:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                ti.type = tarfile.LNKTYPE
                ti.linkname = seen[key]
                counts["hardlinks"] += 1
                tf.addfile(ti)
                continue
            seen[key] = rel
            ti.size = st.st_size
            counts["files"] += 1
            file_bytes += st.st_size
            g = ("hermetic" if rel == "hermetic" else "ca" if rel.startswith("etc/ssl/")
                 else "zoneinfo" if rel.startswith("usr/share/zoneinfo/") else "other")
            groups[g] += st.st_size
            with open(p, "rb") as fh:
                tf.addfile(ti, fh)
data = buf.getvalue()
gz = gzip.compress(data, compresslevel=6, mtime=0)
if tar_path:
    tmp = tar_path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, tar_path)

mib = lambda n: f"{n / 1048576:.2f} MiB"
out = sys.stderr
print(f"image-rootfs.sh: {root}", file=out)
print(f"  /hermetic                            {groups['hermetic']:>9} bytes", file=out)
print(f"  /etc/ssl/certs/ca-certificates.crt   {groups['ca']:>9} bytes", file=out)
print(f"  /usr/share/zoneinfo (trimmed)        {groups['zoneinfo']:>9} bytes", file=out)
print(f"  /etc/passwd, /etc/group              {groups['other']:>9} bytes", file=out)
print(f"  files (each hardlinked file once)    {file_bytes:>9} bytes  {mib(file_bytes)}"
      f"  ({counts['files']} files, {counts['hardlinks']} hardlinks, {counts['symlinks']} symlinks,"
      f" {counts['dirs']} directories)", file=out)
print(f"  layer tar, uncompressed              {len(data):>9} bytes  {mib(len(data))}"
      + (f"  -> {tar_path}" if tar_path else ""), file=out)
print(f"  layer tar.gz (what the registry stores) {len(gz):>6} bytes  {mib(len(gz))}", file=out)
over = [n for n, v in (("files", file_bytes), ("layer tar", len(data))) if v > limit]
if over:
    print(f"image-rootfs.sh: error: {', '.join(over)} above the budget of {limit} bytes", file=out)
    sys.exit(1)
print(f"  budget {limit} bytes ({mib(limit)}): ok", file=out)
PY
echo "$OUT"
