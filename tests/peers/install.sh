#!/usr/bin/env bash
# Installs the real MCP servers the e2e tests talk to, pinned by tests/peers/package-lock.json:
#   @modelcontextprotocol/server-everything@2026.8.31 and server-filesystem@2026.8.31 (node) and
#   kubernetes-mcp-server@0.0.67
#   (a Go binary shipped in the npm package kubernetes-mcp-server-linux-amd64), and the OpenAI
#   Node SDK openai@6.49.0 (tests/e2e/test_router_endpoints.py drives `hermetic router` with it),
#   and the Anthropic TypeScript SDK @anthropic-ai/sdk@1.12.0 (tests/e2e/test_router_messages.py).
# Idempotent: the install lives in ${HERMETIC_CACHE:-$HOME/.cache/hermetic}/peers/<hash of the
# pins> (tests/npm-cache.sh); when it is complete the script only checks it (well under a second). Only the npm
# registry is contacted (npm ci; the lockfile records no download URLs, only integrity hashes).
# The last line of stdout is the install directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/npm-cache.sh
. "$here/../npm-cache.sh"
NODE=${NODE:-node}

case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install.sh: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

npm_cache_dir peers
everything=$dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js
filesystem=$dir/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js
k8s=$dir/node_modules/kubernetes-mcp-server-linux-$arch/bin/kubernetes-mcp-server-linux-$arch
openai=$dir/node_modules/openai/package.json
anthropic=$dir/node_modules/@anthropic-ai/sdk/package.json
# the SDK's example server with its demo OAuth provider (tests/e2e/test_mcp_signin_sdk.py)
oauth_demo=$dir/node_modules/@modelcontextprotocol/sdk/dist/cjs/examples/server/simpleStreamableHttp.js

complete() {
  [ -f "$dir/.complete" ] && [ -f "$everything" ] && [ -f "$filesystem" ] && [ -x "$k8s" ] &&
    [ -f "$openai" ] && [ -f "$anthropic" ] && [ -f "$oauth_demo" ]
}

# Not `npm ci`: the registry has only the linux-amd64 build of kubernetes-mcp-server, so the
# lockfile lacks the other platforms' optional packages and npm ci calls it out of sync.
# `npm install` with the lockfile present installs exactly the locked versions.
npm_install() {
  "$NPM" install --no-audit --no-fund --ignore-scripts --omit-lockfile-registry-resolved
  cmp -s "$here/package-lock.json" package-lock.json || {
    echo "install.sh: warning: npm changed the lockfile (regenerate tests/peers/package-lock.json):" >&2
    diff "$here/package-lock.json" package-lock.json | head -n 20 >&2 || true
  }
  # The lockfile was generated on x86_64 and records only that platform's binary package.
  if [ "$arch" != amd64 ] && [ ! -x "node_modules/kubernetes-mcp-server-linux-$arch/bin/kubernetes-mcp-server-linux-$arch" ]; then
    "$NPM" install --no-audit --no-fund --no-save --ignore-scripts "kubernetes-mcp-server-linux-$arch@0.0.67"
  fi
}
npm_cache_install

[ -f "$everything" ] || { echo "install.sh: missing $everything" >&2; exit 1; }
[ -f "$filesystem" ] || { echo "install.sh: missing $filesystem" >&2; exit 1; }
[ -x "$k8s" ] || { echo "install.sh: missing $k8s" >&2; exit 1; }
v=$("$k8s" --version 2>&1 | tail -n1)
[ "$v" = "v0.0.67" ] || { echo "install.sh: $k8s --version says '$v', want v0.0.67" >&2; exit 1; }
"$NODE" -e 'const p=require(process.argv[1]); if (p.version !== "2026.8.31") { console.error("server-everything is " + p.version); process.exit(1) }' \
  "$dir/node_modules/@modelcontextprotocol/server-everything/package.json"
"$NODE" -e 'const p=require(process.argv[1]); if (p.version !== "2026.8.31") { console.error("server-filesystem is " + p.version); process.exit(1) }' \
  "$dir/node_modules/@modelcontextprotocol/server-filesystem/package.json"
"$NODE" -e 'const p=require(process.argv[1]); if (p.version !== "6.49.0") { console.error("openai is " + p.version); process.exit(1) }' \
  "$openai"
echo "$dir"
