#!/usr/bin/env bash
# The one entry point for a fully static musl release build (`make static` calls it):
#   1. cross/toolchain.sh       Debian packages + musl compiler wrappers
#   2. cross/fetch-sources.sh   pinned Debian source packages
#   3. cross/build-deps.sh      static dependency sysroot (cached);
#      cross/stage-headers.sh   header-only dependencies (stb), outside the sysroot's key
#   4. meson setup + ninja      build-static-<arch>/, target `hermetic`
#   5. strip -> dist/hermetic-<arch>; fails unless the result is a static ELF for <arch>
#
# Usage: cross/build-static.sh <aarch64|x86_64>
# Env:   HERMETIC_CACHE        cache root (default ~/.cache/hermetic)
#        HERMETIC_LTO          true|false (default true): meson b_lto for the project's code
#        HERMETIC_MESON_ARGS   extra `meson setup` arguments (word-split)
#        HERMETIC_MAX_BYTES    fail if the stripped binary is larger (default: only warn
#                              above the 2.5 MiB design budget for aarch64: README.md's,
#                              which tests/e2e/test_static_binary.py asserts)
set -euo pipefail
export LC_ALL=C
AARCH64_BUDGET_BYTES=2621440 # 2.5 MiB (README.md; tests/e2e/test_static_binary.py)

die() { echo "build-static.sh: error: $*" >&2; exit 1; }
log() { echo "build-static.sh: $*" >&2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${HERMETIC_CACHE:-$HOME/.cache/hermetic}
ARCH=${1:-}
case "$ARCH" in
  aarch64) ELF_MACHINE=AArch64; RUN=(qemu-aarch64-static) ;;
  x86_64)  ELF_MACHINE='X86-64'; RUN=() ;;
  *) die "usage: $0 <aarch64|x86_64>" ;;
esac
[ "$(uname -m)" = "$ARCH" ] && RUN=()
[ "$(uname -m)" = aarch64 ] && [ "$ARCH" = x86_64 ] && RUN=(qemu-x86_64-static)

t0=$(date +%s)
"$HERE/toolchain.sh"
"$HERE/fetch-sources.sh"
SYSROOT=$("$HERE/build-deps.sh" "$ARCH" | tail -n1)
[ -f "$SYSROOT/.complete" ] || die "dependency sysroot $SYSROOT is incomplete"
HEADERS=$("$HERE/stage-headers.sh" | tail -n1)
t_deps=$(date +%s)
log "toolchain + sources + dependencies: $((t_deps - t0))s (sysroot $SYSROOT)"

if [ ! -f "$REPO/meson.build" ]; then
  log "no $REPO/meson.build yet: the $ARCH dependency sysroot is ready, nothing else to build"
  exit 0
fi

TCBIN=$CACHE/toolchain/bin
BUILD=$REPO/build-static-$ARCH
CROSS=("$SYSROOT/share/hermetic/meson-paths.ini" "$HERE/$ARCH-linux-musl.ini")
# Meson wraps only native compilers in ccache by itself; a cross compiler is wrapped by a third
# cross file, written to the cache (never the repo). Without ccache the build is the same.
if command -v ccache >/dev/null; then
  mkdir -p "$CACHE/cross-ccache"
  printf "[binaries]\nc = ['%s', '%s']\n" "$(command -v ccache)" "$TCBIN/$ARCH-linux-musl-gcc" \
    >"$CACHE/cross-ccache/$ARCH.ini"
  CROSS+=("$CACHE/cross-ccache/$ARCH.ini")
fi
stamp_want=$(cat "${CROSS[@]}" | sha256sum | cut -c1-16)

opts=(-Dbuildtype=minsize -Dstrip=true -Ddefault_library=static -Dprefer_static=true
      -Db_staticpic=false -Db_pie=false -Db_lto="${HERMETIC_LTO:-true}"
      -Dstb_include="$HEADERS")
if grep -qsE "option\(\s*'static'" "$REPO/meson_options.txt" "$REPO/meson.options"; then
  opts+=(-Dstatic=true)
else
  log "warning: meson option 'static' not defined (meson_options.txt); relying on the cross file's -static"
fi
# shellcheck disable=SC2206
extra=(${HERMETIC_MESON_ARGS:-})

cd "$REPO"
if [ -d "$BUILD/meson-private" ] && [ "$(cat "$BUILD/.hermetic-cross" 2>/dev/null)" = "$stamp_want" ]; then
  meson setup --reconfigure "$BUILD" "${opts[@]}" "${extra[@]}" >&2 \
    || die "meson setup --reconfigure failed"
else
  # new or changed sysroot/cross files (or a failed setup): start from an empty build dir
  rm -rf "$BUILD"
  meson setup "$BUILD" "${CROSS[@]/#/--cross-file=}" \
    "${opts[@]}" "${extra[@]}" >&2 || die "meson setup failed (see $BUILD/meson-logs/meson-log.txt)"
  echo "$stamp_want" > "$BUILD/.hermetic-cross"
fi
ninja -C "$BUILD" hermetic >&2 || die "ninja -C $BUILD hermetic failed"

bin=$(meson introspect --targets "$BUILD" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["name"] == "hermetic" and t["type"] == "executable":
        print(t["filename"][0]); break
')
[ -n "$bin" ] && [ -f "$bin" ] || die "meson has no executable target named hermetic"

mkdir -p "$REPO/dist"
out=$REPO/dist/hermetic-$ARCH
"$TCBIN/$ARCH-linux-musl-strip" --strip-all -o "$out.tmp" "$bin"
mv "$out.tmp" "$out"

# --- the artifact must be a static ELF for ARCH: no interpreter, no dynamic section
bad() { rm -f "$out"; die "$out: $*"; }
readelf=$TCBIN/$ARCH-linux-musl-readelf
"$readelf" -h "$out" | grep -q "Machine:.*$ELF_MACHINE" || bad "not an $ARCH ELF: $("$readelf" -h "$out" | grep Machine:)"
"$readelf" -h "$out" | grep -q 'Type:.*EXEC' || bad "not a non-PIE executable (ET_EXEC): $("$readelf" -h "$out" | grep Type:)"
if "$readelf" -lW "$out" | grep -qE '^\s*(INTERP|DYNAMIC)\b'; then bad "has an INTERP/DYNAMIC program header: not static"; fi
"$readelf" -d "$out" 2>&1 | grep -q 'There is no dynamic section' || bad "has a dynamic section: not static"
finfo=$(file -b "$out")
case "$finfo" in *"statically linked"*) ;; *) bad "file(1) does not say statically linked: $finfo";; esac

size=$(stat -c %s "$out")
log "dist/hermetic-$ARCH: $size bytes ($((size / 1024)) KiB), built in $(( $(date +%s) - t0 ))s"
log "file: $finfo"
if [ -n "${HERMETIC_MAX_BYTES:-}" ] && [ "$size" -gt "$HERMETIC_MAX_BYTES" ]; then
  die "dist/hermetic-$ARCH is $size bytes > HERMETIC_MAX_BYTES=$HERMETIC_MAX_BYTES"
elif [ "$ARCH" = aarch64 ] && [ "$size" -gt "$AARCH64_BUDGET_BYTES" ]; then
  log "WARNING: above the design budget of 2.5 MiB ($AARCH64_BUDGET_BYTES bytes) for the aarch64 binary"
fi
if [ "${#RUN[@]}" = 0 ] || command -v "${RUN[0]}" >/dev/null; then
  if v=$("${RUN[@]}" "$out" --version 2>&1); then log "--version: $v"
  else log "warning: '$out --version' failed: $v"; fi
fi
echo "$out"
