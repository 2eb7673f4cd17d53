#!/usr/bin/env bash
# make test: set up, build every variant once, run every suite, and end with a time table (one
# line `stage NAME SECONDS s` per stage, with `, cpu SECONDS s` for a lane) and one line
# "N passed, N failed".
#
# The suites, and the lane each runs in:
#   setup   Debian packages, the npm test peers, the browser and k8s validators (what a test
#           needs is installed here, never inside a test)
#   lint    clang-format, banned functions, layer edges (make lint)
#   A       ASan+UBSan build -> cmocka unit tests -> pytest e2e (every test this binary can run,
#           but the repository's own checks, which C runs)
#   B       TSan build -> unit tests (not test_spawn, see below) -> the e2e suites of the daemons
#           whose threads meet the loop
#   C       static x86_64 musl build -> smoke subset -> its FROM-scratch image under podman ->
#           the MCP conformance suite's client scenarios (tests/conformance) -> the e2e files
#           about the repository (manifests, lint, docs: REPO_TESTS)
#   D       static aarch64 musl build -> smoke subset under qemu-aarch64-static, size budget ->
#           two real arm64 kernels under qemu-system-aarch64, once A's tests are done
#   E       libFuzzer build -> every fuzz target for FUZZ_SECONDS, FUZZ_JOBS at a time
# The lanes run side by side after lint: most of an e2e test is waiting on a daemon, so two
# cores carry the builds of B, C and E (niced, so tests come first) while A's tests run; D's
# build is not niced, as D is the longest lane (its smoke set runs under qemu). Each pytest stage
# spreads its tests over pytest-xdist workers (E2E_WORKERS for A). Each variant is built once,
# in its own directory.
#
# Counts come from meson's testlog.json and pytest's JUnit XML; a build or setup step counts as
# one check. A skipped test fails its stage unless tests/skip-allowlist.txt names it
# (tests/skips.py): a skip may only mean this machine lacks some hardware.
# Env: FUZZ_SECONDS (default 20), FUZZ_JOBS (2), E2E_WORKERS (6), PYTEST_TIMEOUT (900 s a test;
# the arm64 guests 2400), MAKE_TEST_SERIAL=1 (one lane at a time, for reading a failure in
# order).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3
OUT=$ROOT/build-results
RES=$OUT/results
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_JOBS=${FUZZ_JOBS:-2}
E2E_WORKERS=${E2E_WORKERS:-6}
# The lanes' pytest sessions run at once: each takes its own ports (tests/e2e/conftest.py,
# free_port): asan 20000 + 500 per worker (at most 8), tsan 24000, x86_64 25000, aarch64 26000.
[ "$E2E_WORKERS" -le 8 ] || E2E_WORKERS=8
# Compiles are cached outside the repository (ccache, ~/.cache/ccache), keyed relative to the
# checkout so that a new clone elsewhere on the same machine hits the cache: CI's clean clone
# builds the five variants from it. The cold path is the same build without hits.
export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=true
rm -rf "$OUT"; mkdir -p "$RES"
t_start=$(date +%s)

note() { printf '== %s\n' "$*"; }
# record NAME PASSED FAILED SECONDS: one result line per check or suite, read by finish().
record() { printf '%s %s %s %s\n' "$1" "$2" "$3" "$4" >"$RES/$1"; }
stage_time() { printf '%s\n' "$2" >"$RES/$1.time"; }
# lane_cpu NAME: the CPU seconds (user + system) of everything the calling lane ran and waited
# for, daemons and peers of its tests included (bash's `times`, children's line): where make
# test's two cores went, since the lanes share them.
lane_cpu() { # `times` in this shell, not in a pipe's subshell (whose children are none)
  times >"$RES/$1.cpu.raw"
  awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] }
    printf "%d\n", s }' "$RES/$1.cpu.raw" >"$RES/$1.cpu"
  rm -f "$RES/$1.cpu.raw"
}

check() { # check NAME CMD...: a step that is one check; its output goes to $OUT/NAME.log
  local name=$1 log="$OUT/$1.log" t0=$(date +%s) dt; shift
  if "$@" >"$log" 2>&1; then
    dt=$(( $(date +%s) - t0 )); [ -n "${CHECK_QUIET:-}" ] || echo "ok   $name (${dt}s)"
    record "$name" 1 0 "$dt"; return 0
  fi
  dt=$(( $(date +%s) - t0 ))
  { echo "FAIL $name (${dt}s), last lines of $log:"; tail -n 30 "$log" | sed 's/^/    /'; } | atomic_print
  record "$name" 0 1 "$dt"; return 1
}
atomic_print() { local t; t=$(cat); printf '%s\n' "$t"; }

