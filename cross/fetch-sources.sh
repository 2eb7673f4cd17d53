#!/usr/bin/env bash
# Fetch and unpack the Debian SOURCE packages pinned in cross/pins.env, using a private
# apt configuration under the cache (the machine's own apt sources are never touched).
#
#   $HERMETIC_CACHE/apt/{sources.list,lists/,cache/}   private apt state (deb-src only)
#   $HERMETIC_CACHE/src/<pkg>_<version>/               .dsc + tarballs (+ unpacked tree/)
#
# Usage: cross/fetch-sources.sh          fetch + unpack everything that is missing
#        cross/fetch-sources.sh --list   show the versions the archive offers for each pin
#        cross/fetch-sources.sh --print-dir PKG   print the unpacked tree of one pin
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

die() { echo "fetch-sources.sh: error: $*" >&2; exit 1; }
log() { echo "fetch-sources.sh: $*" >&2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${HERMETIC_CACHE:-$HOME/.cache/hermetic}
# shellcheck source=pins.env
. "$HERE/pins.env"
# header-only pins: fetched alike, outside the sysroot's cache key (see pins-headers.env)
# shellcheck source=pins-headers.env
. "$HERE/pins-headers.env"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
APTDIR=$CACHE/apt
SRCDIR=$CACHE/src

# every NAME_PKG / NAME_VERSION pair in pins.env
pins() {
  local v
  for v in $(compgen -v | grep '_PKG$' | sort); do
    local base=${v%_PKG} ver
    ver=${base}_VERSION
    local mode=${base}_UNPACK
    [ -n "${!ver:-}" ] || die "pins.env: $v is set but ${ver} is not"
    case "${!mode:-dsc}" in dsc|orig) ;; *) die "pins.env: ${mode} must be dsc or orig";; esac
    echo "${!v} ${!ver} ${!mode:-dsc} $base"
  done
}

pkgdir() { echo "$SRCDIR/${1}_${2}"; }

# --print-dir PKG: the unpacked source tree of the pinned version
if [ "${1:-}" = "--print-dir" ]; then
  [ -n "${2:-}" ] || die "--print-dir needs a source package name"
  while read -r p v _ _; do
    [ "$p" = "$2" ] && { echo "$(pkgdir "$p" "$v")/tree"; exit 0; }
  done < <(pins)
  die "no pin for source package '$2'"
fi

# One fetch at a time (two arches' builds may call this side by side); --print-dir above
# only reads.
mkdir -p "$CACHE"
exec 8>"$CACHE/.lock-fetch-sources"
flock 8

