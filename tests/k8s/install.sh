#!/usr/bin/env bash
# Installs the npm validators of `make validate` (tests/k8s/validate.mjs), pinned by
# tests/k8s/package-lock.json: yaml, ajv, kubernetes-models (+ prometheus-operator models) and
# @kubernetes/client-node (its v1.32 model tables), then generates the strict JSON schemas from
# them (tests/k8s/gen-schemas.mjs) into schemas-<hash> beside node_modules.
# Idempotent: the install lives in ${HERMETIC_CACHE:-$HOME/.cache/hermetic}/k8s-validate/<hash of
# package.json + package-lock.json> (tests/npm-cache.sh); once complete, the script only checks it. Only the npm
# registry is contacted (npm ci; the lockfile records integrity hashes, no download URLs).
# The last line of stdout is the node_modules directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/npm-cache.sh
. "$here/../npm-cache.sh"

npm_cache_dir k8s-validate
complete() { [ -f "$dir/.complete" ] && [ -d "$dir/node_modules/@kubernetes/client-node" ]; }
npm_install() { "$NPM" ci --no-audit --no-fund --ignore-scripts --loglevel=error; }
npm_cache_install
# the schemas depend on gen-schemas.mjs too, so they are checked on every run (generated once)
schemas=$(node "$here/gen-schemas.mjs" --modules "$dir/node_modules") ||
  { echo "install.sh: generating the strict schemas failed" >&2; exit 1; }
echo "install.sh: strict schemas in $schemas" >&2
echo "$dir/node_modules"
