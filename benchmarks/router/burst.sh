#!/usr/bin/env bash
# What a burst of concurrent requests costs in memory and page faults, and whether the memory is
# kept for the next burst. Not part of `make bench`.
#
#   benchmarks/router/burst.sh [BINARY|nginx] [RATE]     # default: /tmp/build-rel/hermetic, 1000
#
# Starts the fake upstream with a 3 s delay and the target (hermetic router with the bench's
# config.yaml, or nginx configured as profile.sh does), sends 200 requests to warm it, then two
# bursts of RATE requests in one second, 6 s apart: each burst holds about RATE requests in flight
# at once. Prints the target's RSS before, at the first burst's peak and after it drained, and
# the minor page faults each burst took. A target whose allocator keeps what a burst freed takes
# almost none in the second burst; one that gives it back to the kernel takes them again.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-/tmp/build-rel/hermetic}
RATE=${2:-1000}
OUT=${OUT:-/tmp/hermetic-burst}
TOOLS=${HERMETIC_CACHE:-$HOME/.cache/hermetic}/bench/tools
rm -rf "$OUT" && mkdir -p "$OUT/home"
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
"$TOOLS/upstream" --port 0 --port-file "$OUT/up.port" --delay-ms 3000 --max-seconds 120 \
	>"$OUT/upstream.log" 2>&1 &
UP_PID=$!
for _ in $(seq 100); do [ -s "$OUT/up.port" ] && break; sleep 0.05; done
RP=$(port)
UPP=$(cat "$OUT/up.port")
export BENCH_HOME=$OUT/home BENCH_UPSTREAM_PORT=$UPP BENCH_ROUTER_PORT=$RP \
	BENCH_UPSTREAM_KEY=sk-up BENCH_MASTER_KEY=sk-master BENCH_VIRTUAL_KEY=sk-virtual
if [ "$(id -u)" = 0 ]; then export HERMETIC_ALLOW_ROOT=1; fi
if [ "$BIN" = nginx ]; then
	mkdir -p "$OUT/nginx/logs" "$OUT/nginx/tmp"
	# profile.sh's nginx.conf, with this run's paths and ports
	sed -n '/^daemon off;$/,/^}$/p' "$HERE/profile.sh" |
		sed "s|\$OUT|$OUT|g; s|\$BENCH_UPSTREAM_PORT|$BENCH_UPSTREAM_PORT|; s|\$RP|$RP|" \
			>"$OUT/nginx/nginx.conf"
	"$(command -v nginx || echo /usr/sbin/nginx)" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" \
		-e "$OUT/nginx/logs/error.log" >"$OUT/target.log" 2>&1 &
else
	cat "$HERE/config.yaml" "$HERE/plain.yaml" >"$OUT/config.yaml"
	"$BIN" router --config "$OUT/config.yaml" >"$OUT/target.log" 2>&1 &
fi
T_PID=$!
trap 'kill $T_PID $UP_PID 2>/dev/null || true' EXIT
for _ in $(seq 300); do
	(exec 3<>"/dev/tcp/127.0.0.1/$RP") 2>/dev/null && break
	sleep 0.1
done
BODY='{"model":"bench","messages":[{"role":"user","content":"Hello"}],"max_tokens":16}'
lg() {
	"$TOOLS/loadgen" --url "http://127.0.0.1:$RP/v1/chat/completions" --rate "$1" --warmup 0 \
		--duration 1 --timeout 20 -H "Authorization: Bearer sk-master" --body "$BODY"
}
rss() { awk '/^VmRSS/{print $2}' "/proc/$T_PID/status"; }
faults() { awk '{print $10}' "/proc/$T_PID/stat"; }
lg 200 >/dev/null
sleep 3.5 # the warm-up's requests answered
R0=$(rss)
F0=$(faults)
lg "$RATE" >"$OUT/burst1.json" &
LG=$!
sleep 2.5 # all sent, none answered yet
R1=$(rss)
F1=$(faults)
wait "$LG"
sleep 1
R2=$(rss)
F2=$(faults)
lg "$RATE" >"$OUT/burst2.json" &
LG=$!
sleep 2.5
F3=$(faults)
wait "$LG"
echo "$BIN, bursts of $RATE requests in flight:"
echo "  RSS KiB: before $R0, at the first burst's peak $R1, after it $R2"
echo "  minor page faults: first burst $((F1 - F0)), second burst $((F3 - F2))"
