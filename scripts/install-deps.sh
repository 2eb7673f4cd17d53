#!/usr/bin/env bash
# Installs the Debian packages the development build and the test suite need, only those
# missing, so a fresh bookworm machine works and a warm one spends no time here.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config git file
  libcurl4-openssl-dev libcjson-dev libyaml-dev libsqlite3-dev libevent-dev libseccomp-dev
  libmbedtls-dev libmd4c-dev libcmocka-dev
  clang libclang-rt-14-dev clang-format
  python3 python3-pytest
  prometheus
  nodejs npm
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
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The prometheus package ships promtool (used to check /metrics); its daemon is not wanted.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.hermetic
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d.hermetic
fi
