#!/usr/bin/env bash
# make test: set up, then run every suite in order and end with one line "N passed, N failed".
#   1. make lint: clang-format, banned functions, layer edges (one check)
#   2. sanitizer build (ASan+UBSan) -> cmocka unit tests + pytest e2e against the real binary
#   3. thread sanitizer build -> the cmocka unit tests (the store's committer and checkpoint
#      threads, offload, tool_files' workers), but test_spawn (see below), and the e2e suites
#      of the daemons whose threads meet the loop
#   4. static x86_64 musl build -> e2e smoke, then its image under podman (test_container.py)
#   5. static aarch64 musl build -> smoke under qemu-aarch64-static, size budget
#   6. fuzz smoke: every libFuzzer target for FUZZ_SECONDS
# Counts come from meson's testlog.json and pytest's JUnit XML; a build step counts as one check.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3
OUT=$ROOT/build-results
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
rm -rf "$OUT"; mkdir -p "$OUT"
passed=0; failed=0; failures=()
t_start=$(date +%s)

note() { printf '\n== %s\n' "$*"; }
count() { # count PASSED FAILED NAME
  passed=$((passed + $1)); failed=$((failed + $2))
  [ "$2" -gt 0 ] && failures+=("$3")
  return 0
}
check() { # check NAME CMD...: a step that is one check; its output goes to a log
  local name=$1 log="$OUT/$1.log" t0=$(date +%s); shift
  if "$@" >"$log" 2>&1; then
    echo "ok   $name ($(( $(date +%s) - t0 ))s)"; count 1 0 "$name"; return 0
  fi
  echo "FAIL $name ($(( $(date +%s) - t0 ))s), last lines of $log:"; tail -n 30 "$log" | sed 's/^/    /'
  count 0 1 "$name"; return 1
}
meson_counts() { # meson_counts BUILDDIR NAME
  local p f
  read -r p f < <($PY - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL", "SKIP"): p += 1
        else: f += 1
except OSError:
    f = 1
print(p, f)
PY
)
  echo "     $2: $p passed, $f failed"; count "$p" "$f" "$2"
}
junit_counts() { # junit_counts XML NAME
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
  echo "     $2: $p passed, $f failed"; count "$p" "$f" "$2"
}
pytest_run() { # pytest_run NAME ARGS...
  local name=$1; shift
  $PY -m pytest -q -p no:cacheprovider --junitxml="$OUT/$name.xml" "$@" >"$OUT/$name.log" 2>&1
  tail -n 3 "$OUT/$name.log" | sed 's/^/     /'
  grep -E '^(FAILED|ERROR) ' "$OUT/$name.log" | head -20 | sed 's/^/     /'
  failure_details "$OUT/$name.xml"
  junit_counts "$OUT/$name.xml" "$name"
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
        print(f"--- {case.get('classname')}::{case.get('name')} (last {min(len(lines), 150)} lines)")
        print("\n".join(lines[-150:]))
PY
}

run_fuzz() {
  note "fuzz smoke (${FUZZ_SECONDS}s per target)"
  check fuzz-build bash -c "CC=clang meson setup build-fuzz --reconfigure -Dfuzz=true -Dtests=false \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null 2>&1 \
      || CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
      -Db_lundef=false -Dbuildtype=debugoptimized && ninja -C build-fuzz" || return
  for f in build-fuzz/tests/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    local name=${f##*/fuzz_}
    local corpus="$OUT/corpus-$name"
    mkdir -p "$corpus"
    check "fuzz-$name" "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=1024 \
      -print_final_stats=1 "$corpus" "tests/fuzz/corpus/$name"
  done
}

finish() {
  local total=$(( $(date +%s) - t_start ))
  echo
  [ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]}"
  echo "make test took ${total}s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

note "setup: Debian packages"
check deps scripts/install-deps.sh || finish
# Only the real-peer MCP tests need npm; the others run even if this fails.
note "setup: MCP test peers (npm, pinned by tests/peers/package-lock.json)"
check peers tests/peers/install.sh

if [ -n "${FUZZ_ONLY:-}" ]; then run_fuzz; finish; fi

note "lint: clang-format, banned functions, layer edges (make lint)"
check lint make -s -C "$ROOT" lint

note "sanitizer build (address, undefined)"
if check build-asan bash -c "{ [ -f build-asan/build.ninja ] || meson setup build-asan \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; } && ninja -C build-asan"; then
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
  meson test -C build-asan --print-errorlogs >"$OUT/unit.log" 2>&1
  meson_counts build-asan unit
  grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT|ERROR)' "$OUT/unit.log" | sed 's/^/     /'
  HERMETIC_BIN=$ROOT/build-asan/hermetic pytest_run e2e-asan tests/e2e
  unset UBSAN_OPTIONS ASAN_OPTIONS
