#!/usr/bin/env bash
# make demo: the agent end to end with no secrets and no network beyond the package registries.
# Builds build/hermetic, installs the real MCP server (server-everything, npm) and starts the
# scripted fake model (tests/fakes/fake_openai.py with demo/script.json) on loopback, then runs
# `hermetic chat -q` with a config whose model calls an MCP tool and builtin tools. The
# transcript (tool calls, results), the answer and the usage line are printed, and last the
# pointer to docs/getting-started.md (your own bot); the exit code is chat's. Everything the demo writes lives in a temporary directory that is removed afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}

# HERMETIC_BIN: run an already built binary (the e2e test of this script uses the ASan one).
if [ -z "${HERMETIC_BIN:-}" ]; then
  scripts/install-deps.sh
  [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null
  ninja -C "$BUILD" >/dev/null
  HERMETIC_BIN=$BUILD/hermetic
fi
peers=$(tests/peers/install.sh | tail -n 1)
everything=$peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js
[ -f "$everything" ] || { echo "demo: server-everything missing under $peers" >&2; exit 1; }

# hermetic chat refuses to run as root; the demo allows it when it is run as root (CI).
if [ "$(id -u)" = 0 ]; then echo "demo: running as root, so HERMETIC_ALLOW_ROOT=1 (hermetic warns)"; export HERMETIC_ALLOW_ROOT=1; fi

tmp=$(mktemp -d)
fake_pid=
cleanup() {
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

"$PYTHON" tests/fakes/fake_openai.py --port 0 --port-file "$tmp/port" --api-key demo-key \
  --script demo/script.json >"$tmp/fake.log" 2>&1 &
fake_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "demo: the fake model did not start:" >&2; cat "$tmp/fake.log" >&2; exit 1; }
port=$(cat "$tmp/port")

cat >"$tmp/config.yaml" <<YAML
home: $tmp/home
timezone: UTC
model: scripted
model_list:
  - model_name: scripted
    litellm_params:
      model: openai/demo/scripted
      api_base: http://127.0.0.1:$port/v1
      api_key: os.environ/DEMO_MODEL_KEY
toolsets: [memory, time, mcp]
mcp_servers:
  everything:
    command: $(command -v node)
    args: [$everything, stdio]
    tools: {include: [get-sum, echo]}
YAML

prompt="What is 17 + 25, and what time is it in Manila?"
echo "\$ hermetic chat -q \"$prompt\""
echo
rc=0
DEMO_MODEL_KEY=demo-key "$HERMETIC_BIN" chat --config "$tmp/config.yaml" -q "$prompt" 2>&1 || rc=$?
echo
echo "USER.md now holds:"
sed 's/^/  /' "$tmp/home/memories/USER.md" 2>/dev/null || echo "  (nothing)"
echo
echo "Next, your own Telegram bot (BotFather token, config, doctor), then the cluster: docs/getting-started.md"
exit "$rc"
