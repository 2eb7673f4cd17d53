#!/usr/bin/env bash
# Run one kaniko build Job to the end (the Makefile's ai-hermes-build, ai-kubernetes-mcp-build):
#   1. fill the __KEY__ placeholders of the Job file from KEY=VALUE arguments
#   2. delete the previous Job of that name (a Job's pod template is immutable)
#   3. apply, follow the build log, and wait for the Job's Complete OR Failed condition
#      (`kubectl wait --for=condition=complete` alone would hang until its timeout on failure)
# Exit 0 when the Job completed; 1 when it failed or timed out, with the reason.
#
# Usage: kaniko/run-job.sh [--render] JOB.yaml [KEY=VALUE ...]
#   --render   only print the filled manifest (no cluster needed)
# Env:   KUBECTL (default kubectl)
#        WAIT_S  give up waiting after this many seconds (default: activeDeadlineSeconds + 300)
#        POLL_S  seconds between status polls (default 5)
set -euo pipefail

die() { echo "run-job.sh: error: $*" >&2; exit 1; }
log() { echo "run-job.sh: $*" >&2; }

render_only=0
[ "${1:-}" = --render ] && { render_only=1; shift; }
file=${1:-}
[ -n "$file" ] && [ -f "$file" ] || die "usage: $0 [--render] JOB.yaml [KEY=VALUE ...]"
shift

manifest=$(cat "$file")
shopt -u patsub_replacement 2>/dev/null || true   # bash 5.2: '&' in a value stays '&'
for kv in "$@"; do
  case "$kv" in
    [A-Z]*=*) ;;
    *) die "argument '$kv' is not KEY=VALUE" ;;
  esac
  k=${kv%%=*} v=${kv#*=}
  [ -n "$v" ] || die "$k is empty (set it on the make command line: make ... $k=...)"
  case "$v" in *[[:space:]\"\'\\]*) die "$k='$v' contains whitespace, a quote or a backslash" ;; esac
  manifest=${manifest//__${k}__/$v}
done
left=$(grep -oE '__[A-Z][A-Z_]*__' <<<"$manifest" | sort -u | tr '\n' ' ' || true)
[ -z "$left" ] || die "$file: no value for $left(pass KEY=VALUE)"

if [ "$render_only" = 1 ]; then
  printf '%s\n' "$manifest"
  exit 0
fi

KUBECTL=${KUBECTL:-kubectl}
# metadata.name / metadata.namespace of the Job (the first ones at two-space indentation)
meta=$(awk '/^metadata:/ {m=1; next} m && /^[^ #]/ {m=0} m && /^  name:/ && !n {n=$2}
            m && /^  namespace:/ && !s {s=$2} END {print s, n}' <<<"$manifest")
read -r ns name <<<"$meta"
[ -n "$ns" ] && [ -n "$name" ] || die "$file: cannot find metadata.name and metadata.namespace"
deadline=$(awk '/activeDeadlineSeconds:/ {print $2; exit}' <<<"$manifest")
WAIT_S=${WAIT_S:-$(( ${deadline:-3600} + 300 ))}
POLL_S=${POLL_S:-5}
K=("$KUBECTL" -n "$ns")

t0=$(date +%s)
log "job $ns/$name from $file"
"${K[@]}" delete job "$name" --ignore-not-found --wait=true >&2
printf '%s\n' "$manifest" | "$KUBECTL" apply -f - >&2

# the Job's conditions with status True, e.g. "Complete" or "Failed" (plus interim ones)
conditions() {
  "${K[@]}" get job "$name" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}' 2>/dev/null || true
}
pod_phase() {
  { "${K[@]}" get pods -l "job-name=$name" --sort-by=.metadata.creationTimestamp \
      -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' 2>/dev/null || true; } | tail -n1
}

# wait for the build pod to run (image pull, scheduling), then follow its log in the background
waiting_reason() {
  "${K[@]}" get pods -l "job-name=$name" -o jsonpath='{range .items[*]}{.status.containerStatuses[*].state.waiting.reason}{.status.conditions[?(@.reason=="Unschedulable")].message}{" "}{end}' 2>/dev/null || true
}
follower=
polls=0
while :; do
  phase=$(pod_phase)
  case "$phase" in Running|Succeeded|Failed) break ;; esac
  case " $(conditions) " in *" Failed "*|*" Complete "*) break ;; esac
  [ $(( $(date +%s) - t0 )) -lt "$WAIT_S" ] || break
  polls=$((polls + 1))
  [ $((polls % 6)) = 0 ] && log "waiting for the build pod (${phase:-no pod yet}) $(waiting_reason)"
  sleep "$POLL_S"
done
if [ "${phase:-}" = Running ] || [ "${phase:-}" = Succeeded ] || [ "${phase:-}" = Failed ]; then
  "${K[@]}" logs -f "job/$name" --all-containers=true 2>&1 &
  follower=$!
fi
stop_follower() {
  if [ -n "$follower" ]; then
    kill "$follower" 2>/dev/null || true
    wait "$follower" 2>/dev/null || true
    follower=
  fi
}
trap stop_follower EXIT

result=
while :; do
  c=" $(conditions) "
  case "$c" in
    *" Complete "*) result=complete; break ;;
    *" Failed "*) result=failed; break ;;
  esac
  if [ $(( $(date +%s) - t0 )) -ge "$WAIT_S" ]; then result=timeout; break; fi
  sleep "$POLL_S"
done
sleep "$POLL_S"   # let the log follower print the last lines
stop_follower
trap - EXIT
took=$(( $(date +%s) - t0 ))

case "$result" in
  complete)
    log "job $ns/$name complete in $((took / 60))m$((took % 60))s"
    exit 0 ;;
  failed)
    why=$("${K[@]}" get job "$name" -o jsonpath='{range .status.conditions[?(@.type=="Failed")]}{.reason}: {.message}{end}' 2>/dev/null || true)
    log "job $ns/$name FAILED after $((took / 60))m$((took % 60))s: ${why:-unknown reason}"
    term=$("${K[@]}" get pods -l "job-name=$name" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.containerStatuses[0].state.terminated.reason}{" exit "}{.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}' 2>/dev/null || true)
    [ -n "$term" ] && log "pods: $term"
    case "$term" in *OOMKilled*) log "hint: the build ran out of memory: raise resources.limits.memory in $file or use a node with more RAM" ;; esac
    case "$why" in *DeadlineExceeded*) log "hint: activeDeadlineSeconds reached; a cold build on a busy node can take longer" ;; esac
    log "events: ${K[*]} get events --field-selector involvedObject.kind=Pod --sort-by=.lastTimestamp | tail"
    exit 1 ;;
  *)
    log "job $ns/$name: neither Complete nor Failed after ${WAIT_S}s; see '${K[*]} describe job $name'"
    exit 1 ;;
esac