fi

note "thread sanitizer build (unit tests, e2e of the threaded daemons)"
if check build-tsan bash -c "{ [ -f build-tsan/build.ninja ] || meson setup build-tsan \
      -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug; } && ninja -C build-tsan"; then
  # test_spawn is left out: its launcher is a fork without exec that forks again, which TSan
  # does not support (its children hang); spawn.c starts no thread.
  mapfile -t tsan_tests < <(meson test -C build-tsan --list --suite unit 2>/dev/null |
    grep -vx -e spawn -e 'ninja: .*')
  # No suppression: src/core/loop.c says why a TSan build runs without libevent's change list.
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  meson test -C build-tsan --print-errorlogs -t 3 "${tsan_tests[@]}" >"$OUT/unit-tsan.log" 2>&1
  meson_counts build-tsan unit-tsan
  grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT|ERROR)' "$OUT/unit-tsan.log" | sed 's/^/     /'
  # The daemons whose threads meet the loop: the ledger's committer (spend, a locked
  # state.db), offload (alerts' state file, the cockpit's readers), file-tool workers. A
  # race ends the daemon (exit 66), which fails its test.
  HERMETIC_BIN=$ROOT/build-tsan/hermetic pytest_run e2e-tsan tests/e2e/test_router_spend.py \
    tests/e2e/test_router_spend_inflight.py tests/e2e/test_store_busy.py \
    tests/e2e/test_alerts.py tests/e2e/test_ui.py tests/e2e/test_tool_files_hang.py
  unset TSAN_OPTIONS
fi

note "static x86_64 (musl)"
if check static-x86_64 cross/build-static.sh x86_64; then
  HERMETIC_BIN=$ROOT/dist/hermetic-x86_64 HERMETIC_STATIC=1 pytest_run smoke-x86_64 -m smoke tests/e2e
  note "static x86_64 image under podman with the Deployment's settings (buildah, runc)"
  HERMETIC_CONTAINER_BIN=$ROOT/dist/hermetic-x86_64 HERMETIC_BIN=$ROOT/dist/hermetic-x86_64 \
    HERMETIC_STATIC=1 pytest_run container -m container tests/e2e
fi

note "static aarch64 (musl, under qemu-aarch64-static)"
if check static-aarch64 cross/build-static.sh aarch64; then
  HERMETIC_BIN=$ROOT/dist/hermetic-aarch64 HERMETIC_STATIC=1 HERMETIC_WRAPPER=qemu-aarch64-static \
    pytest_run smoke-aarch64 -m smoke tests/e2e
  note "static aarch64 on real arm64 kernels (qemu-system-aarch64, Debian bookworm's and bookworm-backports')"
  HERMETIC_VM_BIN=$ROOT/dist/hermetic-aarch64 HERMETIC_BIN=$ROOT/dist/hermetic-aarch64 \
    HERMETIC_STATIC=1 HERMETIC_WRAPPER=qemu-aarch64-static pytest_run vm-arm64 -m vm tests/e2e
fi

run_fuzz
finish
