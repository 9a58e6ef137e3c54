#!/usr/bin/env bash
# Host checks of the built C library (run by `make test` after `cargo test`): one line per
# check, "check: ok NAME" or "check: FAILED NAME (why)", which scripts/host-tests.sh turns into
# TAP. Exit status 0 only if every check passed. Needs a built library (make) and mandoc.
#   sizes:      libkqueue.a and libkqueue.so under 50 KB each (printed)
#   symbols:    both define exactly kqueue, kqueue1, kqueuex, kevent (the .so with version
#               LIBKQUEUE_0) and use nothing but libc's open, ioctl and __errno_location;
#               no Rust std/core symbol; the .so needs only libc.so.6 and has SONAME libkqueue.so.0
#   install:    make install DESTDIR=... PREFIX=/usr puts every file under DESTDIR, the .pc
#               names /usr; make uninstall removes every file it installed
#   pkg-config: --cflags, --libs and --static --libs of a staged install
#   links:      tests/c/smoke.c linked with pkg-config's flags, shared and -static, with no
#               linker warning at all (--fatal-warnings); both run; the static one is no more
#               than 16 KiB bigger than the same program without libkqueue
#   man pages:  mandoc -T lint (warnings and above) is clean for every page; man -l renders
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd); cd "$here"
target=${CARGO_TARGET_DIR:-$here/target}
rel=$target/release
tmp=$target/check-lib; rm -rf "$tmp"; mkdir -p "$tmp"
fails=0
ok() { echo "check: ok $1"; }
bad() { echo "check: FAILED $1 ($2)"; fails=$((fails + 1)); }
want_syms="kevent kqueue kqueue1 kqueuex"
# x86-64 issues the ioctl with the syscall instruction itself (userspace/src/ffi.rs: glibc's
# variadic ioctl() spills every argument register); other architectures call libc's.
case $(uname -m) in
  x86_64) libc_syms="__errno_location open" ;;
  *) libc_syms="__errno_location ioctl open" ;;
esac
CC=${CC:-cc}

for f in libkqueue.a libkqueue.so; do
  size=$(stat -c %s "$rel/$f" 2>/dev/null || echo 0)
  echo "# size $f: $size bytes"
  if [ "$size" -gt 0 ] && [ "$size" -lt 51200 ]; then ok "$f is under 50 KB ($size bytes)"
  else bad "$f is under 50 KB" "$size bytes"; fi
done

defined=$(nm -g --defined-only "$rel/libkqueue.a" 2>/dev/null | awk 'NF==3 {print $3}' | sort | xargs)
[ "$defined" = "$want_syms" ] && ok "libkqueue.a exports exactly: $want_syms" ||
  bad "libkqueue.a exports exactly: $want_syms" "exports: $defined"
undef=$(nm -u "$rel/libkqueue.a" 2>/dev/null | awk 'NF==2 {print $2}' | sort -u | xargs)
[ "$undef" = "$libc_syms" ] && ok "libkqueue.a uses only libc's $libc_syms" ||
  bad "libkqueue.a uses only libc's $libc_syms" "uses: $undef"
rusty=$(nm -a "$rel/libkqueue.a" "$rel/libkqueue.so" 2>/dev/null | grep -E '_ZN|_R[A-Z]|rust_|__rdl|__rg_|core::|std::' | head -3)
[ -z "$rusty" ] && ok "no Rust std/core symbol in libkqueue.a or libkqueue.so" ||
  bad "no Rust std/core symbol in libkqueue.a or libkqueue.so" "$rusty"
members=$(ar t "$rel/libkqueue.a" | xargs)
[ "$members" = kqueue.o ] && ok "libkqueue.a is one object (kqueue.o)" ||
  bad "libkqueue.a is one object (kqueue.o)" "members: $members"

