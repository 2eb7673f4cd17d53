#!/usr/bin/env bash
# Installs the Debian packages the development build and the test suite need, only those
# missing, so a fresh bookworm machine works and a warm one spends no time here.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config git file
  libcurl4-openssl-dev libcjson-dev libyaml-dev libsqlite3-dev libevent-dev
  libmbedtls-dev libmd4c-dev libcmocka-dev libstb-dev
  clang libclang-rt-14-dev clang-format
  python3 python3-pytest python3-pytest-xdist  # make test spreads each e2e stage over workers
  python3-pytest-timeout  # ... and ends a test that hangs (run-all.sh, PYTEST_TIMEOUT)
  ccache  # make test keeps compiles outside the clone: a new clone builds from the cache
  curl  # test_provider_bedrock signs a request with curl --aws-sigv4 to compare
  python3-cryptography  # fake_vertex checks the RS256 JWTs hermetic signs
  gdb  # a daemon that does not exit on SIGTERM: the e2e harness prints its threads' stacks
  prometheus
  # dot draws docs/parts.svg from docs/parts.dot (make picture, test_docs.py), in DejaVu Sans:
  # the named font keeps the layout the same on every machine
  graphviz fonts-dejavu-core
  nodejs npm
  qemu-system-arm  # the arm64 kernel test (tests/e2e/test_vm_arm64.py)
  # the container test (tests/e2e/test_container.py): buildah builds the image, podman runs it
  # with runc (crun refuses cgroup v1 VMs) and slirp4netns; PyYAML reads the manifests
  podman buildah runc slirp4netns python3-yaml
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs/npm may come from elsewhere than Debian; what matters is that the commands exist.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  # Say what apt-get is about to do and why before doing it: plain `make` reaches this script.
  echo "install-deps: these Debian packages are missing and are needed to build hermetic and run"
  echo "install-deps: its tests (compilers, meson, the libraries it links, pytest, promtool, node"
  echo "install-deps: for the MCP test peers, podman and buildah for the container test);"
  echo "install-deps: installing them with apt-get now:"
  for p in "${missing[@]}"; do echo "install-deps:   $p"; done
  export DEBIAN_FRONTEND=noninteractive
  # The prometheus package ships promtool (used to check /metrics); its daemon is not wanted.
  # invoke-rc.d consults only /usr/sbin/policy-rc.d: exit 101 there means "do not start". Put one
  # in place for this apt-get alone and put back whatever was there before, also on failure.
  policy=/usr/sbin/policy-rc.d
  saved=""
  if [ -e "$policy" ] || [ -L "$policy" ]; then
    saved=$(mktemp /usr/sbin/policy-rc.d.saved.XXXXXX)
    mv -f "$policy" "$saved"
  fi
  restore_policy() {
    rm -f "$policy"
    if [ -n "$saved" ]; then mv -f "$saved" "$policy"; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
fi
