#!/bin/sh
# Build nvc-ts-ldconfig, the probe and the ldconfig tests into OUT (default
# /tmp/nvc-ldconfig-test) with the project's warning flags, then run the tests when
# asked:  native/test/ldconfig/build.sh [OUT] [run]
# The tests need root (namespaces, mounts, chown) and the real glibc /sbin/ldconfig.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
native=$(cd "$here/../.." && pwd)
out=${1:-/tmp/nvc-ldconfig-test}
cc=${CC:-gcc}
base="-std=gnu11 -O3 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong"
flags="$base ${EXTRA_CFLAGS:-}" # e.g. EXTRA_CFLAGS="-fsanitize=address,undefined -g"
mkdir -p "$out"

# shellcheck disable=SC2086
$cc $base -static -o "$out/probe" "$here/probe.c" # static: no sanitizers
# shellcheck disable=SC2086
$cc $base -static -o "$out/hog" "$here/hog.c" # the hostile ldconfig of the budget tests
# error.c is another file's business; its -O3 truncation warning must not stop these tests.
# shellcheck disable=SC2086
$cc $flags -Wno-error=format-truncation -I"$native/include" -c -o "$out/error.o" "$native/core/util/error.c"
# shellcheck disable=SC2086
$cc $flags -I"$native/include" -I"$native/core/discovery" -I"$native/core/driver-client" -I"$native/core/wire" -I"$native/core/setup" -I"$native/core/util" -o "$out/nvc-ts-ldconfig" "$native"/ldconfig/*.c "$native/core/util/fdutil.c" "$native/core/util/pidref.c" \
    "$native/core/wire/ldconfig_report.c" "$native/core/wire/wire.c" "$out/error.o"
# shellcheck disable=SC2086
$cc $flags -I"$native/include" -I"$native/core/discovery" -I"$native/core/driver-client" -I"$native/core/wire" -I"$native/core/setup" -I"$native/core/util" \
    -DNVC_LC_HELPER="\"$out/nvc-ts-ldconfig\"" -DNVC_LC_PROBE="\"$out/probe\"" -DNVC_LC_HOG="\"$out/hog\"" \
    -DNVC_TEST_CC="\"$cc\"" -DNVC_TEST_LDCONFIG="\"/sbin/ldconfig\"" \
    -o "$out/test_ldconfig" "$here/test_ldconfig.c" \
    "$native/core/setup/ldconfig_client.c" "$native/core/wire/ldconfig_report.c" "$native/core/wire/wire.c" \
    "$native/core/util/child.c" "$out/error.o" "$native/test/fixture.c" -lpthread

if [ "${2:-}" = run ]; then
    rc=0
    "$out/test_ldconfig" || rc=$?
    # 77: skipped as a whole, which the program allows only for a feature named in
    # NVC_TEST_ABSENT (native/test/harness.h); anything else but 0 fails.
    if [ $rc -eq 77 ] && [ -n "${NVC_TEST_ABSENT:-}" ]; then
        echo "## test_ldconfig skipped (NVC_TEST_ABSENT=$NVC_TEST_ABSENT)"
        exit 0
    fi
    exit $rc
fi
