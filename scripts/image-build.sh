#!/usr/bin/env bash
# `make image`: build kaniko/Dockerfile itself, every step of the in-cluster kaniko build, with
# buildah on this machine, natively (the Dockerfile's builder targets `uname -m`), and check the
# result. No registry is contacted:
#
#   1. base   Debian bookworm minbase made with debootstrap from Debian's archive (the mirror of
#             the machine's apt configuration), kept as a tar in $HERMETIC_CACHE/image-base/
#             (made only when missing), imported into containers-storage and tagged as the
#             Dockerfile's base image (ARG DEBIAN_IMAGE, docker.io/library/debian:bookworm-slim)
#   2. context  build-image/context/: HEAD fetched into a git repository of its own (kaniko
#             clones the repository at one commit, .git included; a git worktree's .git is only
#             a pointer), plus the working tree's uncommitted changes, as `docker build .` sees them
#   3. build  buildah bud --layers --pull=never --isolation chroot -f kaniko/Dockerfile
#             --ignorefile kaniko/Dockerfile.dockerignore (the layer cache is buildah's: a source
#             change re-runs only the last RUN, as with kaniko's --cache), under
#             `setpriv --no-new-privs`: the RUN steps run as root with the default capabilities,
#             buildah's default seccomp profile and no_new_privs, as in the kaniko Job
#             (allowPrivilegeEscalation: false, seccompProfile RuntimeDefault)
#   4. check  the image config (User 10001:10001, Entrypoint, Env, WorkingDir, architecture);
#             `/hermetic --version` in a container (podman, runc, the Deployment's restrictions)
#             names the context's commit; the image's file list (path, type, mode, owner) equals
#             the tree scripts/image-rootfs.sh (`make image-rootfs`) builds from the same binary
#
# Usage: scripts/image-build.sh [--no-cache] [--check-only]
#   --no-cache    buildah --no-cache (a cold build; the base tar stays cached)
#   --check-only  skip 1-3, check IMAGE as it is
# Env: HERMETIC_CACHE (default ~/.cache/hermetic), IMAGE (default localhost/hermetic:dev),
#      DEBIAN_IMAGE (default docker.io/library/debian:bookworm-slim: the Dockerfile's default)
# Needs root (debootstrap, buildah's chroot isolation); installs buildah podman runc debootstrap
# when missing. podman runs with --runtime runc --cgroup-manager cgroupfs and explicit ulimits:
# crun refuses a cgroup v1 layout, and without CAP_SYS_RESOURCE the default ulimits fail.
set -euo pipefail
export LC_ALL=C

die() { echo "image-build.sh: error: $*" >&2; exit 1; }
log() { echo "image-build.sh: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${HERMETIC_CACHE:-$HOME/.cache/hermetic}
IMAGE=${IMAGE:-localhost/hermetic:dev}
DEFAULT_BASE=docker.io/library/debian:bookworm-slim   # kaniko/Dockerfile's ARG DEBIAN_IMAGE, in full
DEBIAN_IMAGE=${DEBIAN_IMAGE:-$DEFAULT_BASE}
SUITE=bookworm
OUTDIR=$REPO/build-image
CTX=$OUTDIR/context
PODMAN_RUN=(podman run --rm --runtime runc --cgroup-manager cgroupfs
            --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

no_cache=() check_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-cache) no_cache=(--no-cache); shift ;;
    --check-only) check_only=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, buildah --isolation chroot)"
missing=()
for t in buildah:buildah podman:podman runc:runc debootstrap:debootstrap; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
fi

darch=$(dpkg --print-architecture)
t_start=$(date +%s)

