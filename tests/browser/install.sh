#!/usr/bin/env bash
# Installs what the cockpit's browser test (tests/e2e/test_ui_browser.py) needs: Debian's
# chromium (apt-get, when it is missing and we may install packages), and playwright-core (a CDP
# client pointed at /usr/bin/chromium; no browser download: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD
# and --ignore-scripts) and axe-core (the accessibility check), pinned by
# tests/browser/package-lock.json.
# Idempotent: the npm install lives in ${HERMETIC_CACHE:-$HOME/.cache/hermetic}/browser/<hash of
# the pins>, outside the repository (tests/npm-cache.sh); when it is complete the script only
# checks it.
# The last line of stdout is the install directory; exit 1 with the reason on stderr when
# chromium or playwright-core cannot be had (the test then skips, saying why).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/npm-cache.sh
. "$here/../npm-cache.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install.sh: installing Debian's chromium (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2 ||
      { echo "install.sh: apt-get install chromium failed" >&2; exit 1; }
  fi
  [ -x "$CHROMIUM" ] || { echo "install.sh: no $CHROMIUM (apt-get install chromium as root)" >&2; exit 1; }
fi

npm_cache_dir browser
pw=$dir/node_modules/playwright-core/package.json
axe=$dir/node_modules/axe-core/axe.min.js
complete() { [ -f "$dir/.complete" ] && [ -f "$pw" ] && [ -f "$axe" ]; }
npm_install() { PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$NPM" ci --no-audit --no-fund --ignore-scripts; }
npm_cache_install
node -e 'const p=require(process.argv[1]); if (p.version !== "1.65.1") { console.error("playwright-core is " + p.version); process.exit(1) }' "$pw"
echo "$dir"
