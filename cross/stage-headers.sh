#!/usr/bin/env bash
# Stage the header-only dependencies pinned in cross/pins-headers.env (fetched by
# cross/fetch-sources.sh) into a directory of their own, keyed by that file:
#
#   $HERMETIC_CACHE/headers-<key>/stb/{stb_image_write.h,stb_image.h}
#
# and print the directory (meson's -Dstb_include). The dependency sysroot is not touched, so
# a header bump does not rebuild mbedTLS, curl or SQLite.
set -euo pipefail
export LC_ALL=C

die() { echo "stage-headers.sh: error: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${HERMETIC_CACHE:-$HOME/.cache/hermetic}
# shellcheck source=pins-headers.env
. "$HERE/pins-headers.env"
KEY=$( { cat "$HERE/pins-headers.env" "$HERE/stage-headers.sh"; } | sha256sum | cut -c1-12)
OUT=$CACHE/headers-$KEY
if [ -f "$OUT/.complete" ]; then echo "$OUT"; exit 0; fi

src=$("$HERE/fetch-sources.sh" --print-dir "$STB_PKG")
[ -f "$(dirname "$src")/.unpacked" ] || die "source of $STB_PKG not unpacked ($src): run cross/fetch-sources.sh"
tmp=$OUT.tmp.$$
rm -rf "$tmp"; mkdir -p "$tmp/stb"
for h in stb_image_write.h stb_image.h; do
  [ -f "$src/$h" ] || die "$STB_PKG=$STB_VERSION has no $h"
  install -m644 "$src/$h" "$tmp/stb/$h"
done
echo "$STB_PKG=$STB_VERSION" > "$tmp/BUILDINFO"
date -u +%FT%TZ > "$tmp/.complete"
rm -rf "$OUT"; mv -T "$tmp" "$OUT"
echo "$OUT"
