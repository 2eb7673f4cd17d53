#!/usr/bin/env bash
# Installs what the cockpit's browser test (tests/e2e/test_ui_browser.py) needs: Debian's
# chromium (apt-get, when it is missing and we may install packages), and playwright-core (a CDP
# client pointed at /usr/bin/chromium; no browser download: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD
# and --ignore-scripts) and axe-core (the accessibility check), pinned by
# tests/browser/package-lock.json.
# Idempotent: the npm install lives in ${HERMETIC_CACHE:-$HOME/.cache/hermetic}/browser/<hash of
# the pins>, outside the repository; when it is complete the script only checks it.
# The last line of stdout is the install directory; exit 1 with the reason on stderr when
# chromium or playwright-core cannot be had (the test then skips, saying why).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HERMETIC_CACHE:-${HOME:-/root}/.cache/hermetic}
NPM=${NPM:-npm}
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

hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
dir=$cache/browser/$hash
pw=$dir/node_modules/playwright-core/package.json
axe=$dir/node_modules/axe-core/axe.min.js

complete() { [ -f "$dir/.complete" ] && [ -f "$pw" ] && [ -f "$axe" ]; }

if ! complete; then
  command -v "$NPM" >/dev/null || { echo "install.sh: npm not found (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$cache/browser"
  exec 9>"$cache/browser/.lock"
  flock 9
  if ! complete; then
    tmp=$(mktemp -d "$cache/browser/.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"
    cp "$here/package.json" "$here/package-lock.json" "$tmp/"
    (cd "$tmp" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$NPM" ci --no-audit --no-fund --ignore-scripts >&2)
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    trap - EXIT
  fi
  flock -u 9
fi
node -e 'const p=require(process.argv[1]); if (p.version !== "1.65.1") { console.error("playwright-core is " + p.version); process.exit(1) }' "$pw"
echo "$dir"