meson_counts() { # meson_counts BUILDDIR NAME SECONDS
  local p f
  read -r p f < <($PY - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r != "SKIP": f += 1
except OSError:
    f = 1
print(p, f)
PY
)
  skip_gate "$2" "$1/meson-logs/testlog.json" || f=$((f + $?))
  echo "     $2: $p passed, $f failed"; record "$2" "$p" "$f" "$3"
}

# skip_gate STAGE RESULT...: every skip must be in tests/skip-allowlist.txt; returns how many
# were not (as failures of the stage).
skip_gate() {
  local stage=$1 out rc; shift
  out=$($PY tests/skips.py "$stage" "$@"); rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/     /' | atomic_print
  [ $rc -eq 0 ] && return 0
  return "$(printf '%s\n' "$out" | grep -c '^SKIP NOT ALLOWED')"
}

# The end of the first failures' reports (a hung daemon's thread stacks are there, see
# tests/e2e/conftest.py wait_exit), so that a failure in CI can be understood from its output
# alone; the whole report stays in build-results/.
failure_details() { # failure_details XML
  $PY - "$1" <<'PY' | sed 's/^/     | /'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    sys.exit(0)
shown = 0
for case in root.iter("testcase"):
    for bad in list(case.findall("failure")) + list(case.findall("error")):
        if shown == 3:
            sys.exit(0)
        shown += 1
        lines = (bad.text or bad.get("message", "")).splitlines()
        print(f"--- {case.get('classname')}::{case.get('name')} (last {min(len(lines), 60)} lines)")
        print("\n".join(lines[-60:]))
PY
}

junit_counts() { # junit_counts XML NAME SECONDS
  local p f
  read -r p f < <($PY - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    t = sum(int(s.get("tests", 0)) for s in suites)
    bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skip = sum(int(s.get("skipped", 0)) for s in suites)
    print(t - bad - skip, bad if t else 1)
except Exception:
    print(0, 1)
PY
)
  skip_gate "$2" "$1" || f=$((f + $?))
  echo "     $2: $p passed, $f failed"; record "$2" "$p" "$f" "$3"
}

pytest_run() { # pytest_run NAME WORKERS ARGS...
  local name=$1 n=$2 t0=$(date +%s) par=(); shift 2
  [ "$n" -gt 1 ] && par=(-n "$n" --dist load)
  # A test that hangs fails after PYTEST_TIMEOUT seconds (pytest-timeout's SIGALRM interrupts
  # even a blocked read), and the stage goes on: a hang must not eat CI's whole time.
  $PY -m pytest -q -p no:cacheprovider "${par[@]}" --timeout="${PYTEST_TIMEOUT:-900}" \
    --junitxml="$OUT/$name.xml" "$@" \
    >"$OUT/$name.log" 2>&1
  {
    tail -n 3 "$OUT/$name.log" | sed 's/^/     /'
    grep -E '^(FAILED|ERROR) ' "$OUT/$name.log" | head -20 | sed 's/^/     /'
    failure_details "$OUT/$name.xml"
    junit_counts "$OUT/$name.xml" "$name" "$(( $(date +%s) - t0 ))"
  } | atomic_print
}

unit_run() { # unit_run BUILDDIR NAME [meson test args...]
  local dir=$1 name=$2 t0=$(date +%s); shift 2
  meson test -C "$dir" --print-errorlogs "$@" >"$OUT/$name.log" 2>&1
  {
    grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT|ERROR)' "$OUT/$name.log" | sed 's/^/     /'
    # the end of what the first failing test printed (--print-errorlogs puts it under the
    # test's line, between two rules), so that a failure in CI can be understood from its
    # output alone
    awk '/ ✀ /{n++; if (n == 1) {p = 1; next}} p && /^―+$/{exit} p' "$OUT/$name.log" |
      tail -n 25 | sed 's/^/     | /'
    meson_counts "$dir" "$name" "$(( $(date +%s) - t0 ))"
  } | atomic_print
}

conformance_run() { # conformance_run NAME BINARY: the MCP conformance suite's client scenarios
  local name=$1 t0=$(date +%s)
  $PY tests/conformance/run.py --bin "$2" --junit "$OUT/$name.xml" --out "$OUT/$name" \
    >"$OUT/$name.log" 2>&1
  { awk '/^FAIL /{p=1; print; next} /^ /{if (p) print; next} {p=0}' "$OUT/$name.log" |
      head -40 | sed 's/^/     /'
    junit_counts "$OUT/$name.xml" "$name" "$(( $(date +%s) - t0 ))"; } | atomic_print
}

# The e2e files about the repository rather than a build (manifests, lint, the docs): they run
# once, in the static x86_64 lane, which has time to spare, rather than in the asan lane, the
# longest (docs/numbers.md, "make test").
REPO_TESTS=(tests/e2e/test_k8s_validate.py tests/e2e/test_lint.py tests/e2e/test_docs.py
  tests/e2e/test_docs_examples.py)

