#!/bin/sh
# tests/install.sh: `make install` into a temporary DESTDIR under a
# non-system prefix, then what a user does with it: an out-of-tree
# program built with pkg-config (shared, and with libtroupe linked
# statically), run; the installed tools and module run; the man pages
# format without warnings. Then `make uninstall` must leave no file behind.
# Usage: tests/install.sh   (from the source tree; make check runs it)
set -eu
root=$(mktemp -d "${TMPDIR:-/tmp}/tp-install.XXXXXX")
node_pid=
cleanup () {
    [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
prefix=/opt/troupe-test
fail () { echo "install: FAIL: $*"; exit 1; }

make -s --no-print-directory install DESTDIR="$root" PREFIX=$prefix >/dev/null
p="$root$prefix"
for f in bin/troupe bin/troupe-node lib/libtroupe.so lib/libtroupe.a \
         lib/pkgconfig/troupe.pc include/troupe/troupe.h \
         include/troupe/supervisor.h lib/troupe/modules/libcounter.so \
         share/man/man1/troupe.1 share/man/man8/troupe-node.8 \
         share/man/man7/troupe.7 share/doc/troupe/guide.md; do
    [ -e "$p/$f" ] || fail "$f was not installed"
done
soname=$(readelf -d "$p/lib/libtroupe.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ -e "$p/lib/$soname" ] || fail "no $soname link"

# pkg-config, as a user of the prefix runs it
export PKG_CONFIG_PATH="$p/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
cflags=$(pkg-config --cflags troupe)
case "$cflags" in
    *pgm*|*krb5*|*libxml2*) fail "pkg-config --cflags troupe leaks libzmq's include paths: $cflags" ;;
esac
cat > "$root/app.c" <<'EOS'
#include <stdio.h>
#include <troupe/troupe.h>
static void
echo (tp_actor *self, tp_msg *msg)
{
    int v;
    if (tp_msg_is_request (msg) && tp_msg_unpack (msg, "i", &v) == 0)
        tp_reply (self, msg, tp_tag ("pong"), "i", v + 1);
}
static const tp_behavior echo_b = {"echo", NULL, echo, NULL};
int
main (void)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref r;
    tp_msg *reply = NULL;
    int v = 0;
    if (!sys || tp_spawn (sys, &echo_b, NULL, NULL, &r)
        || tp_call (sys, r, tp_tag ("ping"), 5000, &reply, "i", 41)
        || tp_msg_unpack (reply, "i", &v) || v != 42)
        return 1;
    tp_msg_destroy (&reply);
    tp_system_destroy (&sys);
    puts ("app: ok");
    return 0;
}
EOS
libdir="$p/lib" # (pkg-config --variable=libdir, without the sysroot pkgconf adds)
# shared: the run path names the prefix's lib (or set LD_LIBRARY_PATH)
cc -Wall -Wextra -Werror "$root/app.c" $cflags $(pkg-config --libs troupe) \
    -Wl,-rpath,"$libdir" -o "$root/app" || fail "the shared build"
"$root/app" | grep -q "app: ok" || fail "the shared build does not run"
# static libtroupe, libzmq and msgpack-c from the system
cc -Wall -Wextra -Werror "$root/app.c" $cflags "$libdir/libtroupe.a" \
    $(pkg-config --libs libzmq msgpack) -pthread -o "$root/app-static" \
    || fail "the static build"
"$root/app-static" | grep -q "app: ok" || fail "the static build does not run"
ldd "$root/app-static" | grep -q libtroupe && fail "app-static links libtroupe.so"

# the tools and a module, from the installed tree
"$p/bin/troupe" --version >/dev/null || fail "troupe --version"
"$p/bin/troupe-node" --version >/dev/null || fail "troupe-node --version"
"$p/bin/troupe-node" --name inst --bind tcp://127.0.0.1:* \
    --module "$p/lib/troupe/modules/libcounter.so" \
    --ready-file "$root/ready" 2>"$root/node.log" &
node_pid=$!
i=0
while [ ! -s "$root/ready" ]; do
    i=$((i + 1))
    [ $i -gt 200 ] && fail "the installed troupe-node did not get ready"
    kill -0 "$node_pid" 2>/dev/null || fail "the installed troupe-node died: $(cat "$root/node.log")"
    sleep 0.05 # (polls its ready file, 10 s at most)
done
"$p/bin/troupe" -e "$(head -1 "$root/ready")" ask counter add 2 >/dev/null \
    || fail "the installed troupe could not ask the installed counter"
kill "$node_pid"
wait "$node_pid" || fail "the installed troupe-node did not stop cleanly"
node_pid=

# the man pages format cleanly
for m in share/man/man1/troupe.1 share/man/man8/troupe-node.8 share/man/man7/troupe.7; do
    out=$(groff -man -Tutf8 -ww -z "$p/$m" 2>&1) || fail "$m: $out"
    [ -z "$out" ] || fail "$m: $out"
done

make -s --no-print-directory uninstall DESTDIR="$root" PREFIX=$prefix >/dev/null
left=$(find "$p" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
for d in include/troupe lib/troupe share/doc/troupe; do
    [ -d "$p/$d" ] && fail "make uninstall left the directory $d"
done
echo "install: ok (install, pkg-config shared and static builds, tools, module, man pages, uninstall)"
