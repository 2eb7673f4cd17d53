#!/usr/bin/env bash
# Router benchmark: hermetic router vs direct vs the nginx floor vs the Portkey gateway, on loopback.
# `make bench` runs it; see benchmarks/router/README.md. Not part of `make test`.
#
# 1. builds the fake upstream and the load generator (gcc, Debian libevent-dev) and checks the
#    fake upstream's answers against the documented OpenAI and Anthropic shapes (check_upstream.py);
# 2. builds the static musl hermetic (cross/build-static.sh x86_64) unless HERMETIC_BIN is set;
# 3. installs nginx-light (the floor: a proxy that only forwards) if missing, and the pinned Portkey gateway into ~/.cache/hermetic/bench/portkey (npm ci);
# 4. runs bench.py, which writes benchmarks/results/<date>-<rev>-router.json and prints a table.
#
# Env: HERMETIC_BIN      binary to measure (default: dist/hermetic-x86_64, rebuilt first)
#      BENCH_NO_BUILD=1  use dist/hermetic-x86_64 as it is
#      BENCH_NO_PORTKEY=1  leave Portkey out
#      BENCH_NO_FLOOR=1  leave the nginx floor out
#      BENCH_QUICK=1     2 rounds x 2 s, 300 requests at concurrency 1, 64 streams: a smoke run
#                        of the harness (~1.5 min)
#      BENCH_ARGS        extra bench.py arguments (--rates 1000,200 --rounds 5 --window 5 ...)
#      BENCH_RUNS=N      N runs in a row, each --strict, and a PASS/FAIL line per run (exit 1
#                        when any failed): the "three consecutive runs" of issue 51
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${HERMETIC_CACHE:-$HOME/.cache/hermetic}/bench
PY=/usr/bin/python3
log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

# -- tools -------------------------------------------------------------------------------------
need=()
for p in gcc libevent-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
TOOLS=$CACHE/tools
mkdir -p "$TOOLS"
CFLAGS=(-O2 -g -Wall -Wextra -Werror -std=gnu11)
read -ra EVENT <<<"$(pkg-config --cflags --libs libevent)"
gcc "${CFLAGS[@]}" -o "$TOOLS/upstream" "$HERE/upstream.c" "${EVENT[@]}"
gcc "${CFLAGS[@]}" -o "$TOOLS/loadgen" "$HERE/loadgen.c" -lm
"$PY" "$HERE/check_upstream.py" "$TOOLS/upstream" || die "the fake upstream does not answer in the documented shapes"

# -- hermetic ------------------------------------------------------------------------------------
if [ -n "${HERMETIC_BIN:-}" ]; then
  BIN=$HERMETIC_BIN
else
  BIN=$REPO/dist/hermetic-x86_64
  if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    log "building the static x86_64 binary (cross/build-static.sh x86_64)"
    if ! "$REPO/cross/build-static.sh" x86_64 >"$CACHE/build-static.log" 2>&1; then
      tail -n 20 "$CACHE/build-static.log" >&2
      log "static build failed (log: $CACHE/build-static.log); measuring whatever $BIN is"
    fi
  fi
fi

# -- the floor: nginx as a pure forwarder (Debian nginx-light; run as this user in a temp dir) ---------
NGINX_WHY=""
if [ "${BENCH_NO_FLOOR:-0}" = 1 ]; then
  NGINX_WHY="left out (BENCH_NO_FLOOR=1)"
elif [ ! -x /usr/sbin/nginx ]; then
  log "installing nginx-light for the floor measurement"
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          --no-install-recommends nginx-light >/dev/null 2>&1); then
    NGINX_WHY="nginx-light could not be installed"
  fi
  # The package may start a system nginx; the benchmark runs its own.
fi

# -- Portkey ---------------------------------------------------------------------------------------
PK_DIR=$CACHE/portkey
PK_WHY=""
if [ "${BENCH_NO_PORTKEY:-0}" = 1 ]; then
  PK_DIR=""
  PK_WHY="left out (BENCH_NO_PORTKEY=1)"
elif ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  PK_DIR=""
  PK_WHY="node/npm not installed"
else
  mkdir -p "$PK_DIR"
  if ! cmp -s "$HERE/portkey/package-lock.json" "$PK_DIR/package-lock.json" ||
     [ ! -f "$PK_DIR/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
    log "installing the Portkey gateway (pinned in benchmarks/router/portkey/package-lock.json)"
    cp "$HERE/portkey/package.json" "$HERE/portkey/package-lock.json" "$PK_DIR/"
    if ! (cd "$PK_DIR" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
            >"$CACHE/npm.log" 2>&1); then
      tail -n 20 "$CACHE/npm.log" >&2
      PK_WHY="npm ci of @portkey-ai/gateway failed: $(tail -n 3 "$CACHE/npm.log" | tr '\n' ' ')"
      PK_DIR=""
    fi
  fi
fi

args=(--loadgen "$TOOLS/loadgen" --upstream "$TOOLS/upstream" --hermetic "$BIN"
      --portkey-dir "$PK_DIR" --portkey-why "$PK_WHY" --command "${BENCH_COMMAND:-make bench}")
[ -z "$PK_DIR" ] && args+=(--no-portkey)
[ -n "$NGINX_WHY" ] && args+=(--no-floor --nginx-why "$NGINX_WHY")
[ "${BENCH_QUICK:-0}" = 1 ] && args+=(--rounds 2 --window 2 --budget-window 2 --budget-segments 2 --streams 64 --c1-requests 300 --c1-warmup 20
                                      --sustain-max-seconds 60 --sustain-window 2 --callgrind-requests 200)
# shellcheck disable=SC2206
args+=(${BENCH_ARGS:-})
RUNS=${BENCH_RUNS:-1}
if [ "$RUNS" = 1 ]; then
  exec timeout 1800 "$PY" "$HERE/bench.py" "${args[@]}"
fi
# BENCH_RUNS=N: N runs one after the other, each with --strict; one verdict line per run.
verdicts=() failed=0
for i in $(seq "$RUNS"); do
  log "run $i of $RUNS"
  if timeout 1800 "$PY" "$HERE/bench.py" "${args[@]}" --strict; then
    verdicts+=("run $i: PASS (every budget met)")
  else
    verdicts+=("run $i: FAIL (exit $?; the run's 'strict:' line names the budgets missed)")
    failed=1
  fi
done
printf 'bench: %s\n' "${verdicts[@]}" >&2
exit "$failed"
