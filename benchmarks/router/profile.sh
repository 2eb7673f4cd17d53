#!/usr/bin/env bash
# Instructions per proxied request under callgrind (repeatable, unlike wall-clock numbers on a
# shared VM). Not part of `make bench`.
#
#   benchmarks/router/profile.sh [BINARY] [N]     # default: /tmp/build-rel/hermetic, 1000
#   benchmarks/router/profile.sh nginx [N]        # the nginx floor, configured as bench.py does
#
# Starts the fake upstream (20 ms) and `hermetic router` under callgrind, sends 200 warm-up
# requests, zeroes the counters, sends N requests at 100 req/s (open loop), dumps, and prints
# the instructions per request and the top functions (inclusive). PROFILE_STREAM=1 sends
# streamed requests instead; PROFILE_RATE=N sends N req/s instead of 100 (under callgrind the
# router runs many times slower, so at high rates requests may queue and the ledger's group
# commit batch more rows than in the bench); PROFILE_MODEL=bench-anthropic asks for the
# anthropic dialect's group, plain or streamed; PROFILE_GOVERNED=1 runs the governed config
# (config.yaml + governed.yaml: virtual key with a budget, rate pool, redacting lane, audit) and
# sends the virtual key, as bench.py's hermetic-governed target does. The callgrind output stays
# in $OUT (default /tmp/hermetic-prof). PROFILE_CPU=1 runs the target natively instead (no
# callgrind) and prints, per thread, the run time a request costs over the N requests (schedstat,
# in ns: what make bench records), its user and system split (tick-sampled, so rough even over
# thousands of requests), with the context switches and page faults a request: where the time
# goes at a rate callgrind cannot carry.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-/tmp/build-rel/hermetic}
N=${2:-1000}
OUT=${OUT:-/tmp/hermetic-prof}
TOOLS=${HERMETIC_CACHE:-$HOME/.cache/hermetic}/bench/tools
rm -rf "$OUT" && mkdir -p "$OUT/home"
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
"$TOOLS/upstream" --port 0 --port-file "$OUT/up.port" --delay-ms 20 --chunks 10 \
	--chunk-delay-ms 10 --max-seconds 600 >"$OUT/upstream.log" 2>&1 &
UP_PID=$!
for _ in $(seq 100); do [ -s "$OUT/up.port" ] && break; sleep 0.05; done
RP=$(port)
export BENCH_HOME=$OUT/home BENCH_UPSTREAM_PORT=$(cat "$OUT/up.port") BENCH_ROUTER_PORT=$RP \
	BENCH_UPSTREAM_KEY=sk-up BENCH_MASTER_KEY=sk-master BENCH_VIRTUAL_KEY=sk-virtual
AUTH=sk-master
if [ "$(id -u)" = 0 ]; then export HERMETIC_ALLOW_ROOT=1; fi # `hermetic router` refuses root without it
# valgrind makes syscalls the router's seccomp allowlist does not have: the same config without it
# (the filter runs in the kernel, so the instruction counts are the same).
{
	cat "$HERE/config.yaml"
	if [ "${PROFILE_GOVERNED:-0}" = 1 ]; then cat "$HERE/governed.yaml"; else cat "$HERE/plain.yaml"; fi
	echo 'guardrails: {seccomp: {enabled: false}}'
} >"$OUT/config.yaml"
[ "${PROFILE_GOVERNED:-0}" = 1 ] && AUTH=sk-virtual
VG="valgrind --tool=callgrind --callgrind-out-file=$OUT/callgrind.out"
[ "${PROFILE_CPU:-0}" = 1 ] && VG=
if [ "$BIN" = nginx ]; then
	# The floor, measured alike: nginx as one process forwarding with keep-alive, as bench.py runs it.
	mkdir -p "$OUT/nginx/logs" "$OUT/nginx/tmp"
	cat >"$OUT/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/tmp/body;
    proxy_temp_path $OUT/nginx/tmp/proxy;
    fastcgi_temp_path $OUT/nginx/tmp/fastcgi;
    uwsgi_temp_path $OUT/nginx/tmp/uwsgi;
    scgi_temp_path $OUT/nginx/tmp/scgi;
    upstream bench { server 127.0.0.1:$BENCH_UPSTREAM_PORT; keepalive 1024; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$RP;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }
    }
}
EOF
	$VG "$(command -v nginx || echo /usr/sbin/nginx)" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" \
		-e "$OUT/nginx/logs/error.log" >"$OUT/router.log" 2>&1 &