lane_asan() {
  local t0=$(date +%s)
  if check build-asan bash -c "{ [ -f build-asan/build.ninja ] || meson setup build-asan \
        -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; } && ninja -C build-asan"; then
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
    # 3x meson's 60 s per test, as a sanitizer build runs several times slower: the longest
    # (log, tool_memory) took 31 s in a loaded make test
    unit_run build-asan unit -t 3
    HERMETIC_PORT_BASE=20000 HERMETIC_BIN=$ROOT/build-asan/hermetic \
      pytest_run e2e-asan "$E2E_WORKERS" tests/e2e "${REPO_TESTS[@]/#/--ignore=}"
  fi
  touch "$RES/.asan-done"  # the arm64 guests wait for this (lane_aarch64)
  stage_time asan $(( $(date +%s) - t0 ))
  lane_cpu asan
}

lane_tsan() {
  local t0=$(date +%s)
  if check build-tsan bash -c "{ [ -f build-tsan/build.ninja ] || meson setup build-tsan \
        -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug; } && nice -n 15 ninja -C build-tsan"; then
    # test_spawn is left out: its launcher is a fork without exec that forks again, which TSan
    # does not support (its children hang); spawn.c starts no thread.
    local tsan_tests
    mapfile -t tsan_tests < <(meson test -C build-tsan --list --suite unit 2>/dev/null |
      grep -vx -e spawn -e 'ninja: .*')
    # No suppression: src/core/loop.c says why a TSan build runs without libevent's change list.
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    unit_run build-tsan unit-tsan -t 6 "${tsan_tests[@]}"
    # The daemons whose threads meet the loop: the ledger's committer (spend, a locked
    # state.db), offload (alerts' state file, the cockpit's readers), file-tool workers. A
    # race ends the daemon (exit 66), which fails its test.
    HERMETIC_PORT_BASE=24000 HERMETIC_BIN=$ROOT/build-tsan/hermetic pytest_run e2e-tsan 2 tests/e2e/test_router_spend.py \
      tests/e2e/test_router_spend_inflight.py tests/e2e/test_store_busy.py \
      tests/e2e/test_alerts.py tests/e2e/test_ui.py tests/e2e/test_tool_files_hang.py
    unset TSAN_OPTIONS
  fi
  stage_time tsan $(( $(date +%s) - t0 ))
  lane_cpu tsan
}

lane_x86_64() {
  local t0=$(date +%s)
  local -x HERMETIC_PORT_BASE=25000
  if check static-x86_64 nice -n 15 cross/build-static.sh x86_64; then
    HERMETIC_BIN=$ROOT/dist/hermetic-x86_64 HERMETIC_STATIC=1 pytest_run smoke-x86_64 2 -m smoke tests/e2e
    HERMETIC_CONTAINER_BIN=$ROOT/dist/hermetic-x86_64 HERMETIC_BIN=$ROOT/dist/hermetic-x86_64 \
      HERMETIC_STATIC=1 pytest_run container 1 -m container tests/e2e
    conformance_run conformance-x86_64 "$ROOT/dist/hermetic-x86_64"
    HERMETIC_BIN=$ROOT/dist/hermetic-x86_64 HERMETIC_STATIC=1 pytest_run repo-x86_64 2 \
      "${REPO_TESTS[@]}"
  fi
  stage_time static-x86_64 $(( $(date +%s) - t0 ))
  lane_cpu static-x86_64
}

lane_aarch64() {
  local t0=$(date +%s)
  local -x HERMETIC_PORT_BASE=26000
  # not niced: the longest lane, whose qemu smoke set can start only once this is built
  if check static-aarch64 cross/build-static.sh aarch64; then
    HERMETIC_BIN=$ROOT/dist/hermetic-aarch64 HERMETIC_STATIC=1 HERMETIC_WRAPPER=qemu-aarch64-static \
      pytest_run smoke-aarch64 2 -m smoke tests/e2e
    # The two kernels boot one after the other once the asan lane's e2e workers are done:
    # beside them the guests starved (a kernel's soft-lockup warning, a gateway not up within
    # minutes) on a slow VM. Side by side, with the x86_64 and fuzz lanes still running, one
    # of two guests failed in CI of stop 61; one at a time, each has a core to itself.
    while [ ! -e "$RES/.asan-done" ]; do sleep 5; done
    HERMETIC_VM_BIN=$ROOT/dist/hermetic-aarch64 HERMETIC_BIN=$ROOT/dist/hermetic-aarch64 \
      HERMETIC_STATIC=1 HERMETIC_WRAPPER=qemu-aarch64-static PYTEST_TIMEOUT=2400 \
      pytest_run vm-arm64 1 -m vm tests/e2e
  fi
  stage_time static-aarch64 $(( $(date +%s) - t0 ))
  lane_cpu static-aarch64
}

