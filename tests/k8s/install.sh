#!/usr/bin/env bash
# Installs the npm validators of `make validate` (tests/k8s/validate.mjs), pinned by
# tests/k8s/package-lock.json: yaml, ajv, kubernetes-models (+ prometheus-operator models) and
# @kubernetes/client-node (its v1.32 model tables), then generates the strict JSON schemas from
# them (tests/k8s/gen-schemas.mjs) into schemas-<hash> beside node_modules.
# Idempotent: the install lives in ${HERMETIC_CACHE:-$HOME/.cache/hermetic}/k8s-validate/<hash of
# package.json + package-lock.json>; once complete, the script only checks it. Only the npm
# registry is contacted (npm ci; the lockfile records integrity hashes, no download URLs).
# The last line of stdout is the node_modules directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HERMETIC_CACHE:-${HOME:-/root}/.cache/hermetic}
NPM=${NPM:-npm}

hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
dir=$cache/k8s-validate/$hash
complete() { [ -f "$dir/.complete" ] && [ -d "$dir/node_modules/@kubernetes/client-node" ]; }

if ! complete; then
  command -v "$NPM" >/dev/null || { echo "install.sh: npm not found (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$cache/k8s-validate"
  exec 9>"$cache/k8s-validate/.lock"
  flock 9 # another run may be installing the same pins
  if ! complete; then
    tmp=$(mktemp -d "$cache/k8s-validate/.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"
    cp "$here/package.json" "$here/package-lock.json" "$tmp/"
    (cd "$tmp" && "$NPM" ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    trap - EXIT
  fi
  flock -u 9
fi
# the schemas depend on gen-schemas.mjs too, so they are checked on every run (generated once)
schemas=$(node "$here/gen-schemas.mjs" --modules "$dir/node_modules") ||
  { echo "install.sh: generating the strict schemas failed" >&2; exit 1; }
echo "install.sh: strict schemas in $schemas" >&2
echo "$dir/node_modules"