dyn=$(nm -D --defined-only "$rel/libkqueue.so" 2>/dev/null | awk '{print $3}' | sort | xargs)
want_dyn="LIBKQUEUE_0 kevent@@LIBKQUEUE_0 kqueue1@@LIBKQUEUE_0 kqueue@@LIBKQUEUE_0 kqueuex@@LIBKQUEUE_0"
[ "$dyn" = "$want_dyn" ] && ok "libkqueue.so exports exactly the four, version LIBKQUEUE_0" ||
  bad "libkqueue.so exports exactly the four, version LIBKQUEUE_0" "exports: $dyn"
dundef=$(nm -D --undefined-only "$rel/libkqueue.so" | awk '{print $2}' | sed 's/@.*//' | grep -vE '^(__cxa_finalize|_ITM_.*|__gmon_start__)$' | sort -u | xargs)
[ "$dundef" = "$libc_syms" ] && ok "libkqueue.so uses only libc's $libc_syms" ||
  bad "libkqueue.so uses only libc's $libc_syms" "uses: $dundef"
needed=$(readelf -d "$rel/libkqueue.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | xargs)
soname=$(readelf -d "$rel/libkqueue.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$needed" = libc.so.6 ] && ok "libkqueue.so needs only libc.so.6" || bad "libkqueue.so needs only libc.so.6" "NEEDED: $needed"
[ "$soname" = libkqueue.so.0 ] && ok "libkqueue.so has SONAME libkqueue.so.0" || bad "libkqueue.so has SONAME libkqueue.so.0" "$soname"

# Install into a DESTDIR with PREFIX=/usr, and into a plain PREFIX to link against.
dest=$tmp/dest
make -s --no-print-directory install DESTDIR="$dest" PREFIX=/usr >"$tmp/install.log" 2>&1 ||
  bad "make install DESTDIR=... PREFIX=/usr" "$(tail -3 "$tmp/install.log")"
files=$(cd "$dest" 2>/dev/null && find . ! -type d | sort | xargs)
want_files="./usr/include/kqueue/sys/event.h ./usr/lib/libkqueue.a ./usr/lib/libkqueue.so ./usr/lib/libkqueue.so.0 ./usr/lib/libkqueue.so.0.1.0 ./usr/lib/pkgconfig/libkqueue.pc ./usr/share/man/man3/EV_SET.3 ./usr/share/man/man3/kevent.3 ./usr/share/man/man3/kqueue.3 ./usr/share/man/man3/kqueue1.3 ./usr/share/man/man3/kqueuex.3 ./usr/share/man/man4/kqueue.4"
[ "$files" = "$want_files" ] && ok "make install honours DESTDIR and PREFIX" ||
  bad "make install honours DESTDIR and PREFIX" "installed: $files"
grep -qx 'prefix=/usr' "$dest/usr/lib/pkgconfig/libkqueue.pc" && ok "libkqueue.pc names PREFIX, not DESTDIR" ||
  bad "libkqueue.pc names PREFIX, not DESTDIR" "$(head -1 "$dest/usr/lib/pkgconfig/libkqueue.pc" 2>&1)"
make -s --no-print-directory uninstall DESTDIR="$dest" PREFIX=/usr >"$tmp/uninstall.log" 2>&1
left=$(cd "$dest" && find . ! -type d | xargs)
[ -z "$left" ] && ok "make uninstall removes every installed file" || bad "make uninstall removes every installed file" "left: $left"

stage=$tmp/stage
make -s --no-print-directory install PREFIX="$stage" >"$tmp/install2.log" 2>&1
export PKG_CONFIG_PATH=$stage/lib/pkgconfig
cflags=$(echo $(pkg-config --cflags libkqueue)) libs=$(echo $(pkg-config --libs libkqueue)) slibs=$(echo $(pkg-config --static --libs libkqueue))
[ "$cflags" = "-I$stage/include/kqueue" ] && ok "pkg-config --cflags" || bad "pkg-config --cflags" "$cflags"
[ "$libs" = "-L$stage/lib -lkqueue" ] && ok "pkg-config --libs" || bad "pkg-config --libs" "$libs"
[ "$slibs" = "-L$stage/lib -lkqueue" ] && ok "pkg-config --static --libs (libc only)" || bad "pkg-config --static --libs" "$slibs"

cf="-std=c11 -Wall -Wextra -Werror -O2"
if $CC $cf $cflags tests/c/smoke.c $libs -Wl,-rpath,"$stage/lib" -Wl,--fatal-warnings -o "$tmp/smoke-shared" 2>"$tmp/shared.err" &&
   [ ! -s "$tmp/shared.err" ]; then ok "shared link: no warning"; else bad "shared link: no warning" "$(head -3 "$tmp/shared.err")"; fi
if $CC $cf $cflags -static tests/c/smoke.c $slibs -Wl,--fatal-warnings -o "$tmp/smoke-static" 2>"$tmp/static.err" &&
   [ ! -s "$tmp/static.err" ]; then ok "static link: no warning"; else bad "static link: no warning" "$(head -3 "$tmp/static.err")"; fi
out=$("$tmp/smoke-shared" 2>&1); echo "# shared: $out"
[ "$out" != "${out%smoke: ok}" ] && ok "smoke test, shared" || bad "smoke test, shared" "$out"
# ldd's output is captured first: `ldd | grep -q` under pipefail fails when grep exits early
# and ldd dies of SIGPIPE.
deps=$(ldd "$tmp/smoke-shared" 2>&1 || true)
grep -q "$stage/lib/libkqueue.so.0" <<<"$deps" && ok "the shared smoke test loads the installed libkqueue.so.0" ||
  bad "the shared smoke test loads the installed libkqueue.so.0" "$(xargs <<<"$deps")"
out=$("$tmp/smoke-static" 2>&1); echo "# static: $out"
[ "$out" != "${out%smoke: ok}" ] && ok "smoke test, static" || bad "smoke test, static" "$out"
# The same program without libkqueue: its four calls replaced by stubs.
printf '%s\n' '#include <sys/event.h>' 'int kqueue(void){return -1;} int kqueue1(int f){return f;}' \
  'int kqueuex(unsigned f){return (int)f;}' \
  'int kevent(int a,const struct kevent*b,int c,struct kevent*d,int e,const struct timespec*f){return a+c+e+!b+!d+!f;}' > "$tmp/stubs.c"
if $CC $cf $cflags -static tests/c/smoke.c "$tmp/stubs.c" -o "$tmp/smoke-nolib" 2>/dev/null; then
  grow=$(( $(stat -c %s "$tmp/smoke-static") - $(stat -c %s "$tmp/smoke-nolib") ))
  echo "# a static program grows by $grow bytes with libkqueue.a"
  [ $grow -le 16384 ] && ok "libkqueue.a adds at most 16 KiB to a static program ($grow bytes)" ||
    bad "libkqueue.a adds at most 16 KiB to a static program" "$grow bytes"
else bad "libkqueue.a adds at most 16 KiB to a static program" "stub build failed"; fi

for page in man/kqueue.3 man/kqueue.4; do
  if ! command -v mandoc >/dev/null; then bad "mandoc -T lint $page" "mandoc not installed (scripts/setup.sh installs it)"; continue; fi
  lint=$(mandoc -T lint -W warning "$page" 2>&1)
  [ -z "$lint" ] && ok "mandoc -T lint $page" || bad "mandoc -T lint $page" "$(echo "$lint" | head -5 | xargs)"
  if MANWIDTH=80 man -l "$page" >"$tmp/man.txt" 2>"$tmp/man.err" && [ -s "$tmp/man.txt" ] && [ ! -s "$tmp/man.err" ]
  then ok "man -l $page renders ($(wc -l < "$tmp/man.txt") lines)"; else bad "man -l $page renders" "$(head -3 "$tmp/man.err")"; fi
done
echo "check: $fails failed"
[ $fails = 0 ]
