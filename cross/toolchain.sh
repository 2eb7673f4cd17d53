#!/usr/bin/env bash
# Install (idempotently) the Debian packages needed to build hermetic's static musl
# dependency sysroots, and generate the musl compiler wrappers into the cache:
#   $HERMETIC_CACHE/toolchain/bin/{x86_64,aarch64}-linux-musl-{gcc,ar,ranlib,strip,...}
#   $HERMETIC_CACHE/toolchain/<arch>/{musl-gcc.specs,kernel-include/{linux,asm,asm-generic}}
# Usage: cross/toolchain.sh [--no-install]   (--no-install: only (re)generate the wrappers)
# Env:   HERMETIC_NATIVE_ONLY=1  only the build host's own architecture: no foreign dpkg
#        architecture, no cross gcc, no qemu (kaniko/Dockerfile's native builder stage)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

die() { echo "toolchain.sh: error: $*" >&2; exit 1; }
log() { echo "toolchain.sh: $*" >&2; }
# replace_if_changed TMP DEST: DEST keeps its mtime when TMP holds the same bytes
replace_if_changed() { if cmp -s "$1" "$2"; then rm -f "$1"; else mv "$1" "$2"; fi; }

CACHE=${HERMETIC_CACHE:-$HOME/.cache/hermetic}
TC=$CACHE/toolchain
# One run at a time: make test builds both arches side by side, and each build-static.sh
# calls this script; the second waits, then finds everything in place.
mkdir -p "$CACHE"
exec 8>"$CACHE/.lock-toolchain"
flock 8
HOST_ARCH=$(dpkg --print-architecture)

install=1
[ "${1:-}" = "--no-install" ] && install=0

# Packages per build-host architecture. On amd64 we cross-compile aarch64 with the Debian
# glibc cross gcc + musl-dev:arm64; on arm64 (the in-cluster kaniko builder) it is the
# mirror image (x86_64 cross is optional there, so only the native set is required).
common_pkgs=(make cmake meson ninja-build pkg-config dpkg-dev file python3 tcl
             autoconf automake libtool xz-utils bzip2 patch gawk)
case "$HOST_ARCH" in
  amd64)
    need_pkgs=("${common_pkgs[@]}" gcc binutils musl-tools musl-dev linux-libc-dev)
    foreign_arch=
    if [ "${HERMETIC_NATIVE_ONLY:-0}" != 1 ]; then
      need_pkgs+=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu linux-libc-dev-arm64-cross
                  musl-dev:arm64 qemu-user-static)
      foreign_arch=arm64
    fi ;;
  arm64)
    need_pkgs=("${common_pkgs[@]}" gcc binutils musl-tools musl-dev linux-libc-dev)
    foreign_arch= ;;
  *) die "unsupported build host architecture: $HOST_ARCH (need amd64 or arm64)" ;;
esac

if [ "$install" = 1 ]; then
  [ "$(id -u)" = 0 ] || SUDO=sudo
  SUDO=${SUDO:-}
  missing=()
  for p in "${need_pkgs[@]}"; do
    # a bare multi-arch name would match every installed arch: ask for the native one first
    case "$p" in
      *:*) st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) ;;
      *)   st=$(dpkg-query -W -f='${db:Status-Status}' "$p:$HOST_ARCH" 2>/dev/null ||
                dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) ;;
    esac
    [ "$st" = installed ] || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing missing packages: ${missing[*]}"
    if [ -n "$foreign_arch" ] && ! dpkg --print-foreign-architectures | grep -qx "$foreign_arch"; then
      log "dpkg --add-architecture $foreign_arch"
      $SUDO dpkg --add-architecture "$foreign_arch"
    fi
    $SUDO apt-get update -q || die "apt-get update failed"
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" \
      || die "apt-get install failed for: ${missing[*]}"
  else
    log "all packages present"
  fi
fi

