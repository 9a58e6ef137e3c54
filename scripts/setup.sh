#!/usr/bin/env bash
# One idempotent host setup for building and testing kqueue.ko (Debian 12 "bookworm", x86_64).
# Installs only what is missing and says what it does. Called by `make demo` and `make check`.
#
# Apt policy: bookworm (+security) provides the toolchain (rustc-web with its std sources, clang-22
# for the KASAN kernel build). Two packages exist only elsewhere:
#   linux-source-7.2   -> Debian sid        (arch:all tarball, depends only on binutils + xz-utils)
#   qemu-system-x86 10 -> bookworm-backports (bookworm's 7.2 would remove the preinstalled qemu-utils)
# For those we add the suite *and* a pin file that gives every package of that suite priority -1
# except the named ones, so nothing else (libc6, gcc, ...) can ever be upgraded from it.
set -euo pipefail
. "$(dirname "$0")/env.sh"

say() { printf '[setup] %s\n' "$*"; }
need_root() { [ "$(id -u)" = 0 ] || { echo "[setup] must run as root (apt-get) to install: $*" >&2; exit 1; }; }
export DEBIAN_FRONTEND=noninteractive

BASE_PKGS="rustc-web rust-web-src libclang-22-dev clang-22 lld-22 llvm-22 flex bison libelf-dev
  libssl-dev bc cpio busybox-static zstd xz-utils make gcc gcc-multilib libc6-dev pkg-config python3
  mandoc man-db kmod"
SID_PKGS="linux-source-7.2"
BPO_PKGS="qemu-system-x86 qemu-system-common qemu-system-data qemu-system-gui qemu-utils qemu-block-extra seabios ipxe-qemu"

missing() { local p out=""; for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || out="$out $p"; done; echo "$out"; }

APT_UPDATED=0
apt_update() { [ $APT_UPDATED = 1 ] || { say "apt-get update"; apt-get update -qq; APT_UPDATED=1; }; }

add_pinned_suite() { # suite file-tag packages...
  local suite=$1 tag=$2; shift 2
  local src=/etc/apt/sources.list.d/kqueue-$tag.sources pref=/etc/apt/preferences.d/kqueue-$tag.pref
  if [ ! -f "$src" ]; then
    say "adding apt source '$suite' (only for: $*), pinned in $pref"
    cat > "$src" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    APT_UPDATED=0
  fi
  { echo "# Written by kqueue's scripts/setup.sh: nothing but the named packages may come from $suite."
    echo "Package: *"; echo "Pin: release n=$suite"; echo "Pin-Priority: -1"; echo
    echo "Package: $*"; echo "Pin: release n=$suite"; echo "Pin-Priority: 990"; } > "$pref"
}

m=$(missing $BASE_PKGS)
if [ -n "$m" ]; then need_root $m; apt_update; say "apt-get install$m"; apt-get install -y -qq --no-install-recommends $m >/dev/null; fi

if [ -n "$(missing $SID_PKGS)" ]; then
  need_root $SID_PKGS; apt_update
  if ! apt-cache show linux-source-7.2 >/dev/null 2>&1; then add_pinned_suite sid sid $SID_PKGS; apt_update; fi
  say "apt-get install $SID_PKGS"; apt-get install -y -qq --no-install-recommends $SID_PKGS >/dev/null
fi

if ! command -v qemu-system-x86_64 >/dev/null; then
  need_root qemu-system-x86; apt_update
  add_pinned_suite bookworm-backports bpo $BPO_PKGS; apt_update
  say "apt-get install qemu-system-x86 (bookworm-backports)"
  apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi

if ! "$KQ_TOOLS/bin/bindgen" --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
  say "cargo install bindgen-cli $BINDGEN_VERSION into $KQ_TOOLS (about 75 s)"
  cargo install -q --locked --root "$KQ_TOOLS" bindgen-cli --version "$BINDGEN_VERSION"
fi
# The kernel Makefile hard-codes RUSTC=rustc HOSTRUSTC=rustc RUSTDOC=rustdoc BINDGEN=bindgen, so the
# Debian rustc (which has the matching core sources) must come first on PATH for kernel builds.
mkdir -p "$KQ_TOOLS/rustbin"
ln -sf /usr/bin/rustc "$KQ_TOOLS/rustbin/rustc"
ln -sf /usr/bin/rustdoc "$KQ_TOOLS/rustbin/rustdoc"
ln -sf "$KQ_TOOLS/bin/bindgen" "$KQ_TOOLS/rustbin/bindgen"

if [ ! -f "$KSRC/Makefile" ]; then
  say "extracting /usr/src/linux-source-7.2.tar.xz into $KQ_CACHE (about 15 s)"
  mkdir -p "$KQ_CACHE"; tar -C "$KQ_CACHE" -xf /usr/src/linux-source-7.2.tar.xz
fi
say "toolchain ready: $(/usr/bin/rustc --version), bindgen $BINDGEN_VERSION, kernel source $KSRC"