# ---- 1. the base image ------------------------------------------------------------------------
# The Debian mirrors of the machine's apt configuration (deb822 or one-line), as cross/fetch-sources.sh
mirror_uris() {
  { if [ -n "$(ls /etc/apt/sources.list.d/*.sources 2>/dev/null)" ]; then
      awk 'tolower($1)=="uris:" { for (i=2;i<=NF;i++) print $i }' /etc/apt/sources.list.d/*.sources
    fi
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
      awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
  } | sed 's#/*$##' | awk '!seen[$0]++'
}

make_base_tar() {   # make_base_tar <tar>
  local tar=$1 uris main sec root
  uris=$(mirror_uris)
  main=$(grep -v -e security -e ports -e backports <<<"$uris" | grep -E '/debian$' | head -n1 || true)
  [ -n "$main" ] || die "no Debian mirror URI in /etc/apt/sources.list{,.d/*}"
  sec=$(grep -E '/debian-security$' <<<"$uris" | head -n1 || true)
  [ -n "$sec" ] || sec=${main}-security
  mkdir -p "$(dirname "$tar")"
  root=$(mktemp -d "$(dirname "$tar")/.debootstrap.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$root'" EXIT
  log "debootstrap --variant=minbase $SUITE ($darch) from $main"
  debootstrap --variant=minbase --arch="$darch" "$SUITE" "$root" "$main" >"$root.log" 2>&1 \
    || { tail -n 20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
  rm -f "$root.log"
  # apt sources as in Debian's own bookworm images (deb822), lists and caches dropped
  rm -f "$root/etc/apt/sources.list"
  cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $main
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
         "$root"/var/log/* "$root"/tmp/* 2>/dev/null || true
  : > "$root/etc/machine-id"
  tar --numeric-owner --xattrs -C "$root" -cf "$tar.tmp" .
  rm -rf "$root"
  trap - EXIT
  mv "$tar.tmp" "$tar"
  sha256sum "$tar" | cut -d' ' -f1 > "$tar.sha256"
}

image_label() {   # image_label <image> <label>: the label's value, empty when no such image
  podman image inspect --format "{{ index .Labels \"$2\" }}" "$1" 2>/dev/null || true
}

if [ "$check_only" = 0 ]; then
  base_tar=$CACHE/image-base/debian-$SUITE-minbase-$darch.tar
  if [ ! -s "$base_tar" ] || [ ! -s "$base_tar.sha256" ]; then
    t0=$(date +%s)
    make_base_tar "$base_tar"
    log "base tar $base_tar: $(du -m "$base_tar" | cut -f1) MiB in $(( $(date +%s) - t0 ))s"
  fi
  base_sum=$(cat "$base_tar.sha256")
  if [ "$(image_label "$DEBIAN_IMAGE" org.hermetic.base-sha256)" != "$base_sum" ]; then
    log "importing $base_tar as $DEBIAN_IMAGE"
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' \
      --change "LABEL org.hermetic.base-sha256=$base_sum" \
      "$base_tar" "$DEBIAN_IMAGE" >/dev/null || die "podman import $base_tar failed"
  fi

  # ---- 2. the build context ---------------------------------------------------------------------
  sha=$(git -C "$REPO" rev-parse HEAD) || die "$REPO is not a git checkout"
  mkdir -p "$OUTDIR"
  [ -d "$CTX/.git" ] || git init -q "$CTX"
  git -C "$CTX" fetch -q --depth 1 "file://$REPO" "$sha" || die "git fetch $sha into $CTX failed"
  git -C "$CTX" checkout -q --force --detach "$sha"
  git -C "$CTX" clean -q -f -d -x
  # the working tree's uncommitted changes (tracked files, then untracked files git does not ignore)
  if ! git -C "$REPO" diff --quiet HEAD --; then
    git -C "$REPO" diff --binary HEAD -- | git -C "$CTX" apply --binary - \
      || die "cannot apply the working tree's changes to $CTX"
    log "context: $sha plus the working tree's uncommitted changes (--version will say -dirty)"
  fi
  (cd "$REPO" && git ls-files -o --exclude-standard -z | tar --null -T - -cf -) | tar -C "$CTX" -xf -

  # ---- 3. the build -------------------------------------------------------------------------------
  t0=$(date +%s)
  log "buildah bud kaniko/Dockerfile -> $IMAGE (base $DEBIAN_IMAGE, $(uname -m))"
  # the Dockerfile's own ARG default (debian:bookworm-slim) resolves to the imported base; a
  # build-arg only when DEBIAN_IMAGE names another image
  base_arg=()
  [ "$DEBIAN_IMAGE" = "$DEFAULT_BASE" ] || base_arg=(--build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE")
  setpriv --no-new-privs buildah bud --layers --pull=never --isolation chroot "${no_cache[@]}" "${base_arg[@]}" \
    -f "$CTX/kaniko/Dockerfile" --ignorefile "$CTX/kaniko/Dockerfile.dockerignore" \
    -t "$IMAGE" "$CTX" >&2 || die "buildah bud failed"
  t_build=$(( $(date +%s) - t0 ))
  log "buildah bud took ${t_build}s"
fi

# ---- 4. checks -----------------------------------------------------------------------------------
fail=0
check() {   # check <what> <got> <want>
  if [ "$2" = "$3" ]; then log "ok: $1 = $2"; else log "FAIL: $1 = '$2', want '$3'"; fail=1; fi
}
cfg() { podman image inspect --format "$1" "$IMAGE"; }
check "User" "$(cfg '{{.Config.User}}')" "10001:10001"
check "Entrypoint" "$(cfg '{{json .Config.Entrypoint}}')" '["/hermetic","gateway"]'
check "WorkingDir" "$(cfg '{{.Config.WorkingDir}}')" "/opt/data"
check "Env" "$(cfg '{{range .Config.Env}}{{println .}}{{end}}' | grep '^HERMETIC_' | sort | tr '\n' ' ')" \
  "HERMETIC_CONFIG=/etc/hermetic/config.yaml HERMETIC_HOME=/opt/data "
check "ExposedPorts" "$(cfg '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}')" "8642/tcp "
check "Architecture" "$(cfg '{{.Architecture}}')" "$darch"
log "layers: $(cfg '{{len .RootFS.Layers}}')"

# --version as the Deployment runs it: its uid, read-only root, no capabilities, no new privileges
want_sha=$(git -C "$CTX" rev-parse --short=12 HEAD 2>/dev/null || git -C "$REPO" rev-parse --short=12 HEAD)
if v=$("${PODMAN_RUN[@]}" --network none --read-only --cap-drop=ALL \
        --security-opt no-new-privileges --memory 128m --entrypoint /hermetic "$IMAGE" --version 2>&1); then
  case "$v" in
    *"$want_sha"*) log "ok: /hermetic --version in the container: $v" ;;
    *) log "FAIL: /hermetic --version does not name $want_sha: $v"; fail=1 ;;
  esac
else
  log "FAIL: podman run $IMAGE /hermetic --version: $v"; fail=1
fi

# the image's tree against scripts/image-rootfs.sh's tree from the same binary
cid=$(buildah from --pull=never "$IMAGE")
trap 'buildah rm "$cid" >/dev/null 2>&1 || true' EXIT
mnt=$(buildah mount "$cid")
rm -rf "$OUTDIR/from-image"
mkdir -p "$OUTDIR/from-image"
cp "$mnt/hermetic" "$OUTDIR/from-image/hermetic"
listing() {   # listing <root>: path type mode uid:gid, one a line, sorted
  (cd "$1" && find . -mindepth 1 -printf '%P %y %m %U:%G\n' | sort)
}
listing "$mnt" > "$OUTDIR/from-image/files.txt"
buildah umount "$cid" >/dev/null
scripts_out=$("$REPO/scripts/image-rootfs.sh" --bin "$OUTDIR/from-image/hermetic" \
                --out "$OUTDIR/from-image/rootfs" --tar "$OUTDIR/from-image/rootfs.tar" 2>&1) \
  || { echo "$scripts_out" >&2; die "scripts/image-rootfs.sh failed"; }
# owners as the image has them: image-rootfs.sh's tar owns opt/data (and below) by 10001, the rest by 0
python3 - "$OUTDIR/from-image/rootfs.tar" > "$OUTDIR/from-image/files-rootfs.txt" <<'PY'
import sys, tarfile
kind = {tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l", tarfile.REGTYPE: "f", tarfile.LNKTYPE: "f"}
rows = []
for ti in tarfile.open(sys.argv[1]):
    if ti.name in (".", ""):
        continue
    rows.append(f"{ti.name} {kind[ti.type]} {ti.mode:o} {ti.uid}:{ti.gid}")
print("\n".join(sorted(rows)))
PY
if diff -u "$OUTDIR/from-image/files-rootfs.txt" "$OUTDIR/from-image/files.txt" > "$OUTDIR/from-image/files.diff"; then
  log "ok: the image's $(wc -l < "$OUTDIR/from-image/files.txt") paths equal scripts/image-rootfs.sh's tree (path, type, mode, owner)"
else
  log "FAIL: the image's files differ from scripts/image-rootfs.sh's tree ($OUTDIR/from-image/files.diff):"
  head -n 20 "$OUTDIR/from-image/files.diff" >&2
  fail=1
fi
log "image $IMAGE: $(cfg '{{.Size}}') bytes; $(( $(date +%s) - t_start ))s in all"
[ "$fail" = 0 ] || die "image checks failed"
echo "$IMAGE"
