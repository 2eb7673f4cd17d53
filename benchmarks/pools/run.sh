#!/usr/bin/env bash
# The rate pools' wake-up storm (issue 40): benchmarks/pools/storm.py against the static x86_64
# binary, with pools, without, and the idle baseline. `make bench BENCH_ONLY=pools`; about 8
# minutes (each storm starts at a minute boundary, when its cron job fires).
# Env: HERMETIC_BIN (default dist/hermetic-x86_64, rebuilt first unless BENCH_NO_BUILD=1),
#      BENCH_QUICK=1 (6 Telegram messages: a harness check), BENCH_ARGS (more storm.py options).
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${HERMETIC_BIN:-$REPO/dist/hermetic-x86_64}
if [ -z "${HERMETIC_BIN:-}" ] && [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  "$REPO/cross/build-static.sh" x86_64 >/dev/null
fi
[ -x "$BIN" ] || { echo "bench: error: no binary at $BIN" >&2; exit 1; }
args=(--hermetic "$BIN")
[ "${BENCH_QUICK:-0}" = 1 ] && args+=(--quick)
# shellcheck disable=SC2206
args+=(${BENCH_ARGS:-})
exec timeout 3600 /usr/bin/python3 "$HERE/storm.py" "${args[@]}"