# Mirror URIs, read at run time from the machine's apt configuration (deb822 or one-line).
mirror_uris() {
  {
    if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
      awk 'tolower($1)=="uris:" { for (i=2;i<=NF;i++) print $i }' /etc/apt/sources.list.d/*.sources
    fi
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      awk '$1=="deb" || $1=="deb-src" { for (i=2;i<=NF;i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; break } }' "$f"
    done
  } | sed 's:/*$::' | awk '!seen[$0]++'
}

setup_apt() {
  local uris main sec
  uris=$(mirror_uris)
  # the Debian main archive: first URI not pointing at a security/ports/backports archive
  main=$(echo "$uris" | grep -v -e 'security' -e 'ports' -e 'backports' -e 'deb-multimedia' | grep -E '/debian$' | head -n1 || true)
  [ -n "$main" ] || main=$(echo "$uris" | grep -v 'security' | head -n1 || true)
  [ -n "$main" ] || die "cannot find a Debian mirror URI in /etc/apt/sources.list{,.d/*} (URIs: or deb lines)"
  sec=$(echo "$uris" | grep -E '/debian-security$' | head -n1 || true)
  [ -n "$sec" ] || sec="${main}-security"
  [ -r "$KEYRING" ] || die "$KEYRING missing (install debian-archive-keyring)"
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
  local s tmp=$APTDIR/sources.list.tmp
  : > "$tmp"
  for s in $DEBIAN_SUITES; do echo "deb-src [signed-by=$KEYRING] $main $s main" >> "$tmp"; done
  for s in ${DEBIAN_SECURITY_SUITES:-}; do echo "deb-src [signed-by=$KEYRING] $sec $s main" >> "$tmp"; done
  mv "$tmp" "$APTDIR/sources.list"
}

APT_OPTS=()
apt_opts() {
  APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
            -o Acquire::Retries=3 -o APT::Sandbox::User=root)
}

apt_update() {
  log "apt-get update (private deb-src lists: $DEBIAN_SUITES ${DEBIAN_SECURITY_SUITES:-})"
  apt-get "${APT_OPTS[@]}" -q update >&2 || die "apt-get update of the private deb-src lists failed"
  touch "$APTDIR/lists/.updated"
}

if [ "${1:-}" = "--list" ]; then
  setup_apt; apt_opts; apt_update
  while read -r p v _ _; do
    echo "== $p (pinned $v)"
    apt-cache "${APT_OPTS[@]}" madison "$p" | awk -F'|' '$3 ~ /Sources/ {gsub(/ /,"",$2); print "   " $2 "  (" $3 ")"}' | sed 's/  */ /g'
  done < <(pins)
  exit 0
fi

has_version() {   # has_version PKG VERSION: is this exact source version in the index?
  local out
  out=$(apt-cache "${APT_OPTS[@]}" showsrc "$1" 2>/dev/null || true)
  grep -Fx "Version: $2" <<<"$out" >/dev/null
}

# ---------------------------------------------------------------------------------------
todo=()
while read -r p v m base; do
  [ -f "$(pkgdir "$p" "$v")/.unpacked" ] || todo+=("$p=$v=$m=$base")
done < <(pins)
if [ "${#todo[@]}" = 0 ]; then
  log "all pinned sources present in $SRCDIR"
  exit 0
fi

command -v dpkg-source >/dev/null || die "dpkg-source not found (run cross/toolchain.sh: needs dpkg-dev)"
setup_apt; apt_opts
updated=0
if [ ! -f "$APTDIR/lists/.updated" ] || [ "$APTDIR/sources.list" -nt "$APTDIR/lists/.updated" ]; then
  apt_update; updated=1
fi

for pv in "${todo[@]}"; do
  IFS='=' read -r p v m base <<<"$pv"
  d=$(pkgdir "$p" "$v")
  t0=$(date +%s)
  # the exact version must be in the index; refresh once if it is not (new upload)
  if ! has_version "$p" "$v"; then
    [ "$updated" = 1 ] || { apt_update; updated=1; }
    if ! has_version "$p" "$v"; then
      avail=$(apt-cache "${APT_OPTS[@]}" showsrc "$p" 2>/dev/null | sed -n 's/^Version: //p' | sort -u | tr '\n' ' ' || true)
      die "source package $p=$v is not in the archive (suites: $DEBIAN_SUITES ${DEBIAN_SECURITY_SUITES:-}); available: ${avail:-none}. Bump the pin in cross/pins.env."
    fi
  fi
  rm -rf "$d.tmp"; mkdir -p "$d.tmp/dl"
  if [ "$m" = orig ]; then
    # upstream tarball only: URI + SHA256 from the signed Sources index, fetched and
    # hash-checked by apt's own downloader
    uris=$(cd "$d.tmp/dl" && apt-get "${APT_OPTS[@]}" -q source --print-uris "$p=$v") \
      || die "apt-get source --print-uris $p=$v failed"
    line=$(grep -E "^'[^']*\.orig\.tar\.[a-z0-9]+' " <<<"$uris" | head -n1 || true)
    [ -n "$line" ] || die "no upstream .orig tarball listed for $p=$v"
    read -r uri fname _size hash <<<"$line"
    uri=${uri//\'/}
    case "$hash" in SHA256:*) ;; *) die "no SHA256 for $fname in the Sources index";; esac
    log "downloading $fname (upstream tarball only, no Debian patches)"
    /usr/lib/apt/apt-helper "${APT_OPTS[@]}" download-file "$uri" "$d.tmp/dl/$fname" "$hash" >&2 \
      || die "download of $uri failed"
    mkdir "$d.tmp/tree"
    tar -xf "$d.tmp/dl/$fname" -C "$d.tmp/tree" --strip-components=1 --no-same-owner \
      || die "cannot unpack $fname"
  else
    log "downloading $p=$v"
    (cd "$d.tmp/dl" && apt-get "${APT_OPTS[@]}" -qq source --download-only "$p=$v" >&2) \
      || die "apt-get source --download-only $p=$v failed (to build the upstream tarball without Debian patches set ${base}_UNPACK=orig in pins.env)"
    dsc=$(ls "$d.tmp/dl"/*.dsc 2>/dev/null | head -n1)
    [ -n "$dsc" ] || die "no .dsc downloaded for $p=$v"
    log "unpacking $(basename "$dsc") (with Debian patches)"
    # apt already verified every file against the signed Sources index; dpkg-source's own
    # signature check needs debian-keyring and only warns without it
    (cd "$d.tmp" && dpkg-source -x "$dsc" tree > "$d.tmp/dpkg-source.log" 2>&1) \
      || { cat "$d.tmp/dpkg-source.log" >&2; die "dpkg-source -x $dsc failed"; }
    log "  $(grep -c 'applying' "$d.tmp/dpkg-source.log" || true) Debian patches applied"
  fi
  touch "$d.tmp/.unpacked"
  rm -rf "$d"; mv "$d.tmp" "$d"
  log "$p=$v ready ($(( $(date +%s) - t0 ))s): $d/tree"
done