else
	$VG "$BIN" router --config "$OUT/config.yaml" >"$OUT/router.log" 2>&1 &
fi
R_PID=$!
trap 'kill $R_PID $UP_PID 2>/dev/null || true' EXIT
for _ in $(seq 300); do
	(exec 3<>"/dev/tcp/127.0.0.1/$RP") 2>/dev/null && break
	sleep 0.1
done
STREAM=
[ "${PROFILE_STREAM:-0}" = 1 ] && STREAM=',"stream":true,"stream_options":{"include_usage":true}'
BODY="{\"model\":\"${PROFILE_MODEL:-bench}\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":16$STREAM}"
lg() {
	"$TOOLS/loadgen" --url "http://127.0.0.1:$RP/v1/chat/completions" --rate "${PROFILE_RATE:-100}" --warmup 0 \
		--duration "$1" --timeout 20 -H "Authorization: Bearer $AUTH" --body "$BODY"
}
lg 2 >/dev/null
# utime, stime (ticks), minflt and the context switches of each thread (PROFILE_CPU=1)
threads() {
	local t f
	for t in /proc/"$R_PID"/task/*; do
		read -r -a f <"$t/stat"
		read -r -a r <"$t/schedstat"
		echo "${t##*/} ${f[13]} ${f[14]} ${f[9]}" \
			"$(awk '/ctxt_switches/{n += $2} END {print n}' "$t/status")" "${r[0]}"
	done
}
if [ "${PROFILE_CPU:-0}" = 1 ]; then threads >"$OUT/threads.0"; else callgrind_control -z "$R_PID" >/dev/null; fi
lg "$(python3 -c "print($N/${PROFILE_RATE:-100})")" >"$OUT/loadgen.json"
if [ "${PROFILE_CPU:-0}" = 1 ]; then
	threads >"$OUT/threads.1"
	python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
n = json.load(open(f"{out}/loadgen.json")).get("requests") or 1
tick = 1e6 / os.sysconf("SC_CLK_TCK")
def load(f):
    return {l.split()[0]: list(map(int, l.split()[1:])) for l in open(f)}
a, b = load(f"{out}/threads.0"), load(f"{out}/threads.1")
tot = [0, 0, 0, 0, 0]
print(f"requests {n}; per request, by thread (run time µs from schedstat; user, system CPU µs from"
      " ticks; page faults; context switches):")
for tid in sorted(b, key=int):
    d = [y - x for x, y in zip(a.get(tid, [0, 0, 0, 0, 0]), b[tid])]
    tot = [t + x for t, x in zip(tot, d)]
    print(f"  thread {tid}: run {d[4] / 1e3 / n:6.2f}  user {d[0] * tick / n:6.1f}"
          f"  system {d[1] * tick / n:6.1f}  faults {d[2] / n:.2f}  switches {d[3] / n:.2f}")
print(f"  process:      run {tot[4] / 1e3 / n:6.2f}  user {tot[0] * tick / n:6.1f}"
      f"  system {tot[1] * tick / n:6.1f}  faults {tot[2] / n:.2f}  switches {tot[3] / n:.2f}")
PY
	exit 0
fi
callgrind_control -d "$R_PID" >/dev/null
sleep 0.5
F=$(ls -t "$OUT"/callgrind.out.* | head -1)
python3 - "$F" "$OUT/loadgen.json" <<'PY'
import json, re, sys
lg = json.load(open(sys.argv[2]))
n = lg.get("requests") or 1
tot = 0
for line in open(sys.argv[1]):
    m = re.match(r"summary: (\d+)", line) or re.match(r"totals: (\d+)", line)
    if m:
        tot = int(m.group(1))
print(f"requests {n} ok {lg.get('ok')} errors {lg.get('errors')}: {tot} Ir, {tot / n:.0f} Ir/request")
PY
callgrind_annotate --inclusive=yes "$F" 2>/dev/null | sed -n '1,60p' | grep -v '^$' | tail -n +15 | head -45 >"$OUT/top.txt"
echo "profile: $F (top functions in $OUT/top.txt)"
