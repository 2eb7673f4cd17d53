#!/usr/bin/env bash
# `make ai-hermes-deploy`: deploy hermetic to namespace ai.
#   1. the Secret (k8s/make-secret.sh: from k8s/secret.env or the environment, else kept)
#   2. kubectl kustomize k8s/ with the images set to $REGISTRY/ai/hermes-agent:$TAG and
#      $REGISTRY/ai/kubernetes-mcp-server:<pinned tag>, applied
#   3. a restart when only the ConfigMap or the Secret changed (the pod reads both at start)
#   4. rollout status; on failure the pod's state and the usual causes
#   5. k8s/monitoring (ServiceMonitors + Grafana dashboard) when the cluster has the
#      prometheus-operator CRD; the dashboard only when the monitoring namespace exists
# Usage: k8s/deploy.sh [--render]   (--render: print what would be applied; needs only kubectl)
# Env:   KUBECTL, REGISTRY (registry.registry:5000), TAG (required), PROM_RELEASE
#        (kube-prometheus-stack), ROLLOUT_TIMEOUT (300s)
set -euo pipefail

die() { echo "deploy.sh: error: $*" >&2; exit 1; }
log() { echo "deploy.sh: $*" >&2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KUBECTL=${KUBECTL:-kubectl}
REGISTRY=${REGISTRY:-registry.registry:5000}
TAG=${TAG:-}
PROM_RELEASE=${PROM_RELEASE:-kube-prometheus-stack}
TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
[ -n "$TAG" ] || die "TAG is empty (make ai-hermes-deploy TAG=<the tag ai-hermes-build pushed>)"
case "$TAG$REGISTRY$PROM_RELEASE" in *[[:space:]\#\&\\]*) die "TAG, REGISTRY and PROM_RELEASE must not contain spaces, #, & or \\" ;; esac

render() {
  "$KUBECTL" kustomize "$HERE" | sed -E \
    -e "s#^([[:space:]-]*image: )[^[:space:]]*/ai/hermes-agent:[^[:space:]]+\$#\\1$REGISTRY/ai/hermes-agent:$TAG#" \
    -e "s#^([[:space:]-]*image: )[^[:space:]]*/ai/kubernetes-mcp-server:#\\1$REGISTRY/ai/kubernetes-mcp-server:#"
}
render_monitoring() {
  "$KUBECTL" kustomize "$HERE/monitoring" | sed -E "s#^([[:space:]]+release: ).*\$#\\1$PROM_RELEASE#"
}
if [ "${1:-}" = --render ]; then
  render
  echo ---
  render_monitoring
  exit 0
fi

K=("$KUBECTL" -n ai)
version() { "${K[@]}" get "$1" "$2" -o jsonpath='{.metadata.resourceVersion}' 2>/dev/null || true; }
generation() { "${K[@]}" get deployment hermetic -o jsonpath='{.metadata.generation}' 2>/dev/null || true; }

"$KUBECTL" apply -f "$HERE/namespace.yaml"
cm0=$(version configmap hermetic-config) sec0=$(version secret hermetic-secrets) gen0=$(generation)
KUBECTL=$KUBECTL "$HERE/make-secret.sh"
"${K[@]}" get secret hermetic-secrets >/dev/null 2>&1 ||
  die "no Secret ai/hermetic-secrets: create k8s/secret.env (see k8s/secret.example.yaml) or export OPENROUTER_API_KEY and TELEGRAM_BOT_TOKEN"

log "applying k8s/ with $REGISTRY/ai/hermes-agent:$TAG"
render | "$KUBECTL" apply -f -
cm1=$(version configmap hermetic-config) sec1=$(version secret hermetic-secrets) gen1=$(generation)
if [ -n "$gen0" ] && [ "$gen0" = "$gen1" ] && { [ "$cm0" != "$cm1" ] || [ "$sec0" != "$sec1" ]; }; then
  log "config or Secret changed: restarting the pod (Recreate: a few seconds without the bot)"
  "${K[@]}" rollout restart deployment/hermetic
fi

if ! "${K[@]}" rollout status deployment/hermetic --timeout="$TIMEOUT"; then
  "${K[@]}" get pods -l app.kubernetes.io/name=hermetic,app.kubernetes.io/component=gateway -o wide >&2 || true
  reasons=$("${K[@]}" get pods -l app.kubernetes.io/component=gateway \
    -o jsonpath='{range .items[*].status.containerStatuses[*]}{.name}: {.state.waiting.reason}{.state.terminated.reason} {.lastState.terminated.reason}{"\n"}{end}' 2>/dev/null || true)
  [ -n "$reasons" ] && log "containers: $reasons"
  case "$reasons" in
    *ImagePull*|*ErrImage*)
      log "hint: the node cannot pull the image. Did 'make ai-hermes-build TAG=$TAG' and 'make ai-kubernetes-mcp-build' finish?"
      log "      Does every node have /etc/rancher/k3s/registries.yaml (registry/registries.yaml) and was k3s restarted?" ;;
    *CrashLoop*|*Error*)
      log "hint: ${K[*]} logs deployment/hermetic -c hermetic --previous   (a config error names FILE:LINE:COL)" ;;
  esac
  die "deployment ai/hermetic did not become ready within $TIMEOUT"
fi

if "$KUBECTL" get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1; then
  if "$KUBECTL" get namespace monitoring >/dev/null 2>&1; then
    render_monitoring | "$KUBECTL" apply -f -
  else
    log "no namespace monitoring: applying the ServiceMonitors without the Grafana dashboard"
    render_monitoring | awk 'BEGIN{RS="\n---\n"; ORS="\n---\n"} !/grafana_dashboard/' | "$KUBECTL" apply -f -
  fi
  log "ServiceMonitors carry release: $PROM_RELEASE (make ai-hermes-deploy PROM_RELEASE=<your kube-prometheus-stack release>)"
else
  log "no ServiceMonitor CRD (prometheus-operator): monitoring skipped; /metrics is on service hermetic:8642"
fi
log "deployed: $("${K[@]}" get deployment hermetic -o jsonpath='{.spec.template.spec.containers[*].image}')"
