#!/usr/bin/env bash
# `make validate`: offline, strict validation of the manifests in k8s/, k8s-overlays/, registry/
# and kaniko/.
#   1. tests/k8s/install.sh     the pinned npm validators, in ~/.cache/hermetic/k8s-validate, and
#                               the strict schemas tests/k8s/gen-schemas.mjs generates from them
#   2. tests/k8s/validate.mjs   YAML, strict schemas (those, or K8S_SCHEMA_DIR), npm models,
#                               policy, `hermetic config check`
#   3. yamllint                 only if installed (apt-get install yamllint)
# Env: HERMETIC_BIN (default build/hermetic) and HERMETIC_WRAPPER (e.g. qemu-aarch64-static) for
#      the config check; K8S_SCHEMA_DIR; extra arguments go to validate.mjs (paths, --no-schemas).
set -euo pipefail
cd "$(dirname "$0")/../.."
modules=$(tests/k8s/install.sh | tail -n1)
bin=${HERMETIC_BIN:-build/hermetic}
[ -x "$bin" ] || { echo "validate.sh: $bin not found: run 'make' first or set HERMETIC_BIN" >&2; exit 1; }
args=(--modules "$modules" --hermetic "$bin")
[ -n "${HERMETIC_WRAPPER:-}" ] && args+=(--wrapper "$HERMETIC_WRAPPER")
[ -n "${K8S_SCHEMA_DIR:-}" ] && args+=(--schemas "$K8S_SCHEMA_DIR")
node tests/k8s/validate.mjs "${args[@]}" "$@"
if command -v yamllint >/dev/null && [ $# -eq 0 ]; then
  yamllint -s -c tests/k8s/yamllint.yaml k8s k8s-overlays registry kaniko && echo "yamllint: ok"
fi
