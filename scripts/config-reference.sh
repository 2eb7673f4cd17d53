#!/bin/sh
# Regenerates the config tables of docs/configuration.md from the option table
# (`hermetic config reference`), between its BEGIN/END GENERATED REFERENCE markers.
# Usage: scripts/config-reference.sh [path/to/hermetic]   (default build/hermetic)
set -eu
bin=${1:-build/hermetic}
doc=docs/configuration.md
tmp=$(mktemp)
"$bin" config reference > "$tmp.ref"
awk -v ref="$tmp.ref" '
  /<!-- BEGIN GENERATED REFERENCE -->/ { print; while ((getline l < ref) > 0) print l; skip = 1; next }
  /<!-- END GENERATED REFERENCE -->/ { skip = 0 }
  !skip { print }
' "$doc" > "$tmp"
mv "$tmp" "$doc"
rm -f "$tmp.ref"