lane_fuzz() {
  local t0=$(date +%s)
  if check fuzz-build bash -c "CC=clang meson setup build-fuzz --reconfigure -Dfuzz=true -Dtests=false \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null 2>&1 \
      || CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
      -Db_lundef=false -Dbuildtype=debugoptimized && nice -n 15 ninja -C build-fuzz"; then
    local f running=0
    for f in build-fuzz/tests/fuzz_*; do
      [ -f "$f" ] && [ -x "$f" ] || continue
      fuzz_one "$f" &
      running=$((running + 1))
      if [ "$running" -ge "$FUZZ_JOBS" ]; then wait -n; running=$((running - 1)); fi
    done
    wait
    # one line for the targets that passed (a failure prints its own lines): CI shows only
    # part of a long printout, and thirty "ok" lines pushed failures' details out of it
    local ok=0 r p
    for r in "$RES"/fuzz-*; do
      [[ $r == *fuzz-build* || $r == *.* ]] && continue
      read -r _ p _ _ <"$r"; [ "$p" = 1 ] && ok=$((ok + 1))
    done
    echo "ok   fuzz: $ok targets, ${FUZZ_SECONDS}s each"
  fi
  stage_time fuzz $(( $(date +%s) - t0 ))
  lane_cpu fuzz
}

fuzz_one() { # fuzz_one BINARY: one target for FUZZ_SECONDS on its seed corpus, at low priority
  local f=$1 name=${1##*/fuzz_}
  local corpus="$OUT/corpus-$name"
  mkdir -p "$corpus"
  CHECK_QUIET=1 check "fuzz-$name" nice -n 19 "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
    -rss_limit_mb=1024 -print_final_stats=1 "$corpus" "tests/fuzz/corpus/$name"
}

finish() {
  local total=$(( $(date +%s) - t_start )) passed=0 failed=0 failures=() n p f s
  for r in "$RES"/*; do
    [[ $r == *.time || $r == *.cpu || $r == *.raw || $r == */.* ]] && continue
    read -r n p f s <"$r"
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -gt 0 ] && failures+=("$n")
  done
  echo
  for s in setup lint asan tsan static-x86_64 static-aarch64 fuzz; do
    [ -f "$RES/$s.time" ] || continue
    if [ -f "$RES/$s.cpu" ]; then echo "stage $s $(cat "$RES/$s.time") s, cpu $(cat "$RES/$s.cpu") s"
    else echo "stage $s $(cat "$RES/$s.time") s"; fi
  done
  echo "stage total $total s"
  [ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]}"
  echo "make test took ${total}s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

note "setup: Debian packages, cross toolchain and sources, test peers (npm), browser, k8s validators"
t0=$(date +%s)
check deps scripts/install-deps.sh || finish
# apt-get one at a time (dpkg's lock); then what only downloads into ~/.cache side by side. The
# cross sources are fetched here once so that both static builds can then run side by side.
check cross-toolchain cross/toolchain.sh
check browser tests/browser/install.sh
check peers tests/peers/install.sh &
check peers-sdk-v2 tests/peers/sdk-v2/install.sh &
check conformance-suite tests/conformance/install.sh &
check k8s-validators tests/k8s/install.sh &
check cross-sources bash -c "cross/fetch-sources.sh && cross/stage-headers.sh" &
wait
stage_time setup $(( $(date +%s) - t0 ))

if [ -n "${FUZZ_ONLY:-}" ]; then lane_fuzz; finish; fi

# How slow this machine starts a program, measured once while it is quiet: every lane's e2e
# waits scale with it (tests/machine_speed.py, conftest.py SLOW).
HERMETIC_SLOW_MACHINE=$($PY tests/machine_speed.py 2>/dev/null) || HERMETIC_SLOW_MACHINE=1
export HERMETIC_SLOW_MACHINE
note "machine: program starts slow by a factor of $HERMETIC_SLOW_MACHINE (tests/machine_speed.py)"

note "lint: clang-format, banned functions, layer edges (make lint)"
t0=$(date +%s)
check lint make -s -C "$ROOT" lint
stage_time lint $(( $(date +%s) - t0 ))

note "lanes side by side: asan | tsan | static x86_64 + image | static aarch64 + arm64 kernels | fuzz"
if [ -n "${MAKE_TEST_SERIAL:-}" ]; then
  lane_asan; lane_tsan; lane_x86_64; lane_aarch64; lane_fuzz
else
  lane_asan & lane_tsan & lane_x86_64 & lane_aarch64 & lane_fuzz &
  wait
fi
finish
