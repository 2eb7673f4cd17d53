#!/usr/bin/env bash
# `make k8s-secret`: create or replace the Secret hermetic-secrets (namespace ai) that the
# gateway reads through os.environ/NAME. The values come from
#   1. k8s/secret.env, if it exists (git-ignored; KEY=VALUE lines, # comments), else
#   2. the environment: OPENROUTER_API_KEY, TELEGRAM_BOT_TOKEN, API_SERVER_KEY,
#      LITELLM_MASTER_KEY (router only), HOOK_TOKEN (only if a hook uses it).
# Required: OPENROUTER_API_KEY and TELEGRAM_BOT_TOKEN (configmap.yaml names both). A missing
# API_SERVER_KEY or LITELLM_MASTER_KEY keeps the Secret's current value, or is generated when
# there is none. With no source at all, an existing Secret is left alone. Values never appear
# on a command line or in this script's output.
#
# Usage: k8s/make-secret.sh [--print]   (--print: list the keys it would write; no cluster)
# Env:   KUBECTL (default kubectl), SECRET_ENV (default k8s/secret.env), NAMESPACE (default ai;
#        ai-shadow for the second instance of k8s-overlays/shadow, with its own SECRET_ENV)
set -euo pipefail
umask 077

die() { echo "make-secret.sh: error: $*" >&2; exit 1; }
log() { echo "make-secret.sh: $*" >&2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KUBECTL=${KUBECTL:-kubectl}
SRC=${SECRET_ENV:-$HERE/secret.env}
NS=${NAMESPACE:-ai} NAME=hermetic-secrets
[[ "$NS" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "NAMESPACE='$NS' is not a namespace name"
KEYS=(OPENROUTER_API_KEY TELEGRAM_BOT_TOKEN API_SERVER_KEY LITELLM_MASTER_KEY HOOK_TOKEN)
REQUIRED=(OPENROUTER_API_KEY TELEGRAM_BOT_TOKEN)
print=0
[ "${1:-}" = --print ] && print=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
env_file=$tmp/secret.env

declare -A val=()
if [ -f "$SRC" ]; then
  from=$SRC
  n=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line%$'\r'}
    case "$line" in ''|'#'*) continue ;; esac
    case "$line" in export\ *) die "$SRC:$n: drop the 'export ' prefix (KEY=VALUE lines)" ;; esac
    [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "$SRC:$n: not a KEY=VALUE line"
    val[${line%%=*}]=${line#*=}
  done < "$SRC"
else
  from=environment
  for k in "${KEYS[@]}"; do
    [ -n "${!k:-}" ] && val[$k]=${!k}
  done
fi

if [ "${#val[@]}" = 0 ]; then
  if [ "$print" = 0 ] && "$KUBECTL" -n "$NS" get secret "$NAME" >/dev/null 2>&1; then
    log "no $SRC and none of ${KEYS[*]} set: keeping the existing Secret $NS/$NAME"
    exit 0
  fi
  die "no values: create $SRC (see k8s/secret.example.yaml) or export ${REQUIRED[*]}"
fi
for k in "${REQUIRED[@]}"; do
  [ -n "${val[$k]:-}" ] || die "$k is missing or empty in the $from"
done
gen() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
existing() { # the value the Secret in the cluster has now, if any
  [ "$print" = 0 ] || return 0
  "$KUBECTL" -n "$NS" get secret "$NAME" -o "jsonpath={.data.$1}" 2>/dev/null | base64 -d 2>/dev/null || true
}
for k in API_SERVER_KEY LITELLM_MASTER_KEY; do
  [ -n "${val[$k]:-}" ] && continue
  old=$(existing "$k")
  if [ -n "$old" ]; then
    val[$k]=$old
    log "$k was not given: keeping the Secret's current value"
  else
    val[$k]=$( [ "$k" = LITELLM_MASTER_KEY ] && printf sk- )$(gen)
    log "$k was not given: generated one (read it back with: $KUBECTL -n $NS get secret $NAME -o jsonpath='{.data.$k}' | base64 -d)"
  fi
done
for k in "${!val[@]}"; do
  case "${val[$k]}" in *$'\n'*|*$'\r'*) die "$k: values must be one line" ;; esac
  printf '%s=%s\n' "$k" "${val[$k]}" >> "$env_file"
done

if [ "$print" = 1 ]; then
  sort "$env_file" | sed -E 's/=.*/=<redacted>/'
  exit 0
fi
"$KUBECTL" apply -f "$HERE/namespace.yaml" >/dev/null
"$KUBECTL" -n "$NS" create secret generic "$NAME" --from-env-file="$env_file" \
  --dry-run=client -o yaml > "$tmp/secret.yaml"
"$KUBECTL" apply -f "$tmp/secret.yaml" | sed 's/^/make-secret.sh: /' >&2
log "Secret $NS/$NAME from the $from: $(sort "$env_file" | cut -d= -f1 | tr '\n' ' ')"
