#!/usr/bin/env bash
# Gateway benchmark: size, start-up, memory under agent work and a soak, token economy of a
# seed-shaped day. `make bench` runs it after the router benchmark; see
# benchmarks/gateway/README.md. Not part of `make test`.
#
# 1. builds the static musl binaries (cross/build-static.sh x86_64 and aarch64) unless
#    HERMETIC_BIN is set, and the image tree (scripts/image-rootfs.sh);
# 2. installs the pinned npm MCP peers (tests/peers/install.sh; cached);
# 3. runs bench.py, which writes benchmarks/results/<date>-<rev>-gateway.json and prints a table.
#
# Env: HERMETIC_BIN      x86_64 binary to measure (default: dist/hermetic-x86_64, rebuilt first)
#      HERMETIC_AARCH64  aarch64 binary (default: dist/hermetic-aarch64, rebuilt first)
#      BENCH_NO_BUILD=1  use dist/ as it is
#      BENCH_NO_QEMU=1   leave the aarch64-under-qemu memory run out
#      BENCH_QUICK=1     3 restarts, 5 s idle, 300 turns, a short day: a smoke run (~2 min)
#      BENCH_ARGS        extra bench.py arguments
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${HERMETIC_CACHE:-$HOME/.cache/hermetic}
PY=/usr/bin/python3
log() { echo "bench: $*" >&2; }

mkdir -p "$CACHE/bench"
build() {
  local arch=$1
  log "building the static $arch binary (cross/build-static.sh $arch)"
  if ! "$REPO/cross/build-static.sh" "$arch" >"$CACHE/bench/build-static-$arch.log" 2>&1; then
    tail -n 20 "$CACHE/bench/build-static-$arch.log" >&2
    log "static $arch build failed (log: $CACHE/bench/build-static-$arch.log); measuring what dist/ has"
  fi
}

BIN=${HERMETIC_BIN:-$REPO/dist/hermetic-x86_64}
A64=${HERMETIC_AARCH64:-$REPO/dist/hermetic-aarch64}
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  [ -n "${HERMETIC_BIN:-}" ] || build x86_64
  [ -n "${HERMETIC_AARCH64:-}" ] || build aarch64
fi
[ -x "$BIN" ] || { echo "bench: error: no binary at $BIN" >&2; exit 1; }

TREE=""
if [ -x "$A64" ]; then
  if "$REPO/scripts/image-rootfs.sh" --bin "$A64" >"$CACHE/bench/image-rootfs.log" 2>&1; then
    TREE=$(tail -n 1 "$CACHE/bench/image-rootfs.log")
  else
    tail -n 5 "$CACHE/bench/image-rootfs.log" >&2
    log "image-rootfs.sh failed; the image size is left out"
  fi
fi

PEERS=$(timeout 600 bash "$REPO/tests/peers/install.sh" | tail -n 1)

args=(--hermetic "$BIN" --peers "$PEERS" --command "${BENCH_COMMAND:-make bench}")
[ -x "$A64" ] && args+=(--aarch64 "$A64")
[ -n "$TREE" ] && args+=(--image-tree "$TREE")
CC_A64=$CACHE/toolchain/bin/aarch64-linux-musl-gcc
[ -x "$CC_A64" ] && args+=(--aarch64-cc "$CC_A64")
[ "${BENCH_NO_QEMU:-0}" = 1 ] && args+=(--no-qemu)
[ "${BENCH_QUICK:-0}" = 1 ] && args+=(--quick)
# shellcheck disable=SC2206
args+=(${BENCH_ARGS:-})
exec timeout 5400 "$PY" "$HERE/bench.py" "${args[@]}"
