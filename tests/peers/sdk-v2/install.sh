#!/usr/bin/env bash
# Installs the TypeScript SDK v2 (@modelcontextprotocol/server@2.4.0, which speaks the MCP
# revision 2026-07-28, and zod@4.6.7 for its tools' schemas), pinned by this directory's
# package-lock.json, for tests/peers/sdk-v2/input_server.cjs. It runs on the system's node
# (the SDK needs >= 20). Idempotent: the install lives in
# ${HERMETIC_CACHE:-$HOME/.cache/hermetic}/peers-sdk-v2/<hash of the pins>; when it is complete
# the script only checks it. Only the npm registry is contacted (the lockfile records no
# download URLs, only integrity hashes). The last line of stdout is the install directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HERMETIC_CACHE:-${HOME:-/root}/.cache/hermetic}
NPM=${NPM:-npm}
SDK_VERSION=2.4.0

hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
dir=$cache/peers-sdk-v2/$hash
sdk=$dir/node_modules/@modelcontextprotocol/server/package.json

complete() { [ -f "$dir/.complete" ] && [ -f "$sdk" ] && [ -f "$dir/node_modules/zod/package.json" ]; }

if ! complete; then
  command -v "$NPM" >/dev/null || { echo "install.sh: npm not found (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$cache/peers-sdk-v2"
  exec 9>"$cache/peers-sdk-v2/.lock"
  flock 9 # another run may be installing the same pins
  if ! complete; then
    tmp=$(mktemp -d "$cache/peers-sdk-v2/.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"
    cp "$here/package.json" "$here/package-lock.json" "$tmp/"
    (cd "$tmp" && "$NPM" ci --no-audit --no-fund --ignore-scripts >&2)
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    trap - EXIT
  fi
  flock -u 9
fi

v=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$sdk")
[ "$v" = "$SDK_VERSION" ] || { echo "install.sh: $sdk says '$v', want $SDK_VERSION" >&2; exit 1; }
echo "$dir"