# ---------------------------------------------------------------------------
# musl wrappers. musl-dev:<arch> installs libc.a/crt*.o into /usr/lib/<arch>-linux-musl
# and the headers into /usr/include/<arch>-linux-musl. musl ships no kernel headers, so
# each arch gets a private include dir with ONLY linux/, asm/, asm-generic/ copied from
# the kernel header packages (no glibc header may leak into a musl build).
# ---------------------------------------------------------------------------
mk_arch() {   # mk_arch <musl arch> <gnu gcc/binutils prefix> <kernel include root> <asm dir>
  local a=$1 gnu=$2 kroot=$3 asmdir=$4
  local libdir=/usr/lib/$a-linux-musl incdir=/usr/include/$a-linux-musl
  local d=$TC/$a bin=$TC/bin
  [ -f "$libdir/libc.a" ] && [ -f "$libdir/crt1.o" ] || die "musl for $a not found in $libdir (musl-dev:$a missing?)"
  [ -f "$incdir/stdio.h" ] || die "musl headers for $a not found in $incdir"
  command -v "$gnu-gcc" >/dev/null || die "$gnu-gcc not found"
  [ -d "$kroot/linux" ] && [ -d "$asmdir" ] && [ -d "$kroot/asm-generic" ] || die "kernel headers for $a not found under $kroot"
  mkdir -p "$d" "$bin"
  local tmp; tmp=$(mktemp -d "$d/.kinc.XXXXXX")
  cp -a "$kroot/linux" "$kroot/asm-generic" "$tmp/"
  cp -a "$asmdir" "$tmp/asm"
  rm -rf "$d/kernel-include"; mv "$tmp" "$d/kernel-include"

  # gcc specs in the style of musl's own musl-gcc.specs: musl headers + kernel headers
  # only, musl crt files and libc, libgcc from the (glibc-targeted) gcc, static non-PIE.
  cat > "$d/musl-gcc.specs.tmp" <<SPECS
%rename cpp_options old_cpp_options

*cpp_options:
-nostdinc -isystem $incdir -isystem $d/kernel-include -isystem include%s %(old_cpp_options)

*cc1:
%(cc1_cpu) -nostdinc -isystem $incdir -isystem $d/kernel-include -isystem include%s

*link_libgcc:
-L$libdir -L .%s

*libgcc:
libgcc.a%s %:if-exists(libgcc_eh.a%s)

*startfile:
%{!shared: $libdir/%{pie:S}crt1.o} $libdir/crti.o %{shared|pie:crtbeginS.o%s;:crtbegin.o%s}

*endfile:
%{shared|pie:crtendS.o%s;:crtend.o%s} $libdir/crtn.o

*link:
-dynamic-linker /lib/ld-musl-$a.so.1 -nostdlib %{shared:-shared} %{static:-static} %{rdynamic:-export-dynamic}

*esp_link:


*esp_options:


*esp_cpp_options:


SPECS
  replace_if_changed "$d/musl-gcc.specs.tmp" "$d/musl-gcc.specs"

  # compiler wrapper: always static, never PIE (a FROM-scratch image has no loader)
  # (The specs' hash is in the wrapper: ccache keys compiles on the wrapper's mtime, which
  # changes only when the wrapper or the specs do. Rewriting it every run emptied the cache.)
  cat > "$bin/$a-linux-musl-gcc.tmp" <<WRAP
#!/bin/sh
# generated by hermetic cross/toolchain.sh: $gnu-gcc targeting static musl
# specs sha256 $(sha256sum <"$d/musl-gcc.specs" | cut -c1-16)
exec $gnu-gcc -specs "$d/musl-gcc.specs" -fno-pie -no-pie "\$@"
WRAP
  chmod +x "$bin/$a-linux-musl-gcc.tmp"
  replace_if_changed "$bin/$a-linux-musl-gcc.tmp" "$bin/$a-linux-musl-gcc"
  ln -sf "$a-linux-musl-gcc" "$bin/$a-linux-musl-cc"
  local t
  for t in ar ranlib strip nm objcopy objdump readelf ld as size gcc-ar gcc-nm gcc-ranlib; do
    command -v "$gnu-$t" >/dev/null || die "$gnu-$t not found"
    ln -sf "$(command -v "$gnu-$t")" "$bin/$a-linux-musl-$t"
  done
}

if [ -f /usr/lib/x86_64-linux-musl/libc.a ]; then
  if [ "$HOST_ARCH" = amd64 ]; then
    mk_arch x86_64 x86_64-linux-gnu /usr/include /usr/include/x86_64-linux-gnu/asm
  else
    command -v x86_64-linux-gnu-gcc >/dev/null && [ -d /usr/x86_64-linux-gnu/include/asm ] &&
      mk_arch x86_64 x86_64-linux-gnu /usr/x86_64-linux-gnu/include /usr/x86_64-linux-gnu/include/asm
  fi
fi
if [ "$HOST_ARCH" = amd64 ]; then
  [ "${HERMETIC_NATIVE_ONLY:-0}" = 1 ] ||
    mk_arch aarch64 aarch64-linux-gnu /usr/aarch64-linux-gnu/include /usr/aarch64-linux-gnu/include/asm
else
  mk_arch aarch64 aarch64-linux-gnu /usr/include /usr/include/aarch64-linux-gnu/asm
fi

# smoke test: a static hello world per arch (cached by wrapper content)
for a in x86_64 aarch64; do
  cc=$TC/bin/$a-linux-musl-gcc
  [ -x "$cc" ] || continue
  stamp=$TC/$a/hello.ok
  sum=$(cat "$cc" "$TC/$a/musl-gcc.specs" | sha256sum | cut -c1-16)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && continue
  printf '#include <stdio.h>\n#include <linux/seccomp.h>\nint main(void){printf("hello from musl %%d\\n",(int)SECCOMP_MODE_FILTER);return 0;}\n' > "$TC/$a/hello.c"
  "$cc" -Os -static -o "$TC/$a/hello" "$TC/$a/hello.c" || die "$a musl compiler cannot build a static hello world"
  file -b "$TC/$a/hello" | grep -q 'statically linked' || die "$a hello is not statically linked: $(file -b "$TC/$a/hello")"
  run=()
  case "$a-$HOST_ARCH" in aarch64-amd64) run=(qemu-aarch64-static);; x86_64-arm64) run=(qemu-x86_64-static);; esac
  if [ "${#run[@]}" = 0 ] || command -v "${run[0]}" >/dev/null; then
    out=$("${run[@]}" "$TC/$a/hello") || die "$a hello does not run"
    [ "$out" = "hello from musl 2" ] || die "$a hello printed '$out'"
  fi
  log "$a: $(file -b "$TC/$a/hello" | cut -d, -f1-2,4-5)"
  echo "$sum" > "$stamp"
done
log "toolchain ready in $TC/bin"
