#!/bin/sh
# Build and run the cgroup tests against this machine's real cgroups (needs root for all
# but test_cgroup_detect; the others fail without it unless NVC_TEST_ABSENT=root, see
# native/test/harness.h). Outputs go to $OUT (default
# /tmp/nvc-cgroup-test). Three builds: -O3 as shipped, the same with our own copy of the
# BPF ABI instead of <linux/bpf.h> (proves the copy matches the kernel), and ASan/UBSan.
#   native/test/cgroup/build.sh            build and run all
#   native/test/cgroup/build.sh --build    build only
set -eu
here=$(cd "$(dirname "$0")" && pwd)
native=$(cd "$here/../.." && pwd)
out=${OUT:-/tmp/nvc-cgroup-test}
cc=${CC:-gcc}
mkdir -p "$out"

core="$native/core/setup/cgroup.c $native/core/setup/cgroup_v1.c $native/core/setup/cgroup_v2.c $native/core/setup/cgroup_bpf.c"
common="-std=gnu11 -Wall -Wextra -Werror -I$native/include -I$native/core/discovery -I$native/core/driver-client -I$native/core/wire -I$native/core/setup -I$native/core/util -I$native/test -I$here -pthread"

build() { # variant flags...
    variant=$1
    shift
    # error.c is not ours; gcc -O3 finds a truncation warning in it, so no -Werror there
    $cc $common "$@" -Wno-format-truncation -c -o "$out/error$variant.o" "$native/core/util/error.c"
    for t in detect v1 v2; do
        $cc $common "$@" -o "$out/test_cgroup_${t}$variant" $core "$out/error$variant.o" "$here/cgtest.c" \
            "$here/test_cgroup_$t.c"
    done
}
build "" -O3
build _ownabi -O3 -DNVC_BPF_OWN_ABI
build _asan -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

[ "${1:-}" = --build ] && exit 0

fail=0
for variant in "" _ownabi _asan; do
    for t in detect v1 v2; do
        echo "## test_cgroup_${t}$variant"
        rc=0
        "$out/test_cgroup_${t}$variant" || rc=$?
        # 77 is a whole-suite skip; the program returns it only for a feature named in
        # NVC_TEST_ABSENT, and here it passes only when that variable is set at all.
        if [ $rc -eq 77 ] && [ -n "${NVC_TEST_ABSENT:-}" ]; then
            echo "## test_cgroup_${t}$variant skipped (NVC_TEST_ABSENT=$NVC_TEST_ABSENT)"
        elif [ $rc -ne 0 ]; then
            echo "## test_cgroup_${t}$variant FAILED (exit $rc)"
            fail=1
        fi
    done
done
exit $fail
